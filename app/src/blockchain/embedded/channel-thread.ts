/**
 * A channel's whole peer on a worker thread of its own (channel-worker.ts): endorsement, block
 * cutting, validation, commit, its state database and block store, so that channels use
 * separate cores. This side, on the ledger's thread, is a ChannelPeer like LocalChannel: the
 * caller builds and signs proposals with its identities, and one message carries a proposal
 * there and one its outcome (endorsed, ordered and committed) back.
 *
 * Messages each way are gathered over a turn of the event loop and posted as one packet, their
 * byte fields (proposals, payloads, blocks) copied into one ArrayBuffer that is transferred
 * rather than cloned: a small Buffer is a view of Node's shared 8 KiB pool, and cloning it
 * would copy the whole pool, and cloning a Buffer gives a Uint8Array anyway.
 */
import * as path from 'node:path';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { peer } from '@hyperledger/fabric-protos';
import type { ChainInfo, EventStream } from '../gateway';
import type { ChaincodeModule } from './chaincode-module';
import type { ChannelPeer, Outcome, Started } from './channel-peer';
import type { Block } from './ledger/block';
import type { BatchSettings } from './ledger/block-cutter';
import { parseBlock, type TransactionLocation } from './ledger/block-store';
import type { OrderingClientConfig } from './cbft/ordering-service';

/** Where a byte field of a packet lies in the packet's ArrayBuffer. */
export type BytesRef = readonly [offset: number, length: number];

export interface Packet<T> {
  items: T[];
  bytes: ArrayBuffer;
}

export type ChannelRead = { what: 'chainInfo' } | { what: 'blocks'; from: number; to: number } | { what: 'transaction'; txId: string };

/** From the ledger's thread to a channel thread. */
export type ToChannel =
  /** `tellOrdered`: say 'ordered' once the transaction is with the orderer, before its outcome. */
  | { t: 'run'; id: number; submit: boolean; tellOrdered: boolean; proposal: BytesRef }
  /** The MSPs' root certificates, sent again whenever an MSP is added. */
  | { t: 'roots'; roots: Record<string, string> }
  | { t: 'read'; id: number; read: ChannelRead }
  /** Whether committed blocks should come with their bytes (some stream is reading them). */
  | { t: 'watch'; on: boolean }
  | { t: 'close' };

/** From a channel thread to the ledger's thread. */
export type FromChannel =
  | { t: 'ready'; height: number }
  | { t: 'failed'; error: Error }
  | { t: 'ordered'; id: number }
  | { t: 'outcome'; id: number; outcome: Outcome<BytesRef>; error?: undefined }
  | { t: 'outcome'; id: number; error: Error }
  | { t: 'read'; id: number; result: ChainInfo | BytesRef[] | TransactionLocation | undefined; error?: undefined }
  | { t: 'read'; id: number; error: Error }
  | { t: 'committed'; height: number; block?: BytesRef }
  | { t: 'closed' };

export interface ChannelWorkerData {
  dataDir: string;
  channel: string;
  batch: BatchSettings;
  chaincode: ChaincodeModule;
  roots: Record<string, string>;
  /** Endorsement workers of the channel thread's own; 0 runs the chaincode on the channel thread. */
  endorsers: number;
  /** The CBFT ordering service to order through (else the channel's own block cutter). */
  ordering?: OrderingClientConfig;
}

export interface ChannelThreadOptions extends Omit<ChannelWorkerData, 'roots'> {
  /** mspId → root CA certificate; the same object until an MSP is added (Membership.roots). */
  trustRoots: () => Record<string, string>;
}

/** Blocks a stream fetches per request when it is behind. */
const READ_AHEAD = 8;
/** Blocks pushed by the channel thread kept for the streams that are about to read them. */
const RECENT_BLOCKS = 16;

/** Messages to another thread, posted together once per turn of the event loop (see the file's comment). */
export class Outbox<T> {
  private items: T[] = [];
  private parts: Uint8Array[] = [];
  private size = 0;
  private scheduled = false;

  constructor(private readonly post: (packet: Packet<T>, transfer: ArrayBuffer[]) => void) {}

  /** Places `b` in the next packet (copied when it leaves: `b` must not change until then); the item pushed with the result refers to it. */
  bytes(b: Uint8Array): BytesRef {
    this.parts.push(b);
    this.size += b.length;
    return [this.size - b.length, b.length];
  }

  push(item: T): void {
    this.items.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.items.length === 0) return;
    const bytes = new ArrayBuffer(this.size);
    const view = new Uint8Array(bytes);
    let at = 0;
    for (const part of this.parts) {
      view.set(part, at);
      at += part.length;
    }
    const packet = { items: this.items, bytes };
    this.items = [];
    this.parts = [];
    this.size = 0;
    this.post(packet, [bytes]);
  }
}

