/**
 * Offline audit of one channel's ledger: re-hashes the chain, replays every VALID write set
 * into memory and compares the result with the state database key by key. The ledger is
 * opened as the peer would open it, so crash artefacts (a torn block, a lagging state) are
 * repaired first and are not reported; damage is.
 */
import { existsSync } from 'node:fs';
import { blockHeaderHash, computeDataHash, validTransactions, type Block } from './block';
import { ChannelStore, channelDir } from './channel-store';
import { stateKey } from './state-db';
import type { Version } from '../simulator';

export interface VerifyReport {
  ok: boolean;
  height: number;
  /** In chain order, then key order: the first one names the first block or key that is wrong. */
  problems: string[];
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
  if (!existsSync(channelDir(dataDir, channel))) return { ok: false, height: 0, problems: [`no ledger for channel ${channel} in ${dataDir}`] };
  let store: ChannelStore;
  try {
    store = await ChannelStore.open(dataDir, channel);
  } catch (err) {
    return { ok: false, height: 0, problems: [`cannot open the ledger: ${(err as Error).message}`] };
  }
  try {
    const height = store.blocks.height();
    const expected = await replayChain(store, problems);
    if (store.state.savepoint() !== height - 1) problems.add(`state savepoint is block ${store.state.savepoint()}, chain ends at block ${height - 1}`);
    await compareState(store, expected, problems);
    return { ok: problems.list.length === 0, height, problems: problems.list };
  } finally {
    await store.close();
  }
}

/** Checks every block's hashes and links; returns the world state its valid writes produce. */
async function replayChain(store: ChannelStore, problems: Problems): Promise<Map<string, Expected>> {
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
