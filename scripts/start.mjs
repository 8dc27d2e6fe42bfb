#!/usr/bin/env node
// `npm start`: install what is missing, compile, start the bundled MongoDB-protocol server (unless
// MONGODB_URI names one), then the web platform on the embedded ledger with demo data on first start.
import path from 'node:path';
import { createRequire } from 'node:module';
import { ROOT, build, ensureDependencies } from './lib.mjs';

// The chaincode's own per-transaction logging is for operators who ask for it.
process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'ERROR';
ensureDependencies();
build();

const { ensureMongoServer, startMongo } = await import('./mongo.mjs');
const dataDir = path.resolve(process.env.DATA_DIR ?? path.join(ROOT, 'data'));
let mongo;
if (!process.env.MONGODB_URI) {
  await ensureMongoServer();
  mongo = await startMongo({ dataDir: path.join(dataDir, 'mongo'), port: Number(process.env.MONGO_PORT ?? 27017) });
  process.env.MONGODB_URI = mongo.uri;
  console.log(`› MongoDB-protocol server at ${mongo.uri} (data in ${path.join(dataDir, 'mongo')})`);
}

const require = createRequire(import.meta.url);
const { startPlatform } = require(path.join(ROOT, 'app', 'dist', 'server.js'));
const { DEMO_USERS, DEMO_PASSWORD } = require(path.join(ROOT, 'app', 'dist', 'services', 'demo.js'));
const demo = (process.env.DEMO ?? '1') !== '0';
const running = await startPlatform({ demo });
console.log(`\n✓ the platform is running at ${running.url}  (Ctrl-C to stop)`);
if (demo) {
  console.log(`  demo logins (password ${DEMO_PASSWORD}):`);
  for (const u of DEMO_USERS) console.log(`    ${u.username.padEnd(11)} ${u.role.padEnd(19)} ${u.orgId}`);
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log('\n› stopping…');
    await running.close();
    await mongo?.stop();
    process.exit(0);
  });
}
