#!/usr/bin/env node
// `npm run verify [-- dataDir]`: re-hash every channel's block chain and check the state database
// against the replayed blocks; names the first block or key that does not match, exits non-zero.
import path from 'node:path';
import { ROOT, build, ensureDependencies, run } from './lib.mjs';

ensureDependencies();
build();
run(process.execPath, [path.join(ROOT, 'app', 'dist', 'blockchain', 'embedded', 'ledger', 'verify-cli.js'), ...process.argv.slice(2)], { cwd: process.cwd() });
