/**
 * Fabric blocks as the LedgerGateway reports them, decoded from the block bytes (qscc's GetBlockByNumber /
 * GetBlockByTxID) with @hyperledger/fabric-protos: header and hashes, each envelope's transaction summary with the
 * validation code the committing peer wrote into the block metadata, and each transaction's chaincode event.
 */
import { common, msp, peer } from '@hyperledger/fabric-protos';
import type { BlockEvent, ChaincodeEventRecord, FabricValidationCode, TransactionSummary } from '../gateway';
import { subjectCommonName } from '../embedded/identity';
import { fromTimestamp, type PbTimestamp } from '../embedded/proposal';
import { blockHeaderHash } from '../embedded/ledger/block';

const CODE_NAME = new Map<number, FabricValidationCode>(
  (Object.entries(peer.TxValidationCode) as Array<[FabricValidationCode, number]>).map(([name, code]) => [code, name]),
);

export interface DecodedBlock {
  event: BlockEvent;
  /** Header hash, hex: what the next block's previousHash and the channel's currentBlockHash say. */
  hash: string;
  chaincodeEvents: ChaincodeEventRecord[];
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

export function decodeBlock(channel: string, bytes: Uint8Array): DecodedBlock {
  const block = common.Block.deserializeBinary(bytes);
  const header = block.getHeader();
  if (!header) throw new Error(`${channel}: a block without a header`);
  const number = Number(header.getNumber());
  const previousHash = hex(header.getPreviousHash_asU8());
  const dataHash = hex(header.getDataHash_asU8());
  // The committing peer's verdict per transaction, one byte each (peer.TxValidationCode).
  const filter = block.getMetadata()?.getMetadataList_asU8()[common.BlockMetadataIndex.TRANSACTIONS_FILTER] ?? new Uint8Array();
  const transactions: TransactionSummary[] = [];
  const chaincodeEvents: ChaincodeEventRecord[] = [];
  let cutAt = 0;
  block
    .getData()
    ?.getDataList_asU8()
    .forEach((envelope, txNum) => {
      const tx = decodeEnvelope(envelope);
      const code = txNum < filter.length ? (CODE_NAME.get(filter[txNum]) ?? 'INVALID_OTHER_REASON') : 'NOT_VALIDATED';
      transactions.push({
        txId: tx.txId,
        txNum,
        creatorMspId: tx.creatorMspId,
        creator: tx.creatorCertificate ? subjectCommonName(tx.creatorCertificate) : '',
        timestamp: tx.timestamp.toISOString(),
        fcn: tx.fcn,
        validationCode: code,
        ...(code !== 'VALID' ? { validationMessage: code } : {}),
      });
      cutAt = Math.max(cutAt, tx.timestamp.getTime());
      if (code === 'VALID' && tx.event) chaincodeEvents.push({ channel, blockNumber: number, txNum, txId: tx.txId, ...tx.event });
    });
  const event: BlockEvent = {
    channel,
    number,
    previousHash,
    dataHash,
    // A Fabric block does not record when the orderer cut it: the newest transaction timestamp in it stands in.
    cutAt: new Date(cutAt).toISOString(),
    transactions,
  };
  return { event, hash: blockHeaderHash({ number, previousHash, dataHash }), chaincodeEvents };
}

interface DecodedEnvelope {
  txId: string;
  timestamp: Date;
  creatorMspId: string;
  creatorCertificate: string;
  fcn: string;
  event?: { chaincode: string; name: string; payload: Buffer };
}

function decodeEnvelope(bytes: Uint8Array): DecodedEnvelope {
  const payload = common.Payload.deserializeBinary(common.Envelope.deserializeBinary(bytes).getPayload_asU8());
  const header = payload.getHeader();
  const channelHeader = common.ChannelHeader.deserializeBinary(header?.getChannelHeader_asU8() ?? new Uint8Array());
  const signatureHeader = common.SignatureHeader.deserializeBinary(header?.getSignatureHeader_asU8() ?? new Uint8Array());
  const creatorBytes = signatureHeader.getCreator_asU8();
  const creator = creatorBytes.length > 0 ? msp.SerializedIdentity.deserializeBinary(creatorBytes) : undefined;
  const out: DecodedEnvelope = {
    txId: channelHeader.getTxId(),
    timestamp: fromTimestamp(channelHeader.getTimestamp() as PbTimestamp | undefined),
    creatorMspId: creator?.getMspid() ?? '',
    creatorCertificate: creator ? Buffer.from(creator.getIdBytes_asU8()).toString('utf8') : '',
    fcn: '',
  };
  if (channelHeader.getType() !== common.HeaderType.ENDORSER_TRANSACTION) return out; // config updates
  const action = peer.Transaction.deserializeBinary(payload.getData_asU8()).getActionsList()[0];
  if (!action) return out;
  const actionPayload = peer.ChaincodeActionPayload.deserializeBinary(action.getPayload_asU8());
  const proposalPayload = peer.ChaincodeProposalPayload.deserializeBinary(actionPayload.getChaincodeProposalPayload_asU8());
  const first = peer.ChaincodeInvocationSpec.deserializeBinary(proposalPayload.getInput_asU8()).getChaincodeSpec()?.getInput()?.getArgsList_asU8()[0];
  out.fcn = first ? Buffer.from(first).toString('utf8') : '';
  const responsePayload = actionPayload.getAction()?.getProposalResponsePayload_asU8();
  if (!responsePayload?.length) return out;
  const chaincodeAction = peer.ChaincodeAction.deserializeBinary(peer.ProposalResponsePayload.deserializeBinary(responsePayload).getExtension_asU8());
  const eventBytes = chaincodeAction.getEvents_asU8();
  if (eventBytes.length > 0) {
    const event = peer.ChaincodeEvent.deserializeBinary(eventBytes);
    if (event.getEventName()) out.event = { chaincode: event.getChaincodeId(), name: event.getEventName(), payload: Buffer.from(event.getPayload_asU8()) };
  }
  return out;
}
