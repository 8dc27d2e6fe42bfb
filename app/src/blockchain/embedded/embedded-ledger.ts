/**
 * The embedded adapter of LedgerGateway: several channels in this process, each running the
 * same compiled chaincode through fabric-shim's contract dispatch, with Fabric's endorse →
 * order → validate → commit flow, LevelDB state and history and hash-chained block files
 * under one data directory:
 *
 *   <dataDir>/msp/<mspId>.json         the organisations' certificate authorities
 *   <dataDir>/<channel>/blocks, state  one ledger per channel
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { contracts } from '@fund/chaincode';
import {
  CommitError,
  EndorsementError,
  type BlockEvent,
  type ChainInfo,
  type ChaincodeEventRecord,
  type Checkpoint,
  type EnrolRequest,
  type EventStream,
  type LedgerGateway,
  type SubmitResult,
  type TransactionRequest,
  type TransactionSummary,
} from '../gateway';
import { ChaincodeConnection, loadContractChaincode } from './chaincode-support';
import { ChannelLedger, type Endorsement } from './channel-ledger';
import { ProposalError } from './endorser';
import { EndorserPool } from './endorser-pool';
import { subjectCommonName, type Identity } from './identity';
import { Membership } from './membership';
import { buildProposal, proposalFunction } from './proposal';
import { THESIS_BATCH, type BatchSettings } from './ledger/block-cutter';
import { blockHeaderHash, type Block, type StoredTransaction } from './ledger/block';

export const CHAINCODE_NAME = 'fund';
export const CHAINCODE_VERSION = '0.1.0';

export interface EmbeddedLedgerOptions {
  dataDir: string;
  channels: readonly string[];
  /** Block cutting; defaults to the thesis's BatchTimeout 2 s, MaxMessageCount 10. */
  batch?: Partial<BatchSettings>;
  /** A chaincode to use instead of the in-process fund chaincode (e.g. a CCaaS connection). */
  chaincode?: ChaincodeConnection;
  /** Proposal timestamps (the chaincode's notion of "now"); tests move it, the platform does not. */
  clock?: () => Date;
  /**
   * Endorsement worker threads (default: one per core but one, at least one). 0 runs the
   * chaincode on the calling thread; a custom `chaincode` connection always does.
   */
  endorsers?: number;
}

