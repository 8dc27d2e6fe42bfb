/**
 * What EmbeddedLedger asks of one channel, whether its peer runs on the ledger's thread
 * (LocalChannel, over a ChannelLedger) or on a thread of its own (ChannelThread). A proposal's
 * outcome is plain data, so both give the same answers and the ledger turns them into the same
 * errors.
 */
import type { peer } from '@hyperledger/fabric-protos';
import type { ChainInfo, EventStream } from '../gateway';
import type { ChannelLedger, Endorsement } from './channel-ledger';
import { ProposalError } from './endorser';
import { blockHeaderHash, type Block } from './ledger/block';
import type { TransactionLocation } from './ledger/block-store';
import type { ValidationCode } from './ledger/validator';

/** How a proposal ended. `P` is how its payload travels (a Buffer, or a reference into a message). */
export type Outcome<P = Buffer> =
  /** Endorsed and, for a submit, committed VALID in block `blockNumber`. */
  | { kind: 'done'; blockNumber?: number; payload: P }
  /** Refused before ordering: by the endorser's checks (403) or by the chaincode (its status). */
  | { kind: 'refused'; status: number; message: string }
  /** Ordered, but invalidated in its block. */
  | { kind: 'invalid'; blockNumber: number; code: Exclude<ValidationCode, 'VALID'>; message: string };

/** A proposal endorsed and, if `ordered`, with the orderer: `outcome` settles at its commit (else it is final already). */
export interface Started {
  ordered: boolean;
  outcome: Promise<Outcome>;
}

export interface ChannelPeer {
  readonly channel: string;
  /**
   * Endorses a signed proposal and, for a submit, hands it to the orderer. `tellOrdered` asks to
   * hear of the hand-off as it happens; without it the answer may wait for the outcome.
   */
  start(signedProposal: peer.SignedProposal, submit: boolean, tellOrdered?: boolean): Promise<Started>;
  chainInfo(): Promise<ChainInfo>;
  getBlock(n: number): Promise<Block>;
  getTransaction(txId: string): Promise<TransactionLocation | undefined>;
  /** Committed blocks from `start`, then live, until closed (see ChannelLedger.blocks). */
  blocks(start: number): EventStream<Block>;
  close(): Promise<void>;
}

/**
 * Endorses a proposal and, for a submit, hands it to the orderer. Resolves once that is done (so
 * a closing channel knows nothing more will be ordered), with the outcome still to come.
 */
export async function startProposal(ledger: ChannelLedger, signedProposal: peer.SignedProposal, submit: boolean, bytes?: Uint8Array): Promise<Started> {
  // A submit waits for the orderer to take it before it is endorsed (against the state it will be validated on).
  if (submit) await ledger.admit();
  const final = (outcome: Outcome): Started => {
    if (submit) ledger.release();
    return { ordered: false, outcome: Promise.resolve(outcome) };
  };
  let endorsement: Endorsement;
  try {
    endorsement = await ledger.endorse(signedProposal, bytes);
  } catch (err) {
    if (err instanceof ProposalError) return final({ kind: 'refused', status: 403, message: err.message });
    if (submit) ledger.release();
    throw err;
  }
  const { status, message, payload } = endorsement.response;
  if (status >= 400) return final({ kind: 'refused', status, message });
  if (!submit) return final({ kind: 'done', payload });
  const outcome = ledger.order(endorsement, true).then((s): Outcome => (s.code === 'VALID' ? { kind: 'done', blockNumber: s.blockNumber, payload } : { kind: 'invalid', blockNumber: s.blockNumber, code: s.code, message: s.message ?? s.code }));
  return { ordered: true, outcome };
}

export async function chainInfoOf(ledger: ChannelLedger): Promise<ChainInfo> {
  const { channel, height } = ledger;
  if (height === 0) return { channel, height, currentBlockHash: '', previousBlockHash: '' };
  const last = await ledger.getBlock(height - 1);
  return { channel, height, currentBlockHash: blockHeaderHash(last), previousBlockHash: last.previousHash };
}

/** A channel whose peer runs on this thread. */
export class LocalChannel implements ChannelPeer {
  constructor(readonly ledger: ChannelLedger) {}

  get channel(): string {
    return this.ledger.channel;
  }

  start(signedProposal: peer.SignedProposal, submit: boolean): Promise<Started> {
    return startProposal(this.ledger, signedProposal, submit);
  }

  chainInfo(): Promise<ChainInfo> {
    return chainInfoOf(this.ledger);
  }

  getBlock(n: number): Promise<Block> {
    return this.ledger.getBlock(n);
  }

  getTransaction(txId: string): Promise<TransactionLocation | undefined> {
    return this.ledger.store.blocks.getTransaction(txId);
  }

  blocks(start: number): EventStream<Block> {
    return this.ledger.blocks(start);
  }

  close(): Promise<void> {
    return this.ledger.close();
  }
}
