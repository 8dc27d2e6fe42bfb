/**
 * CBFT through the simulator, fixed scenarios: with f faulty replicas of each kind every honest
 * replica commits the same blocks in the same order, no acknowledged transaction is lost and
 * everything is decided; with f+1 down the service stops without a fork, says so in its status,
 * and carries on when one comes back. The simulator checks agreement, validity, no lost
 * acknowledged transaction and liveness on every run (its `violations`); the tests add what a
 * scenario is about.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate, type FaultKind, type SimulationOptions, type SimulationResult } from '@fund/app/dist/blockchain/embedded/cbft/simulator';

const KINDS: FaultKind[] = ['crash', 'censor', 'equivocate', 'twins', 'restart'];

function run(options: SimulationOptions): SimulationResult {
  const r = simulate(options);
  assert.deepEqual(r.violations, [], `seed ${options.seed}, faulty ${JSON.stringify(r.faulty)}: ${r.violations.join('; ')}`);
  return r;
}

/** Safe and live: everything submitted decided and acknowledged; honest replicas at one height, holding the same credit scores. */
function assertSafeAndLive(r: SimulationResult): void {
  assert.equal(r.decided, r.submitted, 'every transaction decided');
  assert.equal(r.acknowledged, r.submitted, 'every transaction acknowledged by f+1 replicas');
  const faulty = new Set(r.faulty.filter((x) => x.kind !== 'restart').map((x) => x.id));
  const honest = r.statuses.filter((s) => s.up && !faulty.has(s.id));
  assert.ok(honest.length >= 1);
  for (const s of honest) {
    assert.equal(s.height, r.height, `replica ${s.id} at the chain's height`);
    assert.deepEqual(s.scores, honest[0].scores, `replica ${s.id} holds the same credit scores`);
    assert.equal(s.pending, 0);
  }
}

describe('CBFT with f faulty replicas', () => {
  for (const kind of KINDS) {
    test(`N = 4, one ${kind} replica, in each position`, () => {
      for (let id = 0; id < 4; id++) {
        const r = run({ seed: 100 + id, n: 4, faults: [kind], faultyIds: [id], transactions: 120, durationMs: 8000 });
        assertSafeAndLive(r);
        if (kind === 'censor') assert.ok(r.censoredWaits.length > 0, 'the censor had transactions to leave out');
      }
    });
  }

  test('the round robin rule too, one faulty replica of each kind', () => {
    for (const [i, kind] of KINDS.entries()) assertSafeAndLive(run({ seed: 200 + i, n: 4, rule: 'rotate', faults: [kind], faultyIds: [i % 4], transactions: 120, durationMs: 8000 }));
  });

  const pairs: FaultKind[][] = [
    ['crash', 'equivocate'],
    ['censor', 'twins'],
    ['restart', 'equivocate'],
    ['twins', 'crash'],
    ['censor', 'restart'],
  ];
  for (const kinds of pairs) {
    test(`N = 7, f = 2: one ${kinds[0]} and one ${kinds[1]} replica`, () => {
      for (const seed of [1, 2]) assertSafeAndLive(run({ seed, n: 7, faults: kinds, transactions: 150, durationMs: 8000 }));
    });
  }
});

describe('CBFT with f+1 replicas down: stops safely, resumes when one recovers', () => {
  /** Heights of the honest replicas that are up, at an observation. */
  const heightsAt = (r: SimulationResult, at: number): number[] => r.observations.find((o) => o.at === at)!.statuses.filter((s) => s.up).map((s) => s.height);

  test('N = 4: one crashed for good, a second down from 4 s to 12 s', () => {
    const r = run({ seed: 7, n: 4, faults: ['crash'], faultyIds: [0], outages: [{ id: 1, from: 4000, to: 12_000 }], observeAt: [5000, 11_999], transactions: 150, durationMs: 15_000 });
    const [early, late] = r.observations;
    // Nothing decided while the quorum is missing, though requests kept coming.
    assert.deepEqual(heightsAt(r, 11_999), heightsAt(r, 5000));
    for (const s of late.statuses.filter((x) => x.up)) {
      assert.equal(s.phase, 'view-change', `replica ${s.id} says it is changing view`);
      assert.ok(s.round > 0 && s.pending > 0, `replica ${s.id}: round ${s.round}, ${s.pending} pending`);
      assert.ok(s.pending > early.statuses.find((x) => x.id === s.id)!.pending, 'requests pile up');
    }
    // Resumed once replica 1 was back: everything decided, by the same chain everywhere (violations empty).
    assert.ok(r.height > Math.max(...heightsAt(r, 11_999)));
    assertSafeAndLive(r);
  });

  test('N = 4: two outages overlap; progress resumes as soon as the first ends', () => {
    const r = run({
      seed: 8,
      n: 4,
      outages: [
        { id: 0, from: 3000, to: 9000 },
        { id: 2, from: 4000, to: 14_000 },
      ],
      observeAt: [5000, 8999, 13_999],
      transactions: 200,
      durationMs: 16_000,
    });
    assert.deepEqual(heightsAt(r, 8999), heightsAt(r, 5000), 'stopped while two of four were down');
    assert.ok(Math.min(...heightsAt(r, 13_999)) > Math.max(...heightsAt(r, 8999)), 'moving again with three of four');
    assertSafeAndLive(r);
  });

  test('N = 7: two crashed for good, a third down for 8 s', () => {
    const r = run({ seed: 9, n: 7, faults: ['crash', 'crash'], faultyIds: [1, 4], outages: [{ id: 5, from: 4000, to: 12_000 }], observeAt: [5500, 11_999], transactions: 150, durationMs: 15_000 });
    assert.deepEqual(heightsAt(r, 11_999), heightsAt(r, 5500));
    assert.ok(r.observations[1].statuses.filter((s) => s.up).every((s) => s.phase === 'view-change' && s.pending > 0));
    assert.ok(r.height > Math.max(...heightsAt(r, 11_999)));
    assertSafeAndLive(r);
  });
});
