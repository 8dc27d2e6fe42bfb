/**
 * One CBFT replica as a deterministic state machine: messages, client requests and timers in;
 * signed messages, decided blocks and log records out, through a ReplicaEnv. The same code runs
 * in the ordering service's worker threads (over loopback sockets, ECDSA keys) and in the
 * seeded simulator (virtual time and network), so a schedule the simulator finds replays exactly.
 *
 * The protocol is PBFT's (thesis 3.2.5) with one block in flight, as the thesis's per-block
 * primary needs: at height h, round r, the primary p(h, r) proposes a block (PRE-PREPARE); a
 * replica that accepts it sends PREPARE; with the pre-prepare and 2f matching prepares it is
 * prepared and sends COMMIT; with 2f+1 matching commits the block is decided and every client
 * is told (REPLY; a client takes a block on f+1 matching replies). A round that does not decide
 * in time, or whose primary leaves out a request the replica has held since well before the cut,
 * is abandoned: VIEW-CHANGE to round r+1 carries the replica's prepared certificate, and the next
 * primary's NEW-VIEW must carry on the highest prepared value among 2f+1 of them, which keeps
 * a value decided anywhere decided everywhere. Every K heights a CHECKPOINT with 2f+1 matching
 * votes becomes stable and the message log before it is dropped. Who leads is credit.ts's rule.
 */
import type { BatchSettings } from '../ledger/block-cutter';
import { CreditBook, SCORE_FAILURE, SCORE_SUCCESS, primaryOf, type PrimaryRule } from './credit';
import {
  byIssueTime,
  isCommitCertificate,
  proposalDigest,
  requestDigest,
  signingBytes,
  type Checkpoint,
  type Commit,
  type Decided,
  type Envelope,
  type Fetch,
  type Message,
  type NewView,
  type PrePrepare,
  type Prepare,
  type PreparedCertificate,
  type Proposal,
  type Reply,
  type RequestRef,
  type Requests,
  type Signed,
  type ViewChange,
} from './messages';

export interface ReplicaConfig {
  channel: string;
  n: number;
  f: number;
  rule: PrimaryRule;
  batch: BatchSettings;
  /** How long a round may take beyond the batch timeout before it is abandoned; doubles with each failed round. */
  viewTimeoutMs: number;
  /** How much older than a block's cut a request left out of it must be to count as censored (network delay allowance). */
  graceMs: number;
  /** Heights between checkpoints. */
  checkpointInterval: number;
  /** How far a fresh proposal's cut time may be from this replica's clock. */
  maxClockSkewMs: number;
  /** Evaluations the credit score averages over. */
  creditWindow: number;
}

export const DEFAULT_REPLICA_CONFIG: Omit<ReplicaConfig, 'channel' | 'n' | 'f' | 'batch'> = {
  rule: 'credit',
  viewTimeoutMs: 1000,
  graceMs: 500,
  checkpointInterval: 16,
  maxClockSkewMs: 5000,
  creditWindow: 10,
};

export type TimerName = 'batch' | 'round' | 'gossip' | 'payloads';

/** A block as the replica keeps it: the proposal, the commits that decided it and the request payloads. */
export interface DecidedBlock {
  proposal: Proposal;
  digest: string;
  certificate: Array<Signed<Commit>>;
  payloads: Map<string, Uint8Array>;
}

/** What a replica writes to its log before acting on it, so that after a restart it neither forgets nor contradicts itself. */
export type LogRecord =
  | { kind: 'block'; block: DecidedBlock }
  | { kind: 'vote'; height: number; round: number; vote: 'prepare' | 'commit' | 'view-change'; digest?: string }
  | { kind: 'prepared'; height: number; certificate: PreparedCertificate }
  | { kind: 'checkpoint'; height: number };

export interface ReplicaEnv {
  now(): number;
  send(to: number, envelope: Envelope): void;
  /** A decided block, for the clients (with this replica's signed REPLY). */
  reply(reply: Envelope<Reply>, block: DecidedBlock): void;
  setTimer(name: TimerName, ms: number): void;
  clearTimer(name: TimerName): void;
  sign(bytes: string): string;
  verify(replica: number, bytes: string, signature: string): boolean;
  /** The client's signature over the request's digest. */
  verifyRequest(ref: RequestRef): boolean;
  persist(record: LogRecord): void;
  /** A block decided before the last stable checkpoint, from the log (undefined if not kept). */
  loadBlock(height: number): DecidedBlock | undefined;
}

/** Ways a faulty replica misbehaves, for the tests and the simulator. */
export interface Misbehaviour {
  /** As primary, leave out the requests this picks. */
  censor?: (ref: RequestRef) => boolean;
  /** As primary, send one block to half the replicas and another to the rest. */
  equivocate?: boolean;
}

export interface ReplicaStatus {
  id: number;
  height: number;
  round: number;
  phase: 'normal' | 'view-change';
  primary: number;
  scores: number[];
  /** Blocks each replica proposed that were decided, seen from here. */
  proposed: number[];
  failedRounds: number;
  stableCheckpoint: number;
  pending: number;
  lastDecidedAt?: number;
}

interface Pooled {
  ref: RequestRef;
  payload: Uint8Array;
  receivedAt: number;
}

interface RoundVotes {
  prepares: Map<string, Map<number, Signed<Prepare>>>;
  commits: Map<string, Map<number, Signed<Commit>>>;
}

/** Messages kept for a height this replica has not reached yet. */
const FUTURE_LIMIT = 4096;
/** Decided blocks kept in memory for replicas and clients that fall behind; older ones come from the log. */
const RECENT_BLOCKS = 64;
/** Requests decided that a late copy is still recognised against (older duplicates the peer marks DUPLICATE_TXID). */
const REMEMBERED_TXIDS = 200_000;
/** Blocks sent in one answer to a Fetch. */
const FETCH_BLOCKS = 16;
/** How long a replica told of a request without its payload waits for it before asking the teller, and how often it asks. */
const PAYLOAD_WAIT_MS = 200;
const PAYLOAD_ASKS = 3;
/** Requests awaited without their payload at most (a faulty replica could tell of many). */
const EXPECTED_LIMIT = 100_000;

