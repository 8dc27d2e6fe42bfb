/**
 * `node app/dist/blockchain/embedded/ledger/verify-cli.js [ledgerDir]`: verifies every channel
 * ledger under ledgerDir (default ./data/ledger), reading only: nothing under it is created or
 * written. Exit code 0 = all clean, 1 = problems found, 2 = the folder cannot be read or is not a
 * ledger folder (the platform's data folder or one channel's folder is named as such, with the
 * folder to give instead).
 *
 * `… verify-cli.js --dossier FILE`: checks a project's audit dossier offline instead (dossier.ts), one line per
 * check; exit code 0 = every check passed, 1 = a check failed (named on its FAIL line), 2 = not a readable dossier.
 */
// Loading the chaincode (for its canonical JSON) would otherwise log every contract's decorators.
process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'ERROR';
import * as path from 'node:path';
import { readFile } from 'node:fs/promises';
import { ledgerChannels, NotALedgerFolder, verifyChannel, type LedgerFolder } from './verify';
import { isDossier, notADossier, verifyDossier } from './dossier';

const SHOWN_PROBLEMS = 10;

async function main(): Promise<number> {
  const dossierAt = process.argv.indexOf('--dossier');
  if (dossierAt >= 0) return checkDossier(process.argv[dossierAt + 1]);
  const ledgerDir = path.resolve(process.argv[2] ?? path.join('data', 'ledger'));
  let folder: LedgerFolder;
  try {
    folder = await ledgerChannels(ledgerDir);
  } catch (err) {
    if (!(err instanceof NotALedgerFolder)) throw err;
    console.error(err.message);
    return 2;
  }
  let failed = 0;
  for (const channel of folder.channels) {
    const report = await verifyChannel(ledgerDir, channel).catch((err: Error) => ({ ok: false, height: 0, problems: [err.message], notes: [] }));
    console.log(`${report.ok ? 'ok  ' : 'FAIL'} ${channel}: height ${report.height}${report.ok ? '' : `, ${report.problems.length} problem(s)`}`);
    for (const p of report.problems.slice(0, SHOWN_PROBLEMS)) console.log(`     - ${p}`);
    for (const n of report.notes) console.log(`     note: ${n}`);
    if (!report.ok) failed++;
  }
  for (const name of folder.skipped) console.log(`     ${name}: not a channel ledger (no blocks/ or state/), skipped`);
  return failed > 0 ? 1 : 0;
}

async function checkDossier(file: string | undefined): Promise<number> {
  if (!file) {
    console.error('usage: npm run verify -- --dossier FILE');
    return 2;
  }
  let dossier: unknown;
  try {
    dossier = JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (err) {
    console.error(`cannot read the dossier ${file}: ${(err as Error).message}`);
    return 2;
  }
  if (!isDossier(dossier)) {
    console.error(`${file} is ${notADossier(dossier)}`);
    return 2;
  }
  let checks;
  try {
    checks = verifyDossier(dossier);
  } catch (err) {
    console.error(`${file} is not a well-formed audit dossier: ${(err as Error).message}`);
    return 2;
  }
  for (const c of checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.item}: ${c.detail}`);
  const failed = checks.filter((c) => !c.ok);
  const what = `dossier of project ${dossier.project?.id} on channel ${dossier.channel}`;
  console.log(failed.length === 0 ? `${what}: all ${checks.length} checks passed` : `${what}: ${failed.length} of ${checks.length} checks FAILED (first: ${failed[0].item})`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exitCode = 2;
  },
);