export class EmbeddedLedger implements LedgerGateway {
  readonly backend = 'embedded' as const;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly membership: Membership,
    private readonly chaincode: ChaincodeConnection,
    private readonly ledgers: Map<string, ChannelLedger>,
    private readonly clock: () => Date,
    private readonly ownsChaincode: boolean,
    private readonly endorsers: EndorserPool | undefined,
  ) {}

  static async open(opts: EmbeddedLedgerOptions): Promise<EmbeddedLedger> {
    if (opts.channels.length === 0) throw new Error('the embedded ledger needs at least one channel');
    const batch: BatchSettings = { ...THESIS_BATCH, ...opts.batch };
    const membership = await Membership.open(path.join(opts.dataDir, 'msp'));
    const chaincode =
      opts.chaincode ??
      (await ChaincodeConnection.inProcess(loadContractChaincode([...contracts], '@fund/chaincode', CHAINCODE_VERSION), `${CHAINCODE_NAME}:${CHAINCODE_VERSION}`));
    const ledgers = new Map<string, ChannelLedger>();
    let endorsers: EndorserPool | undefined;
    try {
      for (const channel of new Set(opts.channels)) {
        ledgers.set(
          channel,
          await ChannelLedger.open({ dataDir: opts.dataDir, channel, chaincode, namespace: CHAINCODE_NAME, batch, trustRoots: () => membership.roots() }),
        );
      }
      const workers = opts.chaincode ? 0 : (opts.endorsers ?? Math.max(1, os.availableParallelism() - 1));
      if (workers > 0) {
        const stores = new Map([...ledgers].map(([channel, ledger]) => [channel, ledger.store]));
        endorsers = await EndorserPool.start(workers, { namespace: CHAINCODE_NAME, chaincodeId: `${CHAINCODE_NAME}:${CHAINCODE_VERSION}` }, stores);
        for (const ledger of ledgers.values()) ledger.useEndorsers(endorsers);
      }
    } catch (err) {
      await endorsers?.close();
      for (const l of ledgers.values()) await l.close().catch(() => undefined);
      if (!opts.chaincode) await chaincode.close();
      throw err;
    }
    return new EmbeddedLedger(membership, chaincode, ledgers, opts.clock ?? (() => new Date()), !opts.chaincode, endorsers);
  }

  channels(): string[] {
    return [...this.ledgers.keys()];
  }

  enrol(req: EnrolRequest): Promise<Identity> {
    return this.membership.enrol(req);
  }

  async submit(identity: Identity, req: TransactionRequest): Promise<SubmitResult> {
    const ledger = this.ledger(req.channel);
    const endorsement = await this.endorse(ledger, identity, req, req.beforeEndorse);
    const status = await ledger.order(endorsement);
    if (status.code !== 'VALID') throw new CommitError(endorsement.proposal.txId, status.blockNumber, status.code, status.message ?? status.code);
    return { txId: endorsement.proposal.txId, blockNumber: status.blockNumber, payload: endorsement.response.payload };
  }

  async evaluate(identity: Identity, req: TransactionRequest): Promise<Buffer> {
    return (await this.endorse(this.ledger(req.channel), identity, req)).response.payload;
  }

  async chainInfo(channel: string): Promise<ChainInfo> {
    const ledger = this.ledger(channel);
    const height = ledger.height;
    if (height === 0) return { channel, height, currentBlockHash: '', previousBlockHash: '' };
    const last = await ledger.getBlock(height - 1);
    return { channel, height, currentBlockHash: blockHeaderHash(last), previousBlockHash: last.previousHash };
  }

  async getBlock(channel: string, n: number): Promise<BlockEvent> {
    return blockEvent(channel, await this.ledger(channel).getBlock(n));
  }

  async getTransaction(channel: string, txId: string): Promise<(TransactionSummary & { blockNumber: number }) | undefined> {
    const found = await this.ledger(channel).store.blocks.getTransaction(txId);
    return found && { ...summary(found.transaction, found.txNum), blockNumber: found.blockNumber };
  }

  blockEvents(channel: string, startBlock = 0): EventStream<BlockEvent> {
    return mapStream(this.ledger(channel).blocks(startBlock), (block) => [blockEvent(channel, block)]);
  }

  chaincodeEvents(channel: string, checkpoint: Checkpoint = { blockNumber: 0 }): EventStream<ChaincodeEventRecord> {
    return mapStream(this.ledger(channel).blocks(checkpoint.blockNumber), (block) => {
      const events = chaincodeEventsOf(channel, block);
      if (block.number !== checkpoint.blockNumber || !checkpoint.txId) return events;
      const seen = events.findIndex((e) => e.txId === checkpoint.txId);
      return events.slice(seen + 1);
    });
  }

  async history(identity: Identity, channel: string, entity: 'Project' | 'Draft', id: string): Promise<unknown[]> {
    const payload = await this.evaluate(identity, { channel, fcn: `${entity}:history`, args: [id] });
    return JSON.parse(payload.toString('utf8')) as unknown[];
  }

  /** Orders what is pending, commits it, closes every channel and the chaincode. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const ledger of this.ledgers.values()) await ledger.close();
      await this.endorsers?.close();
      if (this.ownsChaincode) await this.chaincode.close();
    })();
    return this.closing;
  }

  /** The ledger of one channel, for the operator tools. */
  ledger(channel: string): ChannelLedger {
    const ledger = this.ledgers.get(channel);
    if (!ledger) throw new Error(`unknown channel ${JSON.stringify(channel)}; this ledger has ${this.channels().join(', ')}`);
    return ledger;
  }

  private async endorse(ledger: ChannelLedger, identity: Identity, req: TransactionRequest, beforeEndorse?: (txId: string) => Promise<void>): Promise<Endorsement> {
    if (this.closing) throw new Error('the ledger is shutting down');
    const proposal = buildProposal({ channel: ledger.channel, chaincode: CHAINCODE_NAME, args: [req.fcn, ...(req.args ?? [])], identity, timestamp: this.clock() });
    await beforeEndorse?.(proposal.txId);
    let endorsement: Endorsement;
    try {
      endorsement = await ledger.endorse(proposal.signedProposal);
    } catch (err) {
      if (err instanceof ProposalError) throw new EndorsementError(proposal.txId, 403, err.message);
      throw err;
    }
    const { status, message } = endorsement.response;
    if (status >= 400) throw new EndorsementError(proposal.txId, status, message);
    return endorsement;
  }
}

function mapStream<T, U>(source: AsyncIterable<T> & { close(): void }, map: (item: T) => Iterable<U>): EventStream<U> {
  const mapped = (async function* () {
    for await (const item of source) yield* map(item);
  })();
  return { [Symbol.asyncIterator]: () => mapped, close: () => source.close() };
}

function blockEvent(channel: string, block: Block): BlockEvent {
  return {
    channel,
    number: block.number,
    previousHash: block.previousHash,
    dataHash: block.dataHash,
    cutAt: block.metadata.cutAt,
    transactions: block.transactions.map(summary),
  };
}

function summary(tx: StoredTransaction, txNum: number): TransactionSummary {
  return {
    txId: tx.txId,
    txNum,
    creatorMspId: tx.creator.mspId,
    creator: subjectCommonName(tx.creator.certificate),
    timestamp: tx.timestamp,
    fcn: proposalFunction(Buffer.from(tx.signedProposal, 'base64')),
    validationCode: tx.validationCode,
    ...(tx.validationMessage ? { validationMessage: tx.validationMessage } : {}),
  };
}

function chaincodeEventsOf(channel: string, block: Block): ChaincodeEventRecord[] {
  return block.transactions.flatMap((tx, txNum) =>
    tx.validationCode === 'VALID' && tx.event
      ? [{ channel, blockNumber: block.number, txNum, txId: tx.txId, chaincode: tx.results.namespace, name: tx.event.name, payload: Buffer.from(tx.event.payload, 'base64') }]
      : [],
  );
}
