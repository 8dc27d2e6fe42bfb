/**
 * One channel of the embedded ledger: the endorsing peer, the ordering service and the
 * committing peer in one object, with Fabric's transaction flow:
 *
 *   endorse   verify the signed proposal, run the chaincode against committed state in a
 *             TxSimulator → response + read/write set with versions
 *   order     the block cutter batches endorsed transactions (MaxMessageCount, BatchTimeout,
 *             PreferredMaxBytes) into the next block
 *   validate  signatures re-checked, duplicate txIds, endorsement status, MVCC and phantom reads;
 *             invalid transactions stay in the block with their code and change nothing
 *   commit    block fsynced to the block store, then the valid write sets to the state database
 *
 * Validation of the next block overlaps the commit of the previous ones (as Fabric's committer
 * pipelines them): blocks validated while a commit is under way queue up and are written
 * together, one fsync and one state batch for the group. A submit resolves only after its block
 * is durable, with the transaction's validation code.
 */
import { peer } from '@hyperledger/fabric-protos';
import type { ChaincodeConnection } from './chaincode-support';
import { checkProposal, simulateProposal, summaryOf, type EndorsedProposal } from './endorser';
import type { EndorserPool } from './endorser-pool';
import type { EventStream } from '../gateway';
import { verifyProposal } from './proposal';
import { BlockCutter, type BatchSettings, type CutReason } from './ledger/block-cutter';
import { blockHeaderHash, createBlock, encodeBlock, encodeResults, validTransactions, type Block, type StoredTransaction } from './ledger/block';
import { ChannelStore } from './ledger/channel-store';
import { SortedKeys } from './ledger/sorted-keys';
import { validateBlock, type Validation, type ValidationCode } from './ledger/validator';
import { ConsensusOrderer, type OrdererMetadata } from './cbft/consensus-orderer';
import type { OrderingClientConfig } from './cbft/ordering-service';

export interface ChannelLedgerOptions {
  dataDir: string;
  channel: string;
  /** The chaincode and the namespace (chaincode name) it owns on this channel. */
  chaincode: ChaincodeConnection;
  namespace: string;
  batch: BatchSettings;
  /** mspId → root CA certificate, read at every check so newly created MSPs are trusted at once. */
  trustRoots: () => Record<string, string>;
  /** Order through the CBFT ordering service instead of this channel's own block cutter (solo). */
  ordering?: OrderingClientConfig;
}

/** An endorsed proposal on its way to the orderer. */
export interface Endorsement extends EndorsedProposal {
  signedProposal: peer.SignedProposal;
  /** The SignedProposal's bytes, serialized once: sent to a worker, stored in the block, sized by the cutter. */
  bytes: Uint8Array;
}

export interface CommitStatus {
  blockNumber: number;
  txNum: number;
  code: ValidationCode;
  message?: string;
}

interface Ordered {
  endorsement: Endorsement;
  resolve(status: CommitStatus): void;
  reject(err: Error): void;
  /** Ordered by another life of this peer (rebuilt from a decided block): it holds no admission. */
  foreign?: true;
}

/** The ordering seam: the solo block cutter or the CBFT ordering service's client. */
interface Orderer {
  enqueue(item: Ordered): Promise<void>;
  flush(): Promise<void>;
  close?(): void;
}

/** A validated block on its way to the disk. */
interface PendingBlock {
  block: Block;
  hash: string;
  /** Keys its valid transactions write, per namespace. */
  writes: Map<string, SortedKeys>;
  batch: Ordered[];
  validations: Validation[];
}

/** Blocks validated ahead of the disk before validation waits for a commit to finish. */
const MAX_PENDING_BLOCKS = 16;

/**
 * What PreferredMaxBytes counts of a transaction, the same for both orderers (the solo cutter and
 * the CBFT replicas): its signed proposal. Fabric counts the whole envelope (the read/write set
 * and response too); this ledger always counted the proposal, and a second measure made CBFT's
 * blocks a third smaller than solo's under the same settings.
 */
function sizeOf(o: { endorsement: { bytes: Uint8Array } }): number {
  return o.endorsement.bytes.length;
}

