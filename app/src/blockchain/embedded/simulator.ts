/**
 * Transaction simulator with Fabric's semantics (core/ledger/kvledger/txmgmt): the
 * chaincode reads COMMITTED state only — never its own pending writes — and every read
 * records the version it saw, so the validator can later run MVCC and phantom checks.
 */

/** Height of the transaction that last wrote a key (Fabric's version.Height). */
export interface Version {
  blockNum: number;
  txNum: number;
}

export interface VersionedValue {
  value: Buffer;
  version: Version;
}

export interface VersionedKV extends VersionedValue {
  key: string;
}

export interface KeyModification {
  txId: string;
  value: Buffer;
  isDelete: boolean;
  timestamp: Date;
}

/** Committed, versioned world state as seen by the simulator. */
export interface VersionedState {
  get(ns: string, key: string): Promise<VersionedValue | undefined>;
  /** The committed version of a key, null if it does not exist (what MVCC validation compares). */
  version(ns: string, key: string): Promise<Version | null>;
  /** Keys in UTF-8 byte order (see compareKeys); start inclusive, end exclusive; '' = unbounded. */
  range(ns: string, startKey: string, endKey: string): AsyncIterable<VersionedKV>;
  /** Committed modifications of a key, newest first (Fabric 2.x history order). */
  history(ns: string, key: string): Promise<KeyModification[]>;
}

/** A read-set entry; `version: null` records that the key did not exist. */
export interface KVRead {
  key: string;
  version: Version | null;
}

export interface KVWrite {
  key: string;
  isDelete: boolean;
  /** Empty for deletes. */
  value: Buffer;
}

/** Fabric's RangeQueryInfo with raw reads, enough for the validator's phantom check. */
export interface RangeQueryInfo {
  startKey: string;
  /** The end key as queried when exhausted, otherwise the last key actually read (inclusive). */
  endKey: string;
  itrExhausted: boolean;
  reads: KVRead[];
}

export interface SimulationResults {
  namespace: string;
  /** Sorted by key, like Fabric's rwset builder. */
  reads: KVRead[];
  /** In execution order. */
  rangeQueries: RangeQueryInfo[];
  /** Sorted by key; a later write to the same key replaces an earlier one. */
  writes: KVWrite[];
  /** Whether a paginated range query ran (such transactions must be read-only in Fabric). */
  paginated: boolean;
}

export interface RangeOptions {
  /** Fabric's paginated range query: at most pageSize results, continue from bookmark. */
  pageSize?: number;
  bookmark?: string;
}

/**
 * Compares keys in UTF-8 byte order, which is LevelDB's order and hence Fabric's. Plain JS
 * comparison uses UTF-16 code units, which misorders U+E000..U+FFFF against astral
 * characters such as the U+10FFFF sentinel used by partial composite-key queries.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Shift surrogates above the rest of the BMP so the order matches code points.
    if (x >= 0xd800) x += x <= 0xdfff ? 0x2000 : -0x800;
    if (y >= 0xd800) y += y <= 0xdfff ? 0x2000 : -0x800;
    return x - y;
  }
  return a.length - b.length;
}

/** Cursor over a committed range that records what it hands out (Fabric's resultsItr). */
export class RangeIterator {
  private readonly it: AsyncIterator<VersionedKV>;
  private readonly info: RangeQueryInfo;
  private readonly limit: number;
  private readonly queriedEnd: string;
  private count = 0;
  private closed = false;
  /** Key a follow-up page would start from ('' when the range is exhausted). */
  bookmark = '';

  constructor(
    state: VersionedState,
    ns: string,
    startKey: string,
    endKey: string,
    pageSize: number | undefined,
    private readonly onClose: (info: RangeQueryInfo) => void,
  ) {
    this.it = state.range(ns, startKey, endKey)[Symbol.asyncIterator]();
    this.info = { endKey, itrExhausted: false, reads: [], startKey }; // keys in canonical order
    this.limit = pageSize && pageSize > 0 ? pageSize : Infinity;
    this.queriedEnd = endKey;
  }

  /** Next committed entry, or undefined once the range (or page) is exhausted. */
  async next(): Promise<VersionedKV | undefined> {
    if (this.closed) throw new Error('range query iterator is closed');
    if (this.count >= this.limit) {
      // The page is full: peek once so the chaincode can be handed a bookmark, as Fabric's
      // leveldb scanner does in GetBookmarkAndClose. The peeked entry is not a read.
      const peek = await this.it.next();
      this.bookmark = peek.done ? '' : peek.value.key;
      this.markExhausted(peek.done === true);
      return undefined;
    }
    const r = await this.it.next();
    if (r.done) {
      this.markExhausted(true);
      return undefined;
    }
    this.count++;
    this.info.reads.push({ key: r.value.key, version: r.value.version });
    // Fabric moves EndKey to the last key handed out, in case the caller stops here.
    this.info.endKey = r.value.key;
    return r.value;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.it.return?.();
    this.onClose(this.info);
  }