export class Replica {
  private height = 0;
  private lastDigest = '';
  private lastProposal: Proposal | undefined;
  private round = 0;
  private phase: 'normal' | 'view-change' = 'normal';
  /** The value accepted in this round. */
  private accepted: { digest: string; prePrepare: Signed<PrePrepare> } | undefined;
  /** A pre-prepare whose payloads are being fetched. */
  private awaiting: Envelope<PrePrepare> | undefined;
  private proposedRound = -1;
  private newViewSent = -1;
  private votes = new Map<number, RoundVotes>();
  /** Votes this replica cast at this height (restored from the log after a restart): never contradicted. */
  private myPrepare = new Map<number, string>();
  private myCommit = new Map<number, string>();
  private prepared: PreparedCertificate | undefined;
  private viewChanges = new Map<number, Map<number, Signed<ViewChange>>>();
  private readonly pool = new Map<string, Pooled>();
  private readonly decidedTx = new Map<string, number>();
  private readonly recent = new Map<number, DecidedBlock>();
  private readonly checkpoints = new Map<number, Map<string, Set<number>>>();
  private stable = 0;
  private future: Envelope[] = [];
  /** Requests to relay; `full` with the payload, otherwise the reference alone. */
  private gossip: Array<{ ref: RequestRef; payload: Uint8Array; skip: readonly number[]; full: boolean }> = [];
  /** Requests told of without their payload, by digest: who told, when to ask it for the payload, how often asked. */
  private readonly expected = new Map<string, { from: number; due: number; asked: number }>();
  private lastFetchAt = -Infinity;
  /** A client asked for a cut without waiting for the batch timeout (onFlush). */
  private cutNow = false;
  private roundTimerArmed = false;
  /** Commits seen at this height for a block this replica did not accept (see onCommit). */
  private missedBlock = false;
  private readonly credit: CreditBook;
  /** The replica the roulette wheel picked for round 0 of this height, and of the previous one. */
  private drawn = 0;
  private previousDrawn = 0;
  private readonly proposedCount: number[];
  private failedRounds = 0;
  private lastDecidedAt: number | undefined;

  constructor(
    readonly id: number,
    readonly config: ReplicaConfig,
    private readonly env: ReplicaEnv,
    private readonly misbehaviour: Misbehaviour = {},
  ) {
    if (config.n < 3 * config.f + 1) throw new Error(`CBFT needs N ≥ 3f+1 replicas: ${config.n} cannot tolerate f = ${config.f}`);
    this.credit = new CreditBook(config.n, config.creditWindow);
    this.proposedCount = new Array<number>(config.n).fill(0);
    this.drawn = this.credit.draw(this.seed());
  }

  /** Rebuilds the replica from its log (blocks in order, then votes at the height it stopped at). */
  restore(records: Iterable<LogRecord>): void {
    for (const r of records) {
      if (r.kind === 'block') {
        if (r.block.proposal.height === this.height && r.block.proposal.previous === this.lastDigest) this.apply(r.block, false);
      } else if (r.kind === 'checkpoint') {
        this.stable = Math.max(this.stable, r.height);
      } else if (r.height === this.height) {
        if (r.kind === 'prepared') {
          if (!this.prepared || r.certificate.prePrepare.message.round > this.prepared.prePrepare.message.round) this.prepared = r.certificate;
        } else if (r.vote === 'prepare') this.myPrepare.set(r.round, r.digest!);
        else if (r.vote === 'commit') this.myCommit.set(r.round, r.digest!);
        if (r.kind === 'vote' && r.round > this.round) {
          this.round = r.round;
          this.phase = r.vote === 'view-change' ? 'view-change' : 'normal';
        }
      }
    }
    // Back from a restart, this replica may have missed blocks, and an idle service sends nothing
    // that would show it: ask the others for what follows its log.
    for (const to of this.others()) this.send(to, { type: 'fetch', from: this.height });
  }

  // ---- inputs ----

  /**
   * A request straight from a client; `sentTo`, the replicas the client says it sent it to, are not
   * sent it again (a hint: a replica left out by mistake gets it from the primary when it needs it).
   * The first of them relays the payload to the others, the rest the reference alone: every replica
   * gets the bytes once, and hears of the request from an honest replica even when the first is
   * faulty (it then asks the teller for the payload: expect()).
   */
  onRequest(ref: RequestRef, payload: Uint8Array, sentTo: readonly number[] = []): void {
    if (!this.admitRequest(ref, payload)) return;
    const skip = Array.isArray(sentTo) ? sentTo : [];
    this.gossip.push({ ref, payload, skip, full: skip[0] === this.id || !skip.includes(this.id) });
    if (this.gossip.length === 1) this.env.setTimer('gossip', 0);
    this.armRoundTimer();
    this.maybePropose();
  }

  onEnvelope(envelope: Envelope): void {
    // What comes off a socket has whatever shape its sender gave it: nothing below may throw on it.
    if (typeof envelope !== 'object' || envelope === null || !wellFormed(envelope.message)) return;
    const { from, message } = envelope;
    if (!Number.isInteger(from) || from < 0 || from >= this.config.n || from === this.id) return;
    if (signed(message) && !this.env.verify(from, signingBytes(this.config.channel, message), envelope.signature)) return;
    this.dispatch(envelope);
  }

  onTimer(name: TimerName): void {
    if (name === 'gossip') return this.flushGossip();
    if (name === 'payloads') return this.askForPayloads();
    if (name === 'batch') return this.maybePropose();
    this.roundTimerArmed = false;
    if (this.pool.size === 0 && this.phase === 'normal' && !this.missedBlock) return;
    if (this.phase === 'view-change' && this.leavers() < 2 * this.config.f + 1) {
      // Fewer than 2f+1 have left the previous round yet: no new view can have formed, so leaving
      // this round too would only run ahead of the others (PBFT times a new view from 2f+1
      // VIEW-CHANGEs on). With timers equal once they stop doubling, a group that ran ahead stayed
      // ahead: it left each round just before the rest reached it, and neither side ever had 2f+1.
      // Wait, and say again that this replica wants the round (its VIEW-CHANGE may have been lost;
      // one behind follows f+1 of them).
      const mine = this.viewChanges.get(this.round)?.get(this.id);
      if (mine) this.broadcastSigned(mine);
      this.env.setTimer('round', this.roundTimeout(this.round));
      this.roundTimerArmed = true;
      return;
    }
    this.startViewChange(this.round + 1, 'timeout');
  }

  status(): ReplicaStatus {
    return {
      id: this.id,
      height: this.height,
      round: this.round,
      phase: this.phase,
      primary: this.primary(this.round),
      scores: [...this.credit.scores],
      proposed: [...this.proposedCount],
      failedRounds: this.failedRounds,
      stableCheckpoint: this.stable,
      pending: this.pool.size,
      ...(this.lastDecidedAt !== undefined ? { lastDecidedAt: this.lastDecidedAt } : {}),
    };
  }

