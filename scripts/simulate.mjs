#!/usr/bin/env node
// `npm run simulate [-- options]`: the CBFT simulator (app/src/blockchain/embedded/cbft/simulator.ts) from the command line.
//   --experiment [--rounds R] [--seed S]   (the default) the thesis's claim (3.2.6): one censoring replica in four over
//                                           R decided blocks (default 10,000), under the credit rule and plain round
//                                           robin, beside a run without faults of each (four runs, --jobs at a time in
//                                           worker threads, default 2); writes bench-results/cbft-simulate.json,
//                                           cbft-simulate.md and cbft-primary-share.png
//   --seed N [--trace]                      replays randomSchedule(N) and prints its result (and every message sent)
//   --schedules K [--from S]                explores randomSchedule(S … S+K−1); lists the failing seeds, exit 1 if any
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ROOT, build, ensureDependencies } from './lib.mjs';

const SIMULATOR = path.join(ROOT, 'app', 'dist', 'blockchain', 'embedded', 'cbft', 'simulator.js');
const require = createRequire(import.meta.url);

// A worker thread of the experiment: one run, its figures back to the main thread.
if (isMainThread) await main();
else {
  const started = Date.now();
  const figures = require(SIMULATOR).censorshipRun(workerData);
  parentPort.postMessage({ ...figures, wallSeconds: (Date.now() - started) / 1000 });
}

async function main() {
  const { values: args } = parseArgs({
    options: {
      experiment: { type: 'boolean', default: false },
      rounds: { type: 'string', default: '10000' },
      seed: { type: 'string' },
      trace: { type: 'boolean', default: false },
      schedules: { type: 'string' },
      from: { type: 'string', default: '1' },
      jobs: { type: 'string', default: '2' },
    },
  });
  ensureDependencies();
  build();
  const sim = require(SIMULATOR);
  if (args.schedules !== undefined) explore(sim, Number(args.schedules), Number(args.from));
  else if (args.seed !== undefined && !args.experiment) replay(sim, Number(args.seed), args.trace);
  else await experiment(Number(args.rounds), Number(args.seed ?? 1), Number(args.jobs));
}

function replay(sim, seed, trace) {
  const schedule = sim.randomSchedule(seed);
  console.log(`schedule of seed ${seed}: ${JSON.stringify(schedule)}`);
  const r = sim.simulate({ ...schedule, ...(trace ? { trace: (line) => console.log(line) } : {}) });
  const { statuses, waits: _waits, censoredWaits, heights: _heights, observations: _observations, ...summary } = r;
  console.log(JSON.stringify({ ...summary, censoredWaits: censoredWaits.length }, null, 1));
  for (const s of statuses) console.log(`replica ${s.id}${s.up ? '' : ' (down)'}: height ${s.height} round ${s.round} ${s.phase}, primary ${s.primary}, scores ${s.scores.map((x) => x.toFixed(2)).join(' ')}, failed rounds ${s.failedRounds}, pending ${s.pending}`);
  console.log(r.ok ? 'ok' : `FAILED: ${r.violations.join('; ')}`);
  process.exitCode = r.ok ? 0 : 1;
}

function explore(sim, count, from) {
  const started = Date.now();
  const failures = [];
  for (let seed = from; seed < from + count; seed++) {
    const r = sim.simulate(sim.randomSchedule(seed));
    if (!r.ok) {
      failures.push(seed);
      console.log(`seed ${seed}: ${r.violations.join('; ')} (replay: npm run simulate -- --seed ${seed} --trace)`);
    }
  }
  console.log(`${count} schedules (seeds ${from}–${from + count - 1}) in ${((Date.now() - started) / 1000).toFixed(1)} s: ${failures.length} failed${failures.length ? `: ${failures.join(', ')}` : ''}`);
  process.exitCode = failures.length ? 1 : 0;
}

