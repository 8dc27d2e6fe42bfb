/**
 * CBFT's messages (thesis 3.2.4–3.2.5, PBFT's with a view change per height). Every message a
 * replica sends is signed over canonicalJson(message); request payloads travel beside the
 * message, each bound to its reference by a digest, and each reference carries the client's
 * authenticator (one MAC per replica, authenticator.ts), so no replica can forge or alter a transaction.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '@fund/chaincode/dist/ledger/canonical';

/** A client's transaction as the replicas order it; the payload travels apart (see Envelope). */
export interface RequestRef {
  txId: string;
  /** When the client issued it (ms since the epoch): the order within a block, and the censorship rule's clock. */
  timestamp: number;
  /** What PreferredMaxBytes counts of it, in bytes: the peer's measure (its signed proposal), at most the payload's length. */
  size: number;
  /** Hex SHA-256 of txId, timestamp and payload. */
  digest: string;
  /** Which client sent it, and its MAC authenticator over the digest (authenticator.ts; base64). */
  client: string;
  signature: string;
}

/** The value agreed at one height: a block of requests, chained to the previous one. */
export interface Proposal {
  height: number;
  /** Digest of the proposal decided at height − 1 ('' at height 0). */
  previous: string;
  /** Who proposed it, in which round (a value carried into a later round keeps both). */
  proposer: number;
  round: number;
  /**
   * The round in which the previous block was decided, as the commit certificate sent with the
   * pre-prepare proves: the primaries of the rounds before it failed (the credit rule scores them).
   */
  previousRound: number;
  /** The proposer's clock when it cut the block (ms). */
  cutAt: number;
  requests: RequestRef[];
}

export interface PrePrepare {
  type: 'pre-prepare';
  height: number;
  round: number;
  proposal: Proposal;
  /** The 2f+1 commits that decided the previous block, in proposal.previousRound (none at height 0). */
  previousCommit?: Array<Signed<Commit>>;
}
export interface Prepare { type: 'prepare'; height: number; round: number; digest: string }
export interface Commit { type: 'commit'; height: number; round: number; digest: string }
/** A replica's vote to leave round `round − 1` at `height`, with the value it prepared, if any. */
export interface ViewChange { type: 'view-change'; height: number; round: number; prepared?: PreparedCertificate; reason: 'timeout' | 'censorship' }
export interface NewView { type: 'new-view'; height: number; round: number; viewChanges: Array<Signed<ViewChange>>; prePrepare: Signed<PrePrepare> }
export interface Checkpoint { type: 'checkpoint'; height: number; digest: string }
/**
 * Requests passed on to every replica, so that whoever leads next has them and everyone can time
 * them; a request's payload travels with it only from the first replica its client sent it to.
 */
export interface Requests { type: 'requests'; requests: RequestRef[] }
/** Asks for decided blocks from `from`, or for the payloads of `digests`. */
export interface Fetch { type: 'fetch'; from?: number; digests?: string[] }
/** A decided block with the 2f+1 commits that prove it, for a replica or client that fell behind. */
export interface Decided { type: 'decided'; proposal: Proposal; certificate: Array<Signed<Commit>> }
/**
 * A replica's answer to the clients: block `height` is decided with this digest. Only the block's
 * proposer sends the proposal itself (PBFT's designated replier); the others' digests vouch for it.
 */
export interface Reply { type: 'reply'; height: number; digest: string; proposal?: Proposal }

export type Message = PrePrepare | Prepare | Commit | ViewChange | NewView | Checkpoint | Requests | Fetch | Decided | Reply;

export interface PreparedCertificate {
  prePrepare: Signed<PrePrepare>;
  prepares: Array<Signed<Prepare>>;
}

/** A message with its sender (replica index) and signature (base64). */
export interface Signed<M extends Message = Message> {
  from: number;
  message: M;
  signature: string;
}

/** A signed message on the wire, with the payloads its requests refer to (by digest). */
export interface Envelope<M extends Message = Message> extends Signed<M> {
  payloads?: Map<string, Uint8Array>;
}

/**
 * What a replica signs: the message, canonically (sorted keys), tagged with the channel it belongs
 * to, with a proposal in it replaced by its digest (which binds it as well, and costs one
 * canonical serialization of a block instead of one per signature). `proposalDigestKnown` is the
 * digest when the caller has checked it already.
 */
export function signingBytes(channel: string, message: Message, proposalDigestKnown?: string): string {
  const signed = 'proposal' in message && message.proposal ? { ...message, proposal: proposalDigestKnown ?? proposalDigest(message.proposal) } : message;
  return `${channel}\n${canonicalJson(signed)}`;
}

const digests = new WeakMap<Proposal, string>();

/** Hex SHA-256 of the proposal's canonical JSON (remembered per proposal object: proposals are not changed once made). */
export function proposalDigest(p: Proposal): string {
  let d = digests.get(p);
  if (d === undefined) {
    d = sha256(canonicalJson(p));
    if (p && typeof p === 'object') digests.set(p, d);
  }
  return d;
}

/**
 * Whether `certificate` proves block `height` with `digest` decided: 2f+1 (`quorum`) commits for it from different
 * replicas of 0…n−1, all in one round (`inRound` when given), each accepted by `verified` (its signature).
 */
export function isCommitCertificate(
  certificate: unknown,
  height: number,
  digest: string,
  quorum: number,
  n: number,
  verified: (commit: Signed<Commit>) => boolean,
  inRound?: number,
): boolean {
  if (!Array.isArray(certificate)) return false;
  const senders = new Set<number>();
  let round = inRound;
  for (const c of certificate as Array<Signed<Commit>>) {
    const m = c?.message;
    if (m?.type !== 'commit' || m.height !== height || m.digest !== digest || (round !== undefined && m.round !== round)) return false;
    if (!Number.isInteger(c.from) || c.from < 0 || c.from >= n || senders.has(c.from) || !verified(c)) return false;
    round = m.round;
    senders.add(c.from);
  }
  return senders.size >= quorum;
}

export function requestDigest(txId: string, timestamp: number, payload: Uint8Array): string {
  return createHash('sha256').update(`${txId}\n${timestamp}\n`).update(payload).digest('hex');
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Requests in the order a block holds them: by issue time, then id (thesis 3.2.5: sorted by the time sent). */
export function byIssueTime(a: RequestRef, b: RequestRef): number {
  return a.timestamp - b.timestamp || (a.txId < b.txId ? -1 : a.txId > b.txId ? 1 : 0);
}