export class ChannelLedger {
  private readonly cutter: Orderer;
  /** The last group of blocks committed, for the event streams that are about to read them. */
  private lastCommitted: Block[] = [];
  private readonly recentWrites = new RecentWrites();
  /** Validated blocks not yet durable, in block order. */
  private pending: PendingBlock[] = [];
  private readonly pendingTxIds = new Set<string>();
  /** The group commit under way, if any. */
  private writing: Promise<void> | undefined;
  /** Counts failed group commits: a block validated across one was built on lost blocks. */
  private failures = 0;
  /** Endorsements whose proposal this peer authenticated itself: the committer need not check them again. */
  private readonly admitted = new WeakSet<Endorsement>();
  private readonly waiters = new Set<() => void>();
  /** Transactions admitted to the orderer (admit, or order without it) whose block is not validated yet. */
  private ordering = 0;
  private readonly maxOrdering: number;
  /** Submits waiting to be admitted, first come first served. */
  private readonly admissions: Array<() => void> = [];
  private closed = false;
  /** Endorsement workers; without them the chaincode runs on this thread against the state database. */
  private endorsers: EndorserPool | undefined;

  private constructor(
    private readonly opts: ChannelLedgerOptions,
    readonly store: ChannelStore,
    /** The ordering service's next height, after the one the last block holds. */
    ordererHeight: number,
  ) {
    this.cutter = opts.ordering
      ? new ConsensusOrderer<Endorsement, Ordered>(opts.channel, opts.ordering, ordererHeight, sizeOf, (batch, reason, orderer) => this.deliver(batch, reason, orderer), (e) => ({ endorsement: { ...e }, resolve: () => undefined, reject: () => undefined, foreign: true }))
      : new BlockCutter<Ordered>(opts.batch, sizeOf, (batch, reason) => this.deliver(batch, reason));
    this.maxOrdering = MAX_PENDING_BLOCKS * opts.batch.maxMessageCount;
  }

  static async open(opts: ChannelLedgerOptions): Promise<ChannelLedger> {
    const store = await ChannelStore.open(opts.dataDir, opts.channel);
    const height = store.blocks.height();
    const last = opts.ordering && height > 0 ? (await store.blocks.getBlock(height - 1)).metadata.orderer : undefined;
    return new ChannelLedger(opts, store, last ? last.height + 1 : 0);
  }

  /** From now on proposals are endorsed by the pool's workers (they need this ledger's store to start). */
  useEndorsers(pool: EndorserPool): void {
    this.endorsers = pool;
  }

  get channel(): string {
    return this.opts.channel;
  }

  get height(): number {
    return this.store.blocks.height();
  }

  /**
   * Runs the proposal against committed state; throws ProposalError if it may not run at all.
   * `bytes` is the SignedProposal serialized, when the caller already has it (a channel thread received it so).
   */
  async endorse(signedProposal: peer.SignedProposal, bytes: Uint8Array = signedProposal.serializeBinary()): Promise<Endorsement> {
    if (this.closed) throw new Error(`channel ${this.channel} is closed`);
    // Checked once, here: the worker and the committer rely on it.
    const verified = checkProposal(this.channel, this.opts.namespace, signedProposal, this.opts.trustRoots());
    const run = { channel: this.channel, txId: verified.txId, signedProposal, input: verified.input };
    const simulation = this.endorsers
      ? await this.endorsers.endorse(run, bytes)
      : await simulateProposal({ namespace: this.opts.namespace, chaincode: this.opts.chaincode, state: this.store.state, height: this.store.state.savepoint() }, run);
    const endorsement = { ...simulation, proposal: summaryOf(verified), signedProposal, bytes };
    this.admitted.add(endorsement);
    return endorsement;
  }

  /**
   * The orderer's backpressure: resolves once fewer than MAX_PENDING_BLOCKS blocks' worth of
   * transactions wait to be validated, holding a place for the caller's transaction until its
   * block is validated (order(e, true)) or the place is given back (release). Without it, clients
   * that send on as soon as the orderer has their transaction (the thesis's) lengthen the queue
   * without end, and endorsing them takes the time committing needed.
   */
  admit(): Promise<void> {
    if (this.ordering < this.maxOrdering || this.closed) {
      this.ordering++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.admissions.push(resolve));
  }

  /** Gives back an admission whose transaction is not ordered after all (refused, failed). */
  release(): void {
    this.ordering--;
    this.admitWaiting();
  }