  private markExhausted(exhausted: boolean): void {
    if (exhausted) {
      this.info.itrExhausted = true;
      this.info.endKey = this.queriedEnd;
    }
  }
}

export class TxSimulator {
  private readonly reads = new Map<string, Version | null>();
  private readonly writes = new Map<string, KVWrite>();
  private readonly rangeQueries: RangeQueryInfo[] = [];
  private readonly openIterators = new Set<RangeIterator>();
  private paginated = false;
  private done = false;

  constructor(
    private readonly state: VersionedState,
    readonly namespace: string,
  ) {}

  async getState(key: string): Promise<Buffer | undefined> {
    this.checkDone();
    const vv = await this.state.get(this.namespace, key);
    // Keep the first version seen: if a commit lands mid-simulation the later read would
    // otherwise hide the inconsistency from the validator's MVCC check.
    if (!this.reads.has(key)) this.reads.set(key, vv ? vv.version : null);
    return vv?.value;
  }

  /** Metadata is not stored, but Fabric still records the key read for MVCC. */
  async getStateMetadata(key: string): Promise<Record<string, Buffer>> {
    await this.getState(key);
    return {};
  }

  putState(key: string, value: Uint8Array): void {
    this.checkWrite(key);
    // Fabric's rwset builder treats an empty value as a delete (IsDelete: len(value) == 0).
    const buf = Buffer.from(value);
    this.writes.set(key, { key, isDelete: buf.length === 0, value: buf });
  }

  deleteState(key: string): void {
    this.checkWrite(key);
    this.writes.set(key, { key, isDelete: true, value: Buffer.alloc(0) });
  }

  getStateByRange(startKey: string, endKey: string, opts: RangeOptions = {}): RangeIterator {
    this.checkDone();
    const paginated = opts.pageSize !== undefined;
    if (paginated) {
      if (this.writes.size > 0) {
        throw new Error('transaction has already performed writes; paginated queries are only allowed in read-only transactions');
      }
      if (opts.bookmark) {
        if (compareKeys(opts.bookmark, startKey) < 0 || (endKey !== '' && compareKeys(opts.bookmark, endKey) >= 0)) {
          throw new Error(`bookmark "${opts.bookmark}" is outside the requested range`);
        }
        startKey = opts.bookmark; // Fabric's bookmark is simply the next start key
      }
      this.paginated = true;
    }
    const it = new RangeIterator(this.state, this.namespace, startKey, endKey, opts.pageSize, (info) => {
      this.openIterators.delete(it);
      this.rangeQueries.push(info);
    });
    this.openIterators.add(it);
    return it;
  }

  /** History is not part of the read set in Fabric (it is not re-validated at commit). */
  async getHistoryForKey(key: string): Promise<KeyModification[]> {
    this.checkDone();
    return this.state.history(this.namespace, key);
  }

  /**
   * Ends the simulation: closes iterators the chaincode left open (their reads still
   * count, as in Fabric) and returns plain read/write sets. The simulator is unusable after.
   */
  async results(): Promise<SimulationResults> {
    if (!this.done) {
      for (const it of [...this.openIterators]) await it.close();
      this.done = true;
    }
    const byKey = <T extends { key: string }>(a: T, b: T) => compareKeys(a.key, b.key);
    return {
      namespace: this.namespace,
      reads: [...this.reads].map(([key, version]) => ({ key, version })).sort(byKey),
      rangeQueries: [...this.rangeQueries],
      writes: [...this.writes.values()].sort(byKey),
      paginated: this.paginated,
    };
  }

  private checkDone(): void {
    if (this.done) throw new Error('transaction simulator has already completed; it cannot be used after results()');
  }

  private checkWrite(key: string): void {
    this.checkDone();
    if (this.paginated) {
      throw new Error('transaction has already performed a paginated query; writes are not allowed');
    }
    if (key === '') throw new Error('key must not be an empty string');
    // LevelDB's ValidateKeyValue: keys must be valid UTF-8 (no lone surrogates here).
    if (Buffer.from(key, 'utf8').toString('utf8') !== key) throw new Error(`invalid key [${key}]: must be a valid UTF-8 string`);
  }
}
