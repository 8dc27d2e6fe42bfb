/**
 * The relay's asynchronous answers (thesis 4.3.2, steps 2–4): a caller submits and gets the request's digest (its
 * transaction id) at once; when the transaction commits or fails the request is settled, and its result is posted
 * to the caller's callback (a webhook a bank API client registers) and to the pages' live feed (server-sent
 * events, `settled` below).
 *
 * Nothing is lost on the way: the request is written before the transaction is endorsed; a request still pending
 * when the platform starts is settled from the chain (committed, invalid, or never ordered); a callback is marked
 * delivered only when the receiver answered 2xx, retried with doubling back-off while it does not, and claimed
 * before it is sent so that one platform sends it once. The digest travels with it (X-Relay-Digest) so a receiver
 * that answered too late to be counted can recognise the repeat. A bank record no set can take yet is PARKED first
 * (services/parked-records.ts) and settled here like any other once it is sent.
 */
import { EventEmitter } from 'node:events';
import { AuditEntry, RelayRequest } from '../models/activity';
import type { UserDoc } from '../models/user';
import { ChainError, type Chain, type Submitted } from './chain';

export interface RelayRequestView {
  digest: string;
  /** The API client it belongs to. */
  clientId?: string;
  state: 'PARKED' | 'PENDING' | 'COMMITTED' | 'FAILED';
  fcn: string;
  target: string;
  channel?: string;
  /** The transaction that carried a parked request, sent after its digest was given. */
  txId?: string;
  parkedAt?: Date;
  blockNumber?: number;
  result?: unknown;
  error?: { code: string; message: string };
  createdAt: Date;
  settledAt?: Date;
  callback?: { state: string; attempts: number; deliveredAt?: Date; lastError?: string };
}

export interface AsyncCall {
  user: Pick<UserDoc, 'id' | 'username' | 'role' | 'orgId'>;
  ip?: string;
  /** The API client the answer belongs to, and where it wants the callback. */
  clientId?: string;
  callbackUrl?: string;
  fcn: string;
  args: string[];
  /** What the request is about (a serial, a project id), for people reading the log. */
  target: string;
}

/** A pending request younger than this is left alone at start: its transaction may still be on its way. */
const LOST_AFTER_MS = 60_000;
const MAX_BACKOFF_MS = 10 * 60_000;

export class RelayRequests extends EventEmitter {
  private timer?: NodeJS.Timeout;
  private delivering?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly chain: Chain,
    /** The first retry's delay; each next one doubles, up to ten minutes (RELAY_CALLBACK_RETRY_MS). */
    private readonly retryMs = 1000,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /** Settles what a previous run left pending and starts delivering callbacks. */
  async start(): Promise<void> {
    // A send interrupted by a stop is sent again: the receiver recognises it by its digest.
    await RelayRequest.updateMany({ 'callback.state': 'SENDING' }, { $set: { 'callback.state': 'WAITING' } });
    for (const pending of await RelayRequest.find({ state: 'PENDING' }).lean()) await this.recover(pending);
    this.timer = setInterval(() => this.poke(), Math.min(this.retryMs, 1000));
    this.timer.unref();
    this.poke();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.delivering;
  }

  /** Submits in the background; resolves with the digest once the request is recorded, before endorsement. */
  submit(call: AsyncCall): Promise<string> {
    return new Promise((resolve, reject) => {
      let digest: string | undefined;
      const onDigest = async (d: string, channel: string) => {
        await RelayRequest.create({
          _id: d,
          clientId: call.clientId,
          fcn: call.fcn,
          target: call.target,
          channel,
          state: 'PENDING',
          callback: { url: call.callbackUrl, state: 'NONE', attempts: 0 },
        });
        digest = d;
        resolve(d);
      };
      this.chain
        .identityOf(call.user)
        .then((identity) => this.chain.submitAs(identity, call.fcn, call.args, { onDigest }))
        .then(
          (done) => this.settle(call, done.txId, { done }),
          (err: unknown) => (digest ? this.settle(call, digest, { err }) : reject(err)),
        )
        .catch((err: Error) => console.error(`relay: settling ${digest ?? call.target} failed: ${err.message}`));
    });
  }