  /**
   * Hands an endorsed transaction to the orderer; resolves once its block is committed.
   * `admitted`: it holds a place from admit().
   */
  order(endorsement: Endorsement, admitted = false): Promise<CommitStatus> {
    if (this.closed) {
      if (admitted) this.release();
      return Promise.reject(new Error(`channel ${this.channel} is closed`));
    }
    if (!admitted) this.ordering++;
    return new Promise<CommitStatus>((resolve, reject) => {
      const ordered: Ordered = { endorsement, resolve, reject };
      // Delivery failures reach each transaction through reject; nothing else to report here.
      this.cutter.enqueue(ordered).catch(() => undefined);
    });
  }

  async getBlock(n: number): Promise<Block> {
    return this.recentBlock(n) ?? this.store.blocks.getBlock(n);
  }

  /** Block n as the block store's JSON record, for a reader on another thread (see parseBlock). */
  async getBlockBytes(n: number): Promise<Buffer> {
    const recent = this.recentBlock(n);
    // A block built here has its transactions' bytes cached (encodeTransactions): no serializing again.
    return recent ? encodeBlock(recent) : this.store.blocks.getBlockBytes(n);
  }

  private recentBlock(n: number): Block | undefined {
    const first = this.lastCommitted[0]?.number ?? Infinity;
    return n >= first && n - first < this.lastCommitted.length ? this.lastCommitted[n - first] : undefined;
  }

  /**
   * Blocks from `start`, read from the block store and then as they are committed; the
   * iteration ends when close() is called on the stream or the ledger closes.
   */
  blocks(start = 0): EventStream<Block> {
    let stopped = false;
    let wake: (() => void) | undefined;
    const stop = () => {
      stopped = true;
      wake?.();
    };
    const next = async function* (this: ChannelLedger): AsyncGenerator<Block> {
      let n = Math.max(0, start);
      while (!stopped && !this.closed) {
        if (n < this.height) {
          yield await this.getBlock(n++);
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          this.waiters.add(resolve);
        });
        if (wake) this.waiters.delete(wake);
      }
    }.call(this);
    return { [Symbol.asyncIterator]: () => next, close: stop };
  }

  /** Commits whatever is waiting to be ordered, then closes the stores. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.cutter.flush().catch(() => undefined);
    this.cutter.close?.();
    while (this.writing) await this.writing;
    this.closed = true;
    this.notify();
    this.admitWaiting();
    await this.store.close();
  }

  /** Validates a cut batch into the next block and queues it for the disk. */
  private async deliver(batch: Ordered[], reason: CutReason, orderer?: OrdererMetadata): Promise<void> {
    try {
      while (this.pending.length >= MAX_PENDING_BLOCKS && this.writing) await this.writing;
      const failures = this.failures;
      const roots = this.opts.trustRoots();
      const validations = await validateBlock(
        this.store.state,
        batch.map(({ endorsement: e }) => ({
          txId: e.proposal.txId,
          // A transaction this peer did not endorse itself is authenticated here, as Fabric's committer does.
          signatureError: this.admitted.has(e) ? undefined : signatureError(e.signedProposal, roots),
          responseStatus: e.response.status,
          results: e.results,
          readHeight: e.readHeight,
        })),
        async (txId) => this.pendingTxIds.has(txId) || (await this.store.blocks.hasTransaction(txId)),
        (ns, height) => this.recentWrites.since(ns, height, this.store.state.savepoint()),
        (ns) => this.pending.flatMap((p) => p.writes.get(ns) ?? []),
      );
      if (this.failures !== failures) throw new Error('an earlier block it was validated against could not be committed');
      const transactions = batch.map((o, i) => storedTransaction(this.channel, o, validations[i]));
      // The chain's tip: the last block queued, else the last durable one (then nothing is being written).
      const tip = this.pending.at(-1);
      const [number, previousHash] = tip ? [tip.block.number + 1, tip.hash] : [this.height, await this.store.blocks.lastHash()];
      const block = createBlock(number, previousHash, transactions, { cutReason: reason, cutAt: new Date().toISOString(), ...(orderer ? { orderer } : {}) });
      this.pending.push({ block, hash: blockHeaderHash(block), writes: writtenKeys(block), batch, validations });
      for (const tx of transactions) this.pendingTxIds.add(tx.txId);
      this.writing ??= this.writePending();
    } catch (err) {
      const failure = new Error(`channel ${this.channel}: block could not be committed: ${(err as Error).message}`);
      for (const o of batch) o.reject(failure);
    } finally {
      this.ordering -= batch.filter((o) => !o.foreign).length;
      this.admitWaiting();
    }
  }

  /** Admits waiting submits into the places free (all of them once closed: they fail at once). */
  private admitWaiting(): void {
    while (this.admissions.length > 0 && (this.ordering < this.maxOrdering || this.closed)) {
      this.ordering++;
      this.admissions.shift()!();
    }
  }

  /** Commits queued blocks, all that are waiting at once, until none is left. */
  private async writePending(): Promise<void> {
    while (this.pending.length > 0) {
      let group = this.pending.slice();
      let failed: Error | undefined;
      try {
        await this.store.commit(...group.map((p) => p.block));
      } catch (err) {
        failed = err as Error;
        // blocks.dat may hold the group although the state database could not take it (the disk filled between the
        // two writes): those blocks are the chain, their transactions committed (the state catches up on the next
        // commit or open). Telling their clients "not committed" would have them do it a second time.
        group = group.filter((p) => p.block.number < this.store.blocks.height());
      }
      // Taken off the queue in the same step the workers learn of them (see validateBlock's Uncommitted).
      this.pending.splice(0, group.length);
      if (group.length > 0) this.lastCommitted = group.map((p) => p.block);
      for (const { block, writes, batch, validations } of group) {
        for (const tx of block.transactions) this.pendingTxIds.delete(tx.txId);
        this.endorsers?.committed(this.channel, block);
        this.recentWrites.add(block.number, writes);
        batch.forEach((o, txNum) => o.resolve({ blockNumber: block.number, txNum, code: validations[txNum].code, message: validations[txNum].message }));
      }
      if (group.length > 0) this.notify();
      if (failed) {
        // The rest is lost, and so is every block queued on top of it: the chain resumes from the disk.
        const lost = this.pending.splice(0);
        this.pendingTxIds.clear();
        this.failures++;
        const failure = new Error(`channel ${this.channel}: block could not be committed: ${failed.message}`);
        for (const p of lost) for (const o of p.batch) o.reject(failure);
        break;
      }
    }
    this.writing = undefined;
  }

  private notify(): void {
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiting) wake();
  }
}

