/**
 * The embedded LedgerGateway end to end: the workflow committed in blocks and surviving a
 * restart, concurrent conflicting submits, refused proposals, event replay from a checkpoint,
 * a SIGKILL during a burst, tampering caught by verify, and the operator CLI.
 */
import '../embedded/support/quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CertificateAuthority } from '@fund/app/dist/blockchain/embedded';
import { DATA_FILE, INDEX_FILE } from '@fund/app/dist/blockchain/embedded/ledger';
import { CommitError, EndorsementError, type ChaincodeEventRecord } from '@fund/app/dist/blockchain/gateway';
import { CHANNEL, ChaincodeHarness } from '../chaincode/support/harness';
import { DraftView, ORGS, actor, approvedProject, fundedProject, payAllHops, setUpProvince } from '../chaincode/support/fixture';
import { removeDir, take, tempDir } from '../ledger/support/ledger';
import { runUntilKilled } from '../support/kill-child';

const FAST = { batchTimeoutMs: 5 };
const VERIFY_CLI = require.resolve('@fund/app/dist/blockchain/embedded/ledger/verify-cli.js');
const LEDGER_CLI = require.resolve('@fund/app/dist/blockchain/embedded/ledger-cli.js');

function cli(script: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('embedded ledger: the workflow in blocks, then a restart', () => {
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => removeDir(dir));

  test('a funded and completed project survives a restart with the same height and state; verify is clean', async () => {
    let h = await ChaincodeHarness.onLedger({ dataDir: dir, batch: FAST });
    await setUpProvince(h);
    const projectId = await fundedProject(h);
    const unit = await actor(h, 'unit');
    const evidence = [{ name: '验收报告.pdf', sha256: 'c'.repeat(64), size: 4096 }];
    await h.ok(unit, 'Project:reportProgress', projectId, JSON.stringify({ milestone: '验收', percent: 100, note: '通过县级验收', evidence }));
    const auditor = await actor(h, 'auditor');
    const project = await h.query<{ status: string }>(auditor, 'Project:get', projectId);
    assert.equal(project.status, 'COMPLETED');
    const info = await h.ledger.chainInfo(CHANNEL);
    assert.ok(info.height > 20, `the workflow took ${info.height} blocks`);
    const snapshot = await h.snapshot();
    const history = await h.ledger.history(auditor, CHANNEL, 'Project', projectId);
    await h.close();

    h = await ChaincodeHarness.onLedger({ dataDir: dir, batch: FAST });
    try {
      assert.deepEqual(await h.ledger.chainInfo(CHANNEL), info, 'same height and last block hash');
      assert.deepEqual(await h.snapshot(), snapshot, 'same world state');
      const auditorAgain = await actor(h, 'auditor'); // a fresh certificate from the persisted CA
      assert.deepEqual(await h.ledger.history(auditorAgain, CHANNEL, 'Project', projectId), history);
      // The chain goes on from where it stopped.
      const lgo = await actor(h, 'leadingGroup');
      await h.ok(lgo, 'Reconciliation:sweepUnmatched');
      assert.equal((await h.ledger.chainInfo(CHANNEL)).height, info.height + 1);
    } finally {
      await h.close();
    }

    const verified = cli(VERIFY_CLI, dir);
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, new RegExp(`ok   business: height ${info.height + 1}`));
  });

  test('one byte changed in a stored block is reported by verify, naming the block', () => {
    const blocksDir = path.join(dir, CHANNEL, 'blocks');
    const idx = fs.readFileSync(path.join(blocksDir, INDEX_FILE));
    const data = fs.readFileSync(path.join(blocksDir, DATA_FILE));
    const n = 7;
    const start = Number(idx.readBigUInt64BE(n * 8));
    const at = data.indexOf('"status":200', start);
    data.write('"status":201', at); // one byte: a changed response status
    fs.writeFileSync(path.join(blocksDir, DATA_FILE), data);
    const verified = cli(VERIFY_CLI, dir);
    assert.equal(verified.status, 1);
    assert.match(verified.stdout, /FAIL business/);
    assert.match(verified.stdout, /- block 7: dataHash does not match its transactions/);
  });
});

