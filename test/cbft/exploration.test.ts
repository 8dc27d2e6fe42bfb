/**
 * Seeded exploration: randomSchedule(seed) draws the replicas (4 or 7), up to f faulty ones of any
 * kind, the network's delays, drops and reordering and the block settings from the seed alone, and
 * the simulator checks agreement, validity, no lost acknowledged transaction and liveness on each.
 * CI runs a bounded number (CBFT_SCHEDULES, default 300, from seed CBFT_FROM, default 1);
 * CBFT_SEED=n replays one seed exactly (`npm run simulate -- --seed n --trace` prints its messages).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomSchedule, simulate } from '@fund/app/dist/blockchain/embedded/cbft/simulator';

const only = process.env.CBFT_SEED;
const count = Number(process.env.CBFT_SCHEDULES ?? 300);
const from = Number(process.env.CBFT_FROM ?? 1);
const seeds = only !== undefined ? [Number(only)] : Array.from({ length: count }, (_, i) => from + i);

describe('CBFT: seeded schedules', () => {
  test(`${seeds.length === 1 ? `seed ${seeds[0]}` : `${seeds.length} random schedules from seed ${from}`}: agreement, validity, nothing acknowledged lost, liveness`, () => {
    const failures: string[] = [];
    for (const seed of seeds) {
      const r = simulate(randomSchedule(seed));
      if (!r.ok) failures.push(`seed ${seed} (${JSON.stringify(r.faulty)}): ${r.violations.join('; ')}`);
    }
    assert.deepEqual(failures, [], `failing schedules — replay one with CBFT_SEED=<seed> or \`npm run simulate -- --seed <seed> --trace\`:\n${failures.join('\n')}`);
  });

  test('the same seed gives the identical run twice (a failing seed replays)', () => {
    for (const seed of only !== undefined ? [Number(only)] : [3, 17, 42]) {
      const traces: string[][] = [[], []];
      const runs = traces.map((lines) => simulate({ ...randomSchedule(seed), trace: (line) => lines.push(line) }));
      assert.deepEqual(runs[1], runs[0]);
      assert.deepEqual(traces[1], traces[0]);
      assert.ok(traces[0].length > 100);
    }
  });

  test('different seeds give different schedules', () => {
    const a = simulate(randomSchedule(1));
    const b = simulate(randomSchedule(2));
    assert.notDeepEqual({ ...a, seed: 0 }, { ...b, seed: 0 });
  });
});
