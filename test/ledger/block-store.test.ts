/**
 * BlockStore: append/read/reopen, the chain rules it enforces, rebuilding its indexes from
 * blocks.dat, and cutting away a record torn by a crash.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BlockStore, DATA_FILE, INDEX_FILE, blockHeaderHash, computeDataHash, encodeBlock, parseBlock, type Block } from '@fund/app/dist/blockchain/embedded/ledger';
import { nextBlock, removeDir, tempDir, tx } from './support/ledger';

describe('BlockStore', () => {
  let dir: string;
  let store: BlockStore;
  const appended: Block[] = [];

  async function appendBlocks(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const n = store.height();
      const block = await nextBlock(store, [tx(`tx-${n}-0`, [[`k${n}`, `v${n}`]]), tx(`tx-${n}-1`, [[`k${n}`, null]], { code: 'MVCC_READ_CONFLICT' })]);
      await store.append(block);
      appended.push(block);
    }
  }
  async function reopen(): Promise<void> {
    await store.close();
    store = await BlockStore.open(dir);
  }
  const dataFile = () => path.join(dir, DATA_FILE);

  beforeEach(async () => {
    dir = tempDir();
    appended.length = 0;
    store = await BlockStore.open(dir);
  });
  afterEach(async () => {
    await store.close();
    removeDir(dir);
  });

  test('several blocks append in one write; a group with a block off the chain writes nothing', async () => {
    await appendBlocks(1);
    const first = await nextBlock(store, [tx('g1', [['a', '1']])]);
    const second = { ...first, number: 2, previousHash: blockHeaderHash(first), transactions: [tx('g2', [['a', '2']])] };
    second.dataHash = computeDataHash(second.transactions);
    const size = fs.statSync(dataFile()).size;
    const broken = { ...second, number: 3 };
    await assert.rejects(store.append(first, broken), /cannot append block 3: height is 2/);
    assert.equal(store.height(), 1);
    assert.equal(fs.statSync(dataFile()).size, size, 'nothing of the group was written');
    await store.append(first, second);
    await reopen();
    assert.equal(store.height(), 3);
    assert.deepEqual(await store.getBlock(1), first);
    assert.deepEqual(await store.getBlock(2), second);
    assert.equal((await store.getTransaction('g2'))?.blockNumber, 2);
    assert.equal(await store.lastHash(), blockHeaderHash(second));
  });

  test('appends, reads back, iterates and finds transactions, before and after reopening', async () => {
    assert.equal(store.height(), 0);
    assert.equal(await store.lastHash(), '');
    await appendBlocks(5);
    for (const round of ['fresh', 'reopened']) {
      assert.equal(store.height(), 5, round);
      for (const b of appended) assert.deepEqual(await store.getBlock(b.number), b);
      assert.deepEqual((await fromIterator(store.iterate(3))).map((b) => b.number), [3, 4]);
      const loc = await store.getTransaction('tx-2-1');
      assert.equal(loc?.blockNumber, 2);
      assert.equal(loc?.txNum, 1);
      assert.equal(loc?.transaction.validationCode, 'MVCC_READ_CONFLICT');
      assert.equal(await store.getTransaction('nope'), undefined);
      assert.equal(await store.lastHash(), blockHeaderHash(appended[4]));
      await reopen();
    }
    await assert.rejects(store.getBlock(5), RangeError);
    assert.equal(fs.statSync(path.join(dir, INDEX_FILE)).size, 5 * 8);
  });

  test('rejects blocks that do not extend the chain; a duplicate txId keeps its first location', async () => {
    await appendBlocks(2);
    const good = await nextBlock(store, [tx('tx-2-0', [['a', '1']])]);
    await assert.rejects(store.append({ ...good, number: 3 }), /cannot append block 3: height is 2/);
    await assert.rejects(store.append({ ...good, previousHash: blockHeaderHash(appended[0]) }), /previousHash does not match/);
    await assert.rejects(store.append({ ...good, dataHash: computeDataHash([]) }), /dataHash does not match/);
    assert.equal(store.height(), 2);
    await store.append(await nextBlock(store, [tx('tx-0-0', [['a', '2']], { code: 'DUPLICATE_TXID' })]));
    assert.equal((await store.getTransaction('tx-0-0'))?.blockNumber, 0);
  });

  test('rebuilds blocks.idx (missing or torn) and the txId index from blocks.dat', async () => {
    await appendBlocks(4);
    await store.close();
    fs.rmSync(path.join(dir, INDEX_FILE));
    fs.rmSync(path.join(dir, 'txindex'), { recursive: true });
    store = await BlockStore.open(dir);
    assert.equal(store.height(), 4);
    for (const b of appended) assert.deepEqual(await store.getBlock(b.number), b);
    assert.equal((await store.getTransaction('tx-3-0'))?.blockNumber, 3);
    assert.equal(fs.statSync(path.join(dir, INDEX_FILE)).size, 4 * 8);

    // An index cut mid-entry (crash while appending to it) is extended from the data file.
    await store.close();
    fs.truncateSync(path.join(dir, INDEX_FILE), 2 * 8 + 3);
    store = await BlockStore.open(dir);
    assert.equal(store.height(), 4);
    assert.deepEqual(await store.getBlock(3), appended[3]);
    await appendBlocks(1);
    await reopen();
    assert.deepEqual(await store.getBlock(4), appended[4]);
  });

  test('a block read as its record bytes (for another thread) parses back to the block, checked to be that block', async () => {
    await appendBlocks(2);
    const bytes = await store.getBlockBytes(1);
    assert.deepEqual(bytes, encodeBlock(appended[1]), 'the record as written');
    assert.deepEqual(parseBlock(1, bytes), appended[1]);
    assert.throws(() => parseBlock(0, bytes), /block 0: record holds block number 1/);
    assert.throws(() => parseBlock(1, bytes.subarray(0, 20)), /block 1 is unreadable/);
    await assert.rejects(store.getBlockBytes(2), /block 2 does not exist \(height 2\)/);
  });

  test('a torn last record is cut away (and kept aside); appending continues from there', async () => {
    await appendBlocks(3);
    await store.close();
    const goodSize = fs.statSync(dataFile()).size;
    const record = fs.readFileSync(dataFile()).subarray(goodSize - 100);
    const torn = Buffer.concat([Buffer.from([0, 0, 0x10, 0]), record.subarray(0, 40)]); // claims 4096 bytes, has 40
    fs.appendFileSync(dataFile(), torn);
    store = await BlockStore.open(dir);
    assert.equal(store.height(), 3);
    assert.equal(fs.statSync(dataFile()).size, goodSize);
    assert.deepEqual(fs.readFileSync(path.join(dir, `${DATA_FILE}.torn-${goodSize}`)), torn);
    await appendBlocks(1);
    await reopen();
    assert.equal(store.height(), 4);
    assert.deepEqual(await store.getBlock(3), appended[3]);

    // A crash can also leave zero-filled space after the last record.
    await store.close();
    const size = fs.statSync(dataFile()).size;
    fs.appendFileSync(dataFile(), Buffer.alloc(512));
    store = await BlockStore.open(dir);
    assert.equal(store.height(), 4);
    assert.equal(fs.statSync(dataFile()).size, size);
  });
});

async function fromIterator<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
