#!/usr/bin/env node
// `npm run verify [-- ledgerDir]`: re-hash every channel's block chain and check the state database
// against the replayed blocks; names the first block or key that does not match, exits non-zero.
//   Reads only: nothing under the folder is created or written; a folder that is not a ledger folder (the platform's
//   data folder, one channel's folder, an empty folder) is refused with exit code 2 and the folder to give instead.
// `npm run verify -- --dossier FILE`: checks a project's audit dossier (downloaded from the platform) offline instead:
//   transaction and issuer signatures, block data hashes, the chain of headers to the tip, the states written; one
//   line per check, exit code 0 when all pass, 1 naming what failed, 2 for a file that is not a dossier.
import path from 'node:path';
import { ROOT, build, ensureDependencies, run } from './lib.mjs';

ensureDependencies();
build();
run(process.execPath, [path.join(ROOT, 'app', 'dist', 'blockchain', 'embedded', 'ledger', 'verify-cli.js'), ...process.argv.slice(2)], { cwd: process.cwd() });
