#!/usr/bin/env node
// Hyperledger Fabric's commands, built from source by the project (no Docker, no downloaded release tarball):
// peer, orderer, configtxgen, osnadmin and cryptogen from one pinned commit of the Fabric 2.5 LTS line into
// .tools/fabric/bin, the chaincode-as-a-service external builder (tools/ccaas-builder) into
// .tools/fabric/builders/ccaas/bin, and Fabric's sampleconfig into .tools/fabric/config. Built once; later runs find
// the stamp file (.tools/fabric/stamp.json) and return at once.
//   import { ensureFabricTools } from './fabric-tools.mjs'; const { bin, config, builder } = await ensureFabricTools();
//   node scripts/fabric-tools.mjs [--force]
//
// `go install github.com/hyperledger/fabric/cmd/peer@<version>` is tried first and is refused: the module proxy these
// machines reach answers 403 to Fabric's version list (which go install reads for deprecation notices), and were it
// served, go install refuses modules whose go.mod has a replace directive (Fabric's has one, for cespare/xxhash).
// So the module is fetched into the module cache with `go mod download` and built there as the main module, its own
// go.mod and go.sum pinning every dependency. The module zip has no vendor tree (module zips never carry one), hence
// -mod=readonly instead of Fabric's -mod=vendor.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, aptInstall } from './lib.mjs';

export const FABRIC_MODULE = 'github.com/hyperledger/fabric';
/**
 * Fabric's module path has no /v2 suffix, so its v2.x tags cannot be asked for by name (v2.5.0 and
 * v2.5.0+incompatible are both refused); a commit can, under its pseudo-version. This is the release-2.5 branch at
 * the v2.5.0 release (Makefile FABRIC_VER 2.5.0, release_notes/v2.5.0.md dated March 31, 2023). Later 2.5.x commits
 * were tried and are not served by the module proxy these machines reach (403 "This module version is not
 * available"); override with FABRIC_VERSION / FABRIC_RELEASE to try another.
 */
export const FABRIC_VERSION = process.env.FABRIC_VERSION ?? 'v1.4.0-rc1.0.20230401164317-bd8e24856939';
export const FABRIC_RELEASE = process.env.FABRIC_RELEASE ?? '2.5.0';
const FABRIC_COMMIT = FABRIC_VERSION.split('-').pop();

export const FABRIC_HOME = path.join(ROOT, '.tools', 'fabric');
export const FABRIC_BIN = path.join(FABRIC_HOME, 'bin');
/** Fabric's sampleconfig (core.yaml, orderer.yaml, configtx.yaml): the starting point of the generated configs. */
export const FABRIC_CONFIG = path.join(FABRIC_HOME, 'config');
/** An external builder directory as core.yaml's chaincode.externalBuilders wants it: <path>/bin/{detect,build,release}. */
export const CCAAS_BUILDER = path.join(FABRIC_HOME, 'builders', 'ccaas');
const STAMP = path.join(FABRIC_HOME, 'stamp.json');
const CCAAS_SOURCES = path.join(ROOT, 'tools', 'ccaas-builder');

export const FABRIC_COMMANDS = ['peer', 'orderer', 'configtxgen', 'osnadmin', 'cryptogen'];
const SAMPLE_CONFIGS = ['core.yaml', 'orderer.yaml', 'configtx.yaml'];
const CCAAS_PHASES = ['detect', 'build', 'release'];

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** The go command: on PATH, or where the official tarball puts it; Debian's golang-go as the last resort. */
function findGo() {
  if (process.env.GO) return process.env.GO;
  if (has('go')) return 'go';
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  console.log('› go not found: installing golang-go with apt-get…');
  aptInstall(['golang-go']);
  return 'go';
}

/**
 * Runs a command, streaming its output (unless quiet) and keeping it for the error message.
 * @returns {Promise<string>} combined output
 */