  /** Decided block `height`, if this replica still has it. */
  block(height: number): DecidedBlock | undefined {
    return this.recent.get(height) ?? (height < this.height ? this.env.loadBlock(height) : undefined);
  }

  get decidedHeight(): number {
    return this.height;
  }

  // ---- dispatch ----

  private dispatch(envelope: Envelope): void {
    const m = envelope.message;
    switch (m.type) {
      case 'requests':
        return this.onRequests(envelope as Envelope<Requests>);
      case 'fetch':
        return this.onFetch(envelope.from, m);
      case 'decided':
        return this.onDecided(envelope as Envelope<Decided>);
      case 'checkpoint':
        return this.onCheckpoint(envelope.from, m);
      case 'reply':
        return;
    }
    if (m.height < this.height) {
      // A replica still working on a height decided here has fallen behind: show it the decision.
      if (m.type === 'view-change' || m.type === 'pre-prepare') this.sendDecided(envelope.from, m.height);
      return;
    }
    if (m.height > this.height) return this.keepForLater(envelope);
    switch (m.type) {
      case 'pre-prepare':
        return this.onPrePrepare(envelope as Envelope<PrePrepare>);
      case 'prepare':
        return this.onPrepare(envelope as Envelope<Prepare>);
      case 'commit':
        return this.onCommit(envelope as Envelope<Commit>);
      case 'view-change':
        return this.onViewChange(envelope as Envelope<ViewChange>);
      case 'new-view':
        return this.onNewView(envelope as Envelope<NewView>);
    }
  }

  private keepForLater(envelope: Envelope): void {
    if (this.future.length < FUTURE_LIMIT) this.future.push(envelope);
    // Others are ahead: ask one of them for the blocks in between (not more than once per view timeout / 4).
    const now = this.env.now();
    if (now - this.lastFetchAt >= this.config.viewTimeoutMs / 4) {
      this.lastFetchAt = now;
      this.send(envelope.from, { type: 'fetch', from: this.height });
    }
  }

  // ---- requests ----

  private admitRequest(ref: RequestRef, payload: Uint8Array): boolean {
    if (!validRef(ref) || !(payload instanceof Uint8Array) || this.pool.has(ref.digest) || this.decidedTx.has(ref.txId)) return false;
    if (ref.size > payload.byteLength || requestDigest(ref.txId, ref.timestamp, payload) !== ref.digest) return false;
    if (!this.env.verifyRequest(ref)) return false;
    this.pool.set(ref.digest, { ref, payload, receivedAt: this.env.now() });
    this.expected.delete(ref.digest);
    return true;
  }

  private onRequests(envelope: Envelope<Requests>): void {
    let added = false;
    for (const ref of envelope.message.requests) {
      const payload = envelope.payloads?.get(ref.digest);
      if (!payload) this.expect(ref, envelope.from);
      else if (this.admitRequest(ref, payload)) added = true;
    }
    if (!added) return;
    this.armRoundTimer();
    if (this.awaiting) {
      const waiting = this.awaiting;
      this.awaiting = undefined;
      this.onPrePrepare(waiting);
    }
    const newView = this.pendingNewView;
    this.pendingNewView = undefined;
    newView?.();
    this.maybePropose();
  }

  private flushGossip(): void {
    if (this.gossip.length === 0) return;
    const batch = this.gossip;
    this.gossip = [];
    for (const to of this.others()) {
      const mine = batch.filter((g) => !g.skip.includes(to));
      if (mine.length === 0) continue;
      const full = mine.filter((g) => g.full);
      this.send(to, { type: 'requests', requests: mine.map((g) => g.ref) }, full.length > 0 ? new Map(full.map((g) => [g.ref.digest, g.payload])) : undefined);
    }
  }

  /** A request another replica told of without its payload: asked of the teller if the payload does not come from the first receiver in time. */
  private expect(ref: RequestRef, from: number): void {
    if (!validRef(ref) || this.pool.has(ref.digest) || this.decidedTx.has(ref.txId) || this.expected.has(ref.digest) || this.expected.size >= EXPECTED_LIMIT) return;
    this.expected.set(ref.digest, { from, due: this.env.now() + PAYLOAD_WAIT_MS, asked: 0 });
    if (this.expected.size === 1) this.env.setTimer('payloads', PAYLOAD_WAIT_MS);
  }

  private askForPayloads(): void {
    const now = this.env.now();
    const asks = new Map<number, string[]>();
    let next = Infinity;
    for (const [digest, e] of this.expected) {
      if (e.due > now) {
        next = Math.min(next, e.due);
        continue;
      }
      // Asked often enough: the teller made it up or is gone; the client sends it to everyone in time.
      if (e.asked++ >= PAYLOAD_ASKS) {
        this.expected.delete(digest);
        continue;
      }
      e.due = now + PAYLOAD_WAIT_MS;
      next = Math.min(next, e.due);
      let digests = asks.get(e.from);
      if (!digests) asks.set(e.from, (digests = []));
      digests.push(digest);
    }
    for (const [to, digests] of asks) this.send(to, { type: 'fetch', digests });
    if (next < Infinity) this.env.setTimer('payloads', next - now);
  }

  private onFetch(from: number, m: Fetch): void {
    if (m.digests) {
      const found = m.digests.slice(0, 10_000).flatMap((d) => {
        const p = this.pool.get(d);
        return p ? [p] : [];
      });
      if (found.length > 0) this.send(from, { type: 'requests', requests: found.map((p) => p.ref) }, new Map(found.map((p) => [p.ref.digest, p.payload])));
      // Requests decided here since the asker saw them proposed have left the pool: it needs the
      // decision itself, or it stays a block behind until new traffic shows it that it is.
      if (found.length < m.digests.length) {
        const gone = new Set(m.digests.slice(0, 10_000).filter((d) => !this.pool.has(d)));
        for (const [height, block] of this.recent) if (block.proposal.requests.some((r) => gone.has(r.digest))) this.sendDecided(from, height);
      }
    }
    for (const decided of this.decidedFrom(m.from)) this.env.send(from, decided);
  }

