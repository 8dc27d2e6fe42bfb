/**
 * The embedded LedgerGateway with every channel's peer on a thread of its own (channelThreads):
 * the same end-to-end behaviour as on the ledger's thread (embedded-ledger.test.ts), trust in an
 * MSP created after the threads started, another chaincode module, and a close that leaves
 * nothing running.
 */
import '../embedded/support/quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { CertificateAuthority, EmbeddedLedger, type ChaincodeModule, type EmbeddedLedgerOptions } from '@fund/app/dist/blockchain/embedded';
import { ChannelStore } from '@fund/app/dist/blockchain/embedded/ledger';
import { CommitError, EndorsementError, type ChaincodeEventRecord } from '@fund/app/dist/blockchain/gateway';
import { CHAINCODE, CHANNEL, ChaincodeHarness } from '../chaincode/support/harness';
import { DraftView, ORGS, actor, approvedProject, fundedProject, payAllHops, setUpProvince } from '../chaincode/support/fixture';
import { removeDir, take, tempDir } from '../ledger/support/ledger';

const FAST = { batchTimeoutMs: 5 };
const VERIFY_CLI = require.resolve('@fund/app/dist/blockchain/embedded/ledger/verify-cli.js');
/** The chaincode-as-a-service test's counter contract, loaded here as a module. */
const COUNTER: ChaincodeModule = { name: 'counter', version: '1.0.0', module: path.resolve(__dirname, '..', '..', 'test', 'embedded', 'fixtures', 'kv-chaincode'), exportName: 'contracts' };

/** A harness whose calls go through an EmbeddedLedger with channel threads, stamped with the harness's clock. */
async function onThreads(dataDir: string, opts: Partial<EmbeddedLedgerOptions> = {}): Promise<{ h: ChaincodeHarness; ledger: EmbeddedLedger }> {
  const self: { h?: ChaincodeHarness } = {};
  const ledger = await EmbeddedLedger.open({ dataDir, channels: [CHANNEL], batch: FAST, channelThreads: 'all', clock: () => self.h!.clock, ...opts });
  // The harness reads no events of its calls in these tests (they are read from the gateway's streams).
  self.h = ChaincodeHarness.onGateway(ledger, async () => [], CHANNEL);
  self.h.clock = new Date('2026-11-02T09:00:00+08:00');
  return { h: self.h, ledger };
}

/** Every key and value of the fund namespace, read from the stores of a closed ledger. */
async function stateOf(dataDir: string): Promise<Map<string, string>> {
  const store = await ChannelStore.open(dataDir, CHANNEL);
  const out = new Map<string, string>();
  try {
    for await (const kv of store.state.range(CHAINCODE, '', '')) out.set(kv.key, kv.value.toString('hex'));
  } finally {
    await store.close();
  }
  return out;
}

