#!/usr/bin/env node
// `npm test`: install what is missing, compile, lint, then run every suite with node's test runner.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT, build, ensureChromium, ensureDependencies, run } from './lib.mjs';
import { ensureMongoServer } from './mongo.mjs';

ensureDependencies();
ensureChromium();
await ensureMongoServer();
build();
console.log('› linting (eslint)…');
run(process.execPath, [path.join(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js'), '.']);

function testFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'fixtures' ? [] : testFiles(full);
    return name.endsWith('.test.js') ? [full] : [];
  });
}
const only = process.argv.slice(2);
const files = testFiles(path.join(ROOT, 'dist-test')).filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
console.log(`› running ${files.length} test files…`);
// Chaincode logging at warning level keeps the output readable; failures still print.
run(process.execPath, ['--test', '--test-concurrency=1', ...files], { env: { ...process.env, CORE_CHAINCODE_LOGGING_LEVEL: process.env.CORE_CHAINCODE_LOGGING_LEVEL ?? 'warning' } });
