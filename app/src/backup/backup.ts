/**
 * `npm run backup [-- --out FILE]`: one archive of a running (or stopped) platform: the database, the
 * ledger, the uploads and the secrets, in that order (database-dump.ts and ledger-snapshot.ts say why
 * the order makes the copy consistent). Laid out in a staging folder beside the archive, packed, and
 * renamed into place only when complete, so a failed backup leaves no archive that looks whole.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';
import type { AppConfig } from '../config';
import { copyTree, mb, packArchive, FORMAT, type Manifest, type Progress } from './archive';
import { dumpDatabase } from './database-dump';
import { snapshotLedger } from './ledger-snapshot';

export interface BackupOptions {
  config: AppConfig;
  /** The platform's MongoDB, with its database name if it has one (as MONGODB_URI). */
  mongodbUri: string;
  out: string;
  env?: NodeJS.ProcessEnv;
  progress?: Progress;
}

export function defaultBackupName(now = new Date()): string {
  return `fund-backup-${now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-')}.tar.gz`;
}

/** Where a backup to `file` is laid out and packed before it is renamed into place (removed when it ends). */
export function backupWorkFiles(file: string): { staging: string; partial: string } {
  return { staging: `${file}.staging`, partial: `${file}.partial` };
}

export async function takeBackup({ config, mongodbUri, out, env = process.env, progress = () => {} }: BackupOptions): Promise<Manifest> {
  if (config.ledger.backend !== 'embedded') {
    throw new Error('npm run backup takes the embedded ledger (LEDGER=embedded); a Fabric network keeps its ledgers in its peers and orderers: back those up with Fabric\'s own tools (peer snapshot, the orderers\' data folders)');
  }
  const file = path.resolve(out);
  if (existsSync(file)) throw new Error(`${file} exists already: give another --out`);
  const { staging, partial } = backupWorkFiles(file);
  // Left over by a backup to the same file that was killed: never part of an archive.
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { mode: 0o700 });
  try {
    const database = await dumpDatabase(mongodbUri, path.join(staging, 'database'), progress);
    const ledger = await snapshotLedger(config.ledger.dataDir, path.join(staging, 'ledger'), config.routingChannel, progress);
    progress('› uploads');
    // Uploads are named by their content and never rewritten: hard links are as good as copies.
    const uploads = await copyTree(config.uploadDir, path.join(staging, 'uploads'), { linkable: true, progress });
    progress(`  ${uploads.files} files, ${mb(uploads.bytes)} MB`);
    const secretsFile = path.join(config.dataDir, 'secrets.json');
    const secretsKept = existsSync(secretsFile);
    if (secretsKept) await copyFile(secretsFile, path.join(staging, 'secrets.json'));
    const fromEnvironment = ['SESSION_SECRET', 'WALLET_KEY'].filter((k) => env[k]);
    for (const k of fromEnvironment) progress(`  note: ${k} comes from the environment and is not in the archive: the restored platform needs the same ${k}`);
    const manifest = await packArchive(staging, { format: FORMAT, version: 1, createdAt: new Date().toISOString(), ledger, database, uploads, secrets: { file: secretsKept, fromEnvironment } }, partial, progress);
    await rename(partial, file);
    return manifest;
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(partial, { force: true });
  }
}
