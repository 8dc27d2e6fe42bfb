/** The fund policy (thesis 6.1) through the real dispatch: shares, exceptions, versions and the order money moves in. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChaincodeHarness } from './support/harness';
import { DraftView, YUAN, actor, leishanProject, pay, setUpProvince, terms, transferPlan } from './support/fixture';

const THESIS = { fiscalShareBp: 1000, provinceShareOfFiscalBp: 4000, toleranceBp: 50, fiscalFirst: true, milestoneConfirmation: true };
const yuan = (n: bigint) => (n * YUAN).toString();
/** A plan off the thesis's shares: bank 80 %, province 8 %, county 12 %. */
const OFF_PLAN = [
  { source: 'bank', payerId: 'BANK-GZ', amount: yuan(800_000n) },
  { source: 'provincialFinance', payerId: 'PROV-FIN', amount: yuan(80_000n) },
  { source: 'countyFinance', payerId: 'LS-FIN', amount: yuan(120_000n) },
];

describe('fund policy', () => {
  let h: ChaincodeHarness;
  before(async () => {
    h = await ChaincodeHarness.start();
    await setUpProvince(h);
  });
  after(() => h.close());

  it('is set by the provincial command with a reason, versioned, and refused to other roles and bad input without a write', async () => {
    const lgo = await actor(h, 'leadingGroup');
    const v1 = await h.ok<{ version: number; setBy: string }>(lgo, 'Policy:set', JSON.stringify({ ...THESIS, reason: '省政府 2026 年扶贫资金管理办法' }));
    assert.equal(v1.version, 1);
    assert.equal(v1.setBy, 'LGO');
    const before = await h.snapshot();
    for (const [who, policy, error] of [
      ['countyOffice', { ...THESIS, reason: '县里想改' }, /^AUTHORISATION: role countyOffice may not call Policy:set/],
      ['leadingGroup', { ...THESIS, fiscalShareBp: 10001, reason: 'too much' }, /^VALIDATION: policy\.fiscalShareBp: fiscalShareBp must be 0–10000/],
      ['leadingGroup', { ...THESIS, fiscalShareBp: 10.5, reason: 'fraction' }, /^VALIDATION: policy\.fiscalShareBp: fiscalShareBp must be whole basis points/],
      ['leadingGroup', { ...THESIS, reason: '' }, /^VALIDATION: policy\.reason: reason must be at least 5 characters/],
      ['leadingGroup', { ...THESIS, reason: 'no such field', extra: 1 }, /^VALIDATION: policy: unknown field\(s\) extra/],
    ] as const) {
      const r = await h.submit(await actor(h, who), 'Policy:set', JSON.stringify(policy));
      assert.equal(r.ok, false);
      assert.match(r.message, error);
    }
    assert.deepEqual(await h.snapshot(), before, 'refused policy changes write nothing');
    const current = await h.query<{ version: number; fiscalShareBp: number }>(await actor(h, 'auditor'), 'Policy:current');
    assert.equal(current.version, 1);
  });

  it('files and approves a compliant plan, recording the version it was checked under', async () => {
    const office = await actor(h, 'countyOffice');
    const project = await h.ok<{ id: string; policy: { version: number; problems: string[] } }>(office, 'Project:file', JSON.stringify(leishanProject()));
    assert.deepEqual(project.policy, { version: 1, problems: [] });
    const approval = await h.approve(await actor(h, 'leadingGroup'), project.id, '同意', terms(h));
    assert.equal(approval.ok, true, approval.message);
    assert.deepEqual((approval.value as { policy: unknown }).policy, { version: 1, problems: [] });
  });

  it('refuses a non-compliant plan at filing with the exact shares found and required, writing nothing', async () => {
    const before = await h.snapshot();
    const r = await h.submit(await actor(h, 'countyOffice'), 'Project:file', JSON.stringify(leishanProject({ fundingPlan: OFF_PLAN })));
    assert.equal(r.ok, false);
    assert.equal(
      r.message,
      'VALIDATION: fundingPlan: fiscal money (provincialFinance + countyFinance) is 20.00 % of the budget and bank money 80.00 %; fund policy v1 requires fiscal 10.00 % and bank 90.00 % ± 0.50 %. ' +
        'Change the funding plan, or file it with an exceptionRequest giving the reason for the provincial command to decide',
    );
    assert.deepEqual(await h.snapshot(), before);
    const split = await h.submit(
      await actor(h, 'countyOffice'),
      'Project:file',
      JSON.stringify(leishanProject({ fundingPlan: [OFF_PLAN[0], { ...OFF_PLAN[1], amount: yuan(100_000n) }, { ...OFF_PLAN[2], amount: yuan(100_000n) }].map((f, i) => (i === 0 ? { ...f, amount: yuan(800_000n) } : f)) })),
    );
    assert.match(split.message, /within the fiscal money, the province carries 50\.00 % and the county 50\.00 %; fund policy v1 requires province 40\.00 % and county 60\.00 % ± 0\.50 %/);
    // Inside the tolerance is compliant: fiscal 10.4 %.
    const edge = await h.submit(
      await actor(h, 'countyOffice'),
      'Project:file',
      JSON.stringify(leishanProject({ budget: yuan(1_000_000n), fundingPlan: [{ ...OFF_PLAN[0], amount: yuan(896_000n) }, { ...OFF_PLAN[1], amount: yuan(41_600n) }, { ...OFF_PLAN[2], amount: yuan(62_400n) }] })),
    );
    assert.equal(edge.ok, true, edge.message);
  });

  it('takes a non-compliant plan only as a reasoned exception the provincial command approves, and records both reasons', async () => {
    const office = await actor(h, 'countyOffice');
    const lgo = await actor(h, 'leadingGroup');
    const filed = await h.ok<{ id: string; policy: { problems: string[] } }>(
      office,
      'Project:file',
      JSON.stringify(leishanProject({ fundingPlan: OFF_PLAN, exceptionRequest: '雷山县为深度贫困县，省里同意县级配套加倍' })),
    );
    assert.equal(filed.policy.problems.length, 1);
    // Refused before anyone signs (the preview) and by the approval itself, with the same words.
    const refusal = /^VALIDATION: fundingPlan: fiscal money .* 20\.00 %.*Reject it for the county to revise, or approve it with a policyException giving the reason$/;
    assert.match((await h.evaluate(lgo, 'Draft:previewIssue', filed.id, JSON.stringify(terms(h)))).message, refusal);
    const before = await h.snapshot();
    const plain = await h.submit(lgo, 'Project:approve', filed.id, '同意', JSON.stringify(terms(h)), '{}');
    assert.equal(plain.ok, false);
    assert.match(plain.message, refusal);
    assert.deepEqual(await h.snapshot(), before);
    const approved = await h.approve(lgo, filed.id, '同意', { ...terms(h), policyException: '深度贫困县特殊政策，经指挥部会议研究同意' });
    assert.equal(approved.ok, true, approved.message);
    const exception = (approved.value as { policy: { exception: Record<string, string> } }).policy.exception;
    assert.equal(exception.requestedReason, '雷山县为深度贫困县，省里同意县级配套加倍');
    assert.equal(exception.approvedReason, '深度贫困县特殊政策，经指挥部会议研究同意');
    assert.equal(exception.approvedBy, 'LGO');
    // An exception on a compliant plan is refused: it would record a decision nobody had to take.
    const compliant = await h.ok<{ id: string }>(office, 'Project:file', JSON.stringify(leishanProject()));
    const needless = await h.evaluate(lgo, 'Draft:previewIssue', compliant.id, JSON.stringify({ ...terms(h), policyException: '没有必要的例外理由' }));
    assert.match(needless.message, /^VALIDATION: terms\.policyException: the plan complies with fund policy v1; no exception is needed/);
  });

  it('moves bank money only once the fiscal share is in place, under the version the project was approved with', async () => {
    const lgo = await actor(h, 'leadingGroup');
    const project = await h.ok<{ id: string }>(await actor(h, 'countyOffice'), 'Project:file', JSON.stringify(leishanProject()));
    assert.equal((await h.approve(lgo, project.id, '同意', terms(h))).ok, true);
    // A later policy without the order rule does not loosen the rules this project was approved under.
    await h.ok(lgo, 'Policy:set', JSON.stringify({ ...THESIS, fiscalFirst: false, reason: '放开顺序要求（试点）' }));
    const drafts = await h.query<DraftView[]>(lgo, 'Draft:listByProject', project.id);
    const [bankFirst] = transferPlan(drafts);
    assert.deepEqual(bankFirst.draftIds, [`${project.id}-D1`]);
    const before = await h.snapshot();
    const refused = await h.submit(await actor(h, 'bank'), 'Reconciliation:registerSerial', JSON.stringify({ serial: 'GZB-ORDER-0001', draftIds: bankFirst.draftIds, stage: 'toPartnership' }));
    assert.equal(refused.ok, false);
    assert.equal(
      refused.message,
      `STATE: draft ${project.id}-D1: bank money moves only once the fiscal share is in place (fund policy v1); ${project.id}-D2 (provincialFinance) has not made its first transfer, ${project.id}-D3 (countyFinance) has not made its first transfer`,
    );
    assert.deepEqual(await h.snapshot(), before);
    const payable = await h.query<Array<{ draftId: string; heldBack: string | null }>>(await actor(h, 'bank'), 'Draft:listPayable');
    assert.match(payable.find((d) => d.draftId === `${project.id}-D1`)!.heldBack!, /bank money moves only once the fiscal share is in place/);
    // Fiscal money first, then the bank's.
    const plan = transferPlan(drafts);
    const fiscalFirst = [...plan.filter((t) => t.stage === 'toPartnership' && t.draftIds[0].endsWith('D2')), ...plan.filter((t) => t.stage === 'toCountyFund' && t.draftIds.includes(`${project.id}-D3`) && t.draftIds.length === 1)];
    for (const t of fiscalFirst) await pay(h, t);
    await pay(h, bankFirst);
    const moved = await h.query<DraftView>(lgo, 'Draft:get', `${project.id}-D1`);
    assert.equal(moved.nextHop, 1);
    // A project approved under v2 (no order rule) may move bank money first.
    const later = await h.ok<{ id: string; policy: { version: number } }>(await actor(h, 'countyOffice'), 'Project:file', JSON.stringify(leishanProject()));
    assert.equal(later.policy.version, 2);
    assert.equal((await h.approve(lgo, later.id, '同意', terms(h))).ok, true);
    await pay(h, transferPlan(await h.query<DraftView[]>(lgo, 'Draft:listByProject', later.id))[0]);
  });

  it('keeps every version with who set it and why', async () => {
    const list = await h.query<Array<{ version: number; reason: string; setBy: string; txId: string }>>(await actor(h, 'auditor'), 'Policy:list');
    assert.deepEqual(list.map((p) => [p.version, p.reason, p.setBy]), [
      [1, '省政府 2026 年扶贫资金管理办法', 'LGO'],
      [2, '放开顺序要求（试点）', 'LGO'],
    ]);
    const check = await h.query<{ version: number; problems: string[] }>(await actor(h, 'countyOffice'), 'Policy:checkPlan', JSON.stringify(OFF_PLAN.map(({ source, amount }) => ({ source, amount }))));
    assert.equal(check.version, 2);
    assert.equal(check.problems.length, 1);
  });
});
