import { Context } from 'fabric-contract-api';
import { canonicalJson } from './canonical';
import { EntityStore } from './state';

export interface FundEvent {
  type: string;
  data: Record<string, unknown>;
}

/**
 * Transaction context shared by every contract: typed entity stores over one write cache, the
 * transaction's events, and the deterministic transaction time.
 */
export class FundContext extends Context {
  private readonly writeCache = new Map<string, string | null>();
  readonly events: FundEvent[] = [];

  store<T>(type: string): EntityStore<T> {
    return new EntityStore<T>(this.stub, this.writeCache, type);
  }

  /** Transaction time as chosen by the client and signed in the proposal: the same on every endorser. */
  get now(): Date {
    return this.stub.getDateTimestamp();
  }

  get nowIso(): string {
    return this.now.toISOString();
  }

  get txId(): string {
    return this.stub.getTxID();
  }

  emit(type: string, data: Record<string, unknown>): void {
    this.events.push({ type, data });
  }

  /**
   * Fabric keeps one chaincode event per transaction, so all of a transaction's events travel in
   * one: named after the first, carrying them all in order.
   */
  flushEvents(): void {
    if (this.events.length === 0) return;
    const payload = canonicalJson({ txId: this.txId, at: this.nowIso, events: this.events });
    this.stub.setEvent(this.events[0].type, Buffer.from(payload, 'utf8'));
  }
}
