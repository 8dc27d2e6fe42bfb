import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChaincodeHarness } from './support/harness';
import { DraftView as Draft, ORGS, actor, leishanProject, setUpProvince, terms } from './support/fixture';
import { removeDir, tempDir } from '../ledger/support/ledger';

/** Straight against the chaincode, and through the embedded ledger's endorse → order → validate → commit. */
const BACKENDS = {
  direct: () => ChaincodeHarness.start(),
  'embedded ledger': (dataDir: string) => ChaincodeHarness.onLedger({ dataDir, batch: { batchTimeoutMs: 5 } }),
};

for (const [backend, start] of Object.entries(BACKENDS)) describe(`the whole workflow of DOMAIN.md through the real contract dispatch (${backend})`, () => {
  let h: ChaincodeHarness;
  let dataDir: string;
  before(async () => {
    dataDir = tempDir();
    h = await start(dataDir);
    await setUpProvince(h);
  });
  after(async () => {
    await h.close();
    removeDir(dataDir);
  });

  it('files, rejects, revises, approves, moves three drafts hop by hop (two combined transfers), accepts and completes', async () => {
    const county = await actor(h, 'countyOffice');
    const lgo = await actor(h, 'leadingGroup');
    const bank = await actor(h, 'bank');
    const bank2 = await actor(h, 'bank2');
    const province = await actor(h, 'provincialFinance');
    const lp = await actor(h, 'partnership');
    const countyFinance = await actor(h, 'countyFinance');
    const countyFund = await actor(h, 'countyFund');
    const unit = await actor(h, 'unit');

    // 1. File (申报)
    const filed = await h.submit<{ id: string; status: string; revision: number }>(county, 'Project:file', JSON.stringify(leishanProject()));
    assert.equal(filed.ok, true, filed.message);
    assert.equal(filed.value.status, 'SUBMITTED');
    assert.equal(filed.event?.name, 'ProjectFiled');
    const projectId = filed.value.id;
    assert.match(projectId, /^PRJ-[0-9A-F]{12}$/);

    // 2. Reject with an opinion, 3. revise and resubmit
    const rejected = await h.ok<{ status: string; reviews: Array<{ opinion: string }> }>(lgo, 'Project:reject', projectId, '预算明细不足，请补充种苗采购清单');
    assert.equal(rejected.status, 'REJECTED');
    assert.equal(rejected.reviews[0].opinion, '预算明细不足，请补充种苗采购清单');
    const revised = await h.ok<{ status: string; revision: number }>(county, 'Project:revise', projectId, JSON.stringify(leishanProject({ description: '补充：种苗采购清单见附件二。' })));
    assert.deepEqual([revised.status, revised.revision], ['SUBMITTED', 2]);

    // 4. Approve: the same transaction issues one signed draft per funding source
    const approval = await h.approve(lgo, projectId, '同意立项，按计划拨付', terms(h));
    assert.equal(approval.ok, true, approval.message);
    assert.equal(approval.event?.name, 'ProjectApproved');
    assert.deepEqual(approval.event?.payload.events.map((e) => e.type), ['ProjectApproved', 'DraftIssued', 'DraftIssued', 'DraftIssued']);
    const drafts = await h.query<Draft[]>(lgo, 'Draft:listByProject', projectId);
    assert.equal(drafts.length, 3);
    const [bankDraft, provinceDraft, countyDraft] = drafts;
    assert.deepEqual(drafts.map((d) => [d.source, d.amount, d.status]), [
      ['bank', '90000000', 'ISSUED'],
      ['provincialFinance', '4000000', 'ISSUED'],
      ['countyFinance', '6000000', 'ISSUED'],
    ]);
    assert.equal(drafts.reduce((s, d) => s + BigInt(d.amount), 0n), 100_000_000n, 'drafts add up to the budget');
    assert.deepEqual(bankDraft.plannedPath.map((p) => `${p.from.orgId}→${p.to.orgId}`), ['BANK-GZ→LP-FUND', 'LP-FUND→LS-FUND', 'LS-FUND→LS-UNIT']);
    assert.deepEqual(countyDraft.plannedPath.map((p) => `${p.from.orgId}→${p.to.orgId}`), ['LS-FIN→LS-FUND', 'LS-FUND→LS-UNIT']);
    for (const d of drafts) {
      const check = await h.query<{ valid: boolean; issuerId: string }>(await actor(h, 'auditor'), 'Draft:verifyIssuerSignature', d.draftId);
      assert.deepEqual(check, { draftId: d.draftId, issuerId: 'LGO', valid: true });
    }

    const paidAt = () => new Date(h.clock.getTime() - 60_000).toISOString();
    const pay = async (payer: typeof bank, recorder: typeof bank, serial: string, draftIds: string[], stage: string, from: string, to: string, amount: string) => {
      const reg = await h.ok<{ outcome: string }>(payer, 'Reconciliation:registerSerial', JSON.stringify({ serial, draftIds, stage }));
      assert.equal(reg.outcome, 'PENDING_BANK_RECORD');
      h.advance(1);
      const rec = await h.submit<{ outcome: string; draftIds: string[] }>(recorder, 'Reconciliation:recordBankTransfer', JSON.stringify({ serial, payerAccount: from, payeeAccount: to, amount, paidAt: paidAt() }));
      assert.equal(rec.ok, true, rec.message);
      assert.equal(rec.value.outcome, 'MATCHED');
      assert.equal(rec.event?.name, 'BankTransferRecorded');
      assert.ok(rec.event?.payload.events.some((e) => e.type === 'TransferMatched'));
      h.advance(1);
    };

    // 5. Stage 1: bank and province pay the fund vehicle
    await pay(bank, bank, 'GZB2026110001', [bankDraft.draftId], 'toPartnership', '600000000001', '600000000003', '90000000');
    await pay(province, bank, 'GZB2026110002', [provinceDraft.draftId], 'toPartnership', '600000000002', '600000000003', '4000000');
    // Stage 2: the fund vehicle forwards both drafts in ONE transfer; the county pays its share (bank records first this time)
    await pay(lp, bank, 'GZB2026110003', [bankDraft.draftId, provinceDraft.draftId], 'toCountyFund', '600000000003', '600000000004', '94000000');
    const early = await h.ok<{ outcome: string }>(bank2, 'Reconciliation:recordBankTransfer', JSON.stringify({ serial: 'RC2026110004', payerAccount: '700000000002', payeeAccount: '600000000004', amount: '6000000', paidAt: paidAt() }));
    assert.equal(early.outcome, 'PENDING_REGISTRATION');
    const late = await h.ok<{ outcome: string }>(countyFinance, 'Reconciliation:registerSerial', JSON.stringify({ serial: 'RC2026110004', draftIds: [countyDraft.draftId], stage: 'toCountyFund' }));
    assert.equal(late.outcome, 'MATCHED');
    // Stage 3: the county fund company pays all three drafts to the unit in one transfer
    await pay(countyFund, bank, 'GZB2026110005', drafts.map((d) => d.draftId), 'toUnit', '600000000004', '600000000005', '100000000');

    const arrived = await h.query<Draft[]>(unit, 'Draft:listByProject', projectId);
    for (const d of arrived) {
      assert.equal(d.status, 'AWAITING_ACCEPTANCE');
      assert.equal(d.holderId, 'LS-UNIT');
      assert.equal(d.actualPath.length, d.plannedPath.length);
      assert.ok(d.actualPath.every((a) => !a.overdue));
    }
    assert.deepEqual(arrived[0].actualPath.map((a) => [a.serial, a.transferAmount]), [
      ['GZB2026110001', '90000000'],
      ['GZB2026110003', '94000000'],
      ['GZB2026110005', '100000000'],
    ]);
    assert.deepEqual(await h.query(lgo, 'Reconciliation:listPending'), [], 'matched records are cleared from the pending set');

    // 6. Accept (承兑): the last acceptance funds the project
    for (const [i, d] of arrived.entries()) {
      const accepted = await h.submit<Draft>(unit, 'Draft:accept', d.draftId);
      assert.equal(accepted.ok, true, accepted.message);
      assert.equal(accepted.value.status, 'ACCEPTED');
      const events = accepted.event!.payload.events.map((e) => e.type);
      assert.deepEqual(events, i === arrived.length - 1 ? ['DraftAccepted', 'ProjectFunded'] : ['DraftAccepted']);
    }
    assert.equal((await h.query<{ status: string }>(county, 'Project:get', projectId)).status, 'FUNDED');

    // 7. Progress with evidence hashes (按需拨付), to completion
    const evidence = [{ name: '土地流转合同.jpg', sha256: 'b'.repeat(64), size: 2048 }];
    const p1 = await h.ok<{ percentComplete: number; status: string }>(unit, 'Project:reportProgress', projectId, JSON.stringify({ milestone: '基地土地流转与整理', percent: 40, note: '完成土地流转 600 亩', evidence }));
    assert.deepEqual([p1.percentComplete, p1.status], [40, 'FUNDED']);
    const p2 = await h.ok<{ percentComplete: number; status: string }>(unit, 'Project:reportProgress', projectId, JSON.stringify({ milestone: '验收', percent: 100, note: '通过县级验收', evidence }));
    assert.deepEqual([p2.percentComplete, p2.status], [100, 'COMPLETED']);

    // 8. History: every version of the project, with the transaction that wrote it
    const history = await h.query<Array<{ txId: string; value: { status: string } }>>(await actor(h, 'auditor'), 'Project:history', projectId);
    assert.deepEqual(history.map((e) => e.value.status), ['SUBMITTED', 'REJECTED', 'SUBMITTED', 'APPROVED', 'FUNDED', 'FUNDED', 'COMPLETED']);
    assert.ok(history.every((e) => /^[0-9a-f]{64}$/.test(e.txId)));
    const draftHistory = await h.query<Array<{ value: Draft }>>(lgo, 'Draft:history', bankDraft.draftId);
    assert.deepEqual(draftHistory.map((e) => e.value.status), ['ISSUED', 'IN_TRANSIT', 'IN_TRANSIT', 'AWAITING_ACCEPTANCE', 'ACCEPTED']);
    assert.equal(ORGS.unit.id, 'LS-UNIT');
  });
});
