#!/usr/bin/env node
// `npm run bench`: the benchmarks, each scenario run BENCH_RUNS times (default 3) in a fresh
// process; prints the median run of each and writes every figure to bench-results/latest.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, build, ensureDependencies } from './lib.mjs';

ensureDependencies();
build();

const runs = Number(process.env.BENCH_RUNS ?? 3);
const LEDGER = path.join(ROOT, 'dist-test', 'bench', 'ledger-bench.js');
const scenarios = [
  // The thesis's block settings (BatchTimeout 2 s, MaxMessageCount 10).
  { script: LEDGER, params: { clients: 64, maxMessageCount: 10, batchTimeoutMs: 2000 } },
  // Larger blocks: enough clients to fill blocks of 500.
  { script: LEDGER, params: { clients: 1000, maxMessageCount: 500, batchTimeoutMs: 2000, warmupBlocks: 4 } },
];

const rows = [];
for (const { script, params } of scenarios) {
  const results = [];
  for (let i = 1; i <= runs; i++) {
    process.stdout.write(`› ${path.basename(script)} ${JSON.stringify(params)} run ${i}/${runs}… `);
    const r = spawnSync(process.execPath, [script, JSON.stringify(params)], { encoding: 'utf8', env: { ...process.env, CORE_CHAINCODE_LOGGING_LEVEL: 'ERROR' } });
    if (r.status !== 0) {
      console.error(`failed (${r.status ?? r.signal})\n${r.stderr}`);
      process.exit(1);
    }
    const row = JSON.parse(r.stdout.trim().split('\n').pop());
    console.log(`${row.tps} tx/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, peak RSS ${row.peakRssMb} MB`);
    results.push(row);
  }
  results.sort((a, b) => a.tps - b.tps);
  rows.push({ ...results[Math.floor(results.length / 2)], runs: results.length, tpsOfRuns: results.map((r) => r.tps) });
}

const out = path.join(ROOT, 'bench-results', 'latest.json');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(rows, null, 2) + '\n');
console.log(`\nmedian of ${runs} run(s) per scenario (written to ${path.relative(process.cwd(), out)}):`);
console.table(rows.map(({ scenario, backend, clients, maxMessageCount, batchTimeoutMs, txs, blocks, tps, p50Ms, p99Ms, peakRssMb }) => ({ scenario, backend, clients, maxMessageCount, batchTimeoutMs, txs, blocks, tps, p50Ms, p99Ms, peakRssMb })));
