/**
 * verifyChannel and its CLI: clean on a good ledger; a flipped byte in a stored block or a
 * changed value in LevelDB is reported, naming the block or key first.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { ChannelStore, DATA_FILE, INDEX_FILE, stateKey, verifyChannel } from '@fund/app/dist/blockchain/embedded/ledger';
import { nextBlock, removeDir, tempDir, tx } from './support/ledger';

const CLI = require.resolve('@fund/app/dist/blockchain/embedded/ledger/verify-cli.js');

/** Five blocks; block n writes "k<n>" and "\0Draft\0d<n>\0", and in another namespace puts "o<n>" and deletes "o<n-1>". */
async function buildLedger(dataDir: string, channel: string): Promise<void> {
  const store = await ChannelStore.open(dataDir, channel);
  try {
    for (let n = 0; n < 5; n++) {
      await store.commit(
        await nextBlock(store.blocks, [
          tx(`tx-${n}-0`, [[`k${n}`, `value ${n}`], ['\0Draft\0d' + n + '\0', `{"n":${n}}`]]),
          tx(`tx-${n}-1`, [[`k${n}`, 'conflicting']], { code: 'MVCC_READ_CONFLICT' }),
          tx(`tx-${n}-2`, [[`o${n}`, `${n}`], [`o${n - 1}`, null]], { ns: 'other' }),
        ]),
      );
    }
  } finally {
    await store.close();
  }
}

/** Rewrites `from` as `to` (same length) inside block n's record in blocks.dat. */
function tamperBlock(dataDir: string, channel: string, n: number, from: string, to: string): void {
  const blocksDir = path.join(dataDir, channel, 'blocks');
  const idx = fs.readFileSync(path.join(blocksDir, INDEX_FILE));
  const data = fs.readFileSync(path.join(blocksDir, DATA_FILE));
  const start = Number(idx.readBigUInt64BE(n * 8));
  const end = n * 8 + 8 < idx.length ? Number(idx.readBigUInt64BE(n * 8 + 8)) : data.length;
  const at = data.indexOf(from, start);
  assert.ok(at >= 0 && at < end, `"${from}" occurs in block ${n}`);
  data.write(to, at);
  fs.writeFileSync(path.join(blocksDir, DATA_FILE), data);
}

async function tamperState(dataDir: string, channel: string, ns: string, key: string, change: (raw: Buffer) => void): Promise<void> {
  const db = new ClassicLevel<Buffer, Buffer>(path.join(dataDir, channel, 'state'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  const raw = await db.get(stateKey(ns, key));
  assert.ok(raw, `state has ${ns}/${key}`);
  change(raw);
  await db.put(stateKey(ns, key), raw);
  await db.close();
}

describe('verifyChannel', () => {
  let dir: string;
  before(async () => {
    dir = tempDir();
    for (const ch of ['clean', 'badblock', 'badjson', 'badvalue', 'badversion']) await buildLedger(dir, ch);
    tamperBlock(dir, 'badblock', 2, 'tx-2-1', 'tx-2-X');
    tamperBlock(dir, 'badjson', 3, '{"number":3', '{"number"?3');
    // Flip one bit of k4's value: "value 4" -> "valud 4".
    await tamperState(dir, 'badvalue', 'cc', 'k4', (raw) => (raw[raw.length - 3] ^= 1));
    await tamperState(dir, 'badversion', 'cc', '\0Draft\0d2\0', (raw) => raw.writeBigUInt64BE(7n, 8));
  });
  after(() => removeDir(dir));

  test('a good ledger verifies clean', async () => {
    assert.deepEqual(await verifyChannel(dir, 'clean'), { ok: true, height: 5, problems: [], notes: [] });
  });

  test('a flipped byte inside a stored block names that block', async () => {
    const report = await verifyChannel(dir, 'badblock');
    assert.equal(report.ok, false);
    assert.deepEqual(report.problems, ['block 2: dataHash does not match its transactions']);
  });

  test('a block that no longer parses is named, and the chain after it is still checked', async () => {
    const report = await verifyChannel(dir, 'badjson');
    assert.equal(report.ok, false);
    assert.match(report.problems[0], /^block 3 is unreadable/);
    // Block 3's writes can no longer be replayed, so its keys are reported after it.
    assert.ok(report.problems.slice(1).every((p) => p.startsWith('state ')), report.problems.join('\n'));
  });

  test('a value changed directly in LevelDB names that key', async () => {
    const report = await verifyChannel(dir, 'badvalue');
    assert.deepEqual(report.problems, ['state cc "k4": value differs from the chain']);
  });

  test('a changed version names that (composite) key', async () => {
    const report = await verifyChannel(dir, 'badversion');
    assert.deepEqual(report.problems, ['state cc "\\u0000Draft\\u0000d2\\u0000": version 2:7 differs from the chain\'s 2:0']);
  });

  test('unknown channels are reported, not created', async () => {
    const report = await verifyChannel(dir, 'nosuch');
    assert.equal(report.ok, false);
    assert.match(report.problems[0], /no ledger for channel nosuch/);
    assert.equal(fs.existsSync(path.join(dir, 'nosuch')), false);
  });

  test('the CLI checks every channel and exits non-zero on any problem', () => {
    const all = spawnSync(process.execPath, [CLI, dir], { encoding: 'utf8' });
    assert.equal(all.status, 1, all.stderr);
    assert.match(all.stdout, /^ok {3}clean: height 5$/m);
    assert.match(all.stdout, /^FAIL badblock: height 5, 1 problem\(s\)\n {5}- block 2: dataHash does not match/m);
    assert.match(all.stdout, /^FAIL badvalue: height 5/m);

    const cleanOnly = tempDir();
    try {
      fs.renameSync(path.join(dir, 'clean'), path.join(cleanOnly, 'clean'));
      const ok = spawnSync(process.execPath, [CLI, cleanOnly], { encoding: 'utf8' });
      assert.equal(ok.status, 0, ok.stdout + ok.stderr);
      assert.equal(ok.stdout, 'ok   clean: height 5\n');
      assert.equal(spawnSync(process.execPath, [CLI, path.join(cleanOnly, 'missing')]).status, 2);
    } finally {
      removeDir(cleanOnly);
    }
  });
});
