/**
 * Parked bank records (the relay's routing of a bank record by its serial, thesis 4.3.3.2): with more than one set a
 * bank record goes to the set of the project whose drafts the paying unit's registration of the serial names, so a
 * record that arrives before that registration has no set yet. Instead of being refused it is kept here as a relay
 * request in state PARKED (answered 202 with its digest, in the audit log), and sent to the serial's set once the
 * relay learns it: a registration passing through the relay, a set's event, or a look at the sets at start-up and
 * every minute (a serial registered while the platform was down, a send that did not reach a chain).
 *
 * Nothing is sent twice: a parked record is claimed before it is sent, and one whose send did not reach a chain is
 * parked again. It keeps its digest, and its result reaches the bank's webhook like any asynchronous request's
 * (services/relay-requests.ts). With one set nothing is parked: the chain records the record as unmatched.
 */
import { createHash } from 'node:crypto';
import { AuditEntry, RelayRequest } from '../models/activity';
import { User } from '../models/user';
import { ChainError, type Actor, type Chain } from './chain';
import type { AsyncCall, RelayRequests } from './relay-requests';

/** How often the sets are asked again for the serials of parked records. */
const RETRY_MS = 60_000;
/** Serials asked for in one look (the oldest parked first). */
const RETRY_BATCH = 200;

export interface Parked {
  digest: string;
  parkedAt: Date;
  /** The same record from the same client was parked before: its request, as it stands now. */
  repeated: boolean;
  state: string;
}

export class ParkedRecords {
  private timer?: NodeJS.Timeout;
  private readonly running = new Set<Promise<void>>();
  private retrying = false;
  private stopped = false;

  constructor(
    private readonly chain: Chain,
    private readonly requests: RelayRequests,
    /** The platform operator: asks the sets where a serial is. */
    private readonly operator: Actor,
    private readonly retryMs = RETRY_MS,
  ) {}

  /** Listens for serials the relay locates, and sends what a previous run left parked whose serial is now on a set. */
  start(): void {
    this.chain.relay.onSerialLocated = (serial, channel) => this.track(this.flush(serial, channel));
    this.track(this.retry());
    this.timer = setInterval(() => this.track(this.retry()), this.retryMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.chain.relay.onSerialLocated = undefined;
    while (this.running.size > 0) await Promise.all(this.running);
  }

  /**
   * Parks a bank record (Reconciliation:recordBankTransfer) when more than one set serves and none holds its serial;
   * undefined when the record can go to a set now. The same record from the same client is parked once.
   */
  async parkIfUnrouted(call: AsyncCall): Promise<Parked | undefined> {
    const { relay } = this.chain;
    if (relay.setChannels.length === 1) return undefined;
    if (await relay.locate(await this.chain.identityOf(this.operator), call.target)) return undefined;
    const digest = createHash('sha256').update(['parked', call.clientId ?? call.user.id, call.fcn, ...call.args].join('\n')).digest('hex');
    const parkedAt = new Date();
    const { upsertedCount } = await RelayRequest.updateOne(
      { _id: digest },
      {
        $setOnInsert: {
          clientId: call.clientId,
          fcn: call.fcn,
          target: call.target,
          state: 'PARKED',
          createdAt: parkedAt,
          parked: { at: parkedAt, args: call.args, userId: call.user.id, orgId: call.user.orgId, ip: call.ip, attempts: 0 },
          callback: { url: call.callbackUrl, state: 'NONE', attempts: 0 },
        },
      },
      { upsert: true },
    );
    if (upsertedCount === 0) {
      const before = await RelayRequest.findById(digest).lean();
      return { digest, parkedAt: before?.parked?.at ?? before?.createdAt ?? parkedAt, repeated: true, state: before?.state ?? 'PARKED' };
    }
    const { user } = call;
    await AuditEntry.create({ userId: user.id, username: user.username, role: user.role, orgId: user.orgId, action: `parked:${call.fcn}`, target: call.target, ok: true, message: `parked as request ${digest}: no set holds serial ${call.target} yet`, ip: call.ip });
    // Registered while this was being written: the relay has learnt the serial's set since it was asked.
    const channel = relay.knownSerial(call.target);
    if (channel) this.track(this.flush(call.target, channel));
    return { digest, parkedAt, repeated: false, state: 'PARKED' };
  }

  /** Sends every record parked for `serial` to its set, oldest first. */
  private async flush(serial: string, channel: string): Promise<void> {
    const parked = await RelayRequest.find({ state: 'PARKED', target: serial }).sort({ createdAt: 1 }).select('_id').lean();
    for (const { _id } of parked) await this.send(_id, channel);
  }

  private async send(digest: string, channel: string): Promise<void> {
    // Claimed first: the registration and the set's event may both announce the serial; only one send goes.
    const doc = await RelayRequest.findOneAndUpdate({ _id: digest, state: 'PARKED' }, { $set: { state: 'PENDING', channel } }, { new: true }).lean();
    if (!doc?.parked?.args || !doc.fcn) return;
    const user = await User.findById(doc.parked.userId);
    const call: AsyncCall = { user: user ?? { id: doc.parked.userId ?? '', username: '', role: 'bank', orgId: doc.parked.orgId ?? '' }, ip: doc.parked.ip ?? undefined, clientId: doc.clientId ?? undefined, fcn: doc.fcn, args: doc.parked.args, target: doc.target ?? '' };
    if (!user) return this.requests.settle(call, digest, { err: new ChainError('AUTHORISATION', `the bank user who sent it (${doc.parked.userId}) no longer exists; nothing was recorded`) });
    let txId: string | undefined;
    const onDigest = async (id: string) => {
      await RelayRequest.updateOne({ _id: digest, state: 'PENDING' }, { $set: { txId: id } });
      txId = id;
    };
    let outcome: { done?: Awaited<ReturnType<Chain['submitAs']>>; err?: unknown };
    try {
      outcome = { done: await this.chain.submitAs(await this.chain.identityOf(user), call.fcn, call.args, { channel, onDigest }) };
    } catch (err) {
      outcome = { err };
    }
    // Never endorsed (the relay or the platform's database failed first), or invalidated by a concurrent change:
    // nothing was written, and the bank was promised a send, not a refusal. The chain's own refusal is the answer.
    if (outcome.err && (!txId || ChainError.from(outcome.err).code === 'MVCC')) {
      await RelayRequest.updateOne(
        { _id: digest, state: 'PENDING' },
        { $set: { state: 'PARKED', 'parked.lastError': ChainError.from(outcome.err).message }, $inc: { 'parked.attempts': 1 }, $unset: { channel: 1, txId: 1 } },
      );
      return;
    }
    await this.requests.settle(call, digest, outcome);
  }

  /** Asks the sets for the serials of parked records (the oldest first) and sends those now on a set. */
  private async retry(): Promise<void> {
    if (this.retrying || this.stopped) return;
    this.retrying = true;
    try {
      const oldest = await RelayRequest.find({ state: 'PARKED' }).sort({ createdAt: 1 }).select('target').limit(RETRY_BATCH).lean();
      const serials = [...new Set(oldest.map((r) => r.target ?? ''))].filter(Boolean);
      if (serials.length === 0) return;
      const operator = await this.chain.identityOf(this.operator);
      for (const serial of serials) {
        if (this.stopped) return;
        const channel = await this.chain.relay.locate(operator, serial);
        if (channel) await this.flush(serial, channel);
      }
    } finally {
      this.retrying = false;
    }
  }

  private track(work: Promise<void>): void {
    const tracked: Promise<void> = work.catch((err: Error) => console.error(`parked bank records: ${err.message}`)).finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }
}
