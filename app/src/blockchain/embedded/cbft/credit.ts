/**
 * Who leads a round (thesis 3.2.6). Two rules:
 *
 *   rotate   p = (h + r) mod N: every replica leads in turn (the thesis's formula 3.3, with the
 *            round r at height h in place of its view number)
 *   credit   the primary of height h is drawn by roulette wheel, in proportion to each replica's
 *            credit score, from a seed every honest replica derives from the chain (the digest of
 *            block h−1); a failed round passes primacy to the next replica in turn
 *
 * A primary is scored 10 for a block that committed, 1 for a round that failed, and 1 when the
 * next block holds a transaction older than its block's cut time that its block had room for
 * (it left it out). Scores are smoothed S = (S·(c−1) + S′)/c, c counting the evaluations up to a
 * window, so a replica that mends its ways recovers. Everything here is a function of committed
 * blocks only, so all honest replicas hold the same scores and pick the same primary.
 */
import { createHash } from 'node:crypto';

export type PrimaryRule = 'credit' | 'rotate';

export const SCORE_SUCCESS = 10;
export const SCORE_FAILURE = 1;

export class CreditBook {
  readonly scores: number[];
  private readonly counts: number[];

  constructor(
    readonly n: number,
    /** At most how many evaluations the smoothing averages over. */
    readonly window = 10,
  ) {
    this.scores = new Array<number>(n).fill(SCORE_SUCCESS);
    this.counts = new Array<number>(n).fill(1);
  }

  /** One evaluation S′ of replica i as primary. */
  record(i: number, score: number): void {
    const c = Math.min(this.counts[i] + 1, this.window);
    this.counts[i] = c;
    this.scores[i] = (this.scores[i] * (c - 1) + score) / c;
  }

  /** The replica the roulette wheel stops at for `seed`: P(i) = S_i / ΣS. */
  draw(seed: string): number {
    const total = this.scores.reduce((a, b) => a + b, 0);
    const point = uniform(seed) * total;
    let cumulative = 0;
    for (let i = 0; i < this.n; i++) {
      cumulative += this.scores[i];
      if (point < cumulative) return i;
    }
    return this.n - 1;
  }

  snapshot(): { scores: number[]; counts: number[] } {
    return { scores: [...this.scores], counts: [...this.counts] };
  }

  restore(s: { scores: number[]; counts: number[] }): void {
    s.scores.forEach((v, i) => (this.scores[i] = v));
    s.counts.forEach((v, i) => (this.counts[i] = v));
  }
}

/** A number in [0, 1) from the first 48 bits of SHA-256(seed). */
export function uniform(seed: string): number {
  const h = createHash('sha256').update(seed).digest();
  return h.readUIntBE(0, 6) / 2 ** 48;
}

/** The primary of round r at height h, given the primary the rule picked for round 0. */
export function primaryOf(rule: PrimaryRule, n: number, height: number, round: number, drawn: number): number {
  return rule === 'rotate' ? (height + round) % n : (drawn + round) % n;
}
