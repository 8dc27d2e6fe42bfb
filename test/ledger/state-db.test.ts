/**
 * LevelStateDb: versioned get, range order (UTF-8 bytes, like Fabric's LevelDB), history
 * newest first, and block commits that are all-or-nothing with their savepoint.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { MemoryState, TxSimulator, compareKeys, type KVWrite, type VersionedState } from '@fund/app/dist/blockchain/embedded';
import { LevelStateDb, type CommittedTx } from '@fund/app/dist/blockchain/embedded/ledger';
import { removeDir, tempDir } from './support/ledger';

const put = (key: string, value: string): KVWrite => ({ key, isDelete: false, value: Buffer.from(value) });
const del = (key: string): KVWrite => ({ key, isDelete: true, value: Buffer.alloc(0) });
const at = new Date(Date.UTC(2025, 5, 1));
const ctx = (txNum: number, writes: KVWrite[], namespace = 'cc'): CommittedTx => ({ txNum, txId: `tx${txNum}`, timestamp: at, namespace, writes });

async function collect(state: VersionedState, ns: string, start: string, end: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const kv of state.range(ns, start, end)) keys.push(kv.key);
  return keys;
}

describe('LevelStateDb', () => {
  let dir: string;
  let db: LevelStateDb;
  beforeEach(async () => {
    dir = tempDir();
    db = await LevelStateDb.open(path.join(dir, 'state'));
  });
  afterEach(async () => {
    await db.close();
    removeDir(dir);
  });

  test('values carry the version (block, tx) of their last write; namespaces are apart', async () => {
    assert.equal(db.savepoint(), -1);
    await db.commitBlock(0, [ctx(0, [put('a', '1'), put('b', '1')]), ctx(2, [put('a', '2')]), ctx(3, [put('a', 'other')], 'cc2')]);
    await db.commitBlock(1, [ctx(1, [put('b', '2')])]);
    assert.deepEqual(await db.get('cc', 'a'), { value: Buffer.from('2'), version: { blockNum: 0, txNum: 2 } });
    assert.deepEqual(await db.get('cc', 'b'), { value: Buffer.from('2'), version: { blockNum: 1, txNum: 1 } });
    assert.deepEqual(await db.get('cc2', 'a'), { value: Buffer.from('other'), version: { blockNum: 0, txNum: 3 } });
    assert.equal(await db.get('cc', 'missing'), undefined);
    assert.equal(await db.get('c', 'c2\0a'), undefined, 'namespace "c" does not see "cc2"');
    assert.deepEqual(await collect(db, 'cc', '', ''), ['a', 'b']);
    assert.equal(db.savepoint(), 1);
  });

  test('version() follows commits: a key read before a write, the write, a delete, a failed batch, a reopen', async () => {
    assert.equal(await db.version('cc', 'k'), null, 'missing, and remembered as missing');
    await db.commitBlock(0, [ctx(0, [put('k', '1')])]);
    assert.deepEqual(await db.version('cc', 'k'), { blockNum: 0, txNum: 0 });
    await db.commitBlock(1, [ctx(4, [put('k', '2')])]);
    assert.deepEqual(await db.version('cc', 'k'), { blockNum: 1, txNum: 4 });
    await assert.rejects(db.commitBlock(2, [ctx(0, [put('k', '3'), put('', 'bad key')])]), /invalid key/);
    assert.deepEqual(await db.version('cc', 'k'), { blockNum: 1, txNum: 4 }, 'a batch that was refused changes no version');
    await db.commitBlock(2, [ctx(1, [del('k')])]);
    assert.equal(await db.version('cc', 'k'), null);
    assert.equal(await db.version('cc2', 'k'), null, 'namespaces are apart');
    await db.commitBlock(3, [ctx(0, [put('k', '4')])]);
    await db.close();
    db = await LevelStateDb.open(path.join(dir, 'state'));
    assert.deepEqual(await db.version('cc', 'k'), { blockNum: 3, txNum: 0 }, 'read from disk after a reopen');
    assert.deepEqual(await db.version('cc', 'k'), (await db.get('cc', 'k'))?.version);
  });

  test('range order, bounds and composite keys match MemoryState (UTF-8 byte order)', async () => {
    const keys = ['a', 'b', 'ab', 'a\0', '\0Draft\0d1\0', '\0Draft\0d2\0', '\0Project\0p1\0', 'z', '\uE000', '\u{10000}', '\u{10FFFE}', 'é', '~'];
    const mem = new MemoryState();
    mem.apply('cc', keys.map((k) => put(k, k)), { blockNum: 0, txNum: 0 }, 'tx0', at);
    await db.commitBlock(0, [ctx(0, keys.map((k) => put(k, k))), ctx(1, [put('a', 'other ns')], 'cc-other')]);
    const bounds: Array<[string, string]> = [
      ['', ''],
      ['a', 'b'],
      ['b', ''],
      ['', '\uE000'],
      ['\0Draft\0', '\0Draft\0\u{10FFFF}'],
      ['\uE000', '\u{10FFFF}'],
      ['z', 'a'],
    ];
    for (const [start, end] of bounds) {
      assert.deepEqual(await collect(db, 'cc', start, end), await collect(mem, 'cc', start, end), `range [${JSON.stringify(start)}, ${JSON.stringify(end)})`);
    }
    const all = await collect(db, 'cc', '', '');
    assert.deepEqual(all, [...keys].sort(compareKeys));
    assert.ok(all.indexOf('\uE000') < all.indexOf('\u{10000}'), 'BMP private use sorts before astral characters');
    for await (const kv of db.range('cc', 'z', 'z\0')) assert.deepEqual(kv, { key: 'z', value: Buffer.from('z'), version: { blockNum: 0, txNum: 0 } });
  });

  test('history is newest first, includes deletes, and keeps "k" apart from "k\\0x"', async () => {
    await db.commitBlock(0, [ctx(0, [put('k', 'v1'), put('k\0x', 'other')])]);
    await db.commitBlock(1, [ctx(0, [put('k', 'v2')]), ctx(1, [del('k')])]);
    await db.commitBlock(2, [ctx(4, [put('k', 'v3')])]);
    const h = await db.history('cc', 'k');
    assert.deepEqual(
      h.map((m) => [m.txId, m.isDelete, m.value.toString()]),
      [
        ['tx4', false, 'v3'],
        ['tx1', true, ''],
        ['tx0', false, 'v2'],
        ['tx0', false, 'v1'],
      ],
    );
    assert.deepEqual(h[0].timestamp, at);
    assert.equal((await db.history('cc', 'k\0x')).length, 1);
    assert.deepEqual(await db.history('cc', 'never'), []);
    await db.commitBlock(3, [ctx(0, [del('k')])]);
    assert.equal(await db.get('cc', 'k'), undefined);
    assert.deepEqual(await collect(db, 'cc', '', ''), ['k\0x']);
  });

  test('history entries written in the earlier JSON format are still read', async () => {
    await db.commitBlock(0, [ctx(0, [put('k', 'binary')])]);
    await db.close();
    // An entry as ledgers before the binary format stored it: JSON with the value as base64.
    const raw = new ClassicLevel<Buffer, Buffer>(path.join(dir, 'state'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    const u64 = (n: number) => Buffer.from(BigInt(n).toString(16).padStart(16, '0'), 'hex');
    const key = Buffer.concat([Buffer.from('h\0cc\0'), Buffer.from([0, 0, 0, 1]), Buffer.from('k'), u64(0), u64(7)]);
    await raw.put(key, Buffer.from(JSON.stringify({ txId: 'old', isDelete: false, timestamp: at.getTime(), value: Buffer.from('json').toString('base64') })));
    await raw.close();
    db = await LevelStateDb.open(path.join(dir, 'state'));
    assert.deepEqual(await db.history('cc', 'k'), [
      { txId: 'old', isDelete: false, timestamp: at, value: Buffer.from('json') },
      { txId: 'tx0', isDelete: false, timestamp: at, value: Buffer.from('binary') },
    ]);
  });

  test('a block commits atomically with its savepoint, in order, and survives reopening', async () => {
    await db.commitBlock(0, [ctx(0, [put('a', '1')])]);
    await assert.rejects(db.commitBlock(0, []), /cannot commit block 0: state savepoint is 0/);
    await assert.rejects(db.commitBlock(2, []), /cannot commit block 2: state savepoint is 0/);
    // The second transaction's bad key aborts the whole block, the first one's writes included.
    await assert.rejects(db.commitBlock(1, [ctx(0, [put('a', '2'), put('b', '2')]), ctx(1, [put('\uD800', 'x')])]), /invalid key/);
    await assert.rejects(db.commitBlock(1, [ctx(0, [put('a', '2')], 'bad\0ns')]), /invalid namespace/);
    assert.equal(db.savepoint(), 0);
    assert.equal((await db.get('cc', 'a'))?.value.toString(), '1');
    assert.equal(await db.get('cc', 'b'), undefined);
    assert.equal((await db.history('cc', 'a')).length, 1);

    await db.commitBlock(1, [ctx(0, [put('b', '2')])]);
    await db.close();
    db = await LevelStateDb.open(path.join(dir, 'state'));
    assert.equal(db.savepoint(), 1);
    assert.deepEqual(await db.get('cc', 'b'), { value: Buffer.from('2'), version: { blockNum: 1, txNum: 0 } });
  });

  test('TxSimulator records LevelStateDb versions and pages through its ranges', async () => {
    await db.commitBlock(0, [ctx(0, [put('k1', '1'), put('k2', '2'), put('k3', '3')])]);
    await db.commitBlock(1, [ctx(5, [put('k2', '22')])]);
    const sim = new TxSimulator(db, 'cc');
    assert.equal((await sim.getState('k2'))?.toString(), '22');
    const it = sim.getStateByRange('k1', '', { pageSize: 2 });
    assert.equal((await it.next())?.key, 'k1');
    assert.equal((await it.next())?.key, 'k2');
    assert.equal(await it.next(), undefined);
    assert.equal(it.bookmark, 'k3');
    await it.close();
    const r = await sim.results();
    assert.deepEqual(r.reads, [{ key: 'k2', version: { blockNum: 1, txNum: 5 } }]);
    assert.deepEqual(r.rangeQueries[0].reads, [
      { key: 'k1', version: { blockNum: 0, txNum: 0 } },
      { key: 'k2', version: { blockNum: 1, txNum: 5 } },
    ]);
  });
});