describe('channel threads: the workflow in blocks, then a restart', () => {
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => removeDir(dir));

  test('a funded and completed project survives a restart with the same height and state; verify is clean', async () => {
    let { h, ledger } = await onThreads(dir);
    assert.throws(() => ledger.ledger(CHANNEL), /runs on a thread of its own/, 'the channel is not on this thread');
    await setUpProvince(h);
    const projectId = await fundedProject(h);
    const unit = await actor(h, 'unit');
    const evidence = [{ name: '验收报告.pdf', sha256: 'c'.repeat(64), size: 4096 }];
    await h.ok(unit, 'Project:reportProgress', projectId, JSON.stringify({ milestone: '验收', percent: 100, note: '通过县级验收', evidence }));
    const auditor = await actor(h, 'auditor');
    const project = await h.query<{ status: string }>(auditor, 'Project:get', projectId);
    assert.equal(project.status, 'COMPLETED');
    let swept = '';
    const info = await ledger.chainInfo(CHANNEL);
    assert.ok(info.height > 20, `the workflow took ${info.height} blocks`);
    const last = await ledger.getBlock(CHANNEL, info.height - 1);
    assert.equal(last.previousHash, info.previousBlockHash);
    const history = await ledger.history(auditor, CHANNEL, 'Project', projectId);
    await ledger.close();
    const state = await stateOf(dir);
    assert.ok(state.size > 10, `${state.size} keys in the world state`);

    ({ h, ledger } = await onThreads(dir));
    try {
      assert.deepEqual(await ledger.chainInfo(CHANNEL), info, 'same height and last block hash');
      const auditorAgain = await actor(h, 'auditor'); // a fresh certificate from the persisted CA
      assert.deepEqual(await ledger.history(auditorAgain, CHANNEL, 'Project', projectId), history);
      assert.deepEqual(await h.query(auditorAgain, 'Project:get', projectId), project);
      const lgo = await actor(h, 'leadingGroup');
      swept = (await h.submit(lgo, 'Reconciliation:sweepUnmatched')).txId;
      assert.equal((await ledger.chainInfo(CHANNEL)).height, info.height + 1);
    } finally {
      await ledger.close();
    }
    // The world state after the restart is the one before it, but for what the new transaction wrote.
    const after = await stateOf(dir);
    const store = await ChannelStore.open(dir, CHANNEL);
    const written = new Set((await store.blocks.getTransaction(swept))!.transaction.results.writes.map((w) => w.key));
    await store.close();
    for (const key of written) {
      state.delete(key);
      after.delete(key);
    }
    assert.deepEqual(after, state);

    const verified = spawnSync(process.execPath, [VERIFY_CLI, dir], { encoding: 'utf8' });
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, new RegExp(`ok   business: height ${info.height + 1}`));
  });
});