  /** The blocks decided from height `from` on, FETCH_BLOCKS at most, each a signed DECIDED with its payloads: for whoever fell behind. */
  decidedFrom(from: unknown): Array<Envelope<Decided>> {
    const out: Array<Envelope<Decided>> = [];
    if (typeof from !== 'number' || !Number.isInteger(from) || from < 0) return out;
    for (let h = from; h < Math.min(this.height, from + FETCH_BLOCKS); h++) {
      const decided = this.decidedEnvelope(h);
      if (!decided) break;
      out.push(decided);
    }
    return out;
  }

  private decidedEnvelope(height: number): Envelope<Decided> | undefined {
    const block = this.block(height);
    return block && { ...this.signed<Decided>({ type: 'decided', proposal: block.proposal, certificate: block.certificate }), payloads: block.payloads };
  }

  private sendDecided(to: number, height: number): void {
    const decided = this.decidedEnvelope(height);
    if (decided) this.env.send(to, decided);
  }

  private onDecided(envelope: Envelope<Decided>): void {
    const { proposal, certificate } = envelope.message;
    if (proposal.height !== this.height || proposal.previous !== this.lastDigest) {
      if (proposal.height > this.height) this.keepForLater(envelope);
      return;
    }
    const digest = proposalDigest(proposal);
    if (!this.validCommitCertificate(proposal.height, digest, certificate)) return;
    const payloads = new Map<string, Uint8Array>();
    for (const ref of proposal.requests) {
      const payload = envelope.payloads?.get(ref.digest) ?? this.pool.get(ref.digest)?.payload;
      if (!payload || requestDigest(ref.txId, ref.timestamp, payload) !== ref.digest || !this.env.verifyRequest(ref)) return;
      payloads.set(ref.digest, payload);
    }
    this.decide({ proposal, digest, certificate, payloads });
    // Shown a decision, this replica had fallen behind: once the blocks kept for later are used up,
    // ask the same replica what follows. It answers FETCH_BLOCKS at a time, and an idle service
    // sends nothing else that would show this replica it is still behind.
    if (this.height === proposal.height + 1) this.send(envelope.from, { type: 'fetch', from: this.height });
  }

  // ---- normal case ----

  private maybePropose(): void {
    if (this.phase !== 'normal' || this.primary(this.round) !== this.id || this.proposedRound === this.round || this.accepted) return;
    if (this.pool.size === 0) return;
    // Called on every request that arrives: one pass over the pool, sorted only when a block is cut.
    const { batch } = this.config;
    let oldest = Infinity;
    let bytes = 0;
    for (const c of this.pool.values()) {
      oldest = Math.min(oldest, c.receivedAt);
      bytes += c.ref.size;
    }
    const full = this.pool.size >= batch.maxMessageCount || bytes >= batch.preferredMaxBytes;
    const wait = oldest + batch.batchTimeoutMs - this.env.now();
    if (!full && !this.cutNow && wait > 0) return this.env.setTimer('batch', wait);
    this.env.clearTimer('batch');
    this.cutNow = false;
    this.propose(this.take(this.candidates()));
  }

  /**
   * A client that is closing asks for what it sent to be cut now rather than at the batch timeout
   * (the solo cutter's flush). It sends its waiting requests again first, on the same connection,
   * so the primary holds them all when it cuts. Honest or not, a client can only make blocks smaller.
   */
  onFlush(): void {
    this.cutNow = true;
    this.maybePropose();
  }

  /** Requests in the pool not decided, in block order. */
  private candidates(): Pooled[] {
    return [...this.pool.values()].sort((a, b) => byIssueTime(a.ref, b.ref));
  }

  /** As many as one block takes: MaxMessageCount, and PreferredMaxBytes unless the first alone exceeds it. */
  private take(candidates: Pooled[]): RequestRef[] {
    const refs: RequestRef[] = [];
    let bytes = 0;
    for (const c of candidates) {
      if (refs.length >= this.config.batch.maxMessageCount) break;
      if (refs.length > 0 && bytes + c.ref.size > this.config.batch.preferredMaxBytes) break;
      refs.push(c.ref);
      bytes += c.ref.size;
    }
    return refs;
  }

  private freshProposal(refs: RequestRef[]): Proposal {
    const censor = this.misbehaviour.censor;
    return {
      height: this.height,
      previous: this.lastDigest,
      proposer: this.id,
      round: this.round,
      previousRound: this.previousCommit()?.[0]?.message.round ?? 0,
      cutAt: this.env.now(),
      requests: censor ? refs.filter((r) => !censor(r)) : refs,
    };
  }

  /** The certificate that decided the previous block, sent with every proposal so its round is proven. */
  private previousCommit(): Array<Signed<Commit>> | undefined {
    return this.height > 0 ? this.block(this.height - 1)?.certificate : undefined;
  }

  private prePrepare(round: number, proposal: Proposal): Signed<PrePrepare> {
    const previousCommit = this.previousCommit();
    return this.signed<PrePrepare>({ type: 'pre-prepare', height: this.height, round, proposal, ...(previousCommit ? { previousCommit } : {}) });
  }

  private propose(refs: RequestRef[]): void {
    this.proposedRound = this.round;
    const proposal = this.freshProposal(refs);
    if (this.misbehaviour.equivocate && proposal.requests.length > 0) {
      // Two different blocks for the same height and round, each to half of the others.
      const other: Proposal = { ...proposal, cutAt: proposal.cutAt + 1, requests: proposal.requests.slice(0, Math.max(0, proposal.requests.length - 1)) };
      const a = this.prePrepare(this.round, proposal);
      const b = this.prePrepare(this.round, other);
      this.others().forEach((to, i) => this.env.send(to, i % 2 === 0 ? a : b));
      return;
    }
    const prePrepare = this.prePrepare(this.round, proposal);
    this.broadcastSigned(prePrepare);
    this.accept(prePrepare);
  }

  private onPrePrepare(envelope: Envelope<PrePrepare>): void {
    const m = envelope.message;
    if (m.round !== this.round || this.phase !== 'normal' || envelope.from !== this.primary(m.round) || this.accepted) return;
    if (!this.validFreshProposal(m.proposal, envelope.from, m.round, m.previousCommit)) return;
    const missing = m.proposal.requests.filter((r) => !this.pool.has(r.digest)).map((r) => r.digest);
    if (missing.length > 0) {
      // Fetch what gossip has not brought yet from the primary, which must have it.
      this.awaiting = envelope;
      this.send(envelope.from, { type: 'fetch', digests: missing });
      return;
    }
    if (this.censors(m.proposal)) {
      this.startViewChange(this.round + 1, 'censorship');
      return;
    }
    this.accept(envelope);
  }

