/**
 * The peer's side of the ordering seam when CBFT orders (the block cutter is the other): an
 * endorsed transaction goes to the ordering service as a request whose payload is the whole
 * endorsement (the signed proposal, the response and the read/write set), and each block the
 * service decides comes back as the batch the peer validates and commits, as with solo. A request
 * in a decided block that this peer did not send in this life (it restarted in between) is rebuilt
 * from its payload; the committer then re-checks its proposal's signature as for any foreign one.
 */
import * as v8 from 'node:v8';
import { peer } from '@hyperledger/fabric-protos';
import { summaryOf, type Simulation } from '../endorser';
import { verifyProposal } from '../proposal';
import { Serial } from '../ledger/serial';
import type { CutReason } from '../ledger/block-cutter';
import { OrderingClient, type OrderedBlock } from './ordering-client';
import type { OrderingClientConfig } from './ordering-service';

/** What the block records of the ordering service's decision (Block.metadata.orderer). */
export interface OrdererMetadata {
  height: number;
  digest: string;
  proposer: number;
  round: number;
}

/** The endorsement as the orderer and the committer need it (Endorsement in channel-ledger.ts). */
export interface OrderedEndorsement extends Simulation {
  proposal: ReturnType<typeof summaryOf>;
  signedProposal: peer.SignedProposal;
  bytes: Uint8Array;
}

export interface OrderedItem<E extends OrderedEndorsement> {
  endorsement: E;
  resolve(status: unknown): void;
  reject(err: Error): void;
  /** Rebuilt from a decided block, not sent by this peer in this life. */
  foreign?: true;
}

export class ConsensusOrderer<E extends OrderedEndorsement, T extends OrderedItem<E>> {
  private readonly client: OrderingClient;
  private readonly mine = new Map<string, T>();
  private readonly deliveries = new Serial();
  private delivering: Promise<void> = Promise.resolve();
  private readonly drained = new Set<() => void>();

  constructor(
    channel: string,
    config: OrderingClientConfig,
    /** The ordering service's height the peer has committed up to (from its last block's metadata). */
    from: number,
    /** What PreferredMaxBytes counts of a transaction (as the solo cutter counts it). */
    private readonly sizeOf: (item: T) => number,
    private readonly deliver: (batch: T[], reason: CutReason, orderer: OrdererMetadata) => Promise<void>,
    private readonly rebuild: (endorsement: OrderedEndorsement) => T,
  ) {
    this.client = new OrderingClient(channel, config, from, (block) => this.decided(block));
  }

  enqueue(item: T): Promise<void> {
    const e = item.endorsement;
    this.mine.set(e.proposal.txId, item);
    this.client.submit(e.proposal.txId, Date.now(), encodeEndorsement(e), this.sizeOf(item));
    return Promise.resolve();
  }

  /** Resolves once every transaction handed in has come back in a block (or after `ms`). */
  async flush(ms = 10_000): Promise<void> {
    if (this.mine.size > 0) {
      this.client.flush();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.drained.add(done);
      });
    }
    await this.delivering;
  }

  close(): void {
    this.client.close();
    const failure = new Error('the ordering service did not decide this transaction before the channel closed');
    for (const item of this.mine.values()) item.reject(failure);
    this.mine.clear();
  }

  private decided(block: OrderedBlock): void {
    const batch: T[] = [];
    for (const ref of block.proposal.requests) {
      const own = this.mine.get(ref.txId);
      this.mine.delete(ref.txId);
      if (own) {
        batch.push(own);
        continue;
      }
      const rebuilt = decodeEndorsement(block.payloads.get(ref.digest));
      if (rebuilt) batch.push(this.rebuild(rebuilt));
    }
    if (this.mine.size === 0) for (const done of [...this.drained]) done();
    // A block with nothing this peer can use (an empty new-view proposal) leaves no block behind.
    if (batch.length === 0) return;
    const { height, digest, proposal } = block;
    this.delivering = this.deliveries.run(() => this.deliver(batch, 'consensus', { height, digest, proposer: proposal.proposer, round: proposal.round }));
  }
}

/** The endorsement as bytes: the signed proposal's length and bytes, then the simulation (v8 serialization). */
export function encodeEndorsement(e: OrderedEndorsement): Uint8Array {
  const simulation = v8.serialize({ readHeight: e.readHeight, response: e.response, results: e.results } satisfies Simulation);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(e.bytes.byteLength, 0);
  return Buffer.concat([head, e.bytes, simulation]);
}

export function decodeEndorsement(payload: Uint8Array | undefined): OrderedEndorsement | undefined {
  try {
    if (!payload) return undefined;
    const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const length = buf.readUInt32BE(0);
    const bytes = new Uint8Array(buf.subarray(4, 4 + length));
    const simulation = v8.deserialize(buf.subarray(4 + length)) as Simulation;
    const signedProposal = peer.SignedProposal.deserializeBinary(bytes);
    // Only its summary is taken here; the committer checks the signature against the trust roots.
    const verified = verifyProposal(signedProposal, {});
    return { ...simulation, proposal: summaryOf(verified), signedProposal, bytes };
  } catch {
    return undefined;
  }
}
