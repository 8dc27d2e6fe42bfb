/**
 * In-memory VersionedState with per-key history: the committed world state for tests and
 * for the chaincode test-suite. Keys are kept sorted (UTF-8 byte order) so range queries
 * behave like Fabric's LevelDB state database.
 */
import {
  compareKeys,
  type KeyModification,
  type KVWrite,
  type Version,
  type VersionedKV,
  type VersionedState,
  type VersionedValue,
} from './simulator';

interface Namespace {
  values: Map<string, VersionedValue>;
  /** Sorted with compareKeys; kept in step with `values`. */
  keys: string[];
  /** Oldest first. */
  history: Map<string, KeyModification[]>;
}

export class MemoryState implements VersionedState {
  private readonly namespaces = new Map<string, Namespace>();

  /**
   * @param historySource where history comes from when this is a replica of a state kept
   * elsewhere; then no history is recorded in memory.
   */
  constructor(private readonly historySource?: (ns: string, key: string) => Promise<KeyModification[]>) {}

  async get(ns: string, key: string): Promise<VersionedValue | undefined> {
    return this.namespaces.get(ns)?.values.get(key);
  }

  async *range(ns: string, startKey: string, endKey: string): AsyncIterable<VersionedKV> {
    const space = this.namespaces.get(ns);
    if (!space) return;
    // Re-locate the position after every yield (O(log n)) so a commit that lands while a
    // consumer is paused cannot shift indexes under us.
    let i = lowerBound(space.keys, startKey);
    while (i < space.keys.length) {
      const key = space.keys[i];
      if (endKey !== '' && compareKeys(key, endKey) >= 0) return;
      const vv = space.values.get(key);
      if (vv) yield { key, value: vv.value, version: vv.version };
      i = upperBound(space.keys, key);
    }
  }

  async history(ns: string, key: string): Promise<KeyModification[]> {
    if (this.historySource) return this.historySource(ns, key);
    const mods = this.namespaces.get(ns)?.history.get(key) ?? [];
    return [...mods].reverse();
  }

  /** Commits one valid transaction's write set at `version`, recording history. */
  apply(ns: string, writes: readonly KVWrite[], version: Version, txId: string, timestamp: Date): void {
    const space = this.namespace(ns);
    for (const w of writes) {
      if (w.isDelete) {
        if (space.values.delete(w.key)) space.keys.splice(lowerBound(space.keys, w.key), 1);
      } else {
        if (!space.values.has(w.key)) space.keys.splice(lowerBound(space.keys, w.key), 0, w.key);
        space.values.set(w.key, { value: Buffer.from(w.value), version: { ...version } });
      }
      if (this.historySource) continue;
      let mods = space.history.get(w.key);
      if (!mods) space.history.set(w.key, (mods = []));
      mods.push({ txId, value: w.isDelete ? Buffer.alloc(0) : Buffer.from(w.value), isDelete: w.isDelete, timestamp });
    }
  }

  /** Sets one key as it stands in a snapshot of another state (no history). */
  load(ns: string, key: string, value: Buffer, version: Version): void {
    const space = this.namespace(ns);
    if (!space.values.has(key)) {
      const keys = space.keys;
      // Snapshots arrive in key order: appending is the common case.
      if (keys.length === 0 || compareKeys(keys[keys.length - 1], key) < 0) keys.push(key);
      else keys.splice(lowerBound(keys, key), 0, key);
    }
    space.values.set(key, { value, version: { ...version } });
  }

  /** Number of live keys in a namespace (handy in tests). */
  size(ns: string): number {
    return this.namespaces.get(ns)?.keys.length ?? 0;
  }

  private namespace(ns: string): Namespace {
    let space = this.namespaces.get(ns);
    if (!space) {
      space = { values: new Map(), keys: [], history: new Map() };
      this.namespaces.set(ns, space);
    }
    return space;
  }
}

/** First index whose key is >= `key`. */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid], key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose key is > `key`. */
function upperBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid], key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
