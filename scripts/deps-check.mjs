#!/usr/bin/env node
// `npm run deps-check [-- name ...]`: every package version in package-lock.json asked of the npm registry for its
// `deprecated` notice (the stand-in for `npm audit` where the audit service cannot be reached); names given restrict
// the check to those packages. Prints each deprecated version with its notice and what requires it.
// Exit codes: 0 nothing deprecated, 1 deprecated versions found, 2 some packages could not be checked,
// 3 the registry does not pass deprecation notices on, so the check cannot vouch for anything.
//   The registry is npm's own setting (`npm config get registry`, or npm_config_registry under `npm run`). Some
//   registry proxies serve package documents without their `deprecated` fields: before anything else the check asks
//   for inflight@1.0.6, deprecated on the public registry for good, and refuses to report "nothing deprecated" if the
//   notice does not come back.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './lib.mjs';

const CANARY = { name: 'inflight', version: '1.0.6' };
const CONCURRENCY = 8;
const only = new Set(process.argv.slice(2));

const registry = (process.env.npm_config_registry || spawnSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).stdout.trim()).replace(/\/?$/, '/');
if (!/^https?:\/\//.test(registry)) {
  console.error(`✗ npm names no registry (npm config get registry answered ${JSON.stringify(registry)})`);
  process.exit(2);
}

/** name → { versions: Map<version, lockfile paths>, dev } from the lockfile (workspace links left out). */
function lockedPackages() {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  const found = new Map();
  for (const [where, entry] of Object.entries(lock.packages ?? {})) {
    const at = where.lastIndexOf('node_modules/');
    if (at < 0 || entry.link || !entry.version) continue;
    const name = entry.name ?? where.slice(at + 'node_modules/'.length); // `name` is set for an aliased package
    if (only.size > 0 && !only.has(name)) continue;
    const pkg = found.get(name) ?? { versions: new Map() };
    pkg.versions.set(entry.version, [...(pkg.versions.get(entry.version) ?? []), where]);
    found.set(name, pkg);
  }
  return { lock, found };
}

/** What requires a package in the lockfile: the entries that declare it as a dependency. */
function requiredBy(lock, name) {
  return Object.entries(lock.packages)
    .filter(([, e]) => ({ ...e.dependencies, ...e.optionalDependencies, ...e.devDependencies })[name] !== undefined)
    .map(([where, e]) => (where === '' ? 'the project' : `${e.name ?? where.slice(where.lastIndexOf('node_modules/') + 13)}@${e.version ?? '(workspace)'}`));
}

/** The registry's abbreviated package document: versions with their `deprecated` notices. */
async function packument(name) {
  const url = registry + name.replace('/', '%2f');
  const res = await fetch(url, { headers: { accept: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8' }, signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`${res.status} ${res.statusText} from ${url}`);
  return res.json();
}

const canary = await packument(CANARY.name).catch((err) => {
  console.error(`✗ cannot ask the registry ${registry}: ${err.message}`);
  process.exit(2);
});
if (typeof canary.versions?.[CANARY.version]?.deprecated !== 'string') {
  console.error(`✗ the registry ${registry} does not pass deprecation notices on: ${CANARY.name}@${CANARY.version}, deprecated on the public npm registry, comes back without its notice.`);
  console.error('  This check cannot tell deprecated versions from others here; run it (or npm audit) where the public registry is reachable.');
  process.exit(3);
}

const { lock, found } = lockedPackages();
const names = [...found.keys()].sort();
const deprecated = [];
const failed = [];
let done = 0;
let last = Date.now();
async function worker() {
  for (let name = names.shift(); name !== undefined; name = names.shift()) {
    try {
      const doc = await packument(name);
      for (const [version, where] of found.get(name).versions) {
        const notice = doc.versions?.[version]?.deprecated;
        if (notice) deprecated.push({ name, version, notice, where });
      }
    } catch (err) {
      failed.push(`${name}: ${err.message}`);
    }
    if (++done === found.size || Date.now() - last > 2000) {
      last = Date.now();
      console.error(`  ${done} of ${found.size} packages checked`);
    }
  }
}
console.error(`› asking ${registry} about ${found.size} packages (${[...found.values()].reduce((n, p) => n + p.versions.size, 0)} versions) in package-lock.json…`);
await Promise.all(Array.from({ length: CONCURRENCY }, worker));

deprecated.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
for (const d of deprecated) {
  console.log(`deprecated ${d.name}@${d.version}: ${d.notice}`);
  console.log(`  required by ${requiredBy(lock, d.name).join(', ') || '(nothing: an orphan in the lockfile)'}`);
}
for (const f of failed) console.log(`not checked ${f}`);
console.log(`${deprecated.length} deprecated version(s), ${failed.length} package(s) not checked, of ${found.size} packages in package-lock.json`);
process.exit(failed.length > 0 ? 2 : deprecated.length > 0 ? 1 : 0);
