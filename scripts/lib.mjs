// Shared by the project's scripts: run a command, and install npm dependencies when they are missing.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`\n✗ ${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
    process.exit(r.status ?? 1);
  }
}

/** `npm ci` when node_modules is absent or older than the lock file, so a fresh clone needs nothing else. */
export function ensureDependencies() {
  const installed = path.join(ROOT, 'node_modules', '.package-lock.json');
  const lock = path.join(ROOT, 'package-lock.json');
  if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(lock).mtimeMs) return;
  console.log('› installing npm dependencies (npm ci)…');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

/** Compile every TypeScript project (chaincode, app, tests) incrementally. */
export function build() {
  console.log('› compiling TypeScript (tsc -b)…');
  run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-b']);
}

/** Installs Debian packages (apt-get update first), as root or through sudo. */
export function aptInstall(packages) {
  const [cmd, ...pre] = process.getuid?.() === 0 ? ['apt-get'] : ['sudo', 'apt-get'];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run(cmd, [...pre, 'update', '-qq'], { env });
  run(cmd, [...pre, 'install', '-y', '-qq', '--no-install-recommends', ...packages], { env });
}

/** Debian's Chromium (and CJK fonts, so screenshots show Chinese) for the browser tests; never a downloaded browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export function ensureChromium() {
  if (existsSync(CHROMIUM)) return;
  console.log('› installing Debian chromium and CJK fonts for the browser tests (apt-get)…');
  aptInstall(['chromium', 'fonts-noto-cjk']);
}
