/**
 * The ledger part of a backup (app/src/backup/ledger-snapshot.ts) on its own: taken while a peer keeps committing
 * blocks, it is each channel's chain up to the height recorded first, which a restore rebuilds (state replayed
 * from the blocks) and verifies; a record cut short by a crash at the end of blocks.dat is left out, the source is
 * not repaired or otherwise written; the CAs and the ordering service's folder come along, temporary files do not.
 */
import '../embedded/support/quiet';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChannelStore, DATA_FILE } from '@fund/app/dist/blockchain/embedded/ledger';
import { rebuildLedger, snapshotLedger } from '@fund/app/dist/backup/ledger-snapshot';
import { nextBlock, removeDir, tempDir, tx } from '../ledger/support/ledger';

async function commitBlocks(store: ChannelStore, from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n++) await store.commit(await nextBlock(store.blocks, [tx(`${store.channel}-${n}`, [[`k${n % 7}`, `value ${n}`]])]));
}

test('a snapshot taken while blocks are committed rebuilds and verifies; a torn last record is left out and the source not written', async () => {
  const root = tempDir();
  try {
    const ledger = path.join(root, 'ledger');
    const business = await ChannelStore.open(ledger, 'business');
    const routing = await ChannelStore.open(ledger, 'routing');
    await commitBlocks(routing, 0, 5);
    await commitBlocks(business, 0, 20);
    fs.mkdirSync(path.join(ledger, 'msp'));
    fs.writeFileSync(path.join(ledger, 'msp', 'ProvinceMSP.json'), '{"ca":"province"}');
    fs.writeFileSync(path.join(ledger, 'msp', 'CountyMSP.json.tmp'), '{"half');
    fs.mkdirSync(path.join(ledger, 'orderer', 'replica0', 'business'), { recursive: true });
    fs.writeFileSync(path.join(ledger, 'orderer', 'replica0.identity.json'), '{"key":"replica0"}');
    fs.writeFileSync(path.join(ledger, 'orderer', 'replica0', 'business', 'blocks.log'), 'log');

    // The peer goes on committing while the snapshot is taken.
    let committing = true;
    let next = 20;
    const writer = (async () => {
      while (committing) await commitBlocks(business, next++, 1);
    })();
    const first = await snapshotLedger(ledger, path.join(root, 'copy1', 'ledger'), 'routing', () => {});
    committing = false;
    await writer;
    assert.deepEqual(first.channels.map((c) => c.channel), ['business', 'routing'], 'the sets first, the routing channel last');
    const [b1, r1] = first.channels;
    assert.ok(b1.height >= 20 && b1.height <= business.blocks.height(), `business at ${b1.height} of ${business.blocks.height()}`);
    assert.equal(r1.height, 5);
    assert.deepEqual(first.msp, ['ProvinceMSP.json']);
    assert.equal(first.orderer, true);
    await rebuildLedger(path.join(root, 'copy1', 'ledger'), first, () => {});
    assert.equal(fs.readFileSync(path.join(root, 'copy1', 'ledger', 'orderer', 'replica0', 'business', 'blocks.log'), 'utf8'), 'log');
    assert.equal(fs.existsSync(path.join(root, 'copy1', 'ledger', 'msp', 'CountyMSP.json.tmp')), false, 'a temporary file is left out');

    // A crash in the middle of writing a block: its record is cut short at the end of blocks.dat.
    const height = business.blocks.height();
    await business.close();
    await routing.close();
    const data = path.join(ledger, 'business', 'blocks', DATA_FILE);
    const torn = Buffer.alloc(12);
    torn.writeUInt32BE(5000); // announces 5,000 bytes, holds 8
    fs.appendFileSync(data, torn);
    const sizeWithTorn = fs.statSync(data).size;
    const second = await snapshotLedger(ledger, path.join(root, 'copy2', 'ledger'), 'routing', () => {});
    assert.equal(second.channels[0].height, height, 'the torn record is not a block');
    assert.equal(second.channels[0].bytes, sizeWithTorn - torn.length);
    assert.equal(fs.statSync(data).size, sizeWithTorn, 'the source is not repaired by a backup');
    assert.deepEqual(fs.readdirSync(path.dirname(data)).filter((n) => n.includes('torn')), [], 'nothing moved aside in the source');
    await rebuildLedger(path.join(root, 'copy2', 'ledger'), second, () => {});

    // A copy that does not reach the recorded height is caught by the restore's check.
    const short = { ...second, channels: second.channels.map((c) => (c.channel === 'business' ? { ...c, height: c.height + 1 } : c)) };
    await assert.rejects(rebuildLedger(path.join(root, 'copy2', 'ledger'), short, () => {}), /ledger business: restored height \d+ .*the manifest says \d+/);
  } finally {
    removeDir(root);
  }
});
