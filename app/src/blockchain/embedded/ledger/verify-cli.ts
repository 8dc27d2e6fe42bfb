/**
 * `node app/dist/blockchain/embedded/ledger/verify-cli.js [dataDir]`: verifies every channel
 * ledger under dataDir (default ./data/ledger). Exit code 0 = all clean, 1 = problems found,
 * 2 = the data directory cannot be read.
 */
// Loading the chaincode (for its canonical JSON) would otherwise log every contract's decorators.
process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'ERROR';
import * as path from 'node:path';
import { readdir } from 'node:fs/promises';
import { verifyChannel } from './verify';

const SHOWN_PROBLEMS = 10;

async function main(): Promise<number> {
  const dataDir = path.resolve(process.argv[2] ?? path.join('data', 'ledger'));
  let channels: string[];
  try {
    const entries = await readdir(dataDir, { withFileTypes: true });
    channels = entries.filter((e) => e.isDirectory() && e.name !== 'lost+found').map((e) => e.name).sort();
  } catch (err) {
    console.error(`cannot read ledger data directory ${dataDir}: ${(err as Error).message}`);
    return 2;
  }
  if (channels.length === 0) console.log(`no channel ledgers in ${dataDir}`);
  let failed = 0;
  for (const channel of channels) {
    const report = await verifyChannel(dataDir, channel).catch((err: Error) => ({ ok: false, height: 0, problems: [err.message] }));
    console.log(`${report.ok ? 'ok  ' : 'FAIL'} ${channel}: height ${report.height}${report.ok ? '' : `, ${report.problems.length} problem(s)`}`);
    for (const p of report.problems.slice(0, SHOWN_PROBLEMS)) console.log(`     - ${p}`);
    if (!report.ok) failed++;
  }
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exitCode = 2;
  },
);
