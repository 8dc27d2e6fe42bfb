/**
 * The backup archive: one tar.gz (node-tar) whose first member is manifest.json, then the members it
 * lists, each with its size and SHA-256. A backup is first laid out in a staging folder, so the archive
 * is a plain tar of finished files; a restore reads the whole archive once against its manifest before
 * it writes anything, and only then extracts it.
 *
 *   manifest.json
 *   ledger/msp/<mspId>.json                 the organisations' CAs (keys included)
 *   ledger/<channel>/blocks/blocks.dat      each channel's blocks up to the height in the manifest
 *   ledger/orderer/…                        the CBFT replicas' identities and logs (ORDERER=cbft)
 *   database/<collection>.jsonl             one document per line, canonical Extended JSON
 *   uploads/…                               the uploaded files, named by their SHA-256
 *   secrets.json                            the session secret and the wallet key
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import * as tar from 'tar';

export const MANIFEST = 'manifest.json';
export const FORMAT = 'fund-platform-backup';

export interface MemberDigest {
  size: number;
  sha256: string;
}

export interface IndexSpec {
  key: Record<string, unknown>;
  options: Record<string, unknown>;
}

export interface Manifest {
  format: typeof FORMAT;
  version: 1;
  createdAt: string;
  ledger: {
    /** In the order their heights were recorded: the sets first, the routing channel last. */
    channels: Array<{ channel: string; height: number; lastHash: string; bytes: number }>;
    msp: string[];
    /** Whether the CBFT ordering service's folder (identities, replica logs) is included. */
    orderer: boolean;
  };
  database: {
    /** The database the platform used (its name in MONGODB_URI, else the driver's default). */
    name: string;
    /** In the order they were read: the projections' checkpoints first. */
    collections: Array<{ name: string; file: string; count: number; indexes: IndexSpec[] }>;
  };
  uploads: { files: number; bytes: number };
  secrets: {
    /** Whether <DATA_DIR>/secrets.json is included. */
    file: boolean;
    /** Secrets the source platform took from its environment, which no archive holds: the restored one needs them too. */
    fromEnvironment: string[];
  };
  /** Every other member of the archive: path (with '/') → size and SHA-256. */
  members: Record<string, MemberDigest>;
}

/** Progress lines for the operator; long loops report through meter(). */
export type Progress = (line: string) => void;

/** Reports `done of total` for `label` once a second while it lasts, and at the end. */
export function meter(progress: Progress, label: string, total: number, unit: string): (done: number, end?: boolean) => void {
  let last = Date.now();
  return (done, end = done === total) => {
    const now = Date.now();
    if (!end && now - last < 1000) return;
    last = now;
    const amount = unit === 'bytes' ? `${mb(done)} of ${mb(total)} MB` : `${done.toLocaleString('en')} of ${total.toLocaleString('en')} ${unit}`;
    progress(`  ${label}: ${amount}${end ? '' : ` (${Math.floor((done / total) * 100)} %)`}`);
  };
}

