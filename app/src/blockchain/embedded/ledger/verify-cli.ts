/**
 * `node app/dist/blockchain/embedded/ledger/verify-cli.js [ledgerDir]`: verifies every channel
 * ledger under ledgerDir (default ./data/ledger), reading only: nothing under it is created or
 * written. Exit code 0 = all clean, 1 = problems found, 2 = the folder cannot be read or is not a
 * ledger folder (the platform's data folder or one channel's folder is named as such, with the
 * folder to give instead).
 */
// Loading the chaincode (for its canonical JSON) would otherwise log every contract's decorators.
process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'ERROR';
import * as path from 'node:path';
import { ledgerChannels, NotALedgerFolder, verifyChannel, type LedgerFolder } from './verify';

const SHOWN_PROBLEMS = 10;

async function main(): Promise<number> {
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

main().then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exitCode = 2;
  },
);
