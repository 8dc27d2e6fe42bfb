#!/usr/bin/env node
// `npm run bench [-- ledger|web|fabric|chapter5|sets|relay|cbft|load]`: the benchmarks, each scenario run BENCH_RUNS times (default 3, the
// ledger at the thesis's block settings 5) in a
// fresh process; prints the median run of each and writes every figure to bench-results/latest.json
// (BENCH_OUT names another file).
// The web scenario (10,000 projects, then 50 simulated users) takes about ten minutes a run;
// BENCH_WEB_RUNS overrides its number of runs, BENCH_WEB_SECONDS the users' time (default 180).
// The load scenario (issue 19) runs 100 simulated users for 10 minutes against the platform in a process of its own,
// once (BENCH_LOAD_RUNS, BENCH_LOAD_USERS, BENCH_LOAD_SECONDS override); a run with an error, a lost acknowledged
// action or a growing live heap is written like the others and makes the command exit 1 at the end.
// The fabric scenarios bring the native Fabric network (npm run network) up and down themselves, each run; they
// refuse to start while a network is running.
// The chapter5 scenarios reproduce the thesis's tables 5.2/5.3 (test/bench/chapter5-bench.ts); after them
// scripts/bench-plot.mjs writes bench-results/chapter5.md and chapter5.png.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, build, ensureDependencies, run } from './lib.mjs';

ensureDependencies();
build();

