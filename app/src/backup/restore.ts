/**
 * `npm run restore -- FILE [--data DIR] [--force]`: a backup onto an empty data folder and database.
 * In order: refuse an occupied target (unless --force, which moves it aside instead of deleting it);
 * read the whole archive against its manifest (nothing is written before it passes); extract it beside
 * the data folder and move the ledger, uploads and secrets into place; rebuild and verify every channel
 * (ledger-snapshot.ts); load the database. The platform must be stopped.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';
import type { AppConfig } from '../config';
import { extractArchive, verifyArchive, type Manifest, type Progress } from './archive';
import { connect, nonEmptyCollections, redact, restoreDatabase } from './database-dump';
import { rebuildLedger } from './ledger-snapshot';

export interface RestoreOptions {
  file: string;
  /** The restored platform's configuration: its DATA_DIR (and LEDGER_DATA_DIR, UPLOAD_DIR if set). */
  config: AppConfig;
  /** Move an occupied target aside (<dir>.before-restore-<time>) and replace the collections in the database. */
  force?: boolean;
  /**
   * The target database, opened only once the folders are known to be free and the archive sound (the bundled
   * server keeps its store inside the data folder).
   */
  database: () => Promise<{ uri: string; close(): Promise<void> }>;
  progress?: Progress;
}

/** A target that is not empty, refused without --force: nothing was written. */
export class RestoreRefused extends Error {
  override name = 'RestoreRefused';
}

export async function restoreBackup({ file, config, force = false, database, progress = () => {} }: RestoreOptions): Promise<Manifest> {
  const targets = { data: config.dataDir, ledger: config.ledger.dataDir, uploads: config.uploadDir };
  const occupied: string[] = [];
  for (const dir of new Set(Object.values(targets))) {
    const entries = await readdir(dir).catch(() => [] as string[]);
    if (entries.length > 0 && !occupied.some((o) => isInside(dir, o))) occupied.push(dir);
  }
  if (occupied.length > 0 && !force) {
    throw new RestoreRefused(`${occupied.join(' and ')} ${occupied.length > 1 ? 'are' : 'is'} not empty: restore onto an empty data folder (--data DIR), or give --force to move what is there aside first; nothing was written`);
  }
  progress(`› checking ${file} against its manifest…`);
  const manifest = await verifyArchive(file, progress);
  progress(`  sound: ${Object.keys(manifest.members).length} members, taken ${manifest.createdAt}`);

  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  for (const dir of occupied) {
    const aside = `${dir}.before-restore-${stamp}`;
    await rename(dir, aside);
    progress(`  --force: moved ${dir} aside to ${aside}`);
  }

  const target = await database();
  const client = await connect(target.uri);
  const staging = restoreWorkFolder(config);
  try {
    const taken = await nonEmptyCollections(client);
    if (taken.length > 0 && !force) throw new RestoreRefused(`the database at ${redact(target.uri)} already holds documents in ${taken.join(', ')}: restore into an empty database, or give --force to replace those collections; nothing was restored`);
    progress('› extracting…');
    await rm(staging, { recursive: true, force: true }); // left over by a restore that was killed
    await mkdir(staging, { recursive: true, mode: 0o700 });
    await extractArchive(file, staging);
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    await moveInto(path.join(staging, 'ledger'), targets.ledger);
    await moveInto(path.join(staging, 'uploads'), targets.uploads);
    if (manifest.secrets.file) await moveInto(path.join(staging, 'secrets.json'), path.join(config.dataDir, 'secrets.json'));
    await rebuildLedger(targets.ledger, manifest.ledger, progress);
    await restoreDatabase(client, path.join(staging, 'database'), manifest.database, force, progress);
    for (const k of manifest.secrets.fromEnvironment) progress(`  note: the backed-up platform took ${k} from its environment: start this one with the same ${k}`);
    return manifest;
  } finally {
    await rm(staging, { recursive: true, force: true });
    await client.close().catch(() => undefined);
    await target.close();
  }
}

/** Where an archive is extracted before its parts move into place: beside the data folder (removed when it ends). */
export function restoreWorkFolder(config: AppConfig): string {
  return `${path.resolve(config.dataDir)}.restoring`;
}

function isInside(dir: string, parent: string): boolean {
  const rel = path.relative(parent, dir);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Moves an extracted file or folder to where the platform looks for it (rename replaces an empty folder there). */
async function moveInto(from: string, to: string): Promise<void> {
  if (!existsSync(from)) return mkdir(to, { recursive: true }).then(() => undefined);
  await mkdir(path.dirname(to), { recursive: true });
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await cp(from, to, { recursive: true, preserveTimestamps: true });
  }
}
