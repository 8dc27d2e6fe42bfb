#!/usr/bin/env node
// The platform's MongoDB: mongo-java-server (tools/mongo-server) speaking the MongoDB wire protocol,
// with its data in one H2 MVStore file, because a real mongod cannot be installed on these machines.
//   import { startMongo } from './mongo.mjs'; const mongo = await startMongo({ port: 0 }); … await mongo.stop();
//   node scripts/mongo.mjs [--port 27017] [--data data/mongo | --memory]   (foreground, Ctrl-C to stop)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, aptInstall } from './lib.mjs';

const SOURCES = path.join(ROOT, 'tools', 'mongo-server');
export const MONGO_JAR = path.join(ROOT, '.tools', 'mongo-server', 'mongo-server.jar');
export const DEFAULT_DATA_DIR = path.join(ROOT, 'data', 'mongo');
const READY_TIMEOUT_MS = 60_000; // a cold JVM starts in under a second; opening a large store takes longer
const KILL_AFTER_MS = 10_000; // the server compacts its store for at most 2 s on shutdown

function newestMtime(p) {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(p).map((name) => newestMtime(path.join(p, name))));
}

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** Runs a command; with `capture`, its output is shown only if it fails (Maven 3.8 prints stray colour codes even with -q). */
function exec(cmd, args, { capture = false, ...opts } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit', ...opts });
    let output = '';
    if (capture) for (const stream of [child.stdout, child.stderr]) stream.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) return resolve();
      const shown = output.replace(/\x1b\[[0-9;]*m/g, '').trim();
      reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}${shown ? `:\n${shown}` : ''}`));
    });
  });
}

/** A fresh machine may lack a JDK and Maven; Debian's packages are enough (Java 17, Maven 3.8). */
function ensureJdk() {
  const missing = ['java', 'javac', 'mvn'].filter((c) => !has(c));
  if (missing.length === 0) return;
  // Announced even when quiet: it installs system packages.
  console.log(`› ${missing.join(', ')} not found: installing default-jdk-headless and maven with apt-get…`);
  aptInstall(['default-jdk-headless', 'maven']);
}

/** Builds .tools/mongo-server/mongo-server.jar when it is missing or older than its sources; returns its path. */
export async function ensureMongoServer({ quiet = false } = {}) {
  const log = quiet ? () => {} : (line) => console.log(line);
  if (existsSync(MONGO_JAR) && statSync(MONGO_JAR).mtimeMs >= newestMtime(SOURCES) && has('java')) return MONGO_JAR;
  ensureJdk();
  if (existsSync(MONGO_JAR) && statSync(MONGO_JAR).mtimeMs >= newestMtime(SOURCES)) return MONGO_JAR;
  // The first build downloads mongo-java-server, H2 and Netty from Maven Central into ~/.m2 (about 20 s).
  log('› building the MongoDB server (tools/mongo-server, mvn package)…');
  // Built aside, then renamed into place: servers already running keep their (old) jar open, and two
  // processes building at once do not write into each other's output.
  const out = path.join(path.dirname(MONGO_JAR), `build-${process.pid}`);
  try {
    await exec('mvn', ['-q', '-B', '-f', path.join(SOURCES, 'pom.xml'), `-Dout=${out}`, 'package'], { capture: true });
    renameSync(path.join(out, 'mongo-server.jar'), MONGO_JAR);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return MONGO_JAR;
}

/** '2g' / '768m' → megabytes; undefined for anything else. */
function megabytes(size) {
  const m = /^(\d+)([mg])$/i.exec(String(size));
  return m ? Number(m[1]) * (m[2].toLowerCase() === 'g' ? 1024 : 1) : undefined;
}

/**
 * Starts the server and resolves once it accepts connections.
 * dataDir: where the store lives (default data/mongo); memory: keep nothing on disk (tests);
 * heap: the JVM's -Xmx (MONGO_HEAP, default 2g), a quarter of which is the store's page cache;
 * port: 0 picks a free one. stop() shuts it down cleanly (the store is committed and closed).
 * exited resolves if the server ends for any reason (a crash included).
 * @returns {Promise<{ uri: string, port: number, pid: number, stop(): Promise<void>, exited: Promise<{ code: number | null, signal: string | null }> }>}
 */
export async function startMongo({ dataDir = DEFAULT_DATA_DIR, memory = false, port = 27017, bind = '127.0.0.1', quiet = false, heap = process.env.MONGO_HEAP ?? '2g' } = {}) {
  const heapMb = megabytes(heap);
  if (!heapMb) throw new Error(`MONGO_HEAP must be a size such as 2g or 768m, not ${JSON.stringify(heap)}`);
  const jar = await ensureMongoServer({ quiet });
  // MONGO_SERVER_LOG=debug|info|error…: the server's own logging (warnings only by default, rejected commands silent)
  const level = process.env.MONGO_SERVER_LOG;
  const args = [
    // G1: the serial collector's full collections stopped the server for 0.3–0.6 s with 10,000 projects (one page in
    // twenty after a new block waited for one); G1 collects the old generation concurrently, in short pauses.
    `-Xmx${heap}`, '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=50',
    ...(level ? [`-Dorg.slf4j.simpleLogger.defaultLogLevel=${level}`, `-Dorg.slf4j.simpleLogger.log.de.bwaldvogel.mongo.wire.MongoWireProtocolHandler=${level}`] : []),
    '-jar', jar, '--port', String(port), '--bind', bind,
    // A quarter of the heap for the store's page cache: a scan of pages that fell out of it reads and deserializes
    // them again (with 10,000 projects, 64 MB made a dashboard recompute take 1–3 s instead of ~120 ms).
    ...(memory ? ['--memory'] : ['--data', path.resolve(dataDir), '--cache-mb', String(Math.max(16, Math.floor(heapMb / 4)))]),
    '--watch-stdin', // the server exits when this process dies and the pipe closes: no orphans holding the port
  ];
  const child = spawn('java', args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const stderrTail = [];
  let stderrBuf = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    if (!quiet) process.stderr.write(chunk.replace(/^(?=.)/gm, '[mongo] '));
    const lines = (stderrBuf + chunk).split('\n');
    stderrBuf = lines.pop();
    stderrTail.push(...lines);
    stderrTail.splice(0, Math.max(0, stderrTail.length - 20));
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

  const actualPort = await new Promise((resolve, reject) => {
    let out = '';
    let settled = false;
    const fail = (why) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      const tail = [...stderrTail, stderrBuf].filter(Boolean).slice(-20).join('\n  ');
      reject(new Error(`mongo server (${jar}) ${why}${tail ? `; its last stderr lines:\n  ${tail}` : ' (no stderr output)'}`));
    };
    const timer = setTimeout(() => fail(`did not report ready within ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS);
    child.on('error', (err) => fail(`could not be started: ${err.message}`));
    exited.then(({ code, signal }) => fail(`exited with ${code ?? signal} before it was ready`));
    child.stdout.setEncoding('utf8').on('data', function onData(chunk) {
      out += chunk;
      const m = /^ready (\S+):(\d+)$/m.exec(out);
      if (!m || settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stdout.resume(); // keep draining: a full pipe would block the server
      resolve(Number(m[2]));
    });
  });

  let stopping;
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
      child.kill('SIGTERM'); // the JVM's shutdown hook commits and closes the store
      const { code, signal } = await exited;
      clearTimeout(timer);
      // 143 = 128 + SIGTERM: the normal exit status of a JVM stopped by SIGTERM. 130 = 128 + SIGINT: Ctrl-C in the
      // terminal reaches the whole foreground process group, so the server has often stopped (cleanly, through its
      // shutdown hook) before `npm start` asks it to.
      if (signal === 'SIGKILL') throw new Error(`mongo server did not stop within ${KILL_AFTER_MS / 1000} s and was killed`);
      if (code !== 0 && code !== 143 && code !== 130 && signal !== 'SIGTERM' && signal !== 'SIGINT') throw new Error(`mongo server exited with ${code ?? signal}`);
    })();
    return stopping;
  };
  const host = bind === '0.0.0.0' ? '127.0.0.1' : bind; // listening everywhere, reachable locally
  return { uri: `mongodb://${host}:${actualPort}`, port: actualPort, pid: child.pid, stop, exited };
}

// Run directly: the server in the foreground until Ctrl-C.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const opt = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const mongo = await startMongo({
    port: Number(opt('--port') ?? process.env.MONGO_PORT ?? 27017),
    dataDir: opt('--data') ?? DEFAULT_DATA_DIR,
    memory: argv.includes('--memory'),
  });
  console.log(`› MongoDB (mongo-java-server) at ${mongo.uri} (Ctrl-C to stop)`);
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      stopping = true;
      mongo.stop().then(() => process.exit(0), (err) => { console.error(err.message); process.exit(1); });
    });
  }
  const { code, signal } = await mongo.exited;
  if (!stopping) {
    console.error(`✗ mongo server ended unexpectedly (${code ?? signal})`);
    process.exit(1);
  }
}
