#!/usr/bin/env node
// `npm run soak [-- chaincode|web]`: the fuzz tests of test/security at their full counts. `npm test` runs the same
// files with a few inputs per function or route; here SOAK_CHAINCODE_RUNS (default 1000) inputs go to every chaincode
// transaction and SOAK_WEB_RUNS (default 100) to every web route (half that per GET route, ten times that
// over the bank API), with FUZZ_HUGE (default 1 MB) as the largest string. FUZZ_SEED picks another seed; a failure
// prints the FUZZ_SEED and FUZZ_PATH that replay it. The figures go to bench-results/fuzz.json (SOAK_OUT names another
// file).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, build, ensureDependencies } from './lib.mjs';
import { ensureMongoServer } from './mongo.mjs';

ensureDependencies();
await ensureMongoServer();
build();

const parts = [
  { part: 'chaincode', file: 'chaincode-fuzz.test.js', runs: Number(process.env.SOAK_CHAINCODE_RUNS ?? 1000) },
  { part: 'web', file: 'web-fuzz.test.js', runs: Number(process.env.SOAK_WEB_RUNS ?? 100) },
].filter((p) => !process.argv[2] || p.part === process.argv[2]);

const results = [];
let failed = false;
for (const { part, file, runs } of parts) {
  console.log(`› ${part} fuzzing, ${runs} inputs per function or route…`);
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', path.join(ROOT, 'dist-test', 'security', file)], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { FUZZ_HUGE: String(1024 * 1024), ...process.env, FUZZ_RUNS: String(runs), CORE_CHAINCODE_LOGGING_LEVEL: 'ERROR' },
  });
  const out = `${r.stdout}${r.stderr}`;
  // The test files' own summary lines ("# chaincode fuzz: …", "# web fuzz: …") and node's pass/fail counts.
  const summary = out.split('\n').filter((l) => /fuzz: \d+|^ℹ (tests|pass|fail) /.test(l));
  const failures = [...new Set(out.split('\n').filter((l) => /^\s*✖ /.test(l) && !/failing tests:|^✖ \S+ fuzzing:/.test(l.trim())).map((l) => l.trim()))];
  console.log([...summary, ...failures].map((l) => `  ${l.trim()}`).join('\n'));
  if (r.status !== 0) {
    failed = true;
    // What failed and how to replay it: the lines after each failing test's name.
    const lines = out.split('\n');
    const detail = lines.flatMap((l, i) => (/^\s*✖ /.test(l) ? lines.slice(i, i + 12) : [])).map((l) => l.slice(0, 300));
    console.error(detail.slice(0, 80).join('\n'));
  }
  const inputs = Number(/(\d+) inputs \(/.exec(out)?.[1] ?? /web fuzz: (\d+) requests/.exec(out)?.[1] ?? NaN);
  results.push({ part, runsPerFunctionOrRoute: runs, inputs, seconds: Math.round((Date.now() - started) / 1000), passed: r.status === 0, failures });
}

const outFile = path.resolve(ROOT, process.env.SOAK_OUT ?? path.join('bench-results', 'fuzz.json'));
mkdirSync(path.dirname(outFile), { recursive: true });
writeFileSync(outFile, JSON.stringify({ at: new Date().toISOString(), seed: Number(process.env.FUZZ_SEED ?? 20261219), results }, null, 2) + '\n');
console.log(`written to ${path.relative(process.cwd(), outFile)}`);
process.exit(failed ? 1 : 0);
