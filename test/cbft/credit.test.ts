/**
 * The credit rule (thesis 3.2.6): scores smoothed by S = (S·(c−1) + S′)/c, a roulette wheel that
 * picks a replica in proportion to its score, and the same primary for the same seed wherever it
 * is drawn, which is what lets every honest replica agree on the primary without a message.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreditBook, SCORE_FAILURE, SCORE_SUCCESS, primaryOf, uniform } from '@fund/app/dist/blockchain/embedded/cbft/credit';
import { censorshipRun, simulate } from '@fund/app/dist/blockchain/embedded/cbft/simulator';

describe('CBFT credit scores', () => {
  test('smoothing S = (S·(c−1) + S′)/c, c counting evaluations up to the window', () => {
    const book = new CreditBook(4, 10);
    assert.deepEqual(book.scores, [10, 10, 10, 10], 'everyone starts at the success score, counted once');
    const evaluations = [SCORE_FAILURE, SCORE_FAILURE, SCORE_SUCCESS, ...Array<number>(12).fill(SCORE_FAILURE), SCORE_SUCCESS];
    let s = 10;
    let c = 1;
    for (const e of evaluations) {
      book.record(2, e);
      c = Math.min(c + 1, 10);
      s = (s * (c - 1) + e) / c;
      assert.ok(Math.abs(book.scores[2] - s) < 1e-12, `after ${e}: ${book.scores[2]} ≠ ${s}`);
    }
    // By hand for the first two: (10·1 + 1)/2 = 5.5, then (5.5·2 + 1)/3 = 4.
    const fresh = new CreditBook(4, 10);
    fresh.record(0, 1);
    assert.equal(fresh.scores[0], 5.5);
    fresh.record(0, 1);
    assert.equal(fresh.scores[0], 4);
    assert.deepEqual(fresh.scores.slice(1), [10, 10, 10], 'the others untouched');
  });

  test('a replica that mends its ways recovers; one that keeps failing falls towards 1, never to 0', () => {
    const book = new CreditBook(4, 10);
    for (let i = 0; i < 200; i++) book.record(3, SCORE_FAILURE);
    assert.ok(book.scores[3] >= 1 && book.scores[3] < 1.01);
    for (let i = 0; i < 60; i++) book.record(3, SCORE_SUCCESS);
    assert.ok(book.scores[3] > 9.9);
  });

  test('the roulette wheel picks in proportion to the scores', () => {
    const book = new CreditBook(4, 10);
    book.restore({ scores: [10, 6, 3, 1], counts: [10, 10, 10, 10] });
    const draws = 40_000;
    const picked = [0, 0, 0, 0];
    for (let i = 0; i < draws; i++) picked[book.draw(`chain:${i}`)]++;
    const total = 20;
    // Four standard deviations of a binomial share at 40,000 draws is under 1 percentage point.
    [10, 6, 3, 1].forEach((score, i) => {
      const expected = score / total;
      const sd = Math.sqrt((expected * (1 - expected)) / draws);
      assert.ok(Math.abs(picked[i] / draws - expected) < 4 * sd, `replica ${i}: ${picked[i] / draws} vs ${expected}`);
    });
    // Equal scores: equal chances.
    const even = new CreditBook(4, 10);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < draws; i++) counts[even.draw(`even:${i}`)]++;
    for (const c of counts) assert.ok(Math.abs(c / draws - 0.25) < 4 * Math.sqrt((0.25 * 0.75) / draws));
  });

  test('the same seed gives the same primary; uniform() is in [0, 1)', () => {
    const a = new CreditBook(4, 10);
    const b = new CreditBook(4, 10);
    for (const book of [a, b]) {
      book.record(1, SCORE_FAILURE);
      book.record(3, SCORE_FAILURE);
    }
    for (let i = 0; i < 2000; i++) {
      const seed = `sim:${i}:${'ab'.repeat(i % 7)}`;
      assert.equal(a.draw(seed), b.draw(seed));
      const u = uniform(seed);
      assert.ok(u >= 0 && u < 1);
    }
    assert.equal(uniform('x'), uniform('x'));
    assert.notEqual(uniform('x'), uniform('y'));
  });

  test('primaryOf: rotate is (h + r) mod N, credit moves on from the drawn replica in turn', () => {
    assert.equal(primaryOf('rotate', 4, 9, 0, 3), 1);
    assert.equal(primaryOf('rotate', 4, 9, 2, 3), 3);
    assert.equal(primaryOf('credit', 4, 9, 0, 3), 3);
    assert.equal(primaryOf('credit', 4, 9, 1, 3), 0);
    assert.equal(primaryOf('credit', 7, 0, 9, 5), 0);
  });

  test('every honest replica holds the same scores and picks the same primary (simulated run with a censor)', () => {
    const r = simulate({ seed: 5, n: 4, faults: ['censor'], faultyIds: [2], transactions: 400, durationMs: 8000 });
    assert.deepEqual(r.violations, []);
    const honest = r.statuses.filter((s) => s.id !== 2);
    for (const s of honest) {
      assert.deepEqual(s.scores, honest[0].scores);
      assert.equal(s.primary, honest[0].primary);
      assert.equal(s.height, honest[0].height);
    }
    assert.ok(honest[0].scores[2] < Math.min(honest[0].scores[0], honest[0].scores[1], honest[0].scores[3]), `the censor scores lowest: ${honest[0].scores}`);
  });

  test('the claim in small: a censor leads less often under the credit rule than under round robin, and what it leaves out waits at most 3 blocks', () => {
    const credit = censorshipRun({ seed: 11, rule: 'credit', censoring: true, heights: 600 });
    const rotate = censorshipRun({ seed: 11, rule: 'rotate', censoring: true, heights: 600 });
    for (const r of [credit, rotate]) assert.deepEqual(r.violations, []);
    assert.equal(rotate.primaryShare, 0.25);
    assert.ok(credit.primaryShare < 0.15, `credit: censor primary at ${credit.primaryShare} of heights`);
    assert.ok(credit.censoredWaits.count > 500 && credit.censoredWaits.max <= 3, JSON.stringify(credit.censoredWaits));
    assert.ok(rotate.censoredWaits.max <= 3, JSON.stringify(rotate.censoredWaits));
  });
});
