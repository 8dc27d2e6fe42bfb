/**
 * A deterministic simulation of a CBFT ordering service: the real Replica code on a virtual clock
 * and a virtual network whose delays, drops and reorderings, and whose faulty replicas, are drawn
 * from one seed. The same seed replays the same schedule exactly, so a failing seed is a bug
 * report. Signatures are HMACs with a secret per replica (a faulty replica cannot make another's),
 * which keeps a run deterministic and fast; the worker-thread service uses ECDSA certificates.
 *
 * Faults: 'crash' (silent from the start), 'censor' (as primary leaves chosen transactions out),
 * 'equivocate' (as primary sends different blocks to different replicas), 'twins' (two copies of
 * one replica, with its key, each talking to part of the others: equivocation in every phase),
 * 'restart' (crashes mid-run and comes back from its log). The network may delay, reorder and drop.
 * Outages take honest replicas down for a set time and bring them back from their logs: more
 * than f at once shows the service stopping safely and resuming.
 *
 * Checked on every run: agreement (honest replicas hold the same block at every height), validity
 * (only submitted transactions, each once), no acknowledged transaction lost (every transaction the
 * client saw f+1 matching replies for is in every honest replica's chain), and, with at most f
 * faulty replicas, liveness (everything submitted is decided once the network heals).
 */
import { createHmac } from 'node:crypto';
import { THESIS_BATCH, type BatchSettings } from '../ledger/block-cutter';
import { proposalDigest, requestDigest, signingBytes, type Envelope, type Proposal, type Reply, type RequestRef } from './messages';
import { DEFAULT_REPLICA_CONFIG, Replica, type DecidedBlock, type LogRecord, type Misbehaviour, type ReplicaConfig, type ReplicaEnv, type TimerName } from './replica';
import type { PrimaryRule } from './credit';

export type FaultKind = 'crash' | 'censor' | 'equivocate' | 'twins' | 'restart';

export interface SimulationOptions {
  seed: number;
  n?: number;
  f?: number;
  rule?: PrimaryRule;
  /** Faulty replicas by kind; which replicas they are is drawn from the seed unless `faultyIds` says. */
  faults?: FaultKind[];
  faultyIds?: number[];
  transactions?: number;
  /** Virtual milliseconds over which the client sends them. */
  durationMs?: number;
  /** Network: delay range, drop probability and share of messages held back long (reordering). */
  minDelayMs?: number;
  maxDelayMs?: number;
  dropRate?: number;
  lateRate?: number;
  batch?: Partial<BatchSettings>;
  /** Share of transactions a censoring replica leaves out (default 0.2). */
  censorShare?: number;
  /** Virtual time after the last send for the healed network to settle. */
  settleMs?: number;
  /** Called with a line per message sent, for debugging a seed. */
  trace?: (line: string) => void;
  /** Replicas down from `from` to `to` (virtual ms), then restarted from their logs; they count as honest. */
  outages?: Outage[];
  /** Virtual times at which to record every node's status (for the tests of a stopped service). */
  observeAt?: number[];
}

export interface Outage {
  id: number;
  from: number;
  to: number;
}

/** One decided height, as the honest replicas' chain records it. */
export interface HeightRecord {
  /** The primary of round 0 (the one the rule chose for this height). */
  primary: number;
  /** The round the block was decided in (0 when its first primary's block went through). */
  round: number;
  proposer: number;
  transactions: number;
}

export interface Observation {
  at: number;
  statuses: Array<ReturnType<Replica['status']> & { up: boolean }>;
}

export interface SimulationResult {
  seed: number;
  ok: boolean;
  violations: string[];
  faulty: Array<{ id: number; kind: FaultKind }>;
  height: number;
  submitted: number;
  acknowledged: number;
  decided: number;
  /** Blocks each replica proposed, as the honest replicas' chain records it. */
  proposed: number[];
  failedRounds: number;
  /** For censored transactions: blocks decided between submission and commit (1 = the next block). */
  censoredWaits: number[];
  /** The same for every decided transaction. */
  waits: number[];
  heights: HeightRecord[];
  observations: Observation[];
  virtualMs: number;
  messages: number;
  /** Each node's state at the end (twins twice). */
  statuses: Array<ReturnType<Replica['status']> & { up: boolean }>;
}

