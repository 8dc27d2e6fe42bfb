/**
 * The ledger verifier reads only and refuses what is not a ledger folder: run as `npm run verify` runs it (the CLI in
 * a child process) on a ledger folder, on the platform's data folder, on one channel's folder, on an empty folder and
 * on a missing one; exit codes and messages checked, and the whole tree (names, sizes, modification times) is the
 * same afterwards, even while a peer holds the ledger open.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChannelStore, DATA_FILE } from '@fund/app/dist/blockchain/embedded/ledger';
import { nextBlock, removeDir, tempDir, tx } from '../ledger/support/ledger';

const CLI = require.resolve('@fund/app/dist/blockchain/embedded/ledger/verify-cli.js');

function verify(dir: string): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, dir], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

/** Every file and folder under `dir`: relative path → kind, size and modification time. */
function tree(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (rel: string) => {
    const full = path.join(dir, rel);
    const st = fs.statSync(full);
    found.set(rel || '.', `${st.isDirectory() ? 'dir' : 'file'} ${st.isDirectory() ? '' : st.size} ${st.mtimeMs}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(full).sort()) walk(path.join(rel, name));
  };
  walk('');
  return found;
}

async function buildChannel(ledgerDir: string, channel: string, blocks: number): Promise<void> {
  const store = await ChannelStore.open(ledgerDir, channel);
  try {
    for (let n = 0; n < blocks; n++) await store.commit(await nextBlock(store.blocks, [tx(`${channel}-${n}`, [[`k${n}`, `value ${n}`]])]));
  } finally {
    await store.close();
  }
}

describe('npm run verify reads only and refuses what is not a ledger', () => {
  let root: string;
  let dataDir: string;
  let ledgerDir: string;
  let before_: Map<string, string>;

  before(async () => {
    root = tempDir();
    // The platform's data folder as `npm start` lays it out: ledger/ (CAs and channels), mongo/, uploads/, secrets.json.
    dataDir = path.join(root, 'data');
    ledgerDir = path.join(dataDir, 'ledger');
    await buildChannel(ledgerDir, 'business', 4);
    await buildChannel(ledgerDir, 'routing', 2);
    fs.mkdirSync(path.join(ledgerDir, 'msp'));
    fs.writeFileSync(path.join(ledgerDir, 'msp', 'ProvinceMSP.json'), '{}');
    fs.mkdirSync(path.join(dataDir, 'mongo'));
    fs.writeFileSync(path.join(dataDir, 'mongo', 'store.mv.db'), 'h2');
    fs.mkdirSync(path.join(dataDir, 'uploads'));
    fs.writeFileSync(path.join(dataDir, 'secrets.json'), '{}');
    fs.mkdirSync(path.join(root, 'empty'));
    // Modification times a write would have to change visibly (file systems with coarse clocks included).
    const past = new Date(Date.now() - 3600_000);
    for (const rel of tree(root).keys()) fs.utimesSync(path.join(root, rel), past, past);
    before_ = tree(root);
  });
  after(() => removeDir(root));

  test('a ledger folder: every channel verified clean, the CAs folder not taken for a channel, exit 0', () => {
    const r = verify(ledgerDir);
    assert.equal(r.status, 0, r.out + r.err);
    assert.equal(r.out, 'ok   business: height 4\nok   routing: height 2\n');
  });

  test('the data folder instead of its ledger folder: refused with the right path, exit 2', () => {
    const r = verify(dataDir);
    assert.equal(r.status, 2, r.out + r.err);
    assert.equal(r.out, '');
    assert.match(r.err, /is the platform's data folder \(it has ledger\/, mongo\/, secrets\.json, uploads\/\), not a ledger folder/);
    assert.ok(r.err.includes(`its ledger folder is ${ledgerDir}: npm run verify -- ${ledgerDir}`), r.err);
  });

  test('one channel\'s folder: refused, naming the folder that holds every channel, exit 2', () => {
    const r = verify(path.join(ledgerDir, 'business'));
    assert.equal(r.status, 2, r.out + r.err);
    assert.match(r.err, /is one channel's ledger \(it has blocks\/ and state\/\), not a ledger folder/);
    assert.ok(r.err.includes(`give the folder that holds every channel, ${ledgerDir}`), r.err);
  });

  test('an empty folder, or a folder of other things: no channel ledger, exit 2', () => {
    for (const dir of [path.join(root, 'empty'), path.join(dataDir, 'mongo')]) {
      const r = verify(dir);
      assert.equal(r.status, 2, r.out + r.err);
      assert.equal(r.out, '');
      assert.match(r.err, /^no channel ledger in .*: a ledger folder \(LEDGER_DATA_DIR, by default data\/ledger\) holds one folder per channel, each with blocks\/ and state\/\n$/);
    }
  });

  test('a folder that does not exist: exit 2, and it is not created', () => {
    const missing = path.join(root, 'missing');
    const r = verify(missing);
    assert.equal(r.status, 2);
    assert.match(r.err, /^cannot read the ledger folder .*missing: ENOENT/);
    assert.equal(fs.existsSync(missing), false);
  });

  test('nothing under the verified folders was created, removed or written', () => {
    assert.deepEqual(tree(root), before_);
  });

  test('a ledger in use (its LevelDB locked by an open peer) verifies from a copy, unchanged', async () => {
    const store = await ChannelStore.open(ledgerDir, 'business');
    try {
      const open = tree(ledgerDir);
      const r = verify(ledgerDir);
      assert.equal(r.status, 0, r.out + r.err);
      assert.match(r.out, /^ok {3}business: height 4$/m);
      assert.deepEqual(tree(ledgerDir), open);
    } finally {
      await store.close();
    }
  });

  test('a crash artefact (a torn last record) is a note, not a problem, and is left where it is', () => {
    const torn = tempDir();
    try {
      fs.cpSync(ledgerDir, torn, { recursive: true });
      fs.appendFileSync(path.join(torn, 'routing', 'blocks', DATA_FILE), Buffer.from([0, 0, 1, 0, 0x7b]));
      const snapshot = tree(torn);
      const r = verify(torn);
      assert.equal(r.status, 0, r.out + r.err);
      assert.match(r.out, /^ok {3}routing: height 2\n {5}note: blocks\.dat ends with a record cut short at byte \d+ \(a crash while writing\)/m);
      assert.deepEqual(tree(torn), snapshot);
      assert.deepEqual(fs.readdirSync(path.join(torn, 'routing', 'blocks')).filter((f) => f.includes('.torn-')), []);
    } finally {
      removeDir(torn);
    }
  });

  test('damage is still found: a channel folder without its block store fails, exit 1', () => {
    const broken = tempDir();
    try {
      fs.cpSync(ledgerDir, broken, { recursive: true });
      fs.rmSync(path.join(broken, 'routing', 'blocks'), { recursive: true });
      const r = verify(broken);
      assert.equal(r.status, 1, r.out + r.err);
      assert.match(r.out, /^ok {3}business: height 4$/m);
      assert.match(r.out, /^FAIL routing: height 0, 1 problem\(s\)\n {5}- no ledger for channel routing in .*: .*blocks\.dat does not exist$/m);
      assert.equal(fs.existsSync(path.join(broken, 'routing', 'blocks')), false);
    } finally {
      removeDir(broken);
    }
  });
});