  /** The checks a backup makes on a new block (thesis 3.2.5's four, plus order and duplicates). */
  private validFreshProposal(p: Proposal, from: number, round: number, previousCommit: Array<Signed<Commit>> | undefined): boolean {
    if (p.height !== this.height || p.previous !== this.lastDigest || p.proposer !== from || p.round !== round) return false;
    // The previous block's round, proven by its commit certificate (at height 0 there is none).
    if (this.height === 0 ? p.previousRound !== 0 : !this.validCommitCertificate(this.height - 1, this.lastDigest, previousCommit ?? [], p.previousRound)) return false;
    if (!Number.isFinite(p.cutAt) || Math.abs(p.cutAt - this.env.now()) > this.config.maxClockSkewMs) return false;
    if (this.lastProposal && p.cutAt < this.lastProposal.cutAt) return false;
    return this.validRequests(p.requests);
  }

  private validRequests(refs: RequestRef[]): boolean {
    if (!Array.isArray(refs) || refs.length > this.config.batch.maxMessageCount) return false;
    const seen = new Set<string>();
    for (let i = 0; i < refs.length; i++) {
      const r = refs[i];
      if (!validRef(r) || seen.has(r.txId) || this.decidedTx.has(r.txId)) return false;
      if (i > 0 && byIssueTime(refs[i - 1], r) >= 0) return false;
      seen.add(r.txId);
    }
    return true;
  }

  /**
   * True when a block with room to spare leaves out a request this replica has held since well
   * before the cut (the primary had it too: requests are passed to every replica on arrival).
   */
  private censors(p: Proposal): boolean {
    const included = new Set(p.requests.map((r) => r.digest));
    const before = p.cutAt - this.config.graceMs;
    for (const pooled of this.pool.values()) {
      if (!included.has(pooled.ref.digest) && pooled.receivedAt < before && pooled.ref.timestamp < before && this.leftOut(p, pooled.ref.timestamp)) return true;
    }
    return false;
  }

  /**
   * Whether a request issued at `timestamp` and not in block `p` was left out of it rather than
   * not reached: the block had room for it, or (a full block takes the oldest first) it holds a
   * newer request in its place. Without the second case a censor could fill its blocks with newer
   * transactions and never be caught.
   */
  private leftOut(p: Proposal, timestamp: number): boolean {
    if (!this.isFull(p)) return true;
    return p.requests.length > 0 && timestamp < p.requests[p.requests.length - 1].timestamp;
  }

  private isFull(p: Proposal): boolean {
    const { maxMessageCount, preferredMaxBytes } = this.config.batch;
    const bytes = p.requests.reduce((s, r) => s + r.size, 0);
    return p.requests.length >= maxMessageCount || bytes >= preferredMaxBytes / 2;
  }

  private accept(prePrepare: Signed<PrePrepare>): void {
    const digest = proposalDigest(prePrepare.message.proposal);
    const round = prePrepare.message.round;
    const earlier = this.myPrepare.get(round);
    if (earlier !== undefined && earlier !== digest) return;
    this.accepted = { digest, prePrepare };
    if (prePrepare.from !== this.id) {
      if (earlier === undefined) {
        this.env.persist({ kind: 'vote', height: this.height, round, vote: 'prepare', digest });
        this.myPrepare.set(round, digest);
      }
      const prepare = this.signed<Prepare>({ type: 'prepare', height: this.height, round, digest });
      this.broadcastSigned(prepare);
      this.addVote(this.votesOf(round).prepares, digest, prepare);
    }
    this.armRoundTimer();
    this.checkPrepared(round, digest);
  }

  private onPrepare(envelope: Envelope<Prepare>): void {
    const m = envelope.message;
    if (envelope.from === this.primary(m.round)) return;
    this.addVote(this.votesOf(m.round).prepares, m.digest, envelope as Signed<Prepare>);
    if (m.round === this.round) this.checkPrepared(m.round, m.digest);
  }

  private onCommit(envelope: Envelope<Commit>): void {
    const m = envelope.message;
    this.addVote(this.votesOf(m.round).commits, m.digest, envelope as Signed<Commit>);
    if (m.round === this.round) this.checkCommitted(m.round, m.digest);
    // f+1 commits for a block this replica never accepted (its pre-prepare was lost): an honest
    // replica committed, so the block is being decided without it. Time the round even with an
    // empty pool: its VIEW-CHANGE then reaches replicas past this height, which answer with the
    // decision; otherwise an idle service leaves it a block behind for good.
    if (this.accepted?.digest !== m.digest && (this.votesOf(m.round).commits.get(m.digest)?.size ?? 0) >= this.config.f + 1) {
      this.missedBlock = true;
      this.armRoundTimer();
    }
  }

  private checkPrepared(round: number, digest: string): void {
    if (!this.accepted || this.accepted.digest !== digest || this.phase !== 'normal' || round !== this.round) return;
    const prepares = this.votesOf(round).prepares.get(digest);
    if (!prepares || prepares.size < 2 * this.config.f) return;
    if (this.myCommit.get(round) === undefined) {
      const certificate: PreparedCertificate = { prePrepare: this.accepted.prePrepare, prepares: [...prepares.values()].slice(0, 2 * this.config.f) };
      this.prepared = certificate;
      this.env.persist({ kind: 'prepared', height: this.height, certificate });
      this.env.persist({ kind: 'vote', height: this.height, round, vote: 'commit', digest });
      this.myCommit.set(round, digest);
      const commit = this.signed<Commit>({ type: 'commit', height: this.height, round, digest });
      this.broadcastSigned(commit);
      this.addVote(this.votesOf(round).commits, digest, commit);
    }
    this.checkCommitted(round, digest);
  }

  private checkCommitted(round: number, digest: string): void {
    if (!this.accepted || this.accepted.digest !== digest || this.myCommit.get(round) !== digest) return;
    const commits = this.votesOf(round).commits.get(digest);
    if (!commits || commits.size < 2 * this.config.f + 1) return;
    const proposal = this.accepted.prePrepare.message.proposal;
    const payloads = new Map<string, Uint8Array>();
    for (const ref of proposal.requests) {
      const p = this.pool.get(ref.digest);
      if (!p) return;
      payloads.set(ref.digest, p.payload);
    }
    this.decide({ proposal, digest, certificate: [...commits.values()].slice(0, 2 * this.config.f + 1), payloads });
  }