/** A small fast PRNG (mulberry32): the whole schedule comes from it. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: T[]): T {
    return items[this.int(items.length)];
  }
}

interface Event {
  at: number;
  seq: number;
  run: () => void;
}

/** A binary heap of events by (time, insertion order): ties resolve the same way every run. */
class Agenda {
  private heap: Event[] = [];
  private seq = 0;
  push(at: number, run: () => void): Event {
    const e = { at, seq: this.seq++, run };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (before(h[p], h[i])) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
    return e;
  }
  pop(): Event | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l], h[m])) m = l;
        if (r < h.length && before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
  get size(): number {
    return this.heap.length;
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

const secretOf = (id: number): string => `replica-${id}-secret`;
const CLIENT = 'client';
const hmac = (secret: string, bytes: string): string => createHmac('sha256', secret).update(bytes).digest('base64');

/**
 * Signatures as HMACs, remembering what each replica signed lately: a broadcast is checked by
 * every receiver, and looking its bytes up costs far less than computing the HMAC again. A
 * lookup that misses (a forgery, or bytes signed long ago) computes it, so every answer is the
 * one the HMAC gives.
 */
class Signatures {
  private readonly recent = new Map<number, Map<string, string>>();
  sign(replica: number, bytes: string): string {
    let mine = this.recent.get(replica);
    if (!mine) this.recent.set(replica, (mine = new Map()));
    const known = mine.get(bytes);
    if (known !== undefined) return known;
    if (mine.size >= 4096) mine.clear();
    const signature = hmac(secretOf(replica), bytes);
    mine.set(bytes, signature);
    return signature;
  }
  verify(replica: number, bytes: string, signature: string): boolean {
    const known = this.recent.get(replica)?.get(bytes);
    return (known ?? hmac(secretOf(replica), bytes)) === signature;
  }
}

/** One running copy of a replica in the simulation (twins are two nodes with the same id). */
interface Node {
  id: number;
  replica: Replica;
  misbehaviour: Misbehaviour;
  log: LogRecord[];
  /** The log's blocks by height (loadBlock would otherwise scan the whole log). */
  blocks: Map<number, DecidedBlock>;
  up: boolean;
  /** Replicas whose messages this node hears and whom it talks to (twins split the others). */
  peers: Set<number>;
  timers: Map<TimerName, Event>;
  generation: number;
}

export function simulate(options: SimulationOptions): SimulationResult {
  const n = options.n ?? 4;
  const f = options.f ?? Math.floor((n - 1) / 3);
  const random = new Random(options.seed);
  const agenda = new Agenda();
  let now = 0;
  let messages = 0;
  const minDelay = options.minDelayMs ?? 1;
  const maxDelay = options.maxDelayMs ?? 20;
  const dropRate = options.dropRate ?? 0.02;
  const lateRate = options.lateRate ?? 0.02;
  const durationMs = options.durationMs ?? 20_000;
  const total = options.transactions ?? 200;
  const settleMs = options.settleMs ?? 60_000;
  const batch: BatchSettings = { ...THESIS_BATCH, maxMessageCount: 10, batchTimeoutMs: 200, ...options.batch };
  const config = (): ReplicaConfig => ({ ...DEFAULT_REPLICA_CONFIG, channel: 'sim', n, f, rule: options.rule ?? 'credit', batch, viewTimeoutMs: 500, graceMs: 100 });

  // Which replicas are faulty, and how.
  const kinds = options.faults ?? [];
  const ids = options.faultyIds ?? shuffle([...Array(n).keys()], random).slice(0, kinds.length);
  const faulty = kinds.map((kind, i) => ({ id: ids[i], kind }));
  const faultOf = new Map(faulty.map((x) => [x.id, x.kind]));
  const censored = new Set<string>();
  const censorShare = options.censorShare ?? 0.2;
  let healed = false;

  const nodes: Node[] = [];
  const byId = (id: number) => nodes.filter((x) => x.id === id);
  // Client state: what was sent, when, and what f+1 replicas agreed was decided.
  const submitted = new Map<string, { at: number; heightAtSubmit: number }>();
  const replies = new Map<number, Map<string, { from: Set<number>; proposal?: Proposal; fetching?: true }>>();
  const clientBlocks = new Map<number, { digest: string; txIds: string[] }>();
  const acknowledged = new Set<string>();
  const violations: string[] = [];

  const deliver = (to: Node, from: Node, envelope: Envelope): void => {
    messages++;
    const dropped = !healed && random.next() < dropRate;
    if (dropped) {
      options.trace?.(`${now.toFixed(1)} ${from.id}->${to.id} ${describe(envelope)} (dropped)`);
      return;
    }
    let delay = minDelay + random.next() * (maxDelay - minDelay);
    if (!healed && random.next() < lateRate) delay += maxDelay * (2 + random.int(20));
    options.trace?.(`${now.toFixed(1)} ${from.id}->${to.id} ${describe(envelope)} (arrives ${(now + delay).toFixed(1)})`);
    const generation = to.generation;
    agenda.push(now + delay, () => {
      if (to.up && to.generation === generation && to.peers.has(from.id)) to.replica.onEnvelope(envelope);
    });
  };

  const signatures = new Signatures();
  // The client's signature of each request, as it made it: every replica checks every request.
  const clientSignatures = new Map<string, string>();
  const clientSign = (digest: string): string => {
    const signature = hmac(CLIENT, digest);
    clientSignatures.set(digest, signature);
    return signature;
  };
  const makeNode = (id: number, peers: Set<number>, misbehaviour: Misbehaviour, log: LogRecord[] = []): Node => {
    const blocks = new Map<number, DecidedBlock>();
    for (const r of log) if (r.kind === 'block' && !blocks.has(r.block.proposal.height)) blocks.set(r.block.proposal.height, r.block);
    const node: Node = { id, replica: undefined as unknown as Replica, misbehaviour, log, blocks, up: true, peers, timers: new Map(), generation: 0 };
    const env: ReplicaEnv = {
      now: () => now,
      send: (to, envelope) => {
        if (!node.up) return;
        for (const target of byId(to)) if (node.peers.has(to) && target.peers.has(id)) deliver(target, node, envelope);
      },
      reply: (reply) => {
        if (node.up) agenda.push(now + minDelay + random.next() * (maxDelay - minDelay), () => onReply(reply));
      },
      setTimer: (name, ms) => {
        const generation = node.generation;
        const event = agenda.push(now + ms, () => {
          if (node.timers.get(name) !== event || !node.up || node.generation !== generation) return;
          node.timers.delete(name);
          node.replica.onTimer(name);
        });
        // A replaced timer's event is left in the agenda and ignored when it comes up.
        node.timers.set(name, event);
      },
      clearTimer: (name) => {
        node.timers.delete(name);
      },
      sign: (bytes) => signatures.sign(id, bytes),
      verify: (replica, bytes, signature) => signatures.verify(replica, bytes, signature),
      verifyRequest: (ref) => ref.client === CLIENT && (clientSignatures.get(ref.digest) ?? hmac(CLIENT, ref.digest)) === ref.signature,
      persist: (record) => {
        node.log.push(record);
        // The first block a height gets is the one loadBlock would have found scanning the log.
        if (record.kind === 'block' && !node.blocks.has(record.block.proposal.height)) node.blocks.set(record.block.proposal.height, record.block);
      },
      loadBlock: (height) => node.blocks.get(height),
    };
    node.replica = new Replica(id, config(), env, misbehaviour);
    node.replica.restore(log);
    return node;
  };

  const everyone = new Set([...Array(n).keys()]);
  for (let id = 0; id < n; id++) {
    const kind = faultOf.get(id);
    const misbehaviour: Misbehaviour =
      kind === 'censor' ? { censor: (ref) => censored.has(ref.txId) } : kind === 'equivocate' ? { equivocate: true } : {};
    if (kind === 'twins') {
      // Each honest replica hears one of the two copies; both copies hear everyone.
      const others = shuffle([...everyone].filter((x) => x !== id), random);
      const half = Math.ceil(others.length / 2);
      nodes.push(makeNode(id, new Set([id, ...others.slice(0, half)]), {}));
      nodes.push(makeNode(id, new Set([id, ...others.slice(half)]), {}));
      continue;
    }
    const node = makeNode(id, new Set(everyone), misbehaviour);
    if (kind === 'crash') node.up = false;
    nodes.push(node);
  }
  // Honest replicas hear only the twin on their side.
  for (const node of nodes) {
    if (faultOf.get(node.id) === 'twins') continue;
    for (const [fid, kind] of faultOf) {
      if (kind !== 'twins') continue;
      const sides = byId(fid);
      if (!sides.some((s) => s.peers.has(node.id))) node.peers.delete(fid);
    }
  }
  // A replica that goes down loses everything but its log; it comes back as a new node from it.
  const takeDown = (id: number): void => {
    for (const node of byId(id)) {
      node.up = false;
      node.generation++;
    }
  };
  const bringBack = (id: number): void => {
    for (const old of byId(id)) nodes[nodes.indexOf(old)] = makeNode(id, old.peers, old.misbehaviour, old.log);
  };
  const restarting = faulty.filter((x) => x.kind === 'restart').map((x) => x.id);
  for (const id of restarting) {
    const crashAt = durationMs * (0.2 + random.next() * 0.3);
    agenda.push(crashAt, () => takeDown(id));
    agenda.push(crashAt + 2000 + random.next() * 5000, () => bringBack(id));
  }
  for (const outage of options.outages ?? []) {
    if (faultOf.has(outage.id)) throw new Error(`replica ${outage.id} is already faulty (${faultOf.get(outage.id)}): an outage is for a working one`);
    agenda.push(outage.from, () => takeDown(outage.id));
    agenda.push(outage.to, () => bringBack(outage.id));
  }
  const statuses = () => nodes.map((x) => ({ ...x.replica.status(), up: x.up }));
  const observations: Observation[] = [];
  for (const at of options.observeAt ?? []) agenda.push(at, () => observations.push({ at, statuses: statuses() }));

  const honest = () => nodes.filter((x) => !faultOf.has(x.id) || faultOf.get(x.id) === 'restart');
  const honestHeight = () => Math.max(...honest().map((x) => x.replica.decidedHeight));

  const onReply = (envelope: Envelope<Reply>): void => {
    const { height, digest, proposal } = envelope.message;
    if (!signatures.verify(envelope.from, signingBytes('sim', envelope.message), envelope.signature)) return;
    let byDigest = replies.get(height);
    if (!byDigest) replies.set(height, (byDigest = new Map()));
    let claims = byDigest.get(digest);
    if (!claims) byDigest.set(digest, (claims = { from: new Set() }));
    claims.from.add(envelope.from);
    // Only the proposer sends the proposal; the others' replies vouch for its digest.
    if (proposal && !claims.proposal && proposalDigest(proposal) === digest) claims.proposal = proposal;
    if (claims.from.size < f + 1) return;
    if (claims.proposal) return acknowledge(height, digest, claims.proposal);
    if (claims.fetching) return;
    // The proposer is silent: the ordering client fetches the block from a replica that vouched for it.
    claims.fetching = true;
    const vouched = claims;
    const fetch = (): void => {
      if (clientBlocks.has(height)) return;
      for (const id of vouched.from) {
        for (const node of byId(id)) {
          const block = node.up ? node.replica.block(height) : undefined;
          if (block && proposalDigest(block.proposal) === digest) return acknowledge(height, digest, block.proposal);
        }
      }
      agenda.push(now + 500, fetch);
    };
    agenda.push(now + 500, fetch);
  };
  const acknowledge = (height: number, digest: string, proposal: Proposal): void => {
    const seen = clientBlocks.get(height);
    if (seen && seen.digest !== digest) violations.push(`client saw two blocks at height ${height}`);
    if (seen) return;
    clientBlocks.set(height, { digest, txIds: proposal.requests.map((r) => r.txId) });
    for (const r of proposal.requests) acknowledged.add(r.txId);
  };

  // The client: each transaction to f+1 replicas drawn at random, again to all if not decided in time.
  const send = (ref: RequestRef, payload: Uint8Array, targets: number[]) => {
    for (const id of targets) {
      for (const node of byId(id)) {
        agenda.push(now + minDelay + random.next() * (maxDelay - minDelay), () => {
          if (node.up) node.replica.onRequest(ref, payload, targets);
        });
      }
    }
  };
  for (let i = 0; i < total; i++) {
    const at = Math.floor((durationMs * i) / total + random.next() * 10);
    agenda.push(at, () => {
      const txId = `tx${String(i).padStart(6, '0')}`;
      const payload = Buffer.from(`payload of ${txId}`);
      const digest = requestDigest(txId, now, payload);
      const ref: RequestRef = { txId, timestamp: now, size: payload.byteLength, digest, client: CLIENT, signature: clientSign(digest) };
      submitted.set(txId, { at: now, heightAtSubmit: honestHeight() });
      if (faulty.some((x) => x.kind === 'censor') && random.next() < censorShare) censored.add(txId);
      send(ref, payload, shuffle([...Array(n).keys()], random).slice(0, f + 1));
      // Not decided after a while: to every replica (the ordering client's retry).
      const retry = () => {
        if (!acknowledged.has(txId)) {
          send(ref, payload, [...Array(n).keys()]);
          agenda.push(now + 5000, retry);
        }
      };
      agenda.push(now + 5000, retry);
    });
  }
  // The network heals after the client has sent everything.
  agenda.push(durationMs, () => {
    healed = true;
  });

  const end = durationMs + settleMs;
  for (let e = agenda.pop(); e && e.at <= end; e = agenda.pop()) {
    now = e.at;
    e.run();
    if (acknowledged.size === total && now > durationMs && agenda.size > 0 && allCaughtUp()) break;
  }

  function allCaughtUp(): boolean {
    const h = honestHeight();
    return honest().every((x) => !x.up || x.replica.decidedHeight === h);
  }

  // ---- checks ----
  const chains = honest().filter((x) => x.up).map((x) => ({ id: x.id, blocks: chainOf(x.replica) }));
  const height = Math.max(0, ...chains.map((c) => c.blocks.length));
  for (let h = 0; h < height; h++) {
    const digests = new Set(chains.filter((c) => c.blocks[h]).map((c) => c.blocks[h].digest));
    if (digests.size > 1) violations.push(`agreement: honest replicas hold different blocks at height ${h}`);
    const client = clientBlocks.get(h);
    if (client && chains.some((c) => c.blocks[h] && c.blocks[h].digest !== client.digest)) violations.push(`client's block ${h} differs from the replicas'`);
  }
  const reference = chains.reduce((a, b) => (b.blocks.length > a.length ? b.blocks : a), [] as DecidedBlock[]);
  const decided = new Map<string, number>();
  for (const block of reference) {
    for (const r of block.proposal.requests) {
      if (!submitted.has(r.txId)) violations.push(`validity: ${r.txId} was never submitted`);
      if (decided.has(r.txId)) violations.push(`validity: ${r.txId} decided twice`);
      decided.set(r.txId, block.proposal.height);
    }
  }
  for (const txId of acknowledged) {
    if (!decided.has(txId)) violations.push(`lost: ${txId} was acknowledged but is not in the chain`);
  }
  const tolerable = faulty.length <= f;
  if (tolerable) {
    for (const txId of submitted.keys()) if (!decided.has(txId)) violations.push(`liveness: ${txId} never decided`);
    for (const c of chains) if (c.blocks.length !== height) violations.push(`liveness: replica ${c.id} stopped at height ${c.blocks.length} of ${height}`);
  }
  const proposed = new Array<number>(n).fill(0);
  for (const b of reference) proposed[b.proposal.proposer]++;
  const waitOf = (txId: string): number => decided.get(txId)! - submitted.get(txId)!.heightAtSubmit + 1;
  const censoredWaits = [...censored].filter((t) => decided.has(t)).map(waitOf);
  const heights = reference.map((b): HeightRecord => ({
    // primaryOf gives (first + r) mod N under both rules; a value carried into a later round keeps its own round.
    primary: (((b.proposal.proposer - b.proposal.round) % n) + n) % n,
    round: b.certificate[0]?.message.round ?? b.proposal.round,
    proposer: b.proposal.proposer,
    transactions: b.proposal.requests.length,
  }));
  const first = honest().find((x) => x.up);
  return {
    seed: options.seed,
    ok: violations.length === 0,
    violations: [...new Set(violations)].slice(0, 20),
    faulty,
    height,
    submitted: submitted.size,
    acknowledged: acknowledged.size,
    decided: decided.size,
    proposed,
    failedRounds: first?.replica.status().failedRounds ?? 0,
    censoredWaits,
    waits: [...decided.keys()].filter((t) => submitted.has(t)).map(waitOf),
    heights,
    observations,
    virtualMs: now,
    messages,
    statuses: statuses(),
  };
}

function chainOf(replica: Replica): DecidedBlock[] {
  const out: DecidedBlock[] = [];
  for (let h = 0; h < replica.decidedHeight; h++) {
    const b = replica.block(h);
    if (!b) break;
    out.push(b);
  }
  return out;
}

function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function describe(e: Envelope): string {
  const m = e.message;
  switch (m.type) {
    case 'requests':
      return `requests ${m.requests.length}`;
    case 'fetch':
      return `fetch from=${m.from} digests=${m.digests?.length ?? 0}`;
    case 'decided':
      return `decided h=${m.proposal.height}`;
    case 'checkpoint':
      return `checkpoint h=${m.height}`;
    case 'reply':
      return `reply h=${m.height}`;
    case 'pre-prepare':
      return `pre-prepare h=${m.height} r=${m.round} n=${m.proposal.requests.length} d=${proposalDigest(m.proposal).slice(0, 6)}`;
    case 'view-change':
      return `view-change h=${m.height} r=${m.round} ${m.reason} prepared=${m.prepared ? m.prepared.prePrepare.message.round : '-'}`;
    case 'new-view':
      return `new-view h=${m.height} r=${m.round} vcs=${m.viewChanges.length}`;
    default:
      return `${m.type} h=${m.height} r=${m.round} d=${m.digest.slice(0, 6)}`;
  }
}

const KINDS: FaultKind[] = ['crash', 'censor', 'equivocate', 'twins', 'restart'];

/**
 * A schedule drawn from the seed alone: the number of replicas (4 or 7), up to f faulty ones of
 * kinds drawn at random, the network's delays, drops and reordering, the block settings.
 */
export function randomSchedule(seed: number): SimulationOptions {
  const random = new Random(seed ^ 0x5bd1e995);
  const n = random.next() < 0.8 ? 4 : 7;
  const f = Math.floor((n - 1) / 3);
  const faults = Array.from({ length: random.int(f + 1) }, () => random.pick(KINDS));
  const maxDelayMs = 2 + random.int(60);
  return {
    seed,
    n,
    f,
    rule: random.next() < 0.7 ? 'credit' : 'rotate',
    faults,
    transactions: 50 + random.int(150),
    durationMs: 5000 + random.int(15000),
    minDelayMs: random.int(2),
    maxDelayMs,
    dropRate: random.next() * 0.1,
    lateRate: random.next() * 0.05,
    batch: { maxMessageCount: 1 + random.int(20), batchTimeoutMs: 20 + random.int(400) },
  };
}

/** The figures of the thesis's claim (3.2.6), from one long run with at most one censoring replica. */
export interface CensorshipFigures {
  rule: PrimaryRule;
  seed: number;
  /** The censoring replica, or the replica watched in a run without faults. */
  watched: number;
  censoring: boolean;
  censorShare: number;
  heights: number;
  /** Heights at which the watched replica was the rule's primary (round 0), as a share of all heights. */
  primaryShare: number;
  /** Rounds it led, failed ones included, as a share of all rounds. */
  roundShare: number;
  /** Decided blocks it proposed. */
  proposedShare: number;
  /** Each replica's share of heights as primary. */
  primaryShares: number[];
  /** The watched replica's primary share in consecutive windows of `window` heights. */
  window: number;
  shareByWindow: number[];
  /** Heights whose first round failed (a view change), and failed rounds in all. */
  viewChanges: number;
  failedRounds: number;
  /** Blocks decided from submission to commit, 1 = the next block (censored transactions, and all). */
  censoredWaits: WaitFigures;
  waits: WaitFigures;
  /** Credit scores at the end, as the honest replicas hold them. */
  scores: number[];
  ok: boolean;
  violations: string[];
  transactions: number;
  virtualMs: number;
  messages: number;
}

export interface WaitFigures {
  count: number;
  median: number;
  p99: number;
  max: number;
  /** Share decided within 3 blocks of submission. */
  within3: number;
}

/**
 * One long run of four replicas (the thesis's system) under a client that keeps blocks about full:
 * a transaction every `intervalMs`, MaxMessageCount 10, BatchTimeout 200 ms, network delays of
 * 1–20 ms without drops. With `censoring`, replica `watched` censors a fixed share of the
 * transactions (as one bank's transfers might be): whenever it leads it leaves every one of them
 * out of its block.
 */
export function censorshipRun(options: { seed: number; rule: PrimaryRule; censoring: boolean; heights: number; watched?: number; censorShare?: number; window?: number; intervalMs?: number }): CensorshipFigures {
  const n = 4;
  const watched = options.watched ?? n - 1;
  const censorShare = options.censorShare ?? 0.2;
  const intervalMs = options.intervalMs ?? 20;
  const window = options.window ?? 500;
  // About ten transactions a block: a few more than 10 × heights, so that the run reaches `heights`.
  const transactions = Math.ceil(options.heights * 10.5);
  const result = simulate({
    seed: options.seed,
    n,
    rule: options.rule,
    faults: options.censoring ? ['censor'] : [],
    faultyIds: options.censoring ? [watched] : [],
    censorShare,
    transactions,
    durationMs: transactions * intervalMs,
    minDelayMs: 1,
    maxDelayMs: 20,
    dropRate: 0,
    lateRate: 0,
    settleMs: 20_000,
  });
  const heights = result.heights.slice(0, options.heights);
  const primaryShares = new Array<number>(n).fill(0);
  let rounds = 0;
  let watchedRounds = 0;
  let proposed = 0;
  const shareByWindow: number[] = [];
  let inWindow = 0;
  heights.forEach((h, i) => {
    primaryShares[h.primary]++;
    if (h.primary === watched) inWindow++;
    if ((i + 1) % window === 0) {
      shareByWindow.push(inWindow / window);
      inWindow = 0;
    }
    for (let r = 0; r <= h.round; r++) {
      rounds++;
      if ((h.primary + r) % n === watched) watchedRounds++;
    }
    if (h.proposer === watched) proposed++;
  });
  const honest = result.statuses.find((s) => s.id !== watched && s.up);
  return {
    rule: options.rule,
    seed: options.seed,
    watched,
    censoring: options.censoring,
    censorShare,
    heights: heights.length,
    primaryShare: primaryShares[watched] / heights.length,
    roundShare: watchedRounds / rounds,
    proposedShare: proposed / heights.length,
    primaryShares: primaryShares.map((c) => c / heights.length),
    window,
    shareByWindow,
    viewChanges: heights.filter((h) => h.round > 0).length,
    failedRounds: rounds - heights.length,
    censoredWaits: waitFigures(result.censoredWaits),
    waits: waitFigures(result.waits),
    scores: honest?.scores ?? [],
    ok: result.ok,
    violations: result.violations,
    transactions: result.submitted,
    virtualMs: result.virtualMs,
    messages: result.messages,
  };
}

function waitFigures(waits: number[]): WaitFigures {
  const sorted = [...waits].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { count: sorted.length, median: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? 0, within3: sorted.length ? sorted.filter((w) => w <= 3).length / sorted.length : 1 };
}
