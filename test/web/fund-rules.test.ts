/**
 * The fund's rules through the web platform (issue 18): the policy and configuration page (who may change what, bad
 * input refused without a transaction, every change in the history), a filing off the policy refused in the reader's
 * language and taken with a reason, the approval's exception, tranches from the review form, a held-back hop on
 * the disbursement page, and the payout form's refusals.
 */
import './quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Project } from '@fund/chaincode/dist/project/project';
import type { Draft } from '@fund/chaincode/dist/draft/draft';
import { DraftView, ProjectView } from '@fund/app/dist/models/projections';
import { WebClient, byId, formError, leishanProjectForm, startTestPlatform, textOf, type TestPlatform } from '../support/platform';

/** 800,000 bank, 80,000 province, 120,000 county: fiscal money at 20 %, twice the thesis's share. */
const OFF_POLICY = { budget: '1000000', amount_bank: '800000', amount_provincialFinance: '80000', amount_countyFinance: '120000' };

describe('fund policy, configuration, tranches and payouts on the pages', () => {
  let p: TestPlatform;
  let lgo: WebClient;
  let admin: WebClient;
  let county: WebClient;
  const height = async () => (await p.running.gateway.chainInfo(p.config.businessChannel)).height;

  before(async () => {
    p = await startTestPlatform({ demo: true });
    await p.settled();
    [lgo, admin, county] = await Promise.all([WebClient.loggedIn(p.url, 'lgo'), WebClient.loggedIn(p.url, 'admin'), WebClient.loggedIn(p.url, 'county')]);
  });
  after(async () => {
    await p?.stop();
  });

  test('the rules page: the policy in force and its history; bad input refused without a transaction; a new version', async () => {
    const page = await lgo.get('/rules');
    assert.equal(page.status, 200);
    assert.match(textOf(byId(page.text, 'policy-current')), /v1[\s\S]*10\.00/);
    const before = await height();
    for (const [fields, error] of [
      [{ fiscalShare: '10.001', provinceShare: '40', tolerance: '0.5', reason: '调整比例测试' }, /财政资金占预算比例 \(%\) 应为 0–100/],
      [{ fiscalShare: '101', provinceShare: '40', tolerance: '0.5', reason: '调整比例测试' }, /应为 0–100/],
      [{ fiscalShare: '10', provinceShare: '40', tolerance: '0.5', reason: '短' }, /请填写修改理由/],
      [{ fiscalShare: '10', provinceShare: '40', tolerance: '30', reason: '容差过大测试' }, /允许偏差|toleranceBp/],
    ] as const) {
      const res = await lgo.post('/rules/policy', fields);
      assert.equal(res.status, 400, JSON.stringify(fields));
      assert.match(textOf(byId(res.text, 'policy-error')), error);
    }
    assert.equal(await height(), before, 'no transaction for refused input');
    const county = await WebClient.loggedIn(p.url, 'county');
    assert.equal((await county.post('/rules/policy', { fiscalShare: '10', provinceShare: '40', tolerance: '1', reason: '越权修改' })).status, 403);
    const saved = await lgo.post('/rules/policy', { fiscalShare: '10', provinceShare: '40', tolerance: '1', fiscalFirst: 'on', milestoneConfirmation: 'on', reason: '允许偏差放宽到 1 个百分点' });
    assert.equal(saved.status, 302, formError(saved.text));
    const history = textOf(byId((await lgo.get('/rules')).text, 'policy-history'));
    assert.match(history, /v2[\s\S]*允许偏差放宽到 1 个百分点[\s\S]*v1/);
  });

  test('the configuration: only the administrator changes it, with its history; the monitoring centre uses the new stalled-after days', async () => {
    const page = await admin.get('/rules');
    const form = Object.fromEntries([...page.text.matchAll(/name="(msps_\w+)"[^>]*value="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    assert.equal(Object.keys(form).length, 10, 'one MSP row per role');
    assert.equal((await lgo.post('/rules/config', { ...form, unmatchedThresholdHours: '24', stalledAfterDays: '45' })).status, 403);
    const before = await height();
    const bad = await admin.post('/rules/config', { ...form, msps_bank: 'Bank MSP!', unmatchedThresholdHours: '24', stalledAfterDays: '45' });
    assert.equal(bad.status, 400);
    assert.match(textOf(byId(bad.text, 'config-error')), /商业银行 的 MSP 列表不能为空/);
    const zero = await admin.post('/rules/config', { ...form, unmatchedThresholdHours: '24', stalledAfterDays: '0' });
    assert.equal(zero.status, 400);
    assert.match(textOf(byId(zero.text, 'config-error')), /stalledAfterDays|1–3650/);
    assert.equal(await height(), before);
    const ok = await admin.post('/rules/config', { ...form, unmatchedThresholdHours: '24', stalledAfterDays: '45', reason: '停滞判定延长到 45 天' });
    assert.equal(ok.status, 302, formError(ok.text));
    const history = textOf(byId((await admin.get('/rules')).text, 'config-history'));
    assert.match(history, /24\s+45\s+停滞判定延长到 45 天/);
    const monitoring = await admin.get('/monitoring');
    assert.match(textOf(monitoring.text), /45/);
  });

  test('a plan off the policy: refused at filing in Chinese with the shares, taken with the county\'s reason, approved only with an exception', async () => {
    await county.get('/projects/new');
    const before = await height();
    const refused = await county.postMultipart('/projects', leishanProjectForm(OFF_POLICY));
    assert.equal(refused.status, 400);
    const message = formError(refused.text);
    assert.match(message, /资金计划：财政资金（省级 \+ 县级）占预算 20\.00%，银行资金占 80\.00%；第 2 版资金政策要求财政资金 10\.00%、银行资金 90\.00%（允许偏差 ±1\.00%）/);
    assert.match(message, /请修改资金计划，或填写例外申请理由后申报/);
    assert.doesNotMatch(message, /VALIDATION|fiscal money/);
    assert.equal(await height(), before, 'the refused filing wrote nothing');

    const filed = await county.postMultipart('/projects', leishanProjectForm({ ...OFF_POLICY, exceptionRequest: '深度贫困县，县级配套加倍' }));
    assert.equal(filed.status, 302, formError(filed.text));
    const projectId = filed.location.split('/').pop()!;
    const review = await lgo.get(`/approvals/${projectId}`);
    assert.match(textOf(byId(review.text, 'policy-check')), /不符合第 2 版资金政策[\s\S]*深度贫困县，县级配套加倍/);
    const day = (d: number) => new Date(Date.now() + d * 86400_000 + 8 * 3600_000).toISOString().slice(0, 16);
    const decision = { opinion: '同意', deadline_toPartnership: day(5), deadline_toCountyFund: day(10), deadline_toUnit: day(20) };
    const without = await lgo.post(`/approvals/${projectId}/approve`, decision);
    assert.equal(without.status, 400);
    assert.match(formError(without.text), /20\.00%[\s\S]*请驳回由县里修改，或填写政策例外理由后批准/);
    const withReason = await lgo.post(`/approvals/${projectId}/approve`, { ...decision, policyException: '经指挥部会议研究同意' });
    assert.equal(withReason.status, 302, formError(withReason.text));
    const project = (await ProjectView.findById(projectId).lean())!.doc as Project;
    assert.equal(project.policy?.exception?.approvedReason, '经指挥部会议研究同意');
    assert.match(textOf(byId((await lgo.get(`/projects/${projectId}`)).text, 'project-policy')), /已批准例外[\s\S]*经指挥部会议研究同意/);
  });

  test('tranches from the review form; the held-back hops on the disbursement page; the payout form refuses what the chain would', async () => {
    const filed = await county.postMultipart('/projects', leishanProjectForm({ payeeName: ['雷山县苗岭建设工程有限公司', ''], payeeAccount: ['620000009901', ''], payeeBank: ['贵州银行', ''] }));
    assert.equal(filed.status, 302, formError(filed.text));
    const projectId = filed.location.split('/').pop()!;
    const day = (d: number) => new Date(Date.now() + d * 86400_000 + 8 * 3600_000).toISOString().slice(0, 16);
    const decision = { opinion: '同意，分期拨付', deadline_toPartnership: day(5), deadline_toCountyFund: day(10), deadline_toUnit: day(20), split: 'tranches' };
    const badShare = await lgo.post(`/approvals/${projectId}/approve`, { ...decision, tranche_percent_0: '30', tranche_percent_1: '60', tranche_milestone_1: '完工' });
    assert.equal(badShare.status, 400);
    assert.match(formError(badShare.text), /100/);
    const approved = await lgo.post(`/approvals/${projectId}/approve`, { ...decision, tranche_percent_0: '30', tranche_percent_1: '70', tranche_milestone_1: '完工' });
    assert.equal(approved.status, 302, formError(approved.text));
    const drafts = await DraftView.find({ projectId }).lean();
    assert.ok(drafts.every((d) => (d.doc as Draft).plannedPath.filter((h) => h.tranche).length === 2));
    // Fiscal money first: the bank's hop is on its page, held back with the reason, with no serial field.
    const bank = await WebClient.loggedIn(p.url, 'bank');
    const page = await bank.get(`/disbursement?project=${projectId}`);
    assert.match(textOf(page.text), /暂不能拨付/);
    const register = await bank.post('/disbursement/register', { project: projectId, serial: 'GZB-HELD-0001', draftIds: `${projectId}-D1`, stage: 'toPartnership' });
    assert.equal(register.status, 400);
    assert.match(formError(register.text), /财政资金到位后银行资金才能拨付/);

    // The payout form is for the unit, for payees in scope, and for money it has accepted.
    const unit = await WebClient.loggedIn(p.url, 'unit');
    await unit.get(`/projects/${projectId}`);
    const outside = await unit.post(`/projects/${projectId}/payouts`, { payeeAccount: '629999999999', amount: '100', serial: 'GZB-PAYX-0001', purpose: '工程款' });
    assert.equal(outside.status, 400);
    assert.match(textOf(byId(outside.text, 'payout-error')), /收款人范围/);
    const before = await height();
    const nothingAccepted = await unit.post(`/projects/${projectId}/payouts`, { payeeAccount: '620000009901', amount: '100', serial: 'GZB-PAYX-0002', purpose: '工程款' });
    assert.equal(nothingAccepted.status, 400);
    assert.match(textOf(byId(nothingAccepted.text, 'payout-error')), /accepted 0\.00 yuan|已承兑/);
    assert.equal(await height(), before);
    assert.equal((await county.post(`/projects/${projectId}/payouts`, { payeeAccount: '620000009901', amount: '100', serial: 'GZB-PAYX-0003', purpose: '工程款' })).status, 403);
  });
});