  // ---- deciding ----

  private decide(block: DecidedBlock): void {
    // A replica that voted to leave a round of this height (it saw censorship the others did not)
    // misses the commits: show it the decision, as dispatch does for a VIEW-CHANGE that comes
    // later; otherwise it stays behind until a round timeout, and if it leads the next height,
    // that height stalls and its honest primary is scored for a failed round.
    const leaving = new Set<number>();
    for (const vcs of this.viewChanges.values()) for (const from of vcs.keys()) if (from !== this.id) leaving.add(from);
    this.env.persist({ kind: 'block', block });
    this.apply(block, true);
    for (const to of leaving) this.sendDecided(to, block.proposal.height);
    // The proposer sends the block's requests to the clients, the others only its digest: a client
    // needs the requests once and the digest from f+1 (it fetches the block if the proposer is silent).
    const full = block.proposal.proposer === this.id ? { proposal: block.proposal } : {};
    const reply = this.signed<Reply>({ type: 'reply', height: block.proposal.height, digest: block.digest, ...full });
    this.env.reply(reply, block);
    if (this.height % this.config.checkpointInterval === 0) {
      const checkpoint = this.signed<Checkpoint>({ type: 'checkpoint', height: this.height, digest: this.lastDigest });
      this.broadcastSigned(checkpoint);
      this.onCheckpoint(this.id, checkpoint.message);
    }
    this.env.clearTimer('batch');
    this.env.clearTimer('round');
    this.roundTimerArmed = false;
    const later = this.future;
    this.future = [];
    for (const e of later) this.dispatch(e);
    this.armRoundTimer();
    this.maybePropose();
  }

  /** Moves the chain on by one decided block: scores, pool, round state. */
  private apply(block: DecidedBlock, live: boolean): void {
    const { proposal } = block;
    // The previous height is judged now that this block says (its commit certificate proved) in which
    // round it was decided (thesis 3.2.6): the primaries of the rounds before it failed (rule 1); the
    // one whose round succeeded scores 1 if this block holds a transaction issued before its cut that
    // its block had room for (rule 2). No grace here, unlike the
    // backups' refusal in censors(): a false alarm (a transaction still on its way at the cut)
    // costs an honest primary one score of 1 among ten, which is why the thesis gives 1 and not 0,
    // while a grace let a censor leave out every transaction younger than it at full credit.
    if (this.lastProposal) {
      const last = this.lastProposal;
      const primaryAt = (r: number) => primaryOf(this.config.rule, this.config.n, last.height, r, this.previousDrawn);
      for (let r = 0; r < proposal.previousRound; r++) this.credit.record(primaryAt(r), SCORE_FAILURE);
      this.failedRounds += proposal.previousRound;
      const leftOut = proposal.requests.some((r) => r.timestamp < last.cutAt && this.leftOut(last, r.timestamp));
      this.credit.record(primaryAt(proposal.previousRound), leftOut ? SCORE_FAILURE : SCORE_SUCCESS);
    }
    this.proposedCount[proposal.proposer]++;
    for (const ref of proposal.requests) {
      this.pool.delete(ref.digest);
      this.expected.delete(ref.digest);
      this.decidedTx.set(ref.txId, proposal.height);
    }
    if (this.decidedTx.size > REMEMBERED_TXIDS) {
      for (const txId of this.decidedTx.keys()) {
        this.decidedTx.delete(txId);
        if (this.decidedTx.size <= REMEMBERED_TXIDS * 0.9) break;
      }
    }
    this.recent.set(proposal.height, block);
    this.recent.delete(proposal.height - RECENT_BLOCKS);
    this.lastProposal = proposal;
    this.lastDigest = block.digest;
    this.height = proposal.height + 1;
    this.round = 0;
    this.phase = 'normal';
    this.accepted = undefined;
    this.awaiting = undefined;
    this.prepared = undefined;
    this.proposedRound = -1;
    this.newViewSent = -1;
    this.votes = new Map();
    this.myPrepare = new Map();
    this.myCommit = new Map();
    this.viewChanges = new Map();
    this.missedBlock = false;
    this.previousDrawn = this.drawn;
    this.drawn = this.credit.draw(this.seed());
    if (live) this.lastDecidedAt = this.env.now();
  }

  // ---- view change ----

  private startViewChange(round: number, reason: ViewChange['reason']): void {
    // Never twice for a round, nor back to one left behind.
    if (round <= this.round) return;
    this.round = round;
    this.phase = 'view-change';
    this.accepted = undefined;
    this.awaiting = undefined;
    this.env.clearTimer('batch');
    this.env.persist({ kind: 'vote', height: this.height, round, vote: 'view-change' });
    const vc = this.signed<ViewChange>({ type: 'view-change', height: this.height, round, reason, ...(this.prepared ? { prepared: this.prepared } : {}) });
    this.broadcastSigned(vc);
    this.viewChangesOf(round).set(this.id, vc);
    // Waits for the new view twice as long each time (PBFT's liveness rule).
    this.env.setTimer('round', this.roundTimeout(round));
    this.roundTimerArmed = true;
    this.tryNewView(round);
  }

  private onViewChange(envelope: Envelope<ViewChange>): void {
    const m = envelope.message;
    if (!Number.isInteger(m.round) || m.round < 1) return;
    if (m.prepared && !this.validPrepared(m.prepared)) return;
    this.viewChangesOf(m.round).set(envelope.from, envelope as Signed<ViewChange>);
    if (m.round < this.round && this.phase === 'view-change') {
      // The sender is rounds behind (it was down while the others moved on): show it this
      // replica's vote, so that with f+1 of them it follows now rather than at its next timeout.
      const mine = this.viewChanges.get(this.round)?.get(this.id);
      if (mine) this.env.send(envelope.from, mine);
    }
    if (m.round > this.round) {
      // f+1 replicas want a later round: at least one honest one does, so follow (PBFT).
      const ahead = new Map<number, number>();
      for (const [r, vcs] of this.viewChanges) if (r > this.round) for (const from of vcs.keys()) ahead.set(from, Math.min(ahead.get(from) ?? r, r));
      if (ahead.size >= this.config.f + 1) this.startViewChange(Math.min(...ahead.values()), 'timeout');
    }
    this.tryNewView(m.round);
  }

