/**
 * The DOMAIN.md workflow on a real Hyperledger Fabric 2.5 network through the Fabric adapter (fabric-network):
 * builds the Fabric commands if needed, starts orderer + 3 peers + the chaincode server as processes
 * (npm run network -- up, createChannel with 200 ms blocks, deployCC), walks the workflow on the business channel
 * and a route on the routing channel, and checks that every peer holds the same chain on both channels; then
 * `network down`. Skipped when a network is already running (it would be torn down) or with FABRIC_TEST=skip.
 */
import '../embedded/support/quiet';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { CommitError, EndorsementError, type ChaincodeEventRecord, type LedgerGateway } from '@fund/app/dist/blockchain';
import type { FabricLedger } from '@fund/app/dist/blockchain/fabric';
import { blockHeaderHash } from '@fund/app/dist/blockchain/embedded/ledger/block';
import { ChaincodeHarness } from '../chaincode/support/harness';
import { CONFIG, DraftView, actor, leishanProject, nextSerial, pay, setUpProvince, terms, transferPlan } from '../chaincode/support/fixture';
import { CHANNELS, FABRIC_DIR, ORGS, SuiteNetwork, Timings, openFabric as openOrg, skipReason } from './support';

const timings = new Timings();

const openFabric = (org: string): Promise<LedgerGateway> => openOrg(org);

const reason = skipReason();

