import { compareKeys } from '../simulator';

/**
 * A set of state keys kept in the ledger's key order (compareKeys), so the validator can ask
 * whether a key was written, or whether any written key falls inside a scanned range, with a
 * binary search instead of a walk over every key a block wrote.
 */
export class SortedKeys {
  private readonly keys: string[] = [];

  static of(keys: Iterable<string>): SortedKeys {
    const sorted = new SortedKeys();
    sorted.keys.push(...new Set(keys));
    sorted.keys.sort(compareKeys);
    return sorted;
  }

  add(key: string): void {
    const i = this.lowerBound(key);
    if (this.keys[i] !== key) this.keys.splice(i, 0, key);
  }

  has(key: string): boolean {
    return this.keys[this.lowerBound(key)] === key;
  }

  /** The smallest key not below `start`, if there is one. */
  firstFrom(start: string): string | undefined {
    return this.keys[this.lowerBound(start)];
  }

  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.keys[mid], key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
