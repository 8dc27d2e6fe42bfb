/**
 * A peer's client of the CBFT ordering service (thesis 3.2.5's client): it authenticates each
 * endorsed transaction (one MAC per replica, authenticator.ts) and sends it to f+1 replicas (so at least one honest replica holds it even if the
 * primary would rather not), again to all of them if it is not decided in time, and takes a block
 * only on f+1 matching REPLYs from different replicas, or with a certificate of 2f+1 commits when
 * it catches up after a restart. Blocks are handed on strictly in height order.
 */
import { importIdentity, verifySignature } from '../identity';
import { authenticate, sharedKey } from './authenticator';
import { isCommitCertificate, proposalDigest, requestDigest, signingBytes, type Commit, type Decided, type Signed, type Envelope, type Proposal, type Reply, type RequestRef } from './messages';
import { clientIdOf } from './orderer-node';
import type { OrderingClientConfig } from './ordering-service';
import { Link, encodeFrame, type Frame } from './wire';

/** How long the client waits for a block's proposer to send it once f+1 others vouch for its digest. */
const PROPOSAL_WAIT_MS = 500;

export interface OrderedBlock {
  height: number;
  digest: string;
  proposal: Proposal;
  /** Each request's payload, by digest. */
  payloads: Map<string, Uint8Array>;
}

interface Waiting {
  ref: RequestRef;
  payload: Uint8Array;
  sentAt: number;
}

export class OrderingClient {
  private readonly links: Link[];
  /** The key shared with each replica, for the requests' authenticators. */
  private readonly keys: Buffer[];
  private readonly clientId: string;
  private readonly waiting = new Map<string, Waiting>();
  /** Replies per height, per digest claimed: each sender's reply, those whose signature checked, the proposal once checked. */
  private readonly replies = new Map<number, Map<string, { from: Map<number, Envelope<Reply>>; verified: Set<number>; proposal: Proposal | undefined }>>();
  /** Blocks agreed but not handed on yet (an earlier one is missing, or payloads are being fetched). */
  private readonly agreed = new Map<number, { digest: string; proposal: Proposal; payloads?: Map<string, Uint8Array> }>();
  /** Heights f+1 replicas vouch for whose proposal has not come yet. */
  private readonly awaiting = new Set<number>();
  private next: number;
  private spread = 0;
  private readonly timer: NodeJS.Timeout;
  private lastFetch = 0;
  private fetchedFrom = 0;
  private fetches = 0;
  private closed = false;

  constructor(
    private readonly channel: string,
    private readonly config: OrderingClientConfig,
    /** The orderer height the peer wants next (the one after its last block's). */
    from: number,
    private readonly onBlock: (block: OrderedBlock) => void,
  ) {
    const identity = importIdentity(config.identity);
    this.keys = config.replicaCertificates.map((certificate) => sharedKey(identity.privateKey, certificate));
    this.clientId = clientIdOf(config.identity.certificate);
    this.next = from;
    const hello: Frame = { kind: 'hello', role: 'client', channel, certificate: config.identity.certificate };
    this.links = config.ports.map((port) => new Link(port, hello, (frame) => this.receive(frame)));
    // Asks for what was decided while this peer was away (from every replica: some may be down).
    for (let i = 0; i < this.links.length; i++) this.fetch();
    this.timer = setInterval(() => this.tick(), Math.max(100, config.resubmitMs / 4));
    this.timer.unref();
  }

  get height(): number {
    return this.next;
  }

  /** Signs and sends one transaction (`size`: what PreferredMaxBytes counts of it); its block comes back through onBlock. */
  submit(txId: string, timestamp: number, payload: Uint8Array, size = payload.byteLength): void {
    if (this.closed) throw new Error(`the ordering client of channel ${this.channel} is closed`);
    const digest = requestDigest(txId, timestamp, payload);
    const ref: RequestRef = { txId, timestamp, size, digest, client: this.clientId, signature: authenticate(this.keys, digest) };
    this.waiting.set(digest, { ref, payload, sentAt: Date.now() });
    // f+1 replicas, a different window each time so the load spreads.
    const { n, f } = this.config;
    const first = this.spread++ % n;
    const sentTo = Array.from({ length: f + 1 }, (_, k) => (first + k) % n);
    const frame: Frame = { kind: 'request', channel: this.channel, ref, payload, sentTo };
    const parts = encodeFrame(frame);
    for (const i of sentTo) this.links[i].send(frame, parts);
  }

  /** Asks every replica to cut what it holds now, after sending it every request still waiting (same connection, so first). */
  flush(): void {
    for (const link of this.links) {
      for (const w of this.waiting.values()) link.send({ kind: 'request', channel: this.channel, ref: w.ref, payload: w.payload, sentTo: [...this.links.keys()] });
      link.send({ kind: 'flush', channel: this.channel });
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const l of this.links) l.close();
  }

  private receive(frame: Frame): void {
    if (frame.kind !== 'envelope' || frame.channel !== this.channel) return;
    const { envelope } = frame;
    if (envelope.message.type === 'reply') this.onReply(envelope as Envelope<Reply>);
    else if (envelope.message.type === 'decided') this.onDecided(envelope as Envelope<Decided>);
  }