describe('the DOMAIN.md workflow on a real Fabric network through the Fabric adapter', { skip: reason }, () => {
  let ledger: FabricLedger;
  let h: ChaincodeHarness;
  const network = new SuiteNetwork(timings);

  before(async () => {
    await network.up();
    ledger = (await timings.time('open the Fabric ledger', () => openFabric('province'))) as FabricLedger;
    h = ChaincodeHarness.onGateway(ledger, async (n) => (await ledger.block('business', n)).chaincodeEvents);
  });

  after(async () => {
    await h?.close();
    await network.down();
    console.log(timings.report('Fabric workflow timings'));
  });

  it('identities: certificates issued by the organisations\' CAs carry role and org and are accepted by the MSPs', async () => {
    const lgo = await actor(h, 'leadingGroup');
    assert.equal(lgo.mspId, 'ProvinceMSP');
    const cert = new (await import('node:crypto')).X509Certificate(lgo.certificate);
    assert.match(cert.subject, /OU=client/);
    assert.match(cert.issuer, /CN=ca\.province\.fund\.local/);
    await assert.rejects(ledger.enrol({ enrollmentId: 'x', mspId: 'NoSuchMSP', role: 'admin', org: 'X' }), /unknown MSP "NoSuchMSP"/);
    // Before the channel is initialised, every business call is refused by the chaincode, as on the embedded ledger.
    await assert.rejects(ledger.evaluate(lgo, { channel: 'business', fcn: 'Project:list', args: ['{}'] }), (err: unknown) => err instanceof EndorsementError && err.code === 'NOT_INITIALISED');
  });

  it('walks the workflow: set-up, filing, a refused call, approval with signed drafts, a mismatch, every hop, acceptance, progress, history', async () => {
    await timings.time('set up the province (15 submits)', () => setUpProvince(h));
    const county = await actor(h, 'countyOffice');
    const lgo = await actor(h, 'leadingGroup');
    const bank = await actor(h, 'bank');
    const unit = await actor(h, 'unit');
    const auditor = await actor(h, 'auditor');

    // 1. File
    const filed = await h.submit<{ id: string; status: string }>(county, 'Project:file', JSON.stringify(leishanProject()));
    assert.equal(filed.ok, true, filed.message);
    assert.equal(filed.event?.name, 'ProjectFiled');
    const projectId = filed.value.id;

    // 2. A refused call: the county office may not approve. The chaincode's code comes through, nothing is ordered.
    const before = await ledger.chainInfo('business');
    await assert.rejects(
      ledger.submit(county, { channel: 'business', fcn: 'Project:approve', args: [projectId, '自批', JSON.stringify(terms(h)), '{}'] }),
      (err: unknown) => err instanceof EndorsementError && err.code === 'AUTHORISATION' && err.status === 500 && /^AUTHORISATION: role countyOffice may not call Project:approve/.test(err.message),
    );
    const refused = await h.submit(bank, 'Project:reject', projectId, '银行无权驳回');
    assert.match(refused.message, /^AUTHORISATION: role bank may not call Project:reject/);
    assert.deepEqual(await ledger.chainInfo('business'), before, 'refused calls order nothing');
    assert.equal((await h.query<{ status: string }>(lgo, 'Project:get', projectId)).status, 'SUBMITTED');

    // 3. Approve: the leading-group office signs each draft's content; the same transaction issues the drafts
    h.clock = new Date();
    const approval = await h.approve(lgo, projectId, '同意立项，按计划拨付', terms(h));
    assert.equal(approval.ok, true, approval.message);
    assert.deepEqual(approval.event?.payload.events.map((e) => e.type), ['ProjectApproved', 'DraftIssued', 'DraftIssued', 'DraftIssued']);
    const drafts = await h.query<DraftView[]>(lgo, 'Draft:listByProject', projectId);
    assert.deepEqual(drafts.map((d) => [d.source, d.amount, d.status]), [
      ['bank', '90000000', 'ISSUED'],
      ['provincialFinance', '4000000', 'ISSUED'],
      ['countyFinance', '6000000', 'ISSUED'],
    ]);
    for (const d of drafts) assert.equal((await h.query<{ valid: boolean }>(auditor, 'Draft:verifyIssuerSignature', d.draftId)).valid, true);
    const approvalTx = await ledger.getTransaction('business', approval.txId);
    assert.equal(approvalTx?.fcn, 'Project:approve');
    assert.equal(approvalTx?.validationCode, 'VALID');
    assert.equal(approvalTx?.creator, 'leadingGroup@LGO');

    // 4. Reconciliation mismatch: the bank's record says 100 fen less; the draft stays, a discrepancy opens
    h.clock = new Date();
    const serial = nextSerial();
    await h.ok(bank, 'Reconciliation:registerSerial', JSON.stringify({ serial, draftIds: [drafts[0].draftId], stage: 'toPartnership' }));
    const wrong = await h.submit<{ outcome: string; discrepancyId: string; problems: unknown[] }>(bank, 'Reconciliation:recordBankTransfer',
      JSON.stringify({ serial, payerAccount: '600000000001', payeeAccount: '600000000003', amount: '89999900', paidAt: new Date(Date.now() - 1000).toISOString() }));
    assert.equal(wrong.ok, true, wrong.message);
    assert.equal(wrong.value.outcome, 'MISMATCH');
    assert.deepEqual(wrong.value.problems, [{ field: 'amount', expected: '90000000', actual: '89999900' }]);
    assert.ok(wrong.event!.payload.events.some((e) => e.type === 'DiscrepancyRaised'));
    assert.equal((await h.query<DraftView>(lgo, 'Draft:get', drafts[0].draftId)).nextHop, 0, 'the draft did not move');

    // 5. Every hop of every draft, combined transfers where drafts travel together (serials and bank records)
    h.clock = new Date();
    for (const t of transferPlan(await h.query<DraftView[]>(lgo, 'Draft:listByProject', projectId))) await pay(h, t);
    const arrived = await h.query<DraftView[]>(unit, 'Draft:listByProject', projectId);
    for (const d of arrived) {
      assert.equal(d.status, 'AWAITING_ACCEPTANCE');
      assert.equal(d.actualPath.length, d.plannedPath.length);
      assert.ok(d.actualPath.every((a) => !a.overdue));
    }
    const discrepancies = await h.query<Array<{ id: string; status: string; resolution?: { kind: string } }>>(lgo, 'Reconciliation:listDiscrepancies', '{}');
    const closed = discrepancies.find((d) => d.id === wrong.value.discrepancyId);
    assert.deepEqual([closed?.status, closed?.resolution?.kind], ['RESOLVED', 'SUPERSEDED'], 'the correct transfer closed the discrepancy');
    assert.deepEqual(await h.query(lgo, 'Reconciliation:listPending'), []);

    // 6. Accept (承兑): the last acceptance funds the project
    for (const [i, d] of arrived.entries()) {
      const accepted = await h.submit<DraftView>(unit, 'Draft:accept', d.draftId);
      assert.equal(accepted.ok, true, accepted.message);
      assert.deepEqual(accepted.event!.payload.events.map((e) => e.type), i === arrived.length - 1 ? ['DraftAccepted', 'ProjectFunded'] : ['DraftAccepted']);
    }

    // 7. Progress: two reports of the same project at once read the same version; Fabric invalidates the later one
    const evidence = [{ name: '土地流转合同.jpg', sha256: 'b'.repeat(64), size: 2048 }];
    const report = (percent: number) =>
      ledger.submit(unit, { channel: 'business', fcn: 'Project:reportProgress', args: [projectId, JSON.stringify({ milestone: '基地土地流转与整理', percent, note: `完成 ${percent}%`, evidence })] });
    const raced = await Promise.allSettled([report(40), report(50)]);
    const lost = raced.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(lost.length, 1, `one of two concurrent reports loses: ${raced.map((r) => r.status).join(', ')}`);
    assert.ok(lost[0].reason instanceof CommitError, String(lost[0].reason));
    assert.equal((lost[0].reason as CommitError).code, 'MVCC_READ_CONFLICT');
    const invalid = await ledger.getTransaction('business', (lost[0].reason as CommitError).txId);
    assert.equal(invalid?.validationCode, 'MVCC_READ_CONFLICT', 'the invalid transaction is in the block, marked');
    const done = await h.ok<{ percentComplete: number; status: string }>(unit, 'Project:reportProgress', projectId, JSON.stringify({ milestone: '验收', percent: 100, note: '通过县级验收', evidence }));
    assert.deepEqual([done.percentComplete, done.status], [100, 'COMPLETED']);

    // 8. History through the chaincode's own access rules
    const history = (await ledger.history(auditor, 'business', 'Project', projectId)) as Array<{ txId: string; value: { status: string } }>;
    assert.deepEqual(history.map((e) => e.value.status), ['SUBMITTED', 'APPROVED', 'FUNDED', 'FUNDED', 'COMPLETED']);
    const draftHistory = (await ledger.history(lgo, 'business', 'Draft', drafts[0].draftId)) as Array<{ value: { status: string } }>;
    assert.deepEqual(draftHistory.map((e) => e.value.status), ['ISSUED', 'IN_TRANSIT', 'IN_TRANSIT', 'AWAITING_ACCEPTANCE', 'ACCEPTED']);

    // 9. Events: a listener resuming from the approval's checkpoint gets exactly what followed it
    const stream = ledger.chaincodeEvents('business', { blockNumber: approvalTx!.blockNumber, txId: approval.txId });
    const next: ChaincodeEventRecord[] = [];
    for await (const e of stream) {
      next.push(e);
      if (next.length === 2) break;
    }
    stream.close();
    assert.deepEqual(next.map((e) => e.name), ['SerialRegistered', 'BankTransferRecorded']);
    assert.ok(next[0].blockNumber > approvalTx!.blockNumber || next[0].txNum > approvalTx!.txNum);
  });

  it('a revoked certificate is refused by the chaincode on Fabric as on the embedded ledger; a rotated one works', async () => {
    const auditor = await actor(h, 'auditor');
    await h.ok(await actor(h, 'platform'), 'Identity:revoke', JSON.stringify({ certificate: auditor.certificate, reason: '审计员调离，证书吊销' }));
    const refused = await h.evaluate(auditor, 'Project:list', '{}');
    assert.equal(refused.ok, false);
    assert.match(refused.message, /AUTHORISATION: the caller's certificate [0-9a-f]{16}… was revoked at .* by PLATFORM: 审计员调离，证书吊销/);
    const renewed = await (h['backend'] as { enrol(m: string, r: string, o: string): Promise<typeof auditor> }).enrol(auditor.mspId, 'auditor', auditor.org);
    const listed = await h.evaluate<unknown[]>(renewed, 'Project:list', '{}');
    assert.equal(listed.ok, true, listed.message);
  });

  it('the routing channel: configuration, a set for the business channel, a route', async () => {
    const r = ChaincodeHarness.onGateway(ledger, async (n) => (await ledger.block('routing', n)).chaincodeEvents, 'routing');
    const admin = await actor(r, 'platform');
    await r.ok(admin, 'Config:initialise', JSON.stringify(CONFIG), JSON.stringify({ id: 'PLATFORM', name: '运营中心' }));
    await r.ok(admin, 'RouteManager:registerSet', JSON.stringify({ setId: 'set1', channel: 'business', maxNum: 100, warnNum: 80 }));
    const route = await r.ok<{ setId: string; channel: string }>(await actor(r, 'countyOffice'), 'RouteManager:registerRoute', 'PRJ-ROUTED');
    assert.deepEqual([route.setId, route.channel], ['set1', 'business']);
  });

  it('block events replay a hash-linked chain; every peer holds the same chain on both channels', async () => {
    for (const channel of CHANNELS) {
      const info = await ledger.chainInfo(channel);
      const stream = ledger.blockEvents(channel, 0);
      let previous = '';
      for await (const block of stream) {
        if (block.number > 0) assert.equal(block.previousHash, previous, `${channel} block ${block.number} links to its predecessor`);
        previous = blockHeaderHash(block);
        if (block.number === info.height - 1) break;
      }
      stream.close();
      assert.equal(previous, info.currentBlockHash, `${channel}: the replayed chain ends at the channel's current block`);
    }
    const others = await Promise.all(ORGS.slice(1).map(openFabric));
    try {
      for (const channel of CHANNELS) {
        const expected = await ledger.chainInfo(channel);
        for (const [i, other] of others.entries()) {
          // A peer may be a block behind for a moment; wait until it reaches the height of province's peer.
          let info = await other.chainInfo(channel);
          for (let tries = 0; info.height < expected.height && tries < 50; tries++) {
            await new Promise((res) => setTimeout(res, 200));
            info = await other.chainInfo(channel);
          }
          assert.deepEqual(info, expected, `${ORGS[i + 1]}'s peer on ${channel}`);
        }
      }
    } finally {
      for (const other of others) await other.close();
    }
  });
});

if (existsSync(FABRIC_DIR) && reason) console.log(`Fabric workflow skipped: ${reason}`);