describe('channel threads: concurrency, refusals, the beforeEndorse hook and events', () => {
  let dir: string;
  let h: ChaincodeHarness;
  let ledger: EmbeddedLedger;
  before(async () => {
    dir = tempDir();
    ({ h, ledger } = await onThreads(dir, { batch: { maxMessageCount: 100, batchTimeoutMs: 20 } }));
    await setUpProvince(h);
  });
  after(async () => {
    await ledger.close();
    removeDir(dir);
  });

  test('twenty clients accept the same draft at once: exactly one commits, the others are MVCC conflicts', async () => {
    const { projectId } = await approvedProject(h);
    const [draft] = (await payAllHops(h, projectId)) as DraftView[];
    const unit = await actor(h, 'unit');
    const height = (await ledger.chainInfo(CHANNEL)).height;
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => ledger.submit(unit, { channel: CHANNEL, fcn: 'Draft:accept', args: [draft.draftId] })));
    const committed = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as Error] : []));
    assert.equal(committed.length, 1);
    assert.equal(refused.length, 19);
    for (const err of refused) {
      assert.ok(err instanceof CommitError, err.message);
      assert.equal(err.code, 'MVCC_READ_CONFLICT');
      assert.match(err.message, /^transaction [0-9a-f]{64} was invalidated in block \d+: MVCC_READ_CONFLICT \(/);
    }
    const blocks = [];
    for (let n = height; n < (await ledger.chainInfo(CHANNEL)).height; n++) blocks.push(await ledger.getBlock(CHANNEL, n));
    const txs = blocks.flatMap((b) => b.transactions);
    assert.equal(txs.length, 20, 'all twenty were ordered');
    assert.deepEqual(txs.filter((t) => t.validationCode === 'VALID').map((t) => t.fcn), ['Draft:accept']);
    const valid = (committed[0] as PromiseFulfilledResult<{ txId: string; blockNumber: number }>).value;
    assert.deepEqual(await ledger.getTransaction(CHANNEL, valid.txId), { ...txs.find((t) => t.txId === valid.txId), blockNumber: valid.blockNumber });
  });

  test('a chaincode refusal is an EndorsementError with its status and message, and nothing is ordered', async () => {
    const before = await ledger.chainInfo(CHANNEL);
    const county = await actor(h, 'countyOffice');
    await assert.rejects(ledger.submit(county, { channel: CHANNEL, fcn: 'Project:file', args: ['{"name":""}'] }), (err: Error) => {
      assert.ok(err instanceof EndorsementError);
      assert.equal(err.code, 'VALIDATION');
      assert.ok(err.status >= 400 && err.status < 600, `status ${err.status}`);
      assert.match(err.txId, /^[0-9a-f]{64}$/);
      return true;
    });
    await assert.rejects(ledger.evaluate(county, { channel: CHANNEL, fcn: 'Project:get', args: ['no-such-project'] }), EndorsementError);
    assert.deepEqual(await ledger.chainInfo(CHANNEL), before);
  });

  test('a certificate from a CA the ledger does not trust is refused before the chaincode runs', async () => {
    const before = await ledger.chainInfo(CHANNEL);
    const rogueCa = await CertificateAuthority.create('ProvinceMSP', 'ca.rogue');
    const rogue = await rogueCa.enrol({ enrollmentId: 'admin@PLATFORM', role: 'admin', org: ORGS.platform.id });
    await assert.rejects(ledger.submit(rogue, { channel: CHANNEL, fcn: 'Organisation:setActive', args: ['LS-UNIT', 'false'] }), (err: Error) => {
      assert.ok(err instanceof EndorsementError);
      assert.equal(err.status, 403);
      assert.match(err.message, /^invalid proposal: creator certificate is not a valid identity of MSP "ProvinceMSP"$/);
      return true;
    });
    await assert.rejects(ledger.submit(await actor(h, 'platform'), { channel: 'nosuch', fcn: 'Config:get' }), /unknown channel "nosuch"/);
    assert.deepEqual(await ledger.chainInfo(CHANNEL), before);
  });

  test('beforeEndorse receives the txId before endorsement; a rejecting hook leaves nothing ordered', async () => {
    const lgo = await actor(h, 'leadingGroup');
    const seen: Array<{ txId: string; known: boolean }> = [];
    const result = await ledger.submit(lgo, {
      channel: CHANNEL,
      fcn: 'Reconciliation:sweepUnmatched',
      beforeEndorse: async (txId) => {
        seen.push({ txId, known: (await ledger.getTransaction(CHANNEL, txId)) !== undefined });
      },
    });
    assert.deepEqual(seen, [{ txId: result.txId, known: false }]);
    assert.equal((await ledger.getTransaction(CHANNEL, result.txId))?.validationCode, 'VALID');

    const before = await ledger.chainInfo(CHANNEL);
    let hooked = '';
    await assert.rejects(
      ledger.submit(lgo, {
        channel: CHANNEL,
        fcn: 'Reconciliation:sweepUnmatched',
        beforeEndorse: async (txId) => {
          hooked = txId;
          throw new Error('no route for this business');
        },
      }),
      /^Error: no route for this business$/,
    );
    assert.match(hooked, /^[0-9a-f]{64}$/);
    await new Promise((resolve) => setTimeout(resolve, 60)); // longer than the batch timeout
    assert.deepEqual(await ledger.chainInfo(CHANNEL), before, 'nothing ordered');
    assert.equal(await ledger.getTransaction(CHANNEL, hooked), undefined);
  });

  test('submitAsync resolves once the transaction is with the orderer, then at its commit', async () => {
    const lgo = await actor(h, 'leadingGroup');
    const height = (await ledger.chainInfo(CHANNEL)).height;
    const { txId, committed } = await ledger.submitAsync(lgo, { channel: CHANNEL, fcn: 'Reconciliation:sweepUnmatched' });
    assert.equal(await ledger.getTransaction(CHANNEL, txId), undefined, 'not committed yet: the block waits for its 20 ms timeout');
    const result = await committed;
    assert.equal(result.txId, txId);
    assert.equal(result.blockNumber, height);
    const county = await actor(h, 'countyOffice');
    await assert.rejects(ledger.submitAsync(county, { channel: CHANNEL, fcn: 'Project:file', args: ['{"name":""}'] }), EndorsementError);
  });

  test('chaincode events replay from block 0, resume after a checkpoint, then arrive live', async () => {
    const height = (await ledger.chainInfo(CHANNEL)).height;
    let lastValid;
    for (let n = height - 1; !lastValid; n--) lastValid = (await ledger.getBlock(CHANNEL, n)).transactions.findLast((t) => t.validationCode === 'VALID');
    const all = await take(ledger.chaincodeEvents(CHANNEL), (items) => items.at(-1)!.txId === lastValid.txId);
    assert.deepEqual(all.slice(0, 2).map((e) => e.name), ['ChannelInitialised', 'OrganisationRegistered']);
    assert.ok(all.every((e, i) => i === 0 || e.blockNumber > all[i - 1].blockNumber || (e.blockNumber === all[i - 1].blockNumber && e.txNum > all[i - 1].txNum)), 'in ledger order');
    assert.ok(all.some((e) => e.name === 'ProjectApproved') && all.some((e) => e.name === 'DraftAccepted'));
    assert.ok(Buffer.isBuffer(all[0].payload), 'payloads are Buffers');
    assert.equal(JSON.parse(all[0].payload.toString('utf8')).txId, all[0].txId);

    const mid = Math.floor(all.length / 2);
    const resumed = await take(ledger.chaincodeEvents(CHANNEL, { blockNumber: all[mid].blockNumber, txId: all[mid].txId }), (items) => items.length === all.length - mid - 1);
    assert.deepEqual(resumed.map((e) => e.txId), all.slice(mid + 1).map((e) => e.txId));

    const live = ledger.chaincodeEvents(CHANNEL, { blockNumber: height });
    const blocks = ledger.blockEvents(CHANNEL, height - 1);
    const nextEvent = take(live, () => true);
    const nextBlocks = take(blocks, (items) => items.length === 2);
    const lgo = await actor(h, 'leadingGroup');
    const swept = await h.submit(lgo, 'Reconciliation:sweepUnmatched');
    const [event] = (await nextEvent) as ChaincodeEventRecord[];
    assert.equal(event.txId, swept.txId);
    const [previous, fresh] = await nextBlocks;
    assert.equal(previous.number, height - 1);
    assert.equal(fresh.number, height);
    assert.equal(fresh.previousHash, (await ledger.chainInfo(CHANNEL)).previousBlockHash);
    assert.deepEqual(fresh.transactions.map((t) => [t.txId, t.fcn, t.creator, t.validationCode]), [[swept.txId, 'Reconciliation:sweepUnmatched', 'leadingGroup@LGO', 'VALID']]);
  });
});

