/**
 * `npm run bench -- load` (issue 19, "Load"): 100 simulated users — 90 walking projects through the whole workflow
 * by the pages of every role, 10 auditors reading dashboards, lists and exports — for 10 minutes against the
 * platform as `npm start` runs it, in a process of its own (load-run.ts). Its row says `held: false` on any error,
 * any lost acknowledged action, or a live heap that grows (scripts/bench.mjs then exits 1 after writing the
 * results); the process itself exits 1 only when it could not run.
 *
 * Usage: node load-bench.js '{"users":100,"auditors":10,"seconds":600}'
 * Prints a JSON array of one row on its last line of output; progress goes to stderr.
 */
import { runLoad, type LoadParams } from './load-run';
import { memoryVerdict } from './load-verdict';

async function main(): Promise<void> {
  const params: LoadParams = { users: 100, auditors: 10, seconds: 600, thinkMs: 2000, sampleMs: 5000, mongoHeap: '2g', ...(JSON.parse(process.argv[2] ?? '{}') as Partial<LoadParams>) };
  const figures = await runLoad({ ...params, log: (line) => process.stderr.write(`  [load] ${line}\n`) });
  const memory = memoryVerdict(figures);
  for (const r of figures.perRoute) process.stderr.write(`  [load] ${r.route}: n ${r.n}, p50 ${r.p50Ms} ms, p95 ${r.p95Ms} ms\n`);
  for (const e of [...figures.firstErrors, ...figures.firstLost]) process.stderr.write(`  [load] ${e}\n`);
  process.stderr.write(`  [load] memory: ${memory.text}\n`);
  const held = figures.errors === 0 && figures.lost === 0 && memory.held;
  console.log(JSON.stringify([{ scenario: 'load', backend: 'embedded', ...figures, memoryHeld: memory.held, memoryLimitMbPerMinute: memory.limitMbPerMinute, memoryVerdict: memory.text, held }]));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