  /**
   * Replies are grouped by the digest they claim, unchecked; once f+1 replicas claim the same one,
   * their signatures are checked (over the digest, not the whole block) and the proposal, which
   * only the block's proposer sends, against the digest: a block costs the client one canonical
   * serialization and f+1 verifications. Without the proposal (its proposer is silent) the block
   * is fetched from the others.
   */
  private onReply(envelope: Envelope<Reply>): void {
    const { height, digest } = envelope.message;
    if (!Number.isInteger(height) || height < this.next || this.agreed.has(height) || typeof digest !== 'string') return;
    if (!Number.isInteger(envelope.from) || !this.config.replicaCertificates[envelope.from]) return;
    let byDigest = this.replies.get(height);
    if (!byDigest) this.replies.set(height, (byDigest = new Map()));
    let claims = byDigest.get(digest);
    if (!claims) byDigest.set(digest, (claims = { from: new Map(), verified: new Set(), proposal: undefined }));
    claims.from.set(envelope.from, envelope);
    if (claims.from.size < this.config.f + 1) return;
    for (const [from, e] of claims.from) {
      if (claims.verified.has(from)) continue;
      const { proposal } = e.message;
      const wrongProposal = proposal && !claims.proposal && (proposal.height !== height || proposalDigest(proposal) !== digest);
      const bytes = Buffer.from(signingBytes(this.channel, e.message, digest), 'utf8');
      if (wrongProposal || !verifySignature(this.config.replicaCertificates[from], bytes, Buffer.from(e.signature, 'base64'))) {
        claims.from.delete(from);
        continue;
      }
      claims.verified.add(from);
      claims.proposal ??= proposal;
    }
    if (claims.verified.size < this.config.f + 1) return;
    if (!claims.proposal) return this.awaitProposal(height);
    this.replies.delete(height);
    this.agreed.set(height, { digest, proposal: claims.proposal });
    // A block that holds requests this peer did not send (or no longer has) needs their payloads.
    if (claims.proposal.requests.some((r) => !this.waiting.has(r.digest))) this.fetch(height);
    this.handOn();
  }

  /** f+1 replicas vouch for block `height` but its proposer has not sent it: fetched if it does not come soon (and again on tick). */
  private awaitProposal(height: number): void {
    if (this.awaiting.has(height)) return;
    this.awaiting.add(height);
    setTimeout(() => {
      if (!this.closed && this.awaiting.has(height)) this.fetch(height);
    }, PROPOSAL_WAIT_MS).unref();
  }

  private onDecided(envelope: Envelope<Decided>): void {
    const { proposal, certificate } = envelope.message;
    if (!proposal || !Number.isInteger(proposal.height) || proposal.height < this.next) return;
    const digest = proposalDigest(proposal);
    const known = this.agreed.get(proposal.height);
    if (known?.payloads || (known && known.digest !== digest)) return;
    if (!known && !this.certified(proposal.height, digest, certificate)) return;
    const payloads = new Map<string, Uint8Array>();
    for (const ref of proposal.requests) {
      const p = envelope.payloads?.get(ref.digest) ?? this.waiting.get(ref.digest)?.payload;
      if (!p || requestDigest(ref.txId, ref.timestamp, p) !== ref.digest) return;
      payloads.set(ref.digest, p);
    }
    this.agreed.set(proposal.height, { digest, proposal, payloads });
    this.handOn();
    // The last of a page of blocks: there may be more.
    if (proposal.height >= this.fetchedFrom + 15) this.fetch();
  }

  /** 2f+1 commits from different replicas for this height and digest, in one round, each signature valid. */
  private certified(height: number, digest: string, certificate: Decided['certificate']): boolean {
    const { f, n, replicaCertificates } = this.config;
    const verified = (c: Signed<Commit>) => verifySignature(replicaCertificates[c.from], Buffer.from(signingBytes(this.channel, c.message), 'utf8'), Buffer.from(c.signature, 'base64'));
    return isCommitCertificate(certificate, height, digest, 2 * f + 1, n, verified);
  }

  /** Hands on every block that is next in line and complete. */
  private handOn(): void {
    for (let block = this.agreed.get(this.next); block; block = this.agreed.get(this.next)) {
      let payloads = block.payloads;
      if (!payloads) {
        payloads = new Map();
        for (const ref of block.proposal.requests) {
          const p = this.waiting.get(ref.digest)?.payload;
          if (!p) return;
          payloads.set(ref.digest, p);
        }
      }
      this.agreed.delete(this.next);
      this.replies.delete(this.next);
      this.awaiting.delete(this.next);
      for (const ref of block.proposal.requests) this.waiting.delete(ref.digest);
      this.onBlock({ height: this.next, digest: block.digest, proposal: block.proposal, payloads });
      this.next++;
    }
  }

  /** Asks the replicas for decided blocks from `from` (default: the next one wanted). */
  private fetch(from = this.next): void {
    this.lastFetch = Date.now();
    this.fetchedFrom = from;
    const message = { type: 'fetch' as const, from };
    // One replica at a time, the next one on each retry. It answers without asking who wants
    // them: the blocks carry their own proof (the commit certificate).
    this.links[this.fetches++ % this.links.length].send({ kind: 'envelope', channel: this.channel, envelope: { from: -1, message, signature: '' } });
  }

  /** Resends what waited too long, to every replica; asks again for blocks it may have missed. */
  private tick(): void {
    const now = Date.now();
    for (const w of this.waiting.values()) {
      if (now - w.sentAt < this.config.resubmitMs) continue;
      w.sentAt = now;
      for (const link of this.links) link.send({ kind: 'request', channel: this.channel, ref: w.ref, payload: w.payload });
    }
    const behind = this.agreed.size > 0 || this.awaiting.size > 0 || [...this.replies.keys()].some((h) => h > this.next);
    if (behind && now - this.lastFetch > this.config.resubmitMs / 4) this.fetch();
  }
}
