#!/usr/bin/env node
// Backup and restore of the platform (app/src/backup/): the database, the embedded ledger, the uploads and the secrets.
//   npm run backup [-- --out FILE]                  while the platform runs (or not); FILE defaults to ./fund-backup-<time>.tar.gz
//   npm run restore -- FILE [--data DIR] [--force]   onto an empty data folder (DATA_DIR by default), the platform stopped
// The database is MONGODB_URI if set; otherwise the bundled server: the running one on MONGO_PORT for a backup (or, if
// none answers, one started on the data folder's mongo/), a new one on DIR/mongo for a restore.
// Exit codes: 0 done, 1 failed, 2 refused (bad arguments, an occupied target, a corrupt or truncated archive).
import path from 'node:path';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { ROOT, build, ensureDependencies } from './lib.mjs';

const [command, ...rest] = process.argv.slice(2);
const USAGE = 'usage: npm run backup [-- --out FILE]  |  npm run restore -- FILE [--data DIR] [--force]';
let args;
try {
  args = parseArgs({ args: rest, allowPositionals: true, options: { out: { type: 'string' }, data: { type: 'string' }, force: { type: 'boolean' } } });
  if (command === 'backup' && (args.positionals.length > 0 || args.values.data || args.values.force)) throw new Error('backup takes only --out FILE');
  if (command === 'restore' && (args.positionals.length !== 1 || args.values.out)) throw new Error('restore takes one archive, then --data DIR and --force');
  if (command !== 'backup' && command !== 'restore') throw new Error(`unknown command ${JSON.stringify(command)}`);
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(2);
}

process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'ERROR';
ensureDependencies();
build();
const require = createRequire(import.meta.url);
const { appConfig } = require(path.join(ROOT, 'app', 'dist', 'config.js'));
const { takeBackup, defaultBackupName, backupWorkFiles } = require(path.join(ROOT, 'app', 'dist', 'backup', 'backup.js'));
const { restoreBackup, restoreWorkFolder, RestoreRefused } = require(path.join(ROOT, 'app', 'dist', 'backup', 'restore.js'));
const { CorruptArchive } = require(path.join(ROOT, 'app', 'dist', 'backup', 'archive.js'));
const { connect } = require(path.join(ROOT, 'app', 'dist', 'backup', 'database-dump.js'));
const { startMongo } = await import('./mongo.mjs');

// Paths are the operator's: npm runs scripts in the project's folder and says where it was called from in INIT_CWD.
const here = (p) => path.resolve(process.env.INIT_CWD ?? process.cwd(), p);
const progress = (line) => console.error(line);

/** Ctrl-C or a stop: the work files go (a finished archive or restored folder is never half-written under its name). */
function onStop(cleanUp, note) {
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      cleanUp();
      console.error(`✗ stopped (${signal})${note ? `: ${note}` : ''}`);
      process.exit(1);
    });
  }
}
const started = Date.now();
const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

/** The database of the platform to back up: MONGODB_URI, the bundled server that answers on MONGO_PORT, or one started on its store. */
async function sourceDatabase(dataDir) {
  if (process.env.MONGODB_URI) return { uri: process.env.MONGODB_URI, close: async () => {} };
  const uri = `mongodb://127.0.0.1:${process.env.MONGO_PORT ?? 27017}`;
  const running = await connect(uri).then((c) => c.close().then(() => true), () => false);
  if (running) return { uri, close: async () => {} };
  const store = path.join(dataDir, 'mongo');
  if (!existsSync(store)) throw new Error(`no MongoDB answers at ${uri} and ${store} does not exist: set MONGODB_URI or MONGO_PORT to the platform's database`);
  progress(`› no MongoDB at ${uri}: starting the bundled server on ${store}`);
  const mongo = await startMongo({ dataDir: store, port: 0, quiet: true });
  return { uri: mongo.uri, close: () => mongo.stop() };
}

try {
  if (command === 'backup') {
    const config = appConfig();
    const out = here(args.values.out ?? defaultBackupName());
    const work = backupWorkFiles(out);
    onStop(() => {
      rmSync(work.staging, { recursive: true, force: true });
      rmSync(work.partial, { force: true });
    });
    const db = await sourceDatabase(config.dataDir);
    let manifest;
    try {
      manifest = await takeBackup({ config, mongodbUri: db.uri, out, progress });
    } finally {
      await db.close();
    }
    const docs = manifest.database.collections.reduce((n, c) => n + c.count, 0);
    console.log(`✓ backup ${out} (${seconds()}): ${manifest.ledger.channels.map((c) => `${c.channel} ${c.height} blocks`).join(', ')}; ${docs} documents in ${manifest.database.collections.length} collections; ${manifest.uploads.files} uploaded files`);
  } else {
    const dataDir = args.values.data ? here(args.values.data) : path.resolve(process.env.DATA_DIR ?? path.join(ROOT, 'data'));
    const config = appConfig({ ...process.env, DATA_DIR: dataDir });
    onStop(() => rmSync(restoreWorkFolder(config), { recursive: true, force: true }), `${dataDir} may be partly restored: remove it before restoring again`);
    const database = async () => {
      if (process.env.MONGODB_URI) return { uri: process.env.MONGODB_URI, close: async () => {} };
      const mongo = await startMongo({ dataDir: path.join(dataDir, 'mongo'), port: 0, quiet: true });
      return { uri: mongo.uri, close: () => mongo.stop() };
    };
    const manifest = await restoreBackup({ file: here(args.positionals[0]), config, force: args.values.force, database, progress });
    console.log(`✓ restored ${args.positionals[0]} into ${dataDir} (${seconds()}): ${manifest.ledger.channels.map((c) => `${c.channel} ${c.height} blocks`).join(', ')}, verified; start it with DATA_DIR=${dataDir} npm start`);
  }
} catch (err) {
  const refused = err instanceof CorruptArchive || err instanceof RestoreRefused;
  console.error(`✗ ${refused ? err.message : (err.stack ?? err.message)}`);
  process.exit(refused ? 2 : 1);
}
