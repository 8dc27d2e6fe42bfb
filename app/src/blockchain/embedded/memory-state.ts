/**
 * In-memory VersionedState with per-key history: the committed world state for tests and
 * for the chaincode test-suite, and each endorsement worker's replica of a channel. Keys are
 * kept sorted (UTF-8 byte order) so range queries behave like Fabric's LevelDB state database.
 */
import BTree from 'sorted-btree';
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
  /**
   * The same keys in compareKeys order, for ranges. A B+ tree, not a sorted array: a replica
   * holds hundreds of thousands of keys, and inserting each new one into an array moved the
   * array's tail (a tenth of an endorsement worker's time at blocks of 500).
   */
  keys: BTree<string, true>;
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

  async version(ns: string, key: string): Promise<Version | null> {
    return this.namespaces.get(ns)?.values.get(key)?.version ?? null;
  }

  async *range(ns: string, startKey: string, endKey: string): AsyncIterable<VersionedKV> {
    const space = this.namespaces.get(ns);
    if (!space) return;
    // Look up the next key after every yield (O(log n)), so a commit that lands while a
    // consumer is paused cannot shift the position under us.
    let key = space.keys.getPairOrNextHigher(startKey)?.[0];
    while (key !== undefined) {
      if (endKey !== '' && compareKeys(key, endKey) >= 0) return;
      const vv = space.values.get(key);
      if (vv) yield { key, value: vv.value, version: vv.version };
      key = space.keys.nextHigherKey(key);
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
        if (space.values.delete(w.key)) space.keys.delete(w.key);
      } else {
        if (!space.values.has(w.key)) space.keys.set(w.key, true);
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
    if (!space.values.has(key)) space.keys.set(key, true);
    space.values.set(key, { value, version: { ...version } });
  }

  /** Number of live keys in a namespace (handy in tests). */
  size(ns: string): number {
    return this.namespaces.get(ns)?.values.size ?? 0;
  }

  private namespace(ns: string): Namespace {
    let space = this.namespaces.get(ns);
    if (!space) {
      space = { values: new Map(), keys: new BTree<string, true>(undefined, compareKeys), history: new Map() };
      this.namespaces.set(ns, space);
    }
    return space;
  }
}
