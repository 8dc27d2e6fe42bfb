import type { ChaincodeStub, Iterators } from 'fabric-shim-api';
import { canonicalJson } from './canonical';
import { notFound } from './errors';

/**
 * Typed access to one kind of entity kept under composite keys (type + id parts).
 * Fabric's getState returns committed state only; the store keeps this transaction's own writes
 * in a cache so business rules can read what they just wrote, as the contracts expect.
 */
export class EntityStore<T> {
  constructor(
    private readonly stub: ChaincodeStub,
    private readonly cache: Map<string, string | null>,
    readonly type: string,
  ) {}

  key(...parts: string[]): string {
    return this.stub.createCompositeKey(this.type, parts);
  }

  async get(...parts: string[]): Promise<T | undefined> {
    const key = this.key(...parts);
    if (this.cache.has(key)) {
      const cached = this.cache.get(key);
      return cached === null || cached === undefined ? undefined : (JSON.parse(cached) as T);
    }
    const bytes = await this.stub.getState(key);
    if (!bytes || bytes.length === 0) return undefined;
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as T;
  }

  async require(what: string, ...parts: string[]): Promise<T> {
    const found = await this.get(...parts);
    if (found === undefined) throw notFound(what, parts.join('/'));
    return found;
  }

  async exists(...parts: string[]): Promise<boolean> {
    return (await this.get(...parts)) !== undefined;
  }

  async put(value: T, ...parts: string[]): Promise<void> {
    const key = this.key(...parts);
    const json = canonicalJson(value);
    this.cache.set(key, json);
    await this.stub.putState(key, Buffer.from(json, 'utf8'));
  }

  async delete(...parts: string[]): Promise<void> {
    const key = this.key(...parts);
    this.cache.set(key, null);
    await this.stub.deleteState(key);
  }

  /** Committed entities whose key starts with the given parts, in key order. */
  async list(parts: string[] = [], limit = Number.MAX_SAFE_INTEGER): Promise<T[]> {
    const out: T[] = [];
    for await (const { value } of this.stub.getStateByPartialCompositeKey(this.type, parts)) {
      out.push(JSON.parse(Buffer.from(value).toString('utf8')) as T);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Committed entities under the given prefix with their key parts, in key order: one scan, no further reads. */
  async entries(parts: string[] = []): Promise<Array<{ parts: string[]; value: T }>> {
    const out: Array<{ parts: string[]; value: T }> = [];
    for await (const { key, value } of this.stub.getStateByPartialCompositeKey(this.type, parts)) {
      out.push({ parts: this.stub.splitCompositeKey(key).attributes, value: JSON.parse(Buffer.from(value).toString('utf8')) as T });
    }
    return out;
  }

  /** Committed keys (id parts only) under the given prefix: used for index entries whose value is empty. */
  async listKeys(parts: string[] = []): Promise<string[][]> {
    const out: string[][] = [];
    for await (const { key } of this.stub.getStateByPartialCompositeKey(this.type, parts)) {
      out.push(this.stub.splitCompositeKey(key).attributes);
    }
    return out;
  }

  /** Every committed version of one entity, oldest first, with the transaction that wrote it. */
  async history(...parts: string[]): Promise<HistoryEntry<T>[]> {
    const iterator: Iterators.HistoryQueryIterator = await this.stub.getHistoryForKey(this.key(...parts));
    const out: HistoryEntry<T>[] = [];
    try {
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
        const m = r.value;
        const seconds = Number(m.timestamp.seconds ?? 0);
        const nanos = Number(m.timestamp.nanos ?? 0);
        out.push({
          txId: m.txId,
          timestamp: new Date(seconds * 1000 + Math.floor(nanos / 1e6)).toISOString(),
          isDelete: m.isDelete,
          value: m.isDelete || m.value.length === 0 ? null : (JSON.parse(Buffer.from(m.value).toString('utf8')) as T),
        });
      }
    } finally {
      await iterator.close();
    }
    // Fabric 2.x returns the newest modification first; callers read a life cycle oldest first.
    return out.reverse();
  }
}

export interface HistoryEntry<T> {
  txId: string;
  timestamp: string;
  isDelete: boolean;
  value: T | null;
}

/** An index entry: a key with no meaningful value, listed by prefix. */
export const INDEX_VALUE = {};