  async get(digest: string, clientId?: string): Promise<RelayRequestView | undefined> {
    const doc = await RelayRequest.findOne({ _id: digest, ...(clientId ? { clientId } : {}) }).lean();
    return doc ? view(doc) : undefined;
  }

  /** Sends the callbacks that are due (also called by the timer). */
  poke(): void {
    if (this.stopped || this.delivering) return;
    this.delivering = this.deliverDue()
      .catch((err: Error) => console.error(`relay: callback delivery: ${err.message}`))
      .finally(() => (this.delivering = undefined));
  }

  /** Settles a pending request from its transaction's outcome: audited, called back, on the pages' feed. */
  async settle(call: AsyncCall, digest: string, outcome: { done?: Submitted<unknown>; err?: unknown }): Promise<void> {
    const error = outcome.err === undefined ? undefined : ChainError.from(outcome.err);
    const doc = await RelayRequest.findOneAndUpdate(
      { _id: digest, state: 'PENDING' },
      {
        $set: {
          state: error ? 'FAILED' : 'COMMITTED',
          ...(error ? { error: { code: error.code, message: error.message } } : { result: outcome.done!.result, blockNumber: outcome.done!.blockNumber }),
          settledAt: new Date(),
        },
      },
      { new: true },
    ).lean();
    if (!doc) return;
    const txId = outcome.done?.txId ?? error?.txId ?? digest;
    await AuditEntry.create({ userId: call.user.id, username: call.user.username, role: call.user.role, orgId: call.user.orgId, action: `async:${call.fcn}`, target: call.target, ok: !error, message: error?.message, txId, ip: call.ip });
    await this.queueCallback(doc);
  }

  /**
   * A request left pending by a stopped platform: the chain says whether its transaction committed. A parked record
   * whose transaction did not commit is parked again, to be sent again (an identical bank record is recorded once).
   */
  private async recover(pending: { _id: string; channel?: string | null; txId?: string | null; parked?: { at?: Date | null } | null; createdAt?: Date | null; callback?: { url?: string | null } | null }): Promise<void> {
    const wasParked = Boolean(pending.parked?.at);
    const txId = pending.txId ?? (wasParked ? undefined : pending._id);
    const tx = pending.channel && txId ? await this.chain.gateway.getTransaction(pending.channel, txId) : undefined;
    let update: Record<string, unknown>;
    if (tx?.validationCode === 'VALID') {
      update = { state: 'COMMITTED', blockNumber: tx.blockNumber, result: { recovered: true } };
    } else if (wasParked) {
      await RelayRequest.updateOne({ _id: pending._id, state: 'PENDING' }, { $set: { state: 'PARKED' }, $unset: { channel: 1, txId: 1 } });
      return;
    } else if (tx) {
      update = { state: 'FAILED', blockNumber: tx.blockNumber, error: { code: 'MVCC', message: `the transaction was invalidated in block ${tx.blockNumber}: ${tx.validationCode}; nothing was written` } };
    } else if (Date.now() - (pending.createdAt?.getTime() ?? 0) > LOST_AFTER_MS) {
      update = { state: 'FAILED', error: { code: 'LOST', message: 'the platform stopped before the transaction was ordered; nothing was written: send it again' } };
    } else {
      return;
    }
    const doc = await RelayRequest.findOneAndUpdate({ _id: pending._id, state: 'PENDING' }, { $set: { ...update, settledAt: new Date() } }, { new: true }).lean();
    if (doc) await this.queueCallback(doc);
  }

