/**
 * Endorsement on several threads, as a channel's peers endorse in parallel: each worker
 * (endorser-worker.ts) runs the chaincode against a replica of the committed state, so the
 * ledger's own thread is left with ordering, validation and commit. Workers start from a
 * snapshot of each channel's state database and receive every committed block's writes; a
 * replica may lag a block or two behind, which only shows up as MVCC conflicts, as it would
 * between real peers.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ChaincodeModule } from './chaincode-module';
import type { ExecuteRequest } from './chaincode-support';
import type { Simulation } from './endorser';
import { validTransactions, type Block } from './ledger/block';
import type { ChannelStore } from './ledger/channel-store';
import type { KeyModification, Version } from './simulator';

export interface WorkerOptions {
  /** Loaded by module in each worker: classes do not cross threads. */
  chaincode: ChaincodeModule;
}

type Bytes = Uint8Array;

export type ToWorker =
  | { type: 'snapshot'; channel: string; height: number; entries: Array<{ ns: string; key: string; value: Bytes; version: Version }>; last: boolean }
  | { type: 'block'; channel: string; number: number; txs: Array<{ txId: string; txNum: number; namespace: string; timestamp: Date; writes: Array<{ key: string; isDelete: boolean; value: Bytes }> }> }
  /** A proposal the ledger's thread has checked: its SignedProposal and ChaincodeInput, serialized. */
  | { type: 'endorse'; id: number; channel: string; txId: string; proposal: Bytes; input: Bytes }
  | { type: 'history-result'; id: number; mods: KeyModification[]; error?: undefined }
  | { type: 'history-result'; id: number; error: string };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'loaded'; channel: string }
  | { type: 'endorsed'; id: number; result: Simulation; error?: undefined }
  | { type: 'endorsed'; id: number; error: string }
  | { type: 'history'; id: number; channel: string; ns: string; key: string };

const SNAPSHOT_CHUNK = 2000;

interface Pending {
  resolve(result: Simulation): void;
  reject(err: Error): void;
}

class EndorserThread {
  readonly pending = new Map<number, Pending>();
  failure: Error | undefined;

  constructor(readonly worker: Worker) {}
}

export class EndorserPool {
  private nextId = 0;
  private closed = false;

  private constructor(
    private readonly threads: EndorserThread[],
    private readonly stores: ReadonlyMap<string, ChannelStore>,
  ) {}

  /** Starts `size` workers and loads every channel's committed state into each. */
  static async start(size: number, opts: WorkerOptions, stores: ReadonlyMap<string, ChannelStore>): Promise<EndorserPool> {
    const threads: EndorserThread[] = [];
    const pool = new EndorserPool(threads, stores);
    try {
      for (let i = 0; i < size; i++) threads.push(await pool.spawn(opts));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Simulates a proposal the caller has checked (checkProposal) on the least busy live worker; `bytes` is its SignedProposal serialized. */
  endorse(run: ExecuteRequest, bytes: Uint8Array): Promise<Simulation> {
    if (this.closed) return Promise.reject(new Error('endorsers are closed'));
    const thread = this.leastBusy();
    if (!thread) return Promise.reject(this.threads[0]?.failure ?? new Error('no endorsement worker is running'));
    const id = this.nextId++;
    return new Promise<Simulation>((resolve, reject) => {
      thread.pending.set(id, { resolve, reject });
      this.post(thread, { type: 'endorse', id, channel: run.channel, txId: run.txId, proposal: bytes, input: run.input.serializeBinary() });
    });
  }

  /** Hands a committed block's valid writes to every replica. */
  committed(channel: string, block: Block): void {
    const txs = validTransactions(block).map((tx) => ({ txId: tx.txId, txNum: tx.txNum, namespace: tx.namespace, timestamp: tx.timestamp, writes: tx.writes }));
    for (const t of this.threads) if (!t.failure) this.post(t, { type: 'block', channel, number: block.number, txs });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.threads) {
      for (const p of t.pending.values()) p.reject(new Error('endorsers are closed'));
      t.pending.clear();
      await t.worker.terminate();
    }
  }

  private leastBusy(): EndorserThread | undefined {
    let best: EndorserThread | undefined;
    for (const t of this.threads) if (!t.failure && (!best || t.pending.size < best.pending.size)) best = t;
    return best;
  }

  private post(thread: EndorserThread, msg: ToWorker): void {
    thread.worker.postMessage(msg);
  }

  private async spawn(opts: WorkerOptions): Promise<EndorserThread> {
    const worker = new Worker(path.join(__dirname, 'endorser-worker.js'), { workerData: opts });
    const thread = new EndorserThread(worker);
    const loading = new Set(this.stores.keys());
    const started = new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        thread.failure = err;
        for (const p of thread.pending.values()) p.reject(err);
        thread.pending.clear();
        reject(err);
      };
      worker.on('error', (err) => fail(new Error(`endorsement worker failed: ${err.message}`)));
      worker.on('exit', (code) => {
        if (!this.closed) fail(new Error(`endorsement worker exited with code ${code}`));
      });
      worker.on('message', (msg: FromWorker) => {
        switch (msg.type) {
          case 'ready':
            this.sendSnapshots(thread).catch(fail);
            return;
          case 'failed':
            fail(new Error(`endorsement worker could not start: ${msg.message}`));
            return;
          case 'loaded':
            loading.delete(msg.channel);
            if (loading.size === 0) resolve();
            return;
          case 'endorsed': {
            const p = thread.pending.get(msg.id);
            thread.pending.delete(msg.id);
            if (msg.error !== undefined) p?.reject(new Error(msg.error));
            else p?.resolve(revive(msg.result));
            return;
          }
          case 'history':
            this.serveHistory(thread, msg);
            return;
        }
      });
    });
    await started;
    return thread;
  }

  private async sendSnapshots(thread: EndorserThread): Promise<void> {
    for (const [channel, store] of this.stores) {
      const height = store.state.savepoint();
      let entries: Array<{ ns: string; key: string; value: Bytes; version: Version }> = [];
      for await (const e of store.state.entries()) {
        entries.push({ ns: e.ns, key: e.key, value: e.value, version: e.version });
        if (entries.length === SNAPSHOT_CHUNK) {
          this.post(thread, { type: 'snapshot', channel, height, entries, last: false });
          entries = [];
        }
      }
      this.post(thread, { type: 'snapshot', channel, height, entries, last: true });
    }
  }

  private serveHistory(thread: EndorserThread, msg: { id: number; channel: string; ns: string; key: string }): void {
    const store = this.stores.get(msg.channel);
    (store ? store.state.history(msg.ns, msg.key) : Promise.reject(new Error(`unknown channel ${msg.channel}`))).then(
      (mods) => this.post(thread, { type: 'history-result', id: msg.id, mods }),
      (err: Error) => this.post(thread, { type: 'history-result', id: msg.id, error: err.message }),
    );
  }
}

/** Buffers cross threads as plain Uint8Arrays (structured clone); this views one as a Buffer again, without copying. */
export function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

function revive(r: Simulation): Simulation {
  return {
    ...r,
    response: { ...r.response, payload: asBuffer(r.response.payload), ...(r.response.event ? { event: { name: r.response.event.name, payload: asBuffer(r.response.event.payload) } } : {}) },
    results: { ...r.results, writes: r.results.writes.map((w) => ({ ...w, value: asBuffer(w.value) })) },
  };
}
