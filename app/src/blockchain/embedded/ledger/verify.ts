/**
 * Offline audit of one channel's ledger: re-hashes the chain, replays every VALID write set
 * into memory and compares the result with the state database key by key. The ledger is opened
 * read-only (nothing under its folder is created or written, even for a ledger in use), so crash
 * artefacts the peer repairs when it opens the ledger (a torn last block, a state database
 * lagging the chain) are not repaired here: they are told as notes, not problems; damage is a
 * problem.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { blockHeaderHash, computeDataHash, validTransactions, type Block } from './block';
import { ChannelStore, channelDir, isChannelLedger } from './channel-store';
import { stateKey } from './state-db';
import type { Version } from '../simulator';

export interface VerifyReport {
  ok: boolean;
  height: number;
  /** In chain order, then key order: the first one names the first block or key that is wrong. */
  problems: string[];
  /** What the peer repairs on its next start (a torn last record, a lagging state database). */
  notes: string[];
}

interface Expected {
  dbKey: Buffer;
  ns: string;
  key: string;
  value: Buffer;
  version: Version;
}

const MAX_PROBLEMS = 50;

export async function verifyChannel(dataDir: string, channel: string): Promise<VerifyReport> {
  const problems = new Problems();
  const notes: string[] = [];
  if (!existsSync(channelDir(dataDir, channel))) return { ok: false, height: 0, problems: [`no ledger for channel ${channel} in ${dataDir}`], notes };
  let store: ChannelStore;
  try {
    store = await ChannelStore.openReadOnly(dataDir, channel);
  } catch (err) {
    const message = (err as Error).message;
    return { ok: false, height: 0, problems: [message.startsWith('no ledger') ? message : `cannot open the ledger: ${message}`], notes };
  }
  try {
    const height = store.blocks.height();
    if (store.blocks.tornAt !== undefined) notes.push(`blocks.dat ends with a record cut short at byte ${store.blocks.tornAt} (a crash while writing): not counted; the peer moves it aside when it next opens the ledger`);
    const savepoint = store.state.savepoint();
    if (savepoint > height - 1) problems.add(`state savepoint is block ${savepoint}, chain ends at block ${height - 1}`);
    else if (savepoint < height - 1) notes.push(`the state database is at block ${savepoint}, the chain at block ${height - 1}: compared with the chain up to block ${savepoint}; the peer replays the rest when it next opens the ledger`);
    const expected = await replayChain(store, problems, Math.min(savepoint, height - 1));
    await compareState(store, expected, problems);
    return { ok: problems.list.length === 0, height, problems: problems.list, notes };
  } finally {
    await store.close();
  }
}

export interface LedgerFolder {
  /** Channel folders, sorted: each has a block store or a state database (verifyChannel says which part is missing). */
  channels: string[];
  /** Other folders, neither a channel ledger nor the CAs' msp/. */
  skipped: string[];
}

/** What is not a ledger folder: the message says what it is and which folder to give instead. */
export class NotALedgerFolder extends Error {
  override name = 'NotALedgerFolder';
}

/** What a data folder of the platform holds besides its ledger (config.ts: DATA_DIR). */
const PLATFORM_DATA = ['ledger', 'mongo', 'uploads', 'secrets.json'];

/**
 * The channels of a ledger folder (LEDGER_DATA_DIR, data/ledger by default), read without writing anything. Refuses,
 * naming the right folder where it can: one channel's folder, the platform's data folder, a folder with no channel.
 */