function exec(cmd, args, { quiet = false, ...opts } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8').on('data', (chunk) => {
        output += chunk;
        if (!quiet) process.stderr.write(chunk);
      });
    }
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) return resolve(output);
      const err = new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}${output.trim() ? `:\n${output.trim()}` : ''}`);
      err.output = output;
      reject(err);
    });
  });
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(STAMP, 'utf8'));
  } catch {
    return undefined;
  }
}

function installed() {
  const stamp = readStamp();
  return (
    stamp?.module === FABRIC_MODULE &&
    stamp.version === FABRIC_VERSION &&
    FABRIC_COMMANDS.every((c) => existsSync(path.join(FABRIC_BIN, c))) &&
    SAMPLE_CONFIGS.every((f) => existsSync(path.join(FABRIC_CONFIG, f)))
  );
}

function newestMtime(p) {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(p).map((name) => newestMtime(path.join(p, name))));
}

const ccaasBuilderStale = () =>
  !CCAAS_PHASES.every((p) => existsSync(path.join(CCAAS_BUILDER, 'bin', p)) && statSync(path.join(CCAAS_BUILDER, 'bin', p)).mtimeMs >= newestMtime(CCAAS_SOURCES));

/**
 * The external builder for chaincode as a service (tools/ccaas-builder, standard library only): the project's own,
 * because Fabric's (ccaas_builder/ in its repository) is a separate Go module the module proxy does not serve.
 * One program, installed as bin/detect, bin/build and bin/release.
 */
async function buildCcaasBuilder(go, { quiet = false } = {}) {
  const out = path.join(FABRIC_HOME, `ccaas-${process.pid}`);
  mkdirSync(out, { recursive: true });
  try {
    await exec(go, ['build', '-trimpath', '-o', path.join(out, 'ccaas'), '.'], { cwd: CCAAS_SOURCES, env: { ...process.env, GOWORK: 'off', GOFLAGS: '-buildvcs=false' }, quiet });
    mkdirSync(path.join(CCAAS_BUILDER, 'bin'), { recursive: true });
    for (const phase of CCAAS_PHASES) {
      const tmp = path.join(out, phase);
      copyFileSync(path.join(out, 'ccaas'), tmp);
      chmodSync(tmp, 0o755);
      renameSync(tmp, path.join(CCAAS_BUILDER, 'bin', phase)); // a peer may be running the old one
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** The build runs below the benchmark's priority when `nice` exists: it is the only heavy thing this script does. */
const niced = (cmd, args) => (has('nice') ? ['nice', ['-n', '10', cmd, ...args]] : [cmd, args]);

/**
 * Builds the Fabric commands and the ccaas builder when the stamp does not match; returns where they are.
 * @returns {Promise<{ bin: string, config: string, builder: string, version: string, commit: string, release: string }>}
 */
export async function ensureFabricTools({ force = false, quiet = false } = {}) {
  const result = { bin: FABRIC_BIN, config: FABRIC_CONFIG, builder: CCAAS_BUILDER, version: FABRIC_VERSION, commit: FABRIC_COMMIT, release: FABRIC_RELEASE };
  const log = quiet ? () => {} : (line) => console.log(line);
  if (force || ccaasBuilderStale()) {
    log('› building the chaincode-as-a-service builder (tools/ccaas-builder)…');
    await buildCcaasBuilder(findGo(), { quiet });
  }
  if (!force && installed()) return result;
  const go = findGo();
  const started = Date.now();
  const env = { ...process.env, GOWORK: 'off', GOFLAGS: '-buildvcs=false', GO111MODULE: 'on' };
  mkdirSync(FABRIC_HOME, { recursive: true });
  // Built aside, then moved into place, so a failed or concurrent build never leaves half a bin folder.
  const out = path.join(FABRIC_HOME, `build-${process.pid}`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const notes = [];
  try {
    log(`› building Hyperledger Fabric ${FABRIC_RELEASE} (${FABRIC_MODULE}@${FABRIC_VERSION}) into .tools/fabric/bin; a first build takes several minutes…`);
    const pkgs = FABRIC_COMMANDS.map((c) => `${FABRIC_MODULE}/cmd/${c}`);
    const ldflags = [
      `-X ${FABRIC_MODULE}/common/metadata.Version=${FABRIC_RELEASE}`,
      `-X ${FABRIC_MODULE}/common/metadata.CommitSHA=${FABRIC_COMMIT}`,
    ];
    let installedDirectly = false;
    try {
      await exec(go, ['install', `-ldflags=${ldflags.join(' ')}`, ...pkgs.map((p) => `${p}@${FABRIC_VERSION}`)], { env: { ...env, GOBIN: out }, quiet: true });
      installedDirectly = true;
      notes.push('go install pkg@version');
    } catch (err) {
      const why = (err.output ?? err.message).trim().split('\n')[0];
      log(`  go install …@${FABRIC_VERSION} refused (${why}); falling back to go mod download + go build from the module cache`);
      notes.push(`go install refused: ${why}`);
    }
    let moduleDir;
    {
      const info = JSON.parse(await exec(go, ['mod', 'download', '-json', `${FABRIC_MODULE}@${FABRIC_VERSION}`], { env, quiet: true }));
      if (info.Error) throw new Error(`go mod download ${FABRIC_MODULE}@${FABRIC_VERSION}: ${info.Error}`);
      moduleDir = info.Dir;
    }
    if (!installedDirectly) {
      notes.push('built with go mod download + go build -mod=readonly in the module cache');
      // Every dependency at the version Fabric's go.sum pins; the proxy serves these by exact version.
      await exec(go, ['mod', 'download'], { cwd: moduleDir, env, quiet: true });
      const build = async (extraLd = []) => {
        const [cmd, args] = niced(go, ['build', '-mod=readonly', '-trimpath', `-ldflags=${[...ldflags, ...extraLd].join(' ')}`, '-o', out + path.sep, ...pkgs.map((p) => `./${path.relative(FABRIC_MODULE, p)}`)]);
        return exec(cmd, args, { cwd: moduleDir, env, quiet });
      };
      try {
        await build();
      } catch (err) {
        // Go 1.23+ refuses old dependencies that //go:linkname into the runtime; this flag is the documented remedy.
        if (!/linkname/.test(err.output ?? '')) throw err;
        log('  the linker refused a //go:linkname; building again with -checklinkname=0');
        notes.push('-ldflags=-checklinkname=0');
        await build(['-checklinkname=0']);
      }
    }
    // Into place.
    mkdirSync(FABRIC_BIN, { recursive: true });
    for (const c of FABRIC_COMMANDS) renameSync(path.join(out, c), path.join(FABRIC_BIN, c));
    mkdirSync(FABRIC_CONFIG, { recursive: true });
    for (const f of SAMPLE_CONFIGS) {
      const target = path.join(FABRIC_CONFIG, f);
      rmSync(target, { force: true });
      copyFileSync(path.join(moduleDir, 'sampleconfig', f), target);
      chmodSync(target, 0o644); // the module cache is read-only
    }
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    const goVersion = spawnSync(go, ['version'], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(
      STAMP,
      JSON.stringify({ module: FABRIC_MODULE, version: FABRIC_VERSION, commit: FABRIC_COMMIT, release: FABRIC_RELEASE, go: goVersion, commands: FABRIC_COMMANDS, how: notes, seconds, builtAt: new Date().toISOString() }, null, 2) + '\n',
    );
    log(`› Fabric tools ready in ${seconds} s (${goVersion}): ${FABRIC_COMMANDS.join(', ')} + ccaas builder`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return result;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const force = process.argv.includes('--force');
  ensureFabricTools({ force })
    .then((r) => {
      const stamp = readStamp();
      console.log(`Fabric ${r.release} @ ${r.commit} (${r.version})`);
      console.log(`  bin:     ${path.relative(ROOT, r.bin)}  (${FABRIC_COMMANDS.join(', ')})`);
      console.log(`  builder: ${path.relative(ROOT, r.builder)}/bin/{${CCAAS_PHASES.join(',')}}`);
      console.log(`  config:  ${path.relative(ROOT, r.config)}  (${SAMPLE_CONFIGS.join(', ')})`);
      if (stamp) console.log(`  built:   ${stamp.builtAt} in ${stamp.seconds} s with ${stamp.go}; ${stamp.how.join('; ')}`);
    })
    .catch((err) => {
      console.error(`✗ ${err.message}`);
      process.exit(1);
    });
}
