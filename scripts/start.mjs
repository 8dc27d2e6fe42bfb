#!/usr/bin/env node
// `npm start`: install what is missing, compile, then run the platform's chaincode as a service,
// the way a Fabric peer's external builder runs it. (The web platform joins here with its issue.)
import path from 'node:path';
import { spawn } from 'node:child_process';
import { ROOT, build, ensureDependencies } from './lib.mjs';

ensureDependencies();
build();

const address = process.env.CHAINCODE_ADDRESS ?? '127.0.0.1:9999';
const ccid = process.env.CHAINCODE_ID ?? 'fund:0.1.0';
const cli = path.join(ROOT, 'node_modules', 'fabric-shim', 'cli.js');
console.log(`› chaincode-as-a-service listening on ${address} as ${ccid} (Ctrl-C to stop)`);
const child = spawn(process.execPath, [cli, 'server', '--chaincode-address', address, '--chaincode-id', ccid, '--module-path', path.join(ROOT, 'chaincode')], {
  stdio: 'inherit',
  env: { ...process.env, CORE_CHAINCODE_LOGGING_LEVEL: process.env.CORE_CHAINCODE_LOGGING_LEVEL ?? 'INFO' },
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code) => process.exit(code ?? 0));
