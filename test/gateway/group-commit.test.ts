/**
 * The embedded ledger's committer: blocks validated while a commit is under way queue up and
 * are written together (one fsync, one state batch), still one hash-chained block each; a
 * group that cannot be written fails its transactions and those queued behind it, and the
 * chain carries on from the disk.
 */
import '../embedded/support/quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyChannel, type Block } from '@fund/app/dist/blockchain/embedded/ledger';
import { CHANNEL, ChaincodeHarness } from '../chaincode/support/harness';
import { actor, leishanProject, setUpProvince } from '../chaincode/support/fixture';
import { removeDir, tempDir } from '../ledger/support/ledger';

describe('embedded ledger: group commit', () => {
  let dir: string;
  let h: ChaincodeHarness;
  before(async () => {
    dir = tempDir();
    // One transaction per block, so concurrent submits make many blocks.
    h = await ChaincodeHarness.onLedger({ dataDir: dir, batch: { maxMessageCount: 1, batchTimeoutMs: 5 } });
    await setUpProvince(h);
  });
  after(async () => {
    await h.close();
    removeDir(dir);
  });

  const fileProjects = async (n: number) => {
    const county = await actor(h, 'countyOffice');
    return Promise.allSettled(Array.from({ length: n }, (_, i) => h.ok<{ id: string }>(county, 'Project:file', JSON.stringify(leishanProject({ name: `并发项目 ${i}` })))));
  };

  test('blocks that queue behind a slow write are appended together, each its own block', async (t) => {
    const blocks = h.ledger.ledger(CHANNEL).store.blocks;
    const append = blocks.append.bind(blocks);
    const groups: number[] = [];
    // The first write takes 200 ms, so the blocks cut meanwhile wait for it.
    t.mock.method(blocks, 'append', async (...group: Block[]) => {
      if (groups.push(group.length) === 1) await sleep(200);
      return append(...group);
    });
    const height = blocks.height();
    const outcomes = await fileProjects(12);
    assert.deepEqual(outcomes.map((o) => o.status), Array(12).fill('fulfilled'));
    assert.equal(blocks.height(), height + 12, 'one block per transaction');
    assert.ok(groups.some((size) => size > 1), `blocks were written in groups: ${groups.join(', ')}`);
    const county = await actor(h, 'countyOffice');
    const ids = outcomes.map((o) => (o as PromiseFulfilledResult<{ id: string }>).value.id);
    for (const id of ids) assert.equal((await h.query<{ name: string }>(county, 'Project:get', id)).name.startsWith('并发项目'), true);
  });

  test('the orderer takes at most 16 blocks’ worth of transactions not yet validated; later submits wait their turn', async (t) => {
    const blocks = h.ledger.ledger(CHANNEL).store.blocks;
    const append = blocks.append.bind(blocks);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    // The disk stalls: 16 validated blocks wait for it, then validation waits too.
    t.mock.method(blocks, 'append', async (...group: Block[]) => {
      await gate;
      return append(...group);
    });
    const county = await actor(h, 'countyOffice');
    let handed = 0;
    const submits = Array.from({ length: 40 }, (_, i) =>
      h.ledger.submitAsync(county, { channel: CHANNEL, fcn: 'Project:file', args: [JSON.stringify(leishanProject({ name: `排队项目 ${i}` }))] }).then((s) => {
        handed++;
        return s.committed;
      }),
    );
    try {
      for (let waited = 0; waited < 3000 && handed < 32; waited += 20) await sleep(20);
      await sleep(200);
      // One block per transaction (maxMessageCount 1): 16 validated and waiting for the disk, 16 more with the orderer.
      assert.equal(handed, 32, 'the other 8 wait to be admitted');
    } finally {
      open();
    }
    const committed = await Promise.all(submits);
    assert.equal(new Set(committed.map((c) => c.blockNumber)).size, 40, 'all forty committed, one block each');
  });

  test('a group that cannot be written fails, with the blocks queued behind it; later submits commit', async (t) => {
    const ledger = h.ledger.ledger(CHANNEL);
    const append = ledger.store.blocks.append.bind(ledger.store.blocks);
    let calls = 0;
    t.mock.method(ledger.store.blocks, 'append', async (...group: Block[]) => {
      if (++calls === 1) {
        await sleep(200);
        throw new Error('disk full');
      }
      return append(...group);
    });
    const height = ledger.height;
    const outcomes = await fileProjects(6);
    const failed = outcomes.flatMap((o) => (o.status === 'rejected' ? [(o.reason as Error).message] : []));
    assert.ok(failed.length >= 1, 'the first group failed');
    assert.ok(failed.every((m) => /block could not be committed: (disk full|an earlier block)/.test(m)), failed.join('\n'));
    assert.equal(ledger.height, height + outcomes.length - failed.length, 'only the committed ones are on the chain');
    t.mock.restoreAll();
    const after = await fileProjects(3);
    assert.deepEqual(after.map((o) => o.status), ['fulfilled', 'fulfilled', 'fulfilled']);
    await h.close(); // verify opens the stores itself
    const verified = await verifyChannel(dir, CHANNEL);
    assert.equal(verified.ok, true, JSON.stringify(verified.problems));
  });

  test('blocks written but the state database refuses them (the disk filled in between): their transactions are committed, not reported failed; the state catches up', async (t) => {
    h = await ChaincodeHarness.onLedger({ dataDir: dir, batch: { maxMessageCount: 1, batchTimeoutMs: 5 } });
    const ledger = h.ledger.ledger(CHANNEL);
    const commitBlocks = ledger.store.state.commitBlocks.bind(ledger.store.state);
    let calls = 0;
    t.mock.method(ledger.store.state, 'commitBlocks', async (...args: Parameters<typeof commitBlocks>) => {
      if (++calls === 1) throw new Error('ENOSPC: no space left on device');
      return commitBlocks(...args);
    });
    const height = ledger.height;
    const outcomes = await fileProjects(4);
    const rejected = outcomes.flatMap((o) => (o.status === 'rejected' ? [(o.reason as Error).message] : []));
    // The first group is in blocks.dat: committed. Only blocks validated against it but not yet written may fail.
    assert.equal(outcomes[0].status, 'fulfilled', rejected.join('\n'));
    assert.equal(ledger.height, height + outcomes.length - rejected.length, 'every block reported committed is on the chain, no other');
    t.mock.restoreAll();
    const after = await fileProjects(2);
    assert.deepEqual(after.map((o) => o.status), ['fulfilled', 'fulfilled']);
    await h.close();
    const verified = await verifyChannel(dir, CHANNEL);
    assert.equal(verified.ok, true, JSON.stringify(verified.problems));
  });
});