  /** How many replicas (this one among them: it is in view change) have asked for this round or a later one. */
  private leavers(): number {
    // This replica's own VIEW-CHANGE is not kept after a restart, only its vote in the log.
    const from = new Set<number>([this.id]);
    for (const [r, vcs] of this.viewChanges) if (r >= this.round) for (const id of vcs.keys()) from.add(id);
    return from.size;
  }

  private tryNewView(round: number): void {
    if (round !== this.round || this.phase !== 'view-change' || this.primary(round) !== this.id || this.newViewSent === round) return;
    const vcs = [...this.viewChangesOf(round).values()];
    if (vcs.length < 2 * this.config.f + 1) return;
    const chosen = vcs.slice(0, 2 * this.config.f + 1);
    const carried = highestPrepared(chosen);
    let proposal: Proposal;
    if (carried) proposal = carried.prePrepare.message.proposal;
    else {
      const candidates = this.candidates();
      proposal = this.freshProposal(this.take(candidates));
    }
    this.newViewSent = round;
    this.proposedRound = round;
    const prePrepare = this.prePrepare(round, proposal);
    this.broadcast({ type: 'new-view', height: this.height, round, viewChanges: chosen, prePrepare });
    this.enterRound(round, prePrepare);
  }

  private onNewView(envelope: Envelope<NewView>): void {
    const m = envelope.message;
    if (m.round < this.round || (m.round === this.round && this.phase === 'normal') || envelope.from !== this.primary(m.round)) return;
    const { prePrepare, viewChanges } = m;
    if (prePrepare.from !== envelope.from || prePrepare.message.height !== this.height || prePrepare.message.round !== m.round) return;
    if (!this.env.verify(prePrepare.from, signingBytes(this.config.channel, prePrepare.message), prePrepare.signature)) return;
    const senders = new Set<number>();
    for (const vc of viewChanges) {
      const v = vc.message;
      if (v.type !== 'view-change' || v.height !== this.height || v.round !== m.round || senders.has(vc.from)) return;
      if (!(vc.from === this.id ? true : this.env.verify(vc.from, signingBytes(this.config.channel, v), vc.signature))) return;
      if (v.prepared && !this.validPrepared(v.prepared)) return;
      senders.add(vc.from);
    }
    if (senders.size < 2 * this.config.f + 1) return;
    const carried = highestPrepared(viewChanges);
    const proposal = prePrepare.message.proposal;
    if (carried) {
      if (proposalDigest(carried.prePrepare.message.proposal) !== proposalDigest(proposal)) return;
    } else if (!this.validFreshProposal(proposal, envelope.from, m.round, prePrepare.message.previousCommit)) return;
    if (proposal.requests.some((r) => !this.pool.has(r.digest))) {
      this.send(envelope.from, { type: 'fetch', digests: proposal.requests.filter((r) => !this.pool.has(r.digest)).map((r) => r.digest) });
      this.keepNewViewForLater(envelope);
      return;
    }
    this.enterRound(m.round, prePrepare);
  }

  /** A NEW-VIEW waiting for payloads is tried again when they arrive (as a pre-prepare is). */
  private keepNewViewForLater(envelope: Envelope<NewView>): void {
    const retry = (): void => {
      if (envelope.message.round >= this.round && envelope.message.height === this.height) this.onNewView(envelope);
    };
    // Re-dispatched on the next requests message through the awaiting slot's path.
    this.pendingNewView = retry;
  }

  private pendingNewView: (() => void) | undefined;

  private enterRound(round: number, prePrepare: Signed<PrePrepare>): void {
    this.round = round;
    this.phase = 'normal';
    this.accepted = undefined;
    this.pendingNewView = undefined;
    this.env.clearTimer('round');
    this.roundTimerArmed = false;
    this.accept(prePrepare);
    // Votes for this round may have come before the new view did.
    const votes = this.votesOf(round);
    if (this.accepted) {
      const { digest } = this.accepted;
      if (votes.prepares.has(digest)) this.checkPrepared(round, digest);
      if (votes.commits.has(digest)) this.checkCommitted(round, digest);
    }
  }

  private validPrepared(cert: PreparedCertificate): boolean {
    const pp = cert.prePrepare;
    if (!pp || pp.message?.type !== 'pre-prepare' || pp.message.height !== this.height || !Number.isInteger(pp.message.round)) return false;
    if (pp.from !== this.primary(pp.message.round)) return false;
    if (pp.from !== this.id && !this.env.verify(pp.from, signingBytes(this.config.channel, pp.message), pp.signature)) return false;
    const digest = proposalDigest(pp.message.proposal);
    if (pp.message.proposal.height !== this.height || pp.message.proposal.previous !== this.lastDigest) return false;
    const senders = new Set<number>();
    for (const p of cert.prepares ?? []) {
      const m = p.message;
      if (m.type !== 'prepare' || m.height !== this.height || m.round !== pp.message.round || m.digest !== digest || p.from === pp.from || senders.has(p.from)) return false;
      if (p.from !== this.id && !this.env.verify(p.from, signingBytes(this.config.channel, m), p.signature)) return false;
      senders.add(p.from);
    }
    return senders.size >= 2 * this.config.f;
  }

  private validCommitCertificate(height: number, digest: string, certificate: Array<Signed<Commit>>, inRound?: number): boolean {
    const verified = (c: Signed<Commit>) => c.from === this.id || this.env.verify(c.from, signingBytes(this.config.channel, c.message), c.signature);
    return isCommitCertificate(certificate, height, digest, 2 * this.config.f + 1, this.config.n, verified, inRound);
  }

  // ---- checkpoints ----

  private onCheckpoint(from: number, m: Checkpoint): void {
    if (!Number.isInteger(m.height) || m.height <= this.stable || m.height % this.config.checkpointInterval !== 0) return;
    let byDigest = this.checkpoints.get(m.height);
    if (!byDigest) this.checkpoints.set(m.height, (byDigest = new Map()));
    let votes = byDigest.get(m.digest);
    if (!votes) byDigest.set(m.digest, (votes = new Set()));
    votes.add(from);
    const mine = this.recent.get(m.height - 1)?.digest;
    if (votes.size >= 2 * this.config.f + 1 && mine === m.digest && m.height <= this.height) {
      this.stable = m.height;
      this.env.persist({ kind: 'checkpoint', height: m.height });
      for (const h of this.checkpoints.keys()) if (h <= m.height) this.checkpoints.delete(h);
    }
  }

  // ---- helpers ----

  private primary(round: number): number {
    return primaryOf(this.config.rule, this.config.n, this.height, round, this.drawn);
  }