const runs = Number(process.env.BENCH_RUNS ?? 3);
const only = process.argv[2];
const LEDGER = path.join(ROOT, 'dist-test', 'bench', 'ledger-bench.js');
const WEB = path.join(ROOT, 'dist-test', 'bench', 'web-bench.js');
const FABRIC = path.join(ROOT, 'dist-test', 'bench', 'fabric-bench.js');
const CHAPTER5 = path.join(ROOT, 'dist-test', 'bench', 'chapter5-bench.js');
const RELAY = path.join(ROOT, 'dist-test', 'bench', 'relay-bench.js');
const LOAD = path.join(ROOT, 'dist-test', 'bench', 'load-bench.js');
/** The columns of the thesis's tables 5.2 and 5.3: concurrent clients (per set). */
const THESIS_CLIENTS = [1, 10, 20, 50, 100, 1000];
const scenarios = [
  // The thesis's block settings (BatchTimeout 2 s, MaxMessageCount 10). The 100 measured blocks take about a second,
  // so they come after 3,000 transactions of warm-up (the thesis measured a running network, not a JIT compiler), and
  // a run is short and noisy: five runs unless BENCH_RUNS says otherwise.
  { kind: 'ledger', script: LEDGER, runs: Number(process.env.BENCH_RUNS ?? 5), params: { clients: 64, maxMessageCount: 10, batchTimeoutMs: 2000, warmupBlocks: 300 } },
  // Larger blocks: enough clients to fill blocks of 500, after 5,000 transactions of warm-up.
  { kind: 'ledger', script: LEDGER, params: { clients: 1000, maxMessageCount: 500, batchTimeoutMs: 2000, warmupBlocks: 10 } },
  // The same workflow on the native Fabric network through the Fabric adapter: the thesis's block settings,
  // then larger blocks.
  { kind: 'fabric', script: FABRIC, params: { clients: 64, maxMessageCount: 10, batchTimeoutMs: 2000 } },
  { kind: 'fabric', script: FABRIC, params: { clients: 500, maxMessageCount: 500, batchTimeoutMs: 2000, warmupBlocks: 4 } },
  // The pressure contract and the workflow on the native Fabric network with one and two business channels, at the
  // thesis's block settings (the same clients in all per set count: 40 in all).
  ...[
    { workload: 'pressure', sets: 1, clients: 40 },
    { workload: 'pressure', sets: 2, clients: 20 },
    { workload: 'workflow', sets: 1, clients: 64 },
    { workload: 'workflow', sets: 2, clients: 32 },
  ].map((config) => ({ kind: 'fabric', script: FABRIC, params: { ...config, maxMessageCount: 10, batchTimeoutMs: 2000, preferredMaxBytes: 524288 } })),
  // Thesis chapter 5 at its block settings: the pressure contract on 1, 2 and 4 sets, the full workflow on 1 and 2.
  // A workflow client waits for each commit, so one client per set fills one block per BatchTimeout (2 s): 100 blocks
  // would take over three minutes a run, so that column measures 10 blocks after 2.
  ...[
    ...[1, 2, 4].map((sets) => ({ workload: 'pressure', sets })),
    ...[1, 2].map((sets) => ({ workload: 'workflow', sets })),
  ].flatMap((config) =>
    THESIS_CLIENTS.map((clients) => ({
      kind: 'chapter5',
      script: CHAPTER5,
      params: { ...config, clients, ...(config.workload === 'workflow' && clients < 10 ? { warmupBlocks: 2, blocks: 10 } : {}) },
    })),
  ),
  // What the relay costs: the workflow straight through the gateway and through the relay, alternating three times
  // in one process (the run takes its own medians), plus the relay's cost on one query.
  // CBFT (thesis chapter 3) against the solo orderer and plain round-robin PBFT on the full workflow, the same
  // block settings, one after another in one invocation: blocks of up to 500, enough clients to fill them.
  ...['solo', 'credit', 'rotate'].map((o) => ({
    kind: 'cbft',
    script: LEDGER,
    params: { clients: 1000, maxMessageCount: 500, batchTimeoutMs: 2000, warmupBlocks: 5, blocks: 20, ...(o === 'solo' ? {} : { orderer: 'cbft', rule: o }) },
  })),
  // Issue 16's targets, measured side by side: the pressure contract with 100 clients a set on one set using the whole
  // machine, on one set held to one core (taskset), and on two sets, alternating run by run, so that machine noise
  // falls on all three alike. "Two sets reach 1.6x one set, each set on its own core": one set alone already uses
  // more than one core (its clients sign on the main thread beside its own thread), so both ratios are printed.
  {
    kind: 'sets',
    script: CHAPTER5,
    alternate: [
      { workload: 'pressure', sets: 1, clients: 100, scenario: 'set scaling' },
      { workload: 'pressure', sets: 1, clients: 100, scenario: 'set scaling', cores: 1 },
      { workload: 'pressure', sets: 2, clients: 100, scenario: 'set scaling' },
    ],
  },
  { kind: 'relay', script: RELAY, runs: 1, params: { clients: 64, maxMessageCount: 10, batchTimeoutMs: 2000, warmupBlocks: 100, blocks: 1000, pairs: 3 } },
  // The web platform: pages with 10,000 projects on the ledger, then 50 simulated users (progress on stderr).
  { kind: 'web', script: WEB, runs: Number(process.env.BENCH_WEB_RUNS ?? runs), params: { projects: 10_000, users: 50, seconds: Number(process.env.BENCH_WEB_SECONDS ?? 180) } },
  // Load (issue 19): 100 users (90 walking the workflow by role, 10 auditors) for 10 minutes, 2 s between clicks.
  { kind: 'load', script: LOAD, runs: Number(process.env.BENCH_LOAD_RUNS ?? 1), params: { users: Number(process.env.BENCH_LOAD_USERS ?? 100), seconds: Number(process.env.BENCH_LOAD_SECONDS ?? 600) } },
].filter((s) => !only || s.kind === only);

