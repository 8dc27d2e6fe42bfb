/**
 * ChannelStore: block first, state second; on open a lagging state database is caught up
 * from the block store, including after a real SIGKILL in the middle of committing.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TxSimulator } from '@fund/app/dist/blockchain/embedded';
import { BlockStore, ChannelStore, DATA_FILE, INDEX_FILE, LevelStateDb, encodeResults, verifyChannel } from '@fund/app/dist/blockchain/embedded/ledger';
import { nextBlock, removeDir, tempDir, tx } from './support/ledger';
import { runUntilKilled } from '../support/kill-child';

const CHANNEL = 'ch1';

describe('ChannelStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));

  test('commit stores the block and applies only its valid write sets', async () => {
    const store = await ChannelStore.open(dir, CHANNEL);
    try {
      // A write set produced by the real simulator against this very state database.
      const sim = new TxSimulator(store.state, 'cc');
      sim.putState('a', Buffer.from('1'));
      const simulated = { ...tx('t0', []), results: encodeResults(await sim.results()) };
      await store.commit(await nextBlock(store.blocks, [simulated, tx('t1', [['a', 'bad']], { code: 'ENDORSEMENT_POLICY_FAILURE' }), tx('t2', [['b', '2']])]));
      assert.deepEqual(await store.state.get('cc', 'a'), { value: Buffer.from('1'), version: { blockNum: 0, txNum: 0 } });
      assert.deepEqual(await store.state.get('cc', 'b'), { value: Buffer.from('2'), version: { blockNum: 0, txNum: 2 } });
      assert.equal(store.state.savepoint(), 0);
      assert.equal(store.blocks.height(), 1);
      await assert.rejects(ChannelStore.open(dir, '../escape'), /invalid channel name/);
    } finally {
      await store.close();
    }
  });

  test('a block written without its state commit is replayed on open', async () => {
    let store = await ChannelStore.open(dir, CHANNEL);
    for (let n = 0; n < 3; n++) await store.commit(await nextBlock(store.blocks, [tx(`t${n}`, [['a', `${n}`]])]));
    // The crash window: the block is durable, the state commit never happened.
    await store.blocks.append(await nextBlock(store.blocks, [tx('t3a', [['a', '3']]), tx('t3b', [['b', 'gone']], { code: 'MVCC_READ_CONFLICT' }), tx('t3c', [['c', '3']])]));
    assert.equal(store.state.savepoint(), 2);
    await store.close();

    store = await ChannelStore.open(dir, CHANNEL);
    try {
      assert.equal(store.state.savepoint(), 3);
      assert.deepEqual(await store.state.get('cc', 'a'), { value: Buffer.from('3'), version: { blockNum: 3, txNum: 0 } });
      assert.deepEqual(await store.state.get('cc', 'c'), { value: Buffer.from('3'), version: { blockNum: 3, txNum: 2 } });
      assert.equal(await store.state.get('cc', 'b'), undefined);
      assert.deepEqual((await store.state.history('cc', 'a')).map((m) => m.txId), ['t3a', 't2', 't1', 't0']);
      await store.commit(await nextBlock(store.blocks, [tx('t4', [['a', '4']])]));
    } finally {
      await store.close();
    }
    assert.deepEqual(await verifyChannel(dir, CHANNEL), { ok: true, height: 5, problems: [], notes: [] });
  });

  test('a state database ahead of the block store refuses to open', async () => {
    const store = await ChannelStore.open(dir, CHANNEL);
    for (let n = 0; n < 2; n++) await store.commit(await nextBlock(store.blocks, [tx(`t${n}`, [['a', `${n}`]])]));
    await store.close();
    // Lose the last block (e.g. a restored blocks.dat) while the state keeps it.
    const blocksDir = path.join(dir, CHANNEL, 'blocks');
    const offset = Number(fs.readFileSync(path.join(blocksDir, INDEX_FILE)).readBigUInt64BE(8));
    fs.truncateSync(path.join(blocksDir, DATA_FILE), offset);
    await assert.rejects(ChannelStore.open(dir, CHANNEL), /state database is at block 1 but the block store ends at 0/);
  });

  test('SIGKILL mid-burst: every reported block survives, the state catches up, verify is clean', async (t) => {
    const fixture = path.resolve(__dirname, '../../test/ledger/fixtures/commit-loop.js');
    let reportedTotal = -1;
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      // Spread the kill over a whole commit cycle: from just after a report to just before the next.
      const reported = await runAndKill(fixture, dir, 6, (round + 0.5) / rounds);
      assert.ok(reported > reportedTotal, `round ${round}: the child made progress`);
      reportedTotal = reported;

      // Look before recovery, for the diagnostics: how far did each part get?
      const blocks = await BlockStore.open(path.join(dir, CHANNEL, 'blocks'));
      const state = await LevelStateDb.open(path.join(dir, CHANNEL, 'state'));
      const torn = fs.readdirSync(path.join(dir, CHANNEL, 'blocks')).filter((f) => f.includes('.torn-'));
      t.diagnostic(`round ${round}: child reported block ${reported}; blocks height ${blocks.height()}, state savepoint ${state.savepoint()}, torn records so far ${torn.length}`);
      await state.close();
      await blocks.close();

      const store = await ChannelStore.open(dir, CHANNEL);
      try {
        const height = store.blocks.height();
        assert.ok(height > reported, `block ${reported} was reported committed, height is ${height}`);
        for (let n = 0; n <= reported; n++) assert.equal((await store.blocks.getBlock(n)).transactions[0].txId, `tx-${n}-0`);
        assert.equal(store.state.savepoint(), height - 1);
        assert.deepEqual(await store.state.get('cc', 'last'), { value: Buffer.from(String(height - 1)), version: { blockNum: height - 1, txNum: 2 } }); // tx 3 of each block is invalid
      } finally {
        await store.close();
      }
      const report = await verifyChannel(dir, CHANNEL);
      assert.deepEqual(report.problems, []);
      assert.ok(report.ok);
    }
  });
});

/**
 * Starts the committing child and, once it has reported `blocks` blocks, SIGKILLs it `phase`
 * (0..1) of an average commit interval later; resolves to the last block it reported.
 */
async function runAndKill(fixture: string, dataDir: string, blocks: number, phase: number): Promise<number> {
  const reportedAt: number[] = [];
  let last = -1;
  await runUntilKilled(fixture, [dataDir, CHANNEL], (line, kill) => {
    last = Number(line);
    if (reportedAt.push(performance.now()) !== blocks) return;
    const interval = (reportedAt[blocks - 1] - reportedAt[1]) / (blocks - 2);
    kill(phase * interval);
  });
  return last;
}
