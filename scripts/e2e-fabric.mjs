#!/usr/bin/env node
// `node scripts/e2e-fabric.mjs`: the browser end-to-end test (test/e2e/workflow.e2e.test.ts, unchanged) with the
// platform on a fresh native Fabric network instead of its own embedded ledger: npm run network -- up,
// createChannel (200 ms blocks, as the embedded test platform), deployCC; the test with TEST_LEDGER=fabric
// (test/support/platform.ts passes LEDGER=fabric and FABRIC_DIR to the app); then network down, also after a
// failure. Refuses to start while a network is running (it would be torn down). Exit status: the test's.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, build, ensureChromium, ensureDependencies } from './lib.mjs';
import { ensureMongoServer } from './mongo.mjs';
import { DATA } from './network.mjs';

function alive() {
  try {
    const pids = JSON.parse(readFileSync(path.join(DATA, 'pids.json'), 'utf8'));
    return Object.entries(pids).filter(([, e]) => {
      try {
        process.kill(e.pid, 0);
        return true;
      } catch {
        return false;
      }
    }).map(([n]) => n);
  } catch {
    return [];
  }
}

const running = alive();
if (running.length > 0) {
  console.error(`✗ a Fabric network is already running (${running.join(', ')}); npm run network -- down first`);
  process.exit(1);
}
ensureDependencies();
ensureChromium();
await ensureMongoServer();
build();

const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
function network(args, env = {}) {
  const started = Date.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'network.mjs'), ...args], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
  console.log(`  (network ${args.join(' ')}: ${seconds(started)})`);
  return r.status === 0;
}

let status = 1;
try {
  if (network(['up']) && network(['createChannel'], { BATCH_TIMEOUT_MS: '200' }) && network(['deployCC'])) {
    const started = Date.now();
    const test = path.join(ROOT, 'dist-test', 'e2e', 'workflow.e2e.test.js');
    // --test-force-exit: on Fabric the test process stays alive after the suite has passed and the platform has
    // been stopped (some fabric-network/gRPC handle is left open; not found yet), so the runner ends it.
    const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-force-exit', test], {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, TEST_LEDGER: 'fabric', CORE_CHAINCODE_LOGGING_LEVEL: process.env.CORE_CHAINCODE_LOGGING_LEVEL ?? 'warning' },
    });
    status = r.status ?? 1;
    console.log(`\nbrowser workflow on Fabric: ${status === 0 ? 'passed' : `failed (${r.status ?? r.signal})`} in ${seconds(started)}`);
  }
} finally {
  network(['down']);
}
process.exit(status);