/** One line per row of a run. */
const describe = (row) =>
  row.scenario === 'load'
    ? `${row.users} users, ${row.seconds} s: ${row.workflows} walks, ${row.actions} actions (${row.actionsPerSecond}/s), ${row.requests} requests, ${row.errors} errors, ${row.lost} lost, ${row.tps} tx/s at ${row.cpuMsPerTx} ms CPU/tx (MongoDB ${row.mongoCpuMsPerTx}), p50 ${row.p50Ms} ms, p95 ${row.p95Ms} ms, live heap ${row.liveHeap.mbPerMinute} ± ${row.liveHeap.stdErrMbPerMinute} MB/min, RSS ${row.rss.mbPerMinute} MB/min${row.held ? '' : ' — NOT HELD'}`
  : row.scenario === 'web page'
    ? `${row.page} (${row.role}): p50 ${row.p50Ms} ms, p95 ${row.p95Ms} ms`
    : row.scenario === 'web users'
      ? `${row.clients} users, ${row.workflows} workflows, ${row.requests} requests, ${row.errors} errors, p50 ${row.p50Ms} ms, p95 ${row.p95Ms} ms`
      : row.scenario === 'relay overhead'
        ? row.tps === undefined
          ? `relay − gateway: p50 ${row.p50AddedMs} ms, CPU per tx ${row.cpuAddedPercent} %, tx/s ×${row.tpsRatio}; one query p50 +${row.queryP50AddedMs} ms`
          : `via ${row.via}: ${row.tps} tx/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, ${row.cpuMsPerTx} ms CPU/tx`
      : row.scenario.startsWith('chapter5') || row.scenario === 'set scaling'
        ? `${row.sets} set(s) × ${row.clients} clients${row.scenario === 'set scaling' ? ` on ${row.cores} core(s)` : ''}: ${row.tps} tx/s${row.sets > 1 ? ` (${row.perSetTps.join(' + ')})` : ''}, ${row.cpuMsPerTx} ms CPU/tx, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, peak RSS ${row.peakRssMb} MB`
        : `${row.orderer ? `${row.orderer}: ` : ''}${row.tps} tx/s${row.cpuMsPerTx === undefined ? '' : ` at ${row.cpuMsPerTx} ms CPU/tx`}, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, peak RSS ${row.peakRssMb} MB${row.networkPeakRssMb === undefined ? '' : ` (Fabric processes ${row.networkPeakRssMb} MB)`}`;
/** Rows of different runs that measure the same thing. */
const keyOf = (row) => [row.scenario, row.page ?? '', row.role ?? '', row.maxMessageCount, row.clients ?? '', row.via ?? '', row.sets ?? '', row.orderer ?? '', row.cores ?? ''].join('|');
/** The figure a row's median run is chosen by: throughput for the ledgers, the 95th percentile for pages and users. */
const figureOf = (row) => (row.p95Ms === undefined ? row.tps : row.p95Ms);

const rows = [];
for (const { script, params, alternate, runs: scenarioRuns = runs } of scenarios) {
  const byKey = new Map();
  for (let i = 1; i <= scenarioRuns; i++) {
    for (const p of alternate ?? [params]) {
      console.log(`› ${path.basename(script)} ${JSON.stringify(p)} run ${i}/${scenarioRuns}…`);
      // `cores`: the run is held to that many cores (taskset), and sees only those (os.availableParallelism).
      const command = p.cores ? ['taskset', ['-c', `0-${p.cores - 1}`, process.execPath, script, JSON.stringify(p)]] : [process.execPath, [script, JSON.stringify(p)]];
      const r = spawnSync(...command, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, CORE_CHAINCODE_LOGGING_LEVEL: 'ERROR' } });
      if (r.status !== 0) {
        console.error(`failed (${r.status ?? r.signal ?? r.error?.message})`);
        process.exit(1);
      }
      for (const row of [JSON.parse(r.stdout.trim().split('\n').pop())].flat()) {
        console.log(`  ${describe(row)}`);
        byKey.set(keyOf(row), [...(byKey.get(keyOf(row)) ?? []), row]);
      }
    }
  }
  for (const results of byKey.values()) {
    results.sort((a, b) => figureOf(a) - figureOf(b));
    const median = results[Math.floor(results.length / 2)];
    // Errors are never hidden by the choice of the median run.
    const errors = 'errors' in median ? { errorsOfRuns: results.map((r) => r.errors) } : {};
    rows.push({ ...median, runs: results.length, ofRuns: results.map(figureOf), ...errors });
  }
}