async function experiment(rounds, seed, jobs) {
  console.log(
    `› ${rounds.toLocaleString('en-US')} blocks a run, 4 replicas, seed ${seed}: replica 3 censors 20 % of the transactions (leaves every one of them out whenever it leads), under the credit rule and round robin, and each rule without faults`,
  );
  const started = Date.now();
  const configs = ['credit', 'rotate'].flatMap((rule) => [true, false].map((censoring) => ({ seed, rule, censoring, heights: rounds })));
  const runs = new Array(configs.length);
  let next = 0;
  const worker = async () => {
    while (next < configs.length) {
      const i = next++;
      runs[i] = await new Promise((resolve, reject) => {
        const w = new Worker(new URL(import.meta.url), { workerData: configs[i] });
        w.once('message', resolve);
        w.once('error', reject);
      });
      const r = runs[i];
      console.log(`${label(r)}: ${r.heights} blocks in ${r.wallSeconds.toFixed(1)} s, replica ${r.watched} primary at ${pct(r.primaryShare)} of heights, ${r.viewChanges} view changes, censored waits ${waitText(r.censoredWaits)}${r.ok ? '' : `, FAILED: ${r.violations.join('; ')}`}`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  console.log(`› ${runs.length} runs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const out = path.join(ROOT, 'bench-results');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'cbft-simulate.json'), JSON.stringify({ generated: new Date().toISOString(), rounds, seed, runs }, null, 1));
  writeFileSync(path.join(out, 'cbft-simulate.md'), markdown(runs, rounds, seed));
  await plot(runs, path.join(out, 'cbft-primary-share.png'));
  console.log('wrote bench-results/cbft-simulate.json, cbft-simulate.md and cbft-primary-share.png');
  const credit = runs.find((r) => r.rule === 'credit' && r.censoring);
  console.log(`targets: censor primary ≤ 10 % of rounds with the credit rule: ${pct(credit.primaryShare)} ${credit.primaryShare <= 0.1 ? 'met' : 'MISSED'}; censored transaction committed within 3 blocks: max ${credit.censoredWaits.max} ${credit.censoredWaits.max <= 3 ? 'met' : 'MISSED'}`);
  if (runs.some((r) => !r.ok)) process.exitCode = 1;
}

function label(r) {
  return `${r.rule === 'credit' ? 'CBFT (credit)' : 'round robin (rotate)'}, ${r.censoring ? 'one censor' : 'no faults'}`;
}
function pct(x, digits = 1) {
  return `${(100 * x).toFixed(digits)} %`;
}
function waitText(w) {
  return w.count ? `median ${w.median}, p99 ${w.p99}, max ${w.max} blocks (${pct(w.within3)} within 3)` : '–';
}

function markdown(runs, rounds, seed) {
  const row = (r) =>
    `| ${label(r)} | ${r.heights.toLocaleString('en-US')} | ${pct(r.primaryShare)} | ${pct(r.roundShare)} | ${pct(r.proposedShare)} | ${r.primaryShares.map((s) => pct(s, 0)).join(' / ')} | ${r.viewChanges} | ${r.failedRounds} | ${r.censoredWaits.count ? `${r.censoredWaits.median} / ${r.censoredWaits.p99} / ${r.censoredWaits.max}` : '–'} | ${r.waits.median} / ${r.waits.p99} / ${r.waits.max} | ${r.scores.map((s) => s.toFixed(1)).join(' / ')} | ${r.ok ? 'ok' : 'FAILED'} |`;
  const credit = runs.find((r) => r.rule === 'credit' && r.censoring);
  return `# CBFT's claim (thesis 3.2.6): how often a censoring replica leads

Generated by \`npm run simulate\` (scripts/simulate.mjs, seed ${seed}) on ${new Date().toISOString().slice(0, 16)}Z: the real replica code
(app/src/blockchain/embedded/cbft/replica.ts) in the deterministic simulator, ${rounds.toLocaleString('en-US')} decided blocks a run.

Setup: 4 replicas (f = 1); replica 3 is the censor. The client sends a transaction every 20 ms to f+1 = 2 replicas
(they pass it on to the others), so blocks are about full: MaxMessageCount 10, BatchTimeout 200 ms. Network delays
1–20 ms, no drops. A backup refuses a block with room to spare that leaves out a request it has held for more than
100 ms (the grace) and votes to change view; view timeout 500 ms. The censor picks 20 % of the transactions (as it might one bank's transfers)
and leaves every one of them out whenever it leads; otherwise it follows the protocol. The runs without faults watch
replica 3 all the same. A "round" of the target is a height (one block); failed rounds are counted apart.

| run | blocks | replica 3 primary (heights) | rounds it led (failed included) | blocks it proposed | primary share, replicas 0/1/2/3 | view changes | failed rounds | censored tx wait, blocks: median / p99 / max | every tx wait: median / p99 / max | credit scores at the end | checks |
|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---|
${runs.map(row).join('\n')}

Targets (issue 17): the censor primary in at most 10 % of rounds over 10,000 rounds with the credit rule (round robin:
25 %); a censored transaction committed within 3 blocks of its submission (wait = blocks decided from its submission
to the one that holds it; 1 = the next block).

${credit ? `Reading: under round robin the censor still leads one height in four, but the backups refuse most of its blocks
(a view change each time), so what it leaves out is committed one block later all the same; the credit rule makes it
lead far less often and so saves most of those view changes. Rounds it led include failed ones; "blocks it proposed"
are the decided blocks whose proposer it was.

Credit rule: ${pct(credit.primaryShare)} of heights (${credit.primaryShare <= 0.1 ? 'met' : 'missed'}); censored transactions waited at most ${credit.censoredWaits.max} blocks, ${pct(credit.censoredWaits.within3)} within 3 (${credit.censoredWaits.max <= 3 ? 'met' : 'missed'}).` : ''}
`;
}

async function plot(runs, file) {
  const { renderLineChart } = await import('./line-chart.mjs');
  const colours = { 'credit true': '#c0392b', 'rotate true': '#2471a3', 'credit false': '#e6a09a', 'rotate false': '#8fb6d8' };
  const datasets = runs.map((r) => ({
    label: `${label(r)}: replica 3 primary ${pct(r.primaryShare)} overall`,
    data: r.shareByWindow.map((s, i) => ({ x: (i + 1) * r.window, y: 100 * s })),
    borderColor: colours[`${r.rule} ${r.censoring}`],
    backgroundColor: colours[`${r.rule} ${r.censoring}`],
    borderWidth: r.censoring ? 2.5 : 1.5,
    borderDash: r.censoring ? [] : [6, 4],
    pointRadius: r.censoring ? 3 : 0,
  }));
  const window = runs[0].window;
  const heights = Math.max(...runs.map((r) => r.heights));
  datasets.push(
    { label: 'thesis: CBFT ≈ 10 %', data: [{ x: window, y: 10 }, { x: heights, y: 10 }], borderColor: '#555', borderDash: [2, 3], borderWidth: 1.5, pointRadius: 0 },
    { label: 'round robin: 25 %', data: [{ x: window, y: 25 }, { x: heights, y: 25 }], borderColor: '#999', borderDash: [2, 3], borderWidth: 1.5, pointRadius: 0 },
  );
  const title = `CBFT: share of blocks whose primary is the censoring replica (1 of 4), per ${window} blocks`;
  const subtitle = `simulated, ${heights.toLocaleString('en-US')} blocks a run; the censor leaves 20 % of the transactions out whenever it leads; dashed: the same replica without faults`;
  await renderLineChart({
    file,
    width: 1200,
    height: 640,
    datasets,
    title,
    subtitle,
    scales: {
      x: { type: 'linear', min: 0, max: heights, title: { display: true, text: 'decided blocks (height)' } },
      y: { min: 0, max: 40, title: { display: true, text: 'replica 3 primary, % of blocks in the window' } },
    },
    legend: { position: 'bottom', labels: { boxWidth: 24 } },
  });
}
