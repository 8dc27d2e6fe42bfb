import { Serial } from './serial';

/**
 * The ordering service's block cutter (Fabric's orderer/common/blockcutter with the solo/raft
 * batch timer): transactions are batched and a batch is cut when it reaches MaxMessageCount,
 * when the next transaction would exceed PreferredMaxBytes (an oversized one travels alone),
 * or when BatchTimeout has passed since the batch's first transaction. Batches are delivered
 * strictly one after another, so blocks are committed in order.
 */

export interface BatchSettings {
  maxMessageCount: number;
  batchTimeoutMs: number;
  preferredMaxBytes: number;
}

/** The thesis's settings (chapter 5): BatchTimeout 2 s, MaxMessageCount 10; Fabric's default 2 MiB preferred size. */
export const THESIS_BATCH: BatchSettings = { maxMessageCount: 10, batchTimeoutMs: 2000, preferredMaxBytes: 2 * 1024 * 1024 };

/** Why a block was cut; 'consensus' when the CBFT ordering service decided it (its primary cut it). */
export type CutReason = 'count' | 'bytes' | 'timeout' | 'flush' | 'consensus';

export class BlockCutter<T> {
  private pending: T[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Blocks are handed on one at a time, in order; a failed delivery does not stall later ones. */
  private readonly deliveries = new Serial();
  private delivering: Promise<void> = Promise.resolve();

  constructor(
    private readonly settings: BatchSettings,
    private readonly sizeOf: (item: T) => number,
    private readonly deliver: (batch: T[], reason: CutReason) => Promise<void>,
  ) {
    if (!(settings.maxMessageCount >= 1) || !(settings.batchTimeoutMs >= 1) || !(settings.preferredMaxBytes >= 1)) {
      throw new Error('batch settings must be positive: maxMessageCount, batchTimeoutMs, preferredMaxBytes');
    }
  }

  /** Queue one transaction; resolves once any batch this causes to be cut has been handed on. */
  enqueue(item: T): Promise<void> {
    const size = this.sizeOf(item);
    if (size > this.settings.preferredMaxBytes) {
      this.cut('bytes');
      this.pending.push(item);
      this.pendingBytes = size;
      return this.cut('bytes');
    }
    if (this.pendingBytes + size > this.settings.preferredMaxBytes) this.cut('bytes');
    this.pending.push(item);
    this.pendingBytes += size;
    if (this.pending.length >= this.settings.maxMessageCount) return this.cut('count');
    // A timed cut has no caller to tell: the deliver callback reports its own failures.
    if (!this.timer) this.timer = setTimeout(() => this.cut('timeout').catch(() => undefined), this.settings.batchTimeoutMs);
    return this.delivering;
  }

  /** Cut whatever is pending now (shutdown, tests). */
  flush(): Promise<void> {
    return this.cut('flush');
  }

  private cut(reason: CutReason): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return this.delivering;
    const batch = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.delivering = this.deliveries.run(() => this.deliver(batch, reason));
    return this.delivering;
  }
}