describe('embedded ledger: concurrency, refusals and events', () => {
  let dir: string;
  let h: ChaincodeHarness;
  before(async () => {
    dir = tempDir();
    h = await ChaincodeHarness.onLedger({ dataDir: dir, batch: { maxMessageCount: 100, batchTimeoutMs: 20 } });
    await setUpProvince(h);
  });
  after(async () => {
    await h.close();
    removeDir(dir);
  });

  test('twenty clients accept the same draft at once: exactly one commits, the others are MVCC conflicts', async () => {
    const { projectId } = await approvedProject(h);
    const [draft] = (await payAllHops(h, projectId)) as DraftView[];
    const unit = await actor(h, 'unit');
    const height = (await h.ledger.chainInfo(CHANNEL)).height;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, () => h.ledger.submit(unit, { channel: CHANNEL, fcn: 'Draft:accept', args: [draft.draftId] })),
    );
    const committed = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as Error] : []));
    assert.equal(committed.length, 1);
    assert.equal(refused.length, 19);
    for (const err of refused) {
      assert.ok(err instanceof CommitError, err.message);
      assert.equal(err.code, 'MVCC_READ_CONFLICT');
    }
    // All twenty were ordered (Fabric records invalid transactions too); only one changed anything.
    const blocks = [];
    for (let n = height; n < (await h.ledger.chainInfo(CHANNEL)).height; n++) blocks.push(await h.ledger.getBlock(CHANNEL, n));
    const txs = blocks.flatMap((b) => b.transactions);
    assert.equal(txs.length, 20);
    assert.deepEqual(txs.filter((t) => t.validationCode === 'VALID').map((t) => t.fcn), ['Draft:accept']);
    assert.ok(txs.filter((t) => t.validationCode !== 'VALID').every((t) => /changed since it was read|earlier transaction of this block/.test(t.validationMessage ?? '')));
    const lgo = await actor(h, 'leadingGroup');
    const history = await h.query<Array<{ value: { status: string } }>>(lgo, 'Draft:history', draft.draftId);
    assert.equal(history.filter((e) => e.value.status === 'ACCEPTED').length, 1, 'accepted exactly once');
  });

  test('a chaincode refusal is an EndorsementError and nothing is ordered', async () => {
    const before = await h.ledger.chainInfo(CHANNEL);
    const county = await actor(h, 'countyOffice');
    await assert.rejects(h.ledger.submit(county, { channel: CHANNEL, fcn: 'Project:file', args: ['{"name":""}'] }), (err: Error) => {
      assert.ok(err instanceof EndorsementError);
      assert.equal(err.code, 'VALIDATION');
      return true;
    });
    assert.deepEqual(await h.ledger.chainInfo(CHANNEL), before);
  });

  test('a certificate from a CA the ledger does not trust is refused before the chaincode runs', async () => {
    const before = await h.ledger.chainInfo(CHANNEL);
    const rogueCa = await CertificateAuthority.create('ProvinceMSP', 'ca.rogue');
    const rogue = await rogueCa.enrol({ enrollmentId: 'admin@PLATFORM', role: 'admin', org: ORGS.platform.id });
    await assert.rejects(h.ledger.submit(rogue, { channel: CHANNEL, fcn: 'Organisation:setActive', args: ['LS-UNIT', 'false'] }), (err: Error) => {
      assert.ok(err instanceof EndorsementError);
      assert.match(err.message, /not a valid identity of MSP "ProvinceMSP"/);
      return true;
    });
    await assert.rejects(h.ledger.submit(await actor(h, 'platform'), { channel: 'nosuch', fcn: 'Config:get' }), /unknown channel "nosuch"/);
    assert.deepEqual(await h.ledger.chainInfo(CHANNEL), before);
  });

  test('chaincode events replay from block 0, resume after a checkpoint, then arrive live', async () => {
    const height = (await h.ledger.chainInfo(CHANNEL)).height;
    // The newest valid transaction (the last blocks may hold only the invalidated accepts).
    let lastValid;
    for (let n = height - 1; !lastValid; n--) lastValid = (await h.ledger.getBlock(CHANNEL, n)).transactions.findLast((t) => t.validationCode === 'VALID');
    const all = await take(h.ledger.chaincodeEvents(CHANNEL), (items) => items.at(-1)!.txId === lastValid.txId);
    assert.deepEqual(all.slice(0, 2).map((e) => e.name), ['ChannelInitialised', 'OrganisationRegistered']);
    assert.ok(all.every((e, i) => i === 0 || e.blockNumber > all[i - 1].blockNumber || (e.blockNumber === all[i - 1].blockNumber && e.txNum > all[i - 1].txNum)), 'in ledger order');
    assert.ok(all.some((e) => e.name === 'ProjectApproved') && all.some((e) => e.name === 'DraftAccepted'));
    assert.equal(JSON.parse(all[0].payload.toString('utf8')).txId, all[0].txId);

    // Resume after a checkpoint in the middle: the next event is the one after it.
    const mid = Math.floor(all.length / 2);
    const resumed = await take(h.ledger.chaincodeEvents(CHANNEL, { blockNumber: all[mid].blockNumber, txId: all[mid].txId }), (items) => items.length === all.length - mid - 1);
    assert.deepEqual(resumed.map((e) => e.txId), all.slice(mid + 1).map((e) => e.txId));

    // Live: a stream positioned at the current height sees the next commit.
    const live = h.ledger.chaincodeEvents(CHANNEL, { blockNumber: height });
    const blocks = h.ledger.blockEvents(CHANNEL, height - 1);
    const nextEvent = take(live, () => true);
    const nextBlocks = take(blocks, (items) => items.length === 2);
    const lgo = await actor(h, 'leadingGroup');
    const swept = await h.submit(lgo, 'Reconciliation:sweepUnmatched');
    const [event] = (await nextEvent) as ChaincodeEventRecord[];
    assert.equal(event.txId, swept.txId);
    const [previous, fresh] = await nextBlocks;
    assert.equal(previous.number, height - 1);
    assert.equal(fresh.number, height);
    assert.equal(fresh.previousHash, (await h.ledger.chainInfo(CHANNEL)).previousBlockHash);
    assert.deepEqual(fresh.transactions.map((t) => [t.txId, t.fcn, t.creator, t.validationCode]), [[swept.txId, 'Reconciliation:sweepUnmatched', 'leadingGroup@LGO', 'VALID']]);
  });

  test('the operator CLI shows channels, chain info, a block, a transaction and a key history', async () => {
    const { projectId } = await approvedProject(h);
    const tx = await h.ledger.getTransaction(CHANNEL, (await h.ledger.history(await actor(h, 'auditor'), CHANNEL, 'Project', projectId) as Array<{ txId: string }>)[0].txId);
    assert.ok(tx);
    const lgo = await actor(h, 'leadingGroup');
    const drafts = await h.query<DraftView[]>(lgo, 'Draft:listByProject', projectId);
    // LevelDB admits one process at a time: the CLI reads a copy of the ledger while this one runs.
    const copy = tempDir();
    try {
      await h.ledger.close();
      fs.cpSync(dir, copy, { recursive: true });
      h = await ChaincodeHarness.onLedger({ dataDir: dir, batch: { maxMessageCount: 100, batchTimeoutMs: 20 } });
      const height = (await h.ledger.chainInfo(CHANNEL)).height;

      const channels = cli(LEDGER_CLI, '--data', copy, 'channels');
      assert.equal(channels.status, 0, channels.stderr);
      assert.match(channels.stdout, new RegExp(`business\\s+height ${height}`));

      const info = cli(LEDGER_CLI, '--data', copy, '--json', 'info', CHANNEL);
      assert.equal(info.status, 0, info.stderr);
      assert.equal(JSON.parse(info.stdout).height, height);
      assert.equal(JSON.parse(info.stdout).currentBlockHash, (await h.ledger.chainInfo(CHANNEL)).currentBlockHash);

      const block = cli(LEDGER_CLI, '--data', copy, 'block', CHANNEL, String(tx.blockNumber));
      assert.equal(block.status, 0, block.stderr);
      assert.match(block.stdout, new RegExp(`${tx.txId}\\s+VALID\\s+Project:file\\s+CountyMSP`));

      const shown = cli(LEDGER_CLI, '--data', copy, 'tx', CHANNEL, tx.txId);
      assert.equal(shown.status, 0, shown.stderr);
      assert.match(shown.stdout, /call\s+Project:file/);
      assert.match(shown.stdout, new RegExp(`writes .*/Project/${projectId}/`));

      const history = cli(LEDGER_CLI, '--data', copy, '--json', 'history', CHANNEL, 'Draft', drafts[0].draftId);
      assert.equal(history.status, 0, history.stderr);
      assert.deepEqual(JSON.parse(history.stdout).map((e: { value: { status: string } }) => e.value.status), ['ISSUED']);

      // Wrong input: a clear message and a non-zero exit.
      const missing = cli(LEDGER_CLI, '--data', copy, 'block', CHANNEL, '99999');
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, new RegExp(`block "99999" does not exist: channel business has blocks 0 to ${height - 1}`));
      assert.equal(cli(LEDGER_CLI, '--data', copy, 'tx', CHANNEL, 'f'.repeat(64)).status, 1);
      assert.match(cli(LEDGER_CLI, '--data', copy, 'frobnicate').stderr, /unknown command "frobnicate"/);
      assert.match(cli(LEDGER_CLI, '--data', copy, 'info', 'nosuch').stderr, /no ledger for channel "nosuch"/);
      // The running ledger holds its LevelDB lock: the CLI says so instead of failing obscurely.
      const locked = cli(LEDGER_CLI, '--data', dir, 'info', CHANNEL);
      assert.equal(locked.status, 2);
      assert.match(locked.stderr, /is the platform running\?/);
    } finally {
      removeDir(copy);
    }
  });
});