describe('channel threads: membership, chaincode module, close', () => {
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => removeDir(dir));

  test('an MSP created after the threads started is trusted by them; the chaincode is the module named', async () => {
    const ledger = await EmbeddedLedger.open({ dataDir: dir, channels: ['set1', 'set2'], batch: FAST, channelThreads: 'all', chaincodeModule: COUNTER });
    try {
      const late = await ledger.enrol({ enrollmentId: 'teller@LATE', mspId: 'LateBankMSP', role: 'bank', org: 'LATE' });
      assert.deepEqual(JSON.parse((await ledger.evaluate(late, { channel: 'set2', fcn: 'Counter:whoami' })).toString('utf8')), { mspId: 'LateBankMSP', role: 'bank' });
      const one = await ledger.submit(late, { channel: 'set1', fcn: 'Counter:increment', args: ['A'] });
      assert.equal(one.payload.toString('utf8'), '1');
      // The two sets are separate chains with separate state.
      assert.equal((await ledger.submit(late, { channel: 'set1', fcn: 'Counter:increment', args: ['A'] })).payload.toString('utf8'), '2');
      assert.equal((await ledger.submit(late, { channel: 'set2', fcn: 'Counter:increment', args: ['A'] })).payload.toString('utf8'), '1');
      assert.equal((await ledger.getTransaction('set1', one.txId))?.fcn, 'Counter:increment');
      // A second late MSP, after the first one's roots were sent.
      const later = await ledger.enrol({ enrollmentId: 'clerk@LATER', mspId: 'LaterMSP', role: 'clerk', org: 'LATER' });
      assert.equal((await ledger.submit(later, { channel: 'set2', fcn: 'Counter:increment', args: ['A'] })).payload.toString('utf8'), '2');
    } finally {
      await ledger.close();
    }
    const store = await ChannelStore.open(dir, 'set1');
    try {
      const block = await store.blocks.getBlock(0);
      assert.equal(block.transactions[0].results.namespace, 'counter', 'proposals are built for the module’s chaincode name');
    } finally {
      await store.close();
    }
  });

  test('a chaincode module that does not export contracts fails the open, on a thread and on this one', async () => {
    for (const channelThreads of ['all', 'none'] as const) {
      await assert.rejects(
        EmbeddedLedger.open({ dataDir: dir, channels: ['set1'], channelThreads, chaincodeModule: { ...COUNTER, exportName: 'nosuch' } }),
        /kv-chaincode does not export a list of contract classes named "nosuch"/,
      );
    }
    await assert.rejects(EmbeddedLedger.open({ dataDir: dir, channels: ['set1'], channelThreads: ['set9'] }), /channel threads asked for "set9"/);
    // The failed opens released the stores: the ledger opens again.
    const ledger = await EmbeddedLedger.open({ dataDir: dir, channels: ['set1', 'set2'], channelThreads: ['set2'], chaincodeModule: COUNTER, endorsers: 0 });
    assert.equal(ledger.ledger('set1').height, 2, 'set1 runs on this thread');
    assert.throws(() => ledger.ledger('set2'), /runs on a thread of its own/);
    await ledger.close();
  });

  test('close() commits what was submitted, ends the streams, and leaves nothing running', async () => {
    const ledger = await EmbeddedLedger.open({ dataDir: dir, channels: ['set1', 'set2'], batch: { maxMessageCount: 1000, batchTimeoutMs: 60_000 }, channelThreads: 'all', chaincodeModule: COUNTER });
    const teller = await ledger.enrol({ enrollmentId: 'teller@LATE', mspId: 'LateBankMSP', role: 'bank', org: 'LATE' });
    const stream = ledger.blockEvents('set1', 0);
    const read = (async () => {
      let n = 0;
      for await (const _ of stream) n++;
      return n;
    })();
    // Blocks would wait a minute for their timeout: close() cuts them.
    const submits = Array.from({ length: 5 }, (_, i) => ledger.submitAsync(teller, { channel: i % 2 ? 'set2' : 'set1', fcn: 'Counter:increment', args: [`k${i}`] }));
    const handed = await Promise.all(submits);
    await ledger.close();
    const results = await Promise.all(handed.map((s) => s.committed));
    assert.deepEqual(results.map((r) => r.payload.toString('utf8')), ['1', '1', '1', '1', '1']);
    assert.deepEqual(results.map((r) => r.blockNumber), [2, 2, 2, 2, 2], 'one block per set, cut by close()');
    assert.ok((await read) <= 3, 'the stream ended');
    await assert.rejects(ledger.submit(teller, { channel: 'set1', fcn: 'Counter:increment', args: ['x'] }), /the ledger is shutting down/);

    // A process that opens channel threads, uses them and closes the ledger exits by itself.
    const child = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'threads-close.js'), dir], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.signal, null, `still running after 30 s: ${child.stdout}${child.stderr}`);
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stdout, /^closed: set1 height 4, set2 height 4\n$/);
  });
});