const out = path.resolve(ROOT, process.env.BENCH_OUT ?? path.join('bench-results', 'latest.json'));
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(rows, null, 2) + '\n');
console.log(`\nmedian of ${runs} run(s) per scenario (written to ${path.relative(process.cwd(), out)}):`);
const ledgerRows = rows.filter((r) => r.scenario === 'workflow');
if (ledgerRows.length) console.table(ledgerRows.map(({ scenario, backend, clients, maxMessageCount, batchTimeoutMs, txs, blocks, tps, p50Ms, p99Ms, peakRssMb, networkPeakRssMb }) => ({ scenario, backend, clients, maxMessageCount, batchTimeoutMs, txs, blocks, tps, p50Ms, p99Ms, peakRssMb, ...(networkPeakRssMb === undefined ? {} : { networkPeakRssMb }) })));
const pageRows = rows.filter((r) => r.scenario === 'web page');
if (pageRows.length) console.table(pageRows.map(({ page, role, projectsOnLedger, samples, p50Ms, p95Ms, met }) => ({ page, role, projectsOnLedger, samples, p50Ms, p95Ms, 'p95 < 150 ms': met })));
const userRows = rows.filter((r) => r.scenario === 'web users');
if (userRows.length) console.table(userRows.map(({ clients, thinkMs, seconds, workflows, requests, errors, errorsOfRuns, p50Ms, p95Ms, p99Ms, tps, peakRssMb, mongoPeakRssMb }) => ({ clients, thinkMs, seconds, workflows, requests, errors, errorsOfRuns: errorsOfRuns?.join(' '), p50Ms, p95Ms, p99Ms, tps, peakRssMb, mongoPeakRssMb })));
const loadRows = rows.filter((r) => r.scenario === 'load');
for (const row of loadRows) {
  console.table(row.perRoute.map(({ route, n, p50Ms, p95Ms, p99Ms }) => ({ route, n, p50Ms, p95Ms, p99Ms })));
  console.log(`load: ${describe(row)}\n  memory: ${row.memoryVerdict}`);
  if (!row.held) process.exitCode = 1;
}
const scalingRows = rows.filter((r) => r.scenario === 'set scaling');
if (scalingRows.length === 3) {
  const [whole, oneCore, two] = [scalingRows.find((r) => r.sets === 1 && r.cores > 1), scalingRows.find((r) => r.cores === 1), scalingRows.find((r) => r.sets === 2)];
  console.table(scalingRows.map(({ sets, cores, tps, ofRuns, cpuMsPerTx, cpuPercent, mainThreadBusyPercent, setThreadBusyPercent, p50Ms }) => ({ sets, cores, tps, ofRuns: ofRuns.join(' '), cpuMsPerTx, cpuPercent, mainThreadBusyPercent, setThreadBusyPercent: setThreadBusyPercent.join('/'), p50Ms })));
  console.log(`two sets ÷ one set on the whole machine: ${(two.tps / whole.tps).toFixed(2)}; two sets ÷ one set held to one core: ${(two.tps / oneCore.tps).toFixed(2)} (medians)`);
}
const chapter5Rows = rows.filter((r) => r.scenario.startsWith('chapter5'));
if (chapter5Rows.length) {
  console.table(chapter5Rows.map(({ scenario, sets, clients, blocks, tps, perSetTps, cpuMsPerTx, cpuPercent, p50Ms, p99Ms, peakRssMb }) => ({ scenario, sets, clients, blocks, tps, perSetTps: perSetTps.join(' + '), cpuMsPerTx, cpuPercent, p50Ms, p99Ms, peakRssMb })));
  run(process.execPath, [path.join(ROOT, 'scripts', 'bench-plot.mjs'), out]);
}
