#!/usr/bin/env node
// `npm run ledger -- <command>`: channels, chain info, a block, a transaction, a key's history
// of the embedded ledger (see app/src/blockchain/embedded/ledger-cli.ts for the commands).
import path from 'node:path';
import { ROOT, build, ensureDependencies, run } from './lib.mjs';

ensureDependencies();
build();
run(process.execPath, [path.join(ROOT, 'app', 'dist', 'blockchain', 'embedded', 'ledger-cli.js'), ...process.argv.slice(2)], { cwd: process.cwd() });