  private async queueCallback(doc: Parameters<typeof view>[0] & { callback?: { url?: string | null } | null }): Promise<void> {
    if (doc.callback?.url) {
      await RelayRequest.updateOne({ _id: doc._id, 'callback.state': 'NONE' }, { $set: { 'callback.state': 'WAITING', 'callback.nextAttemptAt': new Date() } });
      this.poke();
    }
    this.emit('settled', view(doc));
  }

  private async deliverDue(): Promise<void> {
    const due = await RelayRequest.find({ 'callback.state': 'WAITING', 'callback.nextAttemptAt': { $lte: new Date() } })
      .limit(20)
      .lean();
    await Promise.all(due.map((doc) => this.deliver(doc._id)));
  }

  private async deliver(digest: string): Promise<void> {
    // Claimed first: a second delivery loop, or a later tick, cannot send it too.
    const doc = await RelayRequest.findOneAndUpdate({ _id: digest, 'callback.state': 'WAITING' }, { $set: { 'callback.state': 'SENDING' } }, { new: true }).lean();
    if (!doc?.callback?.url) return;
    let failure: string | undefined;
    try {
      const res = await fetch(doc.callback.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-relay-digest': digest },
        body: JSON.stringify({ ...view(doc), callback: undefined }),
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) failure = `the receiver answered ${res.status}`;
      await res.body?.cancel();
    } catch (err) {
      failure = (err as Error).message;
    }
    if (!failure) {
      await RelayRequest.updateOne({ _id: digest }, { $set: { 'callback.state': 'DELIVERED', 'callback.deliveredAt': new Date() }, $inc: { 'callback.attempts': 1 } });
      return;
    }
    const attempts = (doc.callback.attempts ?? 0) + 1;
    const delay = Math.min(this.retryMs * 2 ** (attempts - 1), MAX_BACKOFF_MS);
    await RelayRequest.updateOne(
      { _id: digest },
      { $set: { 'callback.state': 'WAITING', 'callback.nextAttemptAt': new Date(Date.now() + delay), 'callback.lastError': failure, 'callback.attempts': attempts } },
    );
  }
}

function view(doc: {
  _id: string;
  clientId?: string | null;
  state?: string | null;
  fcn?: string | null;
  target?: string | null;
  channel?: string | null;
  txId?: string | null;
  parked?: { at?: Date | null } | null;
  blockNumber?: number | null;
  result?: unknown;
  error?: { code?: string | null; message?: string | null } | null;
  createdAt?: Date | null;
  settledAt?: Date | null;
  callback?: { state?: string | null; attempts?: number | null; deliveredAt?: Date | null; lastError?: string | null } | null;
}): RelayRequestView {
  return {
    digest: doc._id,
    ...(doc.clientId ? { clientId: doc.clientId } : {}),
    state: (doc.state ?? 'PENDING') as RelayRequestView['state'],
    fcn: doc.fcn ?? '',
    target: doc.target ?? '',
    ...(doc.channel ? { channel: doc.channel } : {}),
    ...(doc.txId && doc.txId !== doc._id ? { txId: doc.txId } : {}),
    ...(doc.parked?.at ? { parkedAt: doc.parked.at } : {}),
    ...(doc.blockNumber != null ? { blockNumber: doc.blockNumber } : {}),
    ...(doc.result !== undefined && doc.result !== null ? { result: doc.result } : {}),
    ...(doc.error?.code ? { error: { code: doc.error.code, message: doc.error.message ?? '' } } : {}),
    createdAt: doc.createdAt ?? new Date(0),
    ...(doc.settledAt ? { settledAt: doc.settledAt } : {}),
    ...(doc.callback?.state && doc.callback.state !== 'NONE'
      ? { callback: { state: doc.callback.state, attempts: doc.callback.attempts ?? 0, ...(doc.callback.deliveredAt ? { deliveredAt: doc.callback.deliveredAt } : {}), ...(doc.callback.lastError ? { lastError: doc.callback.lastError } : {}) } }
      : {}),
  };
}