export function mb(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

/** Files under `dir` (relative, '/'-separated, sorted), leaving out temporary files an atomic write had not yet renamed. */
export async function filesUnder(dir: string, rel = ''): Promise<string[]> {
  const entries = await readdir(path.join(dir, rel), { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const found: string[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const name = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) found.push(...(await filesUnder(dir, name)));
    else if (e.isFile() && !e.name.endsWith('.tmp')) found.push(name);
  }
  return found;
}

/**
 * Copies the files under `from` into `to` (temporary files left out). Hard links where both are on one file
 * system and `linkable` (files that are never rewritten, such as uploads named by their content), else copies.
 */
export async function copyTree(from: string, to: string, { linkable = false, progress }: { linkable?: boolean; progress?: Progress } = {}): Promise<{ files: number; bytes: number }> {
  const files = await filesUnder(from);
  const tick = progress ? meter(progress, path.basename(from), files.length, 'files') : () => {};
  let bytes = 0;
  for (const [i, rel] of files.entries()) {
    const target = path.join(to, rel);
    await mkdir(path.dirname(target), { recursive: true });
    const source = path.join(from, rel);
    if (!linkable || !(await link(source, target).then(() => true, () => false))) await copyFile(source, target);
    bytes += (await stat(target)).size;
    tick(i + 1);
  }
  return { files: files.length, bytes };
}

export async function sha256File(file: string): Promise<MemberDigest> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex') };
}

/** Writes manifest.json (with every staged member's digest) into `staging`, then the archive to `out` (mode 0600: it holds keys). */
export async function packArchive(staging: string, manifest: Omit<Manifest, 'members'>, out: string, progress: Progress): Promise<Manifest> {
  const members: Record<string, MemberDigest> = {};
  const files = (await filesUnder(staging)).filter((f) => f !== MANIFEST);
  const tick = meter(progress, 'checksums', files.length, 'files');
  for (const [i, rel] of files.entries()) {
    members[rel] = await sha256File(path.join(staging, rel));
    tick(i + 1);
  }
  const full: Manifest = { ...manifest, members };
  await writeFile(path.join(staging, MANIFEST), JSON.stringify(full, null, 2));
  progress(`› writing ${out}…`);
  // The manifest first, so a restore knows what to expect before the members arrive.
  const top = [MANIFEST, ...new Set(files.map((f) => f.split('/')[0]))];
  await new Promise<void>((resolve, reject) => {
    const pack = tar.c({ gzip: true, cwd: staging, portable: true, strict: true }, top);
    const output = createWriteStream(out, { mode: 0o600 });
    pack.on('error', reject);
    output.on('error', reject);
    output.on('finish', () => resolve());
    pack.pipe(output);
  });
  return full;
}

/** A member's path as the manifest may name it: relative, '/'-separated, no '..' or empty segment. */
function safeMemberPath(p: string): boolean {
  return p.length > 0 && !p.startsWith('/') && !p.includes('\\') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

export class CorruptArchive extends Error {
  override name = 'CorruptArchive';
}

/**
 * Reads the whole archive and checks it against its manifest: every member present with its size and SHA-256,
 * nothing else in it, only plain files and folders. Writes nothing. Throws CorruptArchive saying what is wrong.
 */
export async function verifyArchive(file: string, progress: Progress): Promise<Manifest> {
  const total = (await stat(file).catch((err: Error) => {
    throw new CorruptArchive(`cannot read the backup ${file}: ${err.message}`);
  })).size;
  let manifestText: string | undefined;
  let first = true;
  const seen = new Map<string, Promise<MemberDigest>>();
  const problems: string[] = [];
  let read = 0;
  const tick = meter(progress, 'checking the archive', total, 'bytes');
  try {
    const parser = tar.t({
      strict: true,
      onReadEntry: (entry) => {
        const name = entry.path.replace(/\/$/, '');
        if (first && name !== MANIFEST) problems.push(`the first member is ${name}, not ${MANIFEST}: not a backup of this platform`);
        first = false;
        if (entry.type === 'Directory') return entry.resume();
        if (entry.type !== 'File') {
          problems.push(`${name}: a ${entry.type}, not a file`);
          return entry.resume();
        }
        if (name === MANIFEST) {
          const chunks: Buffer[] = [];
          entry.on('data', (c: Buffer) => chunks.push(c));
          entry.on('end', () => (manifestText = Buffer.concat(chunks).toString('utf8')));
          return;
        }
        const hash = createHash('sha256');
        let size = 0;
        entry.on('data', (c: Buffer) => {
          hash.update(c);
          size += c.length;
        });
        seen.set(name, new Promise((resolve) => entry.on('end', () => resolve({ size, sha256: hash.digest('hex') }))));
      },
    });
    // node-tar's parser is a minipass stream, not a node one: piped by hand, done at its 'end'.
    await new Promise<void>((resolve, reject) => {
      const input = createReadStream(file);
      input.on('data', (chunk) => tick((read += chunk.length)));
      input.on('error', reject);
      parser.on('error', reject);
      parser.on('end', () => resolve());
      input.pipe(parser);
    });
  } catch (err) {
    throw new CorruptArchive(`the backup ${file} is corrupt or truncated (${(err as Error).message}); nothing was restored`);
  }
  if (manifestText === undefined) throw new CorruptArchive(`the backup ${file} has no ${MANIFEST}${problems.length ? ` (${problems[0]})` : ''}: not a backup of this platform, or truncated; nothing was restored`);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(manifestText) as Manifest;
  } catch (err) {
    throw new CorruptArchive(`the backup ${file} has an unreadable ${MANIFEST} (${(err as Error).message}); nothing was restored`);
  }
  if (manifest.format !== FORMAT || manifest.version !== 1 || typeof manifest.members !== 'object') throw new CorruptArchive(`${file} is not a backup of this platform (format ${JSON.stringify(manifest.format)}, version ${JSON.stringify(manifest.version)}); nothing was restored`);
  for (const [name, want] of Object.entries(manifest.members)) {
    if (!safeMemberPath(name)) {
      problems.push(`the manifest names an unsafe path ${JSON.stringify(name)}`);
      continue;
    }
    const got = await seen.get(name);
    if (!got) problems.push(`${name}: missing from the archive`);
    else if (got.size !== want.size) problems.push(`${name}: ${got.size} bytes, the manifest says ${want.size}`);
    else if (got.sha256 !== want.sha256) problems.push(`${name}: SHA-256 ${got.sha256.slice(0, 16)}…, the manifest says ${want.sha256.slice(0, 16)}…`);
  }
  for (const name of seen.keys()) if (!(name in manifest.members)) problems.push(`${name}: in the archive but not in the manifest`);
  // What the restore will read must be among the members checked above.
  const named = [...(manifest.ledger?.channels ?? []).map((c) => `ledger/${c.channel}/blocks/blocks.dat`), ...(manifest.database?.collections ?? []).map((c) => `database/${c.file}`)];
  for (const name of named) if (!(name in manifest.members)) problems.push(`the manifest names ${name} but lists no such member`);
  if (problems.length > 0) {
    const shown = problems.slice(0, 10).map((p) => `\n  - ${p}`).join('');
    throw new CorruptArchive(`the backup ${file} does not match its manifest (${problems.length} problem(s)); nothing was restored:${shown}`);
  }
  return manifest;
}

/** Extracts a verified archive into `dir` (which must exist): plain files and folders only, no path outside it. */
export async function extractArchive(file: string, dir: string): Promise<void> {
  await tar.x({ file, cwd: dir, strict: true, preservePaths: false, filter: (_p, entry) => 'type' in entry && (entry.type === 'File' || entry.type === 'Directory') });
}