describe('embedded ledger: SIGKILL during a burst of submits', () => {
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => removeDir(dir));

  test('every transaction reported committed is there after a restart, none half-applied, verify clean', async (t) => {
    const fixture = path.resolve(__dirname, 'fixtures', 'submit-burst.js');
    const reported: Array<{ fcn: string; txId: string; projectId: string }> = [];
    for (let round = 0; round < 2; round++) {
      const lines = await runAndKill(fixture, dir, 40 + round * 13);
      const committed = lines.map((l) => l.split(' ')).map(([, fcn, txId, projectId]) => ({ fcn, txId, projectId }));
      t.diagnostic(`round ${round}: ${committed.length} transactions reported committed before SIGKILL`);
      reported.push(...committed);
    }
    const h = await ChaincodeHarness.onLedger({ dataDir: dir, batch: FAST });
    try {
      const auditor = await actor(h, 'auditor');
      for (const r of reported) {
        const tx = await h.ledger.getTransaction(CHANNEL, r.txId);
        assert.equal(tx?.validationCode, 'VALID', `${r.fcn} ${r.txId} is on the ledger`);
        const project = await h.query<{ status: string }>(auditor, 'Project:get', r.projectId);
        if (r.fcn === 'approve') {
          // Approval writes the project and its three drafts in one transaction: all or nothing.
          assert.equal(project.status, 'APPROVED');
          assert.equal((await h.query<unknown[]>(auditor, 'Draft:listByProject', r.projectId)).length, 3);
        }
      }
      // Nothing half-applied anywhere: every approved project has all its drafts.
      const projects = await h.query<Array<{ id: string; status: string }>>(auditor, 'Project:list', '{}');
      for (const p of projects) {
        const drafts = await h.query<unknown[]>(auditor, 'Draft:listByProject', p.id);
        assert.equal(drafts.length, p.status === 'APPROVED' ? 3 : 0, `project ${p.id} (${p.status})`);
      }
    } finally {
      await h.close();
    }
    const verified = cli(VERIFY_CLI, dir);
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
  });
});

/** Runs the burst child until it has reported `count` commits, SIGKILLs it, returns the COMMITTED lines. */
async function runAndKill(fixture: string, dataDir: string, count: number): Promise<string[]> {
  const committed: string[] = [];
  await runUntilKilled(fixture, [dataDir], (line, kill) => {
    // Lines after the kill was decided still count: they were reported committed too.
    if (line.startsWith('COMMITTED ') && committed.push(line) === count) kill();
  });
  return committed;
}