/** A byte field of a received packet, as a Buffer over the packet's memory (no copy). */
export function bytesAt(packet: Packet<unknown>, [offset, length]: BytesRef): Buffer {
  return Buffer.from(packet.bytes, offset, length);
}

interface Call {
  /** The answer (a run's outcome, a read's result, or the error instead) and the packet it came in. */
  answer(item: FromChannel & { t: 'outcome' | 'read' }, packet: Packet<FromChannel>): void;
  /** No answer will come: the thread closed or failed. */
  fail(err: Error): void;
  /** A run's transaction is with the orderer. */
  ordered?(): void;
}

export class ChannelThread implements ChannelPeer {
  private readonly outbox: Outbox<ToChannel>;
  private readonly calls = new Map<number, Call>();
  private nextId = 0;
  private height = 0;
  private sentRoots: Record<string, string>;
  /** Recently committed blocks the thread sent along, as bytes until a stream parses them. */
  private readonly recent = new Map<number, Buffer | Block>();
  private readonly waiters = new Set<() => void>();
  private watchers = 0;
  /** Set once the thread has stopped (closed or failed): streams end, calls fail. */
  private ended = false;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  private onClosed: (() => void) | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly channel: string,
    private readonly trustRoots: () => Record<string, string>,
    roots: Record<string, string>,
  ) {
    this.sentRoots = roots;
    this.outbox = new Outbox((packet, transfer) => worker.postMessage(packet, transfer));
  }

  /** Starts the thread; resolves once it has opened the channel's stores and chaincode. */
  static async start(opts: ChannelThreadOptions): Promise<ChannelThread> {
    const { trustRoots, ...rest } = opts;
    const roots = trustRoots();
    const workerData: ChannelWorkerData = { ...rest, roots };
    const worker = new Worker(path.join(__dirname, 'channel-worker.js'), { workerData });
    const thread = new ChannelThread(worker, opts.channel, trustRoots, roots);
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (packet: Packet<FromChannel>) => {
        for (const item of packet.items) {
          if (item.t === 'ready') {
            thread.height = item.height;
            resolve();
          } else if (item.t === 'failed') {
            reject(item.error);
          } else thread.receive(item, packet);
        }
      });
      const stopped = (err: Error) => {
        thread.fail(err);
        reject(err);
      };
      worker.on('error', (err) => stopped(new Error(`channel ${opts.channel}: its thread failed: ${err.message}`)));
      worker.on('exit', (code) => stopped(new Error(`channel ${opts.channel}: its thread exited with code ${code}`)));
    }).catch(async (err: Error) => {
      await worker.terminate();
      throw err;
    });
    return thread;
  }

  start(signedProposal: peer.SignedProposal, submit: boolean, tellOrdered = false): Promise<Started> {
    // An MSP created since the last proposal: the thread learns of it before it checks this one.
    const roots = this.trustRoots();
    if (roots !== this.sentRoots) {
      this.sentRoots = roots;
      if (!this.ended) this.outbox.push({ t: 'roots', roots });
    }
    return new Promise<Started>((resolve, reject) => {
      let settle!: { resolve(o: Outcome): void; reject(err: Error): void };
      const outcome = new Promise<Outcome>((resolve, reject) => (settle = { resolve, reject }));
      // A failure before the hand-off reaches the caller through start(); the outcome then has no reader.
      outcome.catch(() => undefined);
      let ordered = false;
      this.call((id) => ({ t: 'run', id, submit, tellOrdered, proposal: this.outbox.bytes(signedProposal.serializeBinary()) }), {
        ordered: () => {
          ordered = true;
          resolve({ ordered, outcome });
        },
        answer: (item, packet) => {
          if (item.error !== undefined || item.t !== 'outcome') {
            settle.reject(item.error ?? new Error('unexpected answer'));
            reject(item.error);
            return;
          }
          const o = item.outcome;
          settle.resolve(o.kind === 'done' ? { ...o, payload: bytesAt(packet, o.payload) } : o);
          resolve({ ordered, outcome });
        },
        fail: (err) => {
          settle.reject(err);
          reject(err);
        },
      });
    });
  }

  chainInfo(): Promise<ChainInfo> {
    return this.read({ what: 'chainInfo' });
  }

  async getBlock(n: number): Promise<Block> {
    return (await this.readBlocks(n, n + 1))[0];
  }

  getTransaction(txId: string): Promise<TransactionLocation | undefined> {
    return this.read({ what: 'transaction', txId });
  }

  /** Like ChannelLedger.blocks: from the block store, then as blocks are committed, until closed. */
  blocks(start: number): EventStream<Block> {
    let stopped = false;
    let wake: (() => void) | undefined;
    let watching = true;
    const unwatch = () => {
      if (watching) this.watch(-1);
      watching = false;
    };
    this.watch(+1);
    const stop = () => {
      stopped = true;
      unwatch();
      wake?.();
    };
    const next = async function* (this: ChannelThread): AsyncGenerator<Block> {
      try {
        let n = Math.max(0, start);
        while (!stopped && !this.ended) {
          if (n < this.height) {
            for (const block of await this.readBlocks(n, Math.min(this.height, n + READ_AHEAD))) {
              n++;
              yield block;
              if (stopped) break;
            }
            continue;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
            this.waiters.add(resolve);
          });
          if (wake) this.waiters.delete(wake);
        }
      } finally {
        unwatch();
      }
    }.call(this);
    return { [Symbol.asyncIterator]: () => next, close: stop };
  }

  /** The thread's event loop utilisation since it started (its busy share: the set's own core, thesis 4.3). */
  eventLoopUtilization(): EventLoopUtilization {
    return this.worker.performance.eventLoopUtilization();
  }

  /** Lets the thread order and commit what it was given, close its stores, and exit. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.ended) {
        const closed = new Promise<void>((resolve) => (this.onClosed = resolve));
        this.outbox.push({ t: 'close' });
        this.outbox.flush();
        await closed;
      }
      this.end(new Error(`channel ${this.channel} is closed`));
      await this.worker.terminate();
    })();
    return this.closing;
  }

  /** Blocks from..to-1: those the thread sent along when committing them, else asked for. */
  private async readBlocks(from: number, to: number): Promise<Block[]> {
    const blocks: Block[] = [];
    for (let n = from; n < to && this.recent.has(n); n++) {
      let block = this.recent.get(n)!;
      if (Buffer.isBuffer(block)) this.recent.set(n, (block = parseBlock(n, block)));
      blocks.push(block);
    }
    if (blocks.length > 0) return blocks;
    const records = await this.read<BytesRef[], Buffer[]>({ what: 'blocks', from, to }, (refs, packet) => refs.map((ref) => bytesAt(packet, ref)));
    return records.map((bytes, i) => parseBlock(from + i, bytes));
  }

  private read<R, T = R>(read: ChannelRead, decode: (result: R, packet: Packet<FromChannel>) => T = (r) => r as unknown as T): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.call((id) => ({ t: 'read', id, read }), {
        answer: (item, packet) => {
          if (item.error !== undefined || item.t !== 'read') reject(item.error);
          else resolve(decode(item.result as R, packet));
        },
        fail: reject,
      }),
    );
  }

  private call(build: (id: number) => ToChannel, call: Call): void {
    if (this.ended || this.closing) return call.fail(this.failure ?? new Error(`channel ${this.channel} is closed`));
    const id = this.nextId++;
    this.calls.set(id, call);
    this.outbox.push(build(id));
  }

  private watch(delta: number): void {
    const before = this.watchers;
    this.watchers += delta;
    if (!this.ended && (before === 0) !== (this.watchers === 0)) this.outbox.push({ t: 'watch', on: this.watchers > 0 });
  }

  private receive(item: FromChannel, packet: Packet<FromChannel>): void {
    switch (item.t) {
      case 'ordered':
        this.calls.get(item.id)?.ordered?.();
        return;
      case 'outcome':
      case 'read': {
        const call = this.calls.get(item.id);
        this.calls.delete(item.id);
        try {
          call?.answer(item, packet);
        } catch (err) {
          call?.fail(err as Error);
        }
        return;
      }
      case 'committed':
        this.height = Math.max(this.height, item.height);
        if (item.block) {
          this.recent.set(item.height - 1, bytesAt(packet, item.block));
          if (this.recent.size > RECENT_BLOCKS) this.recent.delete(this.recent.keys().next().value!);
        }
        this.wakeStreams();
        return;
      case 'closed':
        this.onClosed?.();
        return;
    }
  }

  private fail(err: Error): void {
    if (this.ended) return;
    this.failure = err;
    this.end(err);
  }

  /** No more answers will come: every call still waiting fails, streams end, a close waiting for the thread returns. */
  private end(err: Error): void {
    this.ended = true;
    for (const call of this.calls.values()) call.fail(err);
    this.calls.clear();
    this.wakeStreams();
    this.onClosed?.();
  }

  private wakeStreams(): void {
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiting) wake();
  }
}