/** The proposal's creator (a trusted MSP's valid certificate), signature and txId binding; the failure, if any. */
function signatureError(sp: peer.SignedProposal, roots: Record<string, string>): string | undefined {
  try {
    verifyProposal(sp, { msps: roots });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Keys in canonical (sorted) order, like encodeResults. */
function storedTransaction(channel: string, o: Ordered, v: Validation): StoredTransaction {
  const { proposal, response, results, bytes } = o.endorsement;
  return {
    channel,
    creator: proposal.creator,
    ...(response.event ? { event: { name: response.event.name, payload: response.event.payload.toString('base64') } } : {}),
    response: { message: response.message, payload: response.payload.toString('base64'), status: response.status },
    results: encodeResults(results),
    signedProposal: Buffer.from(bytes).toString('base64'),
    timestamp: proposal.timestamp.toISOString(),
    txId: proposal.txId,
    validationCode: v.code,
    ...(v.message ? { validationMessage: v.message } : {}),
  };
}

/**
 * The keys written by the last blocks committed in this process, so the validator can tell that
 * a range is unchanged without scanning it again. It starts empty at every open, which only
 * means that transactions simulated before it reached back are checked by re-scanning.
 */
class RecentWrites {
  private static readonly BLOCKS = 64;
  private readonly blocks: Array<{ number: number; keys: Map<string, SortedKeys> }> = [];

  add(number: number, keys: Map<string, SortedKeys>): void {
    this.blocks.push({ number, keys });
    if (this.blocks.length > RecentWrites.BLOCKS) this.blocks.shift();
  }

  /** Keys of `ns` written in blocks height+1 … savepoint, per block, or undefined if some are not logged. */
  since(ns: string, height: number, savepoint: number): SortedKeys[] | undefined {
    if (height >= savepoint) return [];
    const from = this.blocks.findIndex((b) => b.number === height + 1);
    if (from < 0 || this.blocks[this.blocks.length - 1].number !== savepoint) return undefined;
    return this.blocks.slice(from).flatMap((b) => b.keys.get(ns) ?? []);
  }
}

/** The keys a block's valid transactions write, per namespace. */
function writtenKeys(block: Block): Map<string, SortedKeys> {
  const keys = new Map<string, string[]>();
  for (const tx of validTransactions(block)) {
    let list = keys.get(tx.namespace);
    if (!list) keys.set(tx.namespace, (list = []));
    for (const w of tx.writes) list.push(w.key);
  }
  return new Map([...keys].map(([ns, list]) => [ns, SortedKeys.of(list)]));
}
