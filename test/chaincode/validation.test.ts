import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChaincodeHarness } from './support/harness';
import { actor, approvedProject, leishanProject, nextSerial, setUpProvince, terms } from './support/fixture';
import { signBytes } from '@fund/app/dist/blockchain/embedded';

/** Each bad call must fail with a message naming the field, and write nothing. */
async function refused(h: ChaincodeHarness, who: Parameters<typeof actor>[1], fcn: string, args: string[], expected: RegExp): Promise<void> {
  const before = await h.snapshot();
  const r = await h.submit(await actor(h, who), fcn, ...args);
  assert.equal(r.ok, false, `${fcn}(${args.join(', ').slice(0, 80)}) should fail`);
  assert.match(r.message, expected);
  assert.deepEqual(await h.snapshot(), before, `${fcn} changed state although it failed`);
}

describe('input validation: bad calls fail with a clear message naming the field and change nothing', () => {
  let h: ChaincodeHarness;
  before(async () => {
    h = await ChaincodeHarness.start();
    await setUpProvince(h);
  });
  after(() => h.close());

  it('Project:file rejects every kind of bad project', async () => {
    const file = (overrides: Record<string, unknown>) => [JSON.stringify(leishanProject(overrides))];
    const cases: Array<[string[], RegExp]> = [
      [['{not json'], /^VALIDATION: project must be valid JSON/],
      [['[]'], /^VALIDATION: project: /],
      // JSON.parse makes "__proto__" an own key: refused as unknown, at the top and inside, not dropped by a loose schema.
      [[`{"__proto__":{"id":"PRJ-000000000001"},${JSON.stringify(leishanProject()).slice(1)}`], /^VALIDATION: project: unknown field\(s\) __proto__/],
      [[JSON.stringify(leishanProject()).replace('"milestones":[{', '"milestones":[{"__proto__":{},')], /^VALIDATION: project\.milestones\.0: unknown field\(s\) __proto__/],
      [file({ name: '' }), /^VALIDATION: project\.name: name must not be empty/],
      [file({ name: '   ' }), /^VALIDATION: project\.name: name must not be empty/],
      [file({ name: '项'.repeat(101) }), /^VALIDATION: project\.name: name must be at most 100 characters/],
      [file({ name: 42 }), /^VALIDATION: project\.name: name must be a string/],
      [file({ budget: '-100' }), /^VALIDATION: project\.budget: budget must be a whole number of fen/],
      [file({ budget: '100.50' }), /^VALIDATION: project\.budget: budget must be a whole number of fen/],
      [file({ budget: 100000000 }), /^VALIDATION: project\.budget: budget must be a whole number of fen/],
      [file({ budget: '0' }), /^VALIDATION: project\.budget: budget must be greater than zero/],
      [file({ budget: '1e9' }), /^VALIDATION: project\.budget: budget must be a whole number of fen/],
      [file({ budget: '99999999' }), /^VALIDATION: project\.fundingPlan: the funding plan amounts must add up to the budget/],
      [file({ fundingPlan: [] }), /^VALIDATION: project\.fundingPlan: the funding plan needs at least one source/],
      [file({ fundingPlan: [{ source: 'lottery', payerId: 'BANK-GZ', amount: '100000000' }] }), /^VALIDATION: project\.fundingPlan\.0\.source: source must be one of/],
      [file({ fundingPlan: [{ source: 'bank', payerId: 'PROV-FIN', amount: '100000000' }] }), /^VALIDATION: fundingPlan\.0\.payerId: organisation PROV-FIN is a provincialFinance, not a bank/],
      [file({ fundingPlan: [{ source: 'countyFinance', payerId: 'CJ-FIN', amount: '100000000' }] }), /^VALIDATION: fundingPlan\.0\.payerId: CJ-FIN is the finance bureau of 从江县, not 雷山县/],
      [file({ implementingUnitId: 'NOBODY' }), /^VALIDATION: implementingUnitId: organisation NOBODY is not registered/],
      [file({ implementingUnitId: 'CJ-UNIT' }), /^VALIDATION: implementingUnitId: CJ-UNIT is in 从江县, not 雷山县/],
      [file({ implementingUnitId: 'bad id!' }), /^VALIDATION: project\.implementingUnitId: implementingUnitId must be 2–64 letters/],
      [file({ startDate: '2026-13-01' }), /^VALIDATION: project\.startDate: startDate is not a real date/],
      [file({ startDate: '01/12/2026' }), /^VALIDATION: project\.startDate: startDate must be a date written YYYY-MM-DD/],
      [file({ endDate: '2026-11-01' }), /^VALIDATION: project\.endDate: endDate must not be before startDate/],
      [file({ milestones: [{ name: '验收', dueDate: '2030-01-01' }] }), /^VALIDATION: project\.milestones: every milestone must fall between startDate and endDate/],
      [file({ documents: [{ name: 'x.pdf', sha256: 'XYZ' }] }), /^VALIDATION: project\.documents\.0\.sha256: document sha256 must be a SHA-256 digest/],
      [file({ surprise: true }), /^VALIDATION: project: unknown field\(s\) surprise/],
    ];
    for (const [args, expected] of cases) await refused(h, 'countyOffice', 'Project:file', args, expected);
  });

  it('Project:approve rejects bad terms, missing, forged and tampered signatures', async () => {
    const lgo = await actor(h, 'leadingGroup');
    const p = await h.ok<{ id: string }>(await actor(h, 'countyOffice'), 'Project:file', JSON.stringify(leishanProject()));
    const good = terms(h);
    const preview = await h.query<Array<{ draftId: string; content: string }>>(lgo, 'Draft:previewIssue', p.id, JSON.stringify(good));
    const sign = (who: typeof lgo, content: string) => signBytes(who, Buffer.from(content)).toString('base64');
    const sigs = Object.fromEntries(preview.map((x) => [x.draftId, sign(lgo, x.content)]));
    const approve = (t: object, s: object, opinion = '同意') => [p.id, opinion, JSON.stringify(t), JSON.stringify(s)];
    const past = { deadlines: { ...good.deadlines, toPartnership: new Date(h.clock.getTime() - 1000).toISOString() } };
    const unordered = { deadlines: { ...good.deadlines, toUnit: good.deadlines.toPartnership } };
    const otherKey = await actor(h, 'auditor');
    const forged = { ...sigs, [preview[0].draftId]: sign(otherKey, preview[0].content) };
    const tampered = { ...sigs, [preview[0].draftId]: sign(lgo, preview[0].content.replace(/"amount":"(\d+)"/, '"amount":"1$1"')) };
    const missing = Object.fromEntries(Object.entries(sigs).slice(1));
    const cases: Array<[string[], RegExp]> = [
      [[p.id, '', JSON.stringify(good), JSON.stringify(sigs)], /^VALIDATION: opinion: opinion must not be empty/],
      [approve({ deadlines: { toPartnership: 'tomorrow' } }, sigs), /^VALIDATION: terms\.deadlines\.toPartnership: deadlines\.toPartnership must be an ISO 8601 date-time/],
      [approve(past, sigs), /^VALIDATION: deadlines\.toPartnership must be after the approval time/],
      [approve(unordered, sigs), /^VALIDATION: deadlines\.toUnit must be after deadlines\.toCountyFund/],
      [approve(good, missing), new RegExp(`^VALIDATION: signatures\\.${preview[0].draftId}: the issuer's signature over this draft is missing`)],
      [approve(good, forged), new RegExp(`^VALIDATION: signatures\\.${preview[0].draftId}: the signature does not verify`)],
      [approve(good, tampered), new RegExp(`^VALIDATION: signatures\\.${preview[0].draftId}: the signature does not verify`)],
      [approve(good, { ...sigs, 'PRJ-X-D9': sigs[preview[0].draftId] }), /^VALIDATION: signatures\.PRJ-X-D9: no such draft is issued by this approval/],
      [approve(good, { [preview[0].draftId]: 'not base64!' }), /^VALIDATION: signatures\.PRJ-[0-9A-F]+-D1: each signature must be base64/],
      [['PRJ-NOSUCH', '同意', JSON.stringify(good), JSON.stringify(sigs)], /^NOT_FOUND: project PRJ-NOSUCH does not exist/],
    ];
    for (const [args, expected] of cases) await refused(h, 'leadingGroup', 'Project:approve', args, expected);
    assert.equal((await h.submit(lgo, 'Project:approve', ...approve(good, sigs))).ok, true, 'the good approval still goes through');
    await refused(h, 'leadingGroup', 'Project:approve', approve(good, sigs), /^STATE: project .* is APPROVED; only a submitted project can be reviewed/);
  });

  it('reconciliation rejects malformed serials, amounts, accounts and times', async () => {
    const { drafts } = await approvedProject(h);
    const reg = (o: Record<string, unknown>) => [JSON.stringify({ serial: nextSerial(), draftIds: [drafts[0].draftId], stage: 'toPartnership', ...o })];
    await refused(h, 'bank', 'Reconciliation:registerSerial', reg({ serial: 'a b' }), /^VALIDATION: registration\.serial: serial must be a bank serial number/);
    await refused(h, 'bank', 'Reconciliation:registerSerial', reg({ draftIds: [] }), /^VALIDATION: registration\.draftIds: at least one draft/);
    await refused(h, 'bank', 'Reconciliation:registerSerial', reg({ draftIds: [drafts[0].draftId, drafts[0].draftId] }), /^VALIDATION: registration\.draftIds: a draft is listed twice/);
    await refused(h, 'bank', 'Reconciliation:registerSerial', reg({ draftIds: ['PRJ-NONE-D1'] }), /^NOT_FOUND: draft PRJ-NONE-D1 does not exist/);
    await refused(h, 'bank', 'Reconciliation:registerSerial', reg({ stage: 'toMoon' }), /^VALIDATION: registration\.stage: stage must be one of toPartnership, toCountyFund, toUnit/);
    await refused(h, 'bank', 'Reconciliation:registerSerial', reg({ stage: 'toUnit' }), /^STATE: draft .* is due for toPartnership next, not toUnit/);
    const rec = (o: Record<string, unknown>) => [JSON.stringify({ serial: nextSerial(), payerAccount: '600000000001', payeeAccount: '600000000003', amount: '100', paidAt: new Date(h.clock.getTime() - 1000).toISOString(), ...o })];
    await refused(h, 'bank', 'Reconciliation:recordBankTransfer', rec({ amount: '-5' }), /^VALIDATION: record\.amount: amount must be a whole number of fen/);
    await refused(h, 'bank', 'Reconciliation:recordBankTransfer', rec({ amount: '0' }), /^VALIDATION: record\.amount: amount must be greater than zero/);
    await refused(h, 'bank', 'Reconciliation:recordBankTransfer', rec({ amount: 12.5 }), /^VALIDATION: record\.amount: amount must be a whole number of fen/);
    await refused(h, 'bank', 'Reconciliation:recordBankTransfer', rec({ payerAccount: '12AB' }), /^VALIDATION: record\.payerAccount: payerAccount must be a bank account number/);
    await refused(h, 'bank', 'Reconciliation:recordBankTransfer', rec({ payerAccount: '123456789' }), /^VALIDATION: payerAccount: 123456789 is not a registered account/);
    await refused(h, 'bank', 'Reconciliation:recordBankTransfer', rec({ paidAt: '2026-11-02 10:00' }), /^VALIDATION: record\.paidAt: paidAt must be an ISO 8601 date-time/);
    await refused(h, 'bank', 'Reconciliation:recordBankTransfer', rec({ paidAt: new Date(h.clock.getTime() + 3600_000).toISOString() }), /^VALIDATION: paidAt: a transfer cannot be recorded before it happens/);
    await refused(h, 'bank', 'Reconciliation:recordBankTransfer', rec({ extra: 1 }), /^VALIDATION: record: unknown field\(s\) extra/);
    await refused(h, 'leadingGroup', 'Reconciliation:checking', ['x'], /^VALIDATION: serial: serial must be a bank serial number/);
  });

  it('organisations and progress reports reject bad input', async () => {
    const org = (o: Record<string, unknown>) => [JSON.stringify({ id: 'NEW-UNIT', name: '新合作社', type: 'implementingUnit', mspId: 'CountyMSP', county: '雷山县', ...o })];
    await refused(h, 'platform', 'Organisation:register', org({ type: 'king' }), /^VALIDATION: organisation\.type: type must be one of/);
    await refused(h, 'platform', 'Organisation:register', org({ county: undefined }), /^VALIDATION: organisation\.county: a county-level organisation must name its county/);
    await refused(h, 'platform', 'Organisation:register', org({ id: 'LS-UNIT' }), /^CONFLICT: organisation LS-UNIT is already registered/);
    await refused(h, 'platform', 'Organisation:register', org({ accounts: [{ accountNo: '600000000001', bankId: 'BANK-GZ', name: '重复' }] }), /^CONFLICT: account 600000000001 is already registered to BANK-GZ/);
    await refused(h, 'platform', 'Organisation:register', org({ accounts: [{ accountNo: '612345678901', bankId: 'LS-FIN', name: '非银行' }] }), /^VALIDATION: account 612345678901\.bankId: organisation LS-FIN is a countyFinance, not a bank/);
    await refused(h, 'platform', 'Organisation:setActive', ['LS-UNIT', 'maybe'], /^VALIDATION: active: active must be "true" or "false"/);
    await refused(h, 'platform', 'Organisation:setActive', ['PLATFORM', 'false'], /^STATE: organisation PLATFORM operates the platform and cannot leave it/);
    const admin = await actor(h, 'platform');
    await h.ok(admin, 'Organisation:register', JSON.stringify({ id: 'LEAVING-UNIT', name: '退出合作社', type: 'implementingUnit', mspId: 'CountyMSP', county: '雷山县' }));
    const leaving = await h.user('implementingUnit', 'LEAVING-UNIT');
    assert.equal((await h.evaluate(leaving, 'Organisation:get', 'LEAVING-UNIT')).ok, true);
    await h.ok(admin, 'Organisation:setActive', 'LEAVING-UNIT', 'false');
    assert.match((await h.evaluate(leaving, 'Organisation:get', 'LEAVING-UNIT')).message, /^AUTHORISATION: organisation LEAVING-UNIT has left the platform/);
    const { projectId } = await approvedProject(h);
    await refused(h, 'unit', 'Project:reportProgress', [projectId, JSON.stringify({ milestone: '开工', percent: 10, note: '开工', evidence: [{ name: 'a.jpg', sha256: 'f'.repeat(64) }] })], /^STATE: project .* is APPROVED; progress is reported once the drafts \(or a first tranche\) are accepted/);
    await refused(h, 'unit', 'Project:reportProgress', [projectId, JSON.stringify({ milestone: '开工', percent: 101, note: '开工', evidence: [] })], /^VALIDATION: report\.percent: percent must be 0–100/);
  });
});
