import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BlockCutter, CutReason } from '@fund/app/dist/blockchain/embedded/ledger/block-cutter';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recorder(deliverDelayMs = 0) {
  const batches: Array<{ items: string[]; reason: CutReason }> = [];
  let active = 0;
  let overlapped = false;
  const deliver = async (items: string[], reason: CutReason) => {
    active += 1;
    if (active > 1) overlapped = true;
    if (deliverDelayMs) await sleep(deliverDelayMs);
    batches.push({ items, reason });
    active -= 1;
  };
  return { batches, deliver, overlapped: () => overlapped };
}

describe('block cutter (orderer batching)', () => {
  it('cuts at MaxMessageCount', async () => {
    const r = recorder();
    const cutter = new BlockCutter<string>({ maxMessageCount: 3, batchTimeoutMs: 10_000, preferredMaxBytes: 1000 }, (s) => s.length, r.deliver);
    await Promise.all(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((x) => cutter.enqueue(x)));
    await cutter.flush();
    assert.deepEqual(r.batches.map((b) => [b.items.join(''), b.reason]), [['abc', 'count'], ['def', 'count'], ['g', 'flush']]);
  });

  it('cuts after BatchTimeout when fewer transactions arrive', async () => {
    const r = recorder();
    const cutter = new BlockCutter<string>({ maxMessageCount: 100, batchTimeoutMs: 30, preferredMaxBytes: 1000 }, (s) => s.length, r.deliver);
    void cutter.enqueue('a');
    void cutter.enqueue('b');
    await sleep(120);
    assert.deepEqual(r.batches.map((b) => [b.items.join(''), b.reason]), [['ab', 'timeout']]);
  });

  it('cuts before PreferredMaxBytes would be exceeded, and sends an oversized transaction alone', async () => {
    const r = recorder();
    const cutter = new BlockCutter<string>({ maxMessageCount: 100, batchTimeoutMs: 10_000, preferredMaxBytes: 10 }, (s) => s.length, r.deliver);
    for (const x of ['aaaa', 'bbbb', 'cccc', 'XXXXXXXXXXXXXXX', 'dd']) void cutter.enqueue(x);
    await cutter.flush();
    assert.deepEqual(r.batches.map((b) => [b.items, b.reason]), [
      [['aaaa', 'bbbb'], 'bytes'],
      [['cccc'], 'bytes'],
      [['XXXXXXXXXXXXXXX'], 'bytes'],
      [['dd'], 'flush'],
    ]);
  });

  it('delivers batches one after another, in order, even when delivery is slow', async () => {
    const r = recorder(15);
    const cutter = new BlockCutter<string>({ maxMessageCount: 2, batchTimeoutMs: 10_000, preferredMaxBytes: 1000 }, (s) => s.length, r.deliver);
    await Promise.all(['1', '2', '3', '4', '5', '6'].map((x) => cutter.enqueue(x)));
    assert.deepEqual(r.batches.map((b) => b.items.join('')), ['12', '34', '56']);
    assert.equal(r.overlapped(), false);
  });

  it('refuses nonsensical settings', () => {
    assert.throws(() => new BlockCutter<string>({ maxMessageCount: 0, batchTimeoutMs: 1, preferredMaxBytes: 1 }, () => 1, async () => {}), /must be positive/);
  });
});

describe('block cutter after a failed delivery', () => {
  it('keeps delivering later batches', async () => {
    const delivered: string[] = [];
    const cutter = new BlockCutter<string>({ maxMessageCount: 1, batchTimeoutMs: 10_000, preferredMaxBytes: 1000 }, (s) => s.length, async (items) => {
      if (items[0] === 'bad') throw new Error('disk full');
      delivered.push(items[0]);
    });
    await assert.rejects(cutter.enqueue('bad'), /disk full/);
    await cutter.enqueue('good');
    assert.deepEqual(delivered, ['good']);
  });
});