  /** The roulette wheel's seed for this height: the chain so far, which every honest replica holds alike. */
  private seed(): string {
    return `${this.config.channel}:${this.height}:${this.lastDigest}`;
  }

  private roundTimeout(round: number): number {
    return (this.config.batch.batchTimeoutMs + this.config.viewTimeoutMs) * 2 ** Math.min(round, 3);
  }

  private armRoundTimer(): void {
    if (this.roundTimerArmed || (this.pool.size === 0 && !this.missedBlock)) return;
    this.roundTimerArmed = true;
    this.env.setTimer('round', this.roundTimeout(this.round));
  }

  private votesOf(round: number): RoundVotes {
    let v = this.votes.get(round);
    if (!v) this.votes.set(round, (v = { prepares: new Map(), commits: new Map() }));
    return v;
  }

  private viewChangesOf(round: number): Map<number, Signed<ViewChange>> {
    let v = this.viewChanges.get(round);
    if (!v) this.viewChanges.set(round, (v = new Map()));
    return v;
  }

  private addVote<M extends Prepare | Commit>(byDigest: Map<string, Map<number, Signed<M>>>, digest: string, vote: Signed<M>): void {
    let votes = byDigest.get(digest);
    if (!votes) byDigest.set(digest, (votes = new Map()));
    votes.set(vote.from, vote);
  }

  private others(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.config.n; i++) if (i !== this.id) out.push(i);
    return out;
  }

  private signed<M extends Message>(message: M): Signed<M> {
    return { from: this.id, message, signature: signed(message) ? this.env.sign(signingBytes(this.config.channel, message)) : '' };
  }

  private send(to: number, message: Message, payloads?: Map<string, Uint8Array>): void {
    this.env.send(to, { ...this.signed(message), ...(payloads ? { payloads } : {}) });
  }

  private broadcast(message: Message, payloads?: Map<string, Uint8Array>): void {
    // One envelope for all: the node encodes it once for every link.
    const envelope: Envelope = { ...this.signed(message), ...(payloads ? { payloads } : {}) };
    for (const to of this.others()) this.env.send(to, envelope);
  }

  private broadcastSigned(signed: Signed): void {
    for (const to of this.others()) this.env.send(to, signed);
  }
}

/**
 * True when `m` has the fields and types its `type` says, nested signed messages included (their
 * signatures are checked where they are used). Values are judged later; this only keeps a
 * malformed message, signed or not, from throwing in the handlers.
 */
function wellFormed(m: unknown): m is Message {
  if (typeof m !== 'object' || m === null) return false;
  const x = m as Record<string, unknown>;
  const hr = count(x.height) && count(x.round);
  switch (x.type) {
    case 'pre-prepare':
      return hr && wellFormedProposal(x.proposal) && (x.previousCommit === undefined || (Array.isArray(x.previousCommit) && x.previousCommit.every((c) => signedOf(c, 'commit'))));
    case 'prepare':
    case 'commit':
      return hr && typeof x.digest === 'string';
    case 'view-change': {
      const p = x.prepared as Record<string, unknown> | undefined;
      const preparedOk = p === undefined || (typeof p === 'object' && p !== null && signedOf(p.prePrepare, 'pre-prepare') && Array.isArray(p.prepares) && p.prepares.every((q) => signedOf(q, 'prepare')));
      return hr && (x.reason === 'timeout' || x.reason === 'censorship') && preparedOk;
    }
    case 'new-view':
      return hr && Array.isArray(x.viewChanges) && x.viewChanges.every((v) => signedOf(v, 'view-change')) && signedOf(x.prePrepare, 'pre-prepare');
    case 'checkpoint':
      return count(x.height) && typeof x.digest === 'string';
    case 'requests':
      return Array.isArray(x.requests) && x.requests.every((r) => validRef(r as RequestRef));
    case 'fetch':
      return (x.from === undefined || count(x.from)) && (x.digests === undefined || (Array.isArray(x.digests) && x.digests.every((d) => typeof d === 'string')));
    case 'decided':
      return wellFormedProposal(x.proposal) && Array.isArray(x.certificate) && x.certificate.every((c) => signedOf(c, 'commit'));
    case 'reply':
      return count(x.height) && typeof x.digest === 'string' && (x.proposal === undefined || wellFormedProposal(x.proposal));
    default:
      return false;
  }
}

function count(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function signedOf(s: unknown, type: Message['type']): boolean {
  if (typeof s !== 'object' || s === null) return false;
  const x = s as Record<string, unknown>;
  return Number.isInteger(x.from) && typeof x.signature === 'string' && (x.message as { type?: unknown } | null)?.type === type && wellFormed(x.message);
}

function wellFormedProposal(p: unknown): p is Proposal {
  if (typeof p !== 'object' || p === null) return false;
  const x = p as Record<string, unknown>;
  return count(x.height) && typeof x.previous === 'string' && count(x.proposer) && count(x.round) && count(x.previousRound) && Number.isFinite(x.cutAt) && Array.isArray(x.requests) && x.requests.every((r) => validRef(r as RequestRef));
}

/**
 * Whether a message is signed by its sender. Every message a replica states something in is; the
 * two that only pass things on are not: relayed requests each carry their client's authenticator
 * (checked on admission, so a replica's signature over them would vouch for nothing more), and a
 * fetch only asks. Signing the relayed requests cost each replica an ECDSA signature and three
 * verifications for nearly every transaction, the largest part of its CPU.
 */
function signed(message: Message): boolean {
  return message.type !== 'requests' && message.type !== 'fetch';
}

function validRef(r: RequestRef): boolean {
  return (
    typeof r === 'object' &&
    !!r &&
    typeof r.txId === 'string' &&
    r.txId.length > 0 &&
    r.txId.length <= 128 &&
    Number.isFinite(r.timestamp) &&
    Number.isInteger(r.size) &&
    r.size >= 0 &&
    typeof r.digest === 'string' &&
    typeof r.client === 'string' &&
    typeof r.signature === 'string'
  );
}

/** The prepared certificate of the highest round among the view changes, if any prepared. */
function highestPrepared(vcs: Array<Signed<ViewChange>>): PreparedCertificate | undefined {
  let best: PreparedCertificate | undefined;
  for (const vc of vcs) {
    const p = vc.message.prepared;
    if (p && (!best || p.prePrepare.message.round > best.prePrepare.message.round)) best = p;
  }
  return best;
}