export async function ledgerChannels(dir: string): Promise<LedgerFolder> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: Error) => {
    throw new NotALedgerFolder(`cannot read the ledger folder ${dir}: ${err.message}`);
  });
  if (isChannelLedger(dir)) {
    throw new NotALedgerFolder(`${dir} is one channel's ledger (it has ${entries.filter((e) => e.name === 'blocks' || e.name === 'state').map((e) => e.name + '/').join(' and ')}), not a ledger folder: give the folder that holds every channel, ${path.dirname(dir)}`);
  }
  const channels: string[] = [];
  const skipped: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name === 'msp' || e.name === 'lost+found') continue;
    if (isChannelLedger(path.join(dir, e.name))) channels.push(e.name);
    else skipped.push(e.name);
  }
  if (channels.length > 0) return { channels: channels.sort(), skipped: skipped.sort() };
  const platformData = entries.filter((e) => PLATFORM_DATA.includes(e.name)).map((e) => (e.isDirectory() ? e.name + '/' : e.name));
  if (platformData.length > 0) {
    const ledger = path.join(dir, 'ledger');
    const hint = platformData.includes('ledger/') ? `its ledger folder is ${ledger}: npm run verify -- ${ledger}` : `it has no ledger/ folder; the embedded ledger's folder is LEDGER_DATA_DIR (by default ${ledger})`;
    throw new NotALedgerFolder(`${dir} is the platform's data folder (it has ${platformData.join(', ')}), not a ledger folder: ${hint}`);
  }
  throw new NotALedgerFolder(`no channel ledger in ${dir}: a ledger folder (LEDGER_DATA_DIR, by default data/ledger) holds one folder per channel, each with blocks/ and state/`);
}

/** Checks every block's hashes and links; returns the world state the valid writes of blocks 0 to `upTo` produce. */
async function replayChain(store: ChannelStore, problems: Problems, upTo: number): Promise<Map<string, Expected>> {
  const expected = new Map<string, Expected>();
  let previousHash: string | undefined = '';
  for (let n = 0; n < store.blocks.height(); n++) {
    let block: Block;
    try {
      block = await store.blocks.getBlock(n);
    } catch (err) {
      problems.add((err as Error).message);
      previousHash = undefined; // the link to the next block cannot be checked
      continue;
    }
    if (computeDataHash(block.transactions) !== block.dataHash) problems.add(`block ${n}: dataHash does not match its transactions`);
    if (previousHash !== undefined && block.previousHash !== previousHash) problems.add(`block ${n}: previousHash does not match the header of block ${n - 1}`);
    previousHash = blockHeaderHash(block);
    if (n > upTo) continue;
    for (const tx of validTransactions(block)) {
      for (const w of tx.writes) {
        const dbKey = stateKey(tx.namespace, w.key);
        if (w.isDelete) expected.delete(dbKey.toString('hex'));
        else expected.set(dbKey.toString('hex'), { dbKey, ns: tx.namespace, key: w.key, value: w.value, version: { blockNum: n, txNum: tx.txNum } });
      }
    }
  }
  return expected;
}

/** Merge-walks the replayed state and the database, both in LevelDB key order. */
async function compareState(store: ChannelStore, expected: Map<string, Expected>, problems: Problems): Promise<void> {
  const want = [...expected.values()].sort((a, b) => Buffer.compare(a.dbKey, b.dbKey));
  let i = 0;
  try {
    for await (const found of store.state.entries()) {
      const dbKey = stateKey(found.ns, found.key);
      for (; i < want.length && Buffer.compare(want[i].dbKey, dbKey) < 0; i++) problems.add(`${label(want[i])}: missing from the state database`);
      if (i === want.length || !want[i].dbKey.equals(dbKey)) {
        problems.add(`${label(found)}: in the state database but written by no valid transaction`);
        continue;
      }
      const w = want[i++];
      if (!w.value.equals(found.value)) problems.add(`${label(w)}: value differs from the chain`);
      if (w.version.blockNum !== found.version.blockNum || w.version.txNum !== found.version.txNum) {
        problems.add(`${label(w)}: version ${fmt(found.version)} differs from the chain's ${fmt(w.version)}`);
      }
    }
  } catch (err) {
    problems.add(`state database is unreadable: ${(err as Error).message}`);
    return;
  }
  for (; i < want.length; i++) problems.add(`${label(want[i])}: missing from the state database`);
}

function label(e: { ns: string; key: string }): string {
  // JSON quoting makes composite keys' 0x00 separators visible.
  return `state ${e.ns} ${JSON.stringify(e.key)}`;
}

function fmt(v: Version): string {
  return `${v.blockNum}:${v.txNum}`;
}

/** Keeps reports short when everything after the first fault is wrong too. */
class Problems {
  readonly list: string[] = [];
  private dropped = 0;

  add(problem: string): void {
    if (this.list.length < MAX_PROBLEMS) this.list.push(problem);
    else this.list[MAX_PROBLEMS] = `… and ${++this.dropped} more`;
  }
}
