/** Payout after acceptance (承兑后支付): the unit pays the payees its drafts name, registered and reconciled like a hop. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChaincodeHarness } from './support/harness';
import { PAYEES, actor, fundedProject, nextSerial, setUpProvince } from './support/fixture';

const UNIT_ACCOUNT = '600000000005';

interface Statement {
  accepted: string;
  paidOut: string;
  pending: string;
  payees: Array<{ accountNo: string }>;
  payouts: Array<{ serial: string; status: string; to: { orgId: string } }>;
}

describe('payout', () => {
  let h: ChaincodeHarness;
  let projectId: string;
  before(async () => {
    h = await ChaincodeHarness.start();
    await setUpProvince(h);
    projectId = await fundedProject(h, { payees: PAYEES });
  });
  after(() => h.close());

  const unit = () => actor(h, 'unit');
  const register = async (payeeAccount: string, amount: string, serial = nextSerial('PAY')) => ({
    serial,
    r: await h.submit<{ outcome: string }>(await unit(), 'Reconciliation:registerPayout', JSON.stringify({ serial, projectId, payeeAccount, amount, purpose: '土地整理工程款' })),
  });
  const record = async (serial: string, payeeAccount: string, amount: string) =>
    h.submit<{ outcome: string; discrepancyId?: string }>(await actor(h, 'bank'), 'Reconciliation:recordBankTransfer', JSON.stringify({ serial, payerAccount: UNIT_ACCOUNT, payeeAccount, amount, paidAt: new Date(h.clock.getTime() - 1000).toISOString() }));
  const statement = async () => h.query<Statement>(await actor(h, 'auditor'), 'Reconciliation:payouts', projectId);

  it('pays a payee in the drafts\' scope, reconciled against the bank\'s record', async () => {
    const { serial, r } = await register(PAYEES[0].accountNo, '30000000');
    assert.equal(r.ok, true, r.message);
    assert.equal(r.value.outcome, 'PENDING_BANK_RECORD');
    assert.equal((await statement()).pending, '30000000');
    const matched = await record(serial, PAYEES[0].accountNo, '30000000');
    assert.equal(matched.value.outcome, 'MATCHED', matched.message);
    const s = await statement();
    assert.deepEqual([s.accepted, s.paidOut, s.pending], ['100000000', '30000000', '0']);
    assert.equal(s.payouts[0].status, 'MATCHED');
    assert.equal(s.payouts[0].to.orgId, PAYEES[0].name);
  });

  it('refuses a payee outside the scope, more than was accepted, and another unit, writing nothing', async () => {
    const before = await h.snapshot();
    const outside = await register('629999999999', '100');
    assert.equal(outside.r.ok, false);
    assert.match(outside.r.message, /^AUTHORISATION: payeeAccount: 629999999999 is outside the payee scope of project .*'s drafts \(雷山县苗岭建筑工程有限公司 620000000101, 大塘镇茶叶种植专业合作社 620000000102\)/);
    const tooMuch = await register(PAYEES[1].accountNo, '70000001');
    assert.equal(
      tooMuch.r.message,
      `STATE: amount: paying out 700000.01 yuan would exceed what the implementing unit has accepted for project ${projectId}: accepted 1000000.00 yuan, paid out 300000.00 yuan, awaiting the bank's record 0.00 yuan`,
    );
    const other = await h.submit(await actor(h, 'otherUnit'), 'Reconciliation:registerPayout', JSON.stringify({ serial: nextSerial('PAY'), projectId, payeeAccount: PAYEES[1].accountNo, amount: '100', purpose: '冒领' }));
    assert.match(other.message, /^AUTHORISATION: CJ-UNIT is not the implementing unit of project/);
    for (const bad of [{ amount: '-5' }, { amount: '1.5' }, { amount: '0' }, { payeeAccount: '12ab' }, { purpose: '' }, { extra: true }]) {
      const r = await h.submit(await unit(), 'Reconciliation:registerPayout', JSON.stringify({ serial: nextSerial('PAY'), projectId, payeeAccount: PAYEES[1].accountNo, amount: '100', purpose: '工程款', ...bad }));
      assert.match(r.message, /^VALIDATION: payout[.:]/, JSON.stringify(bad));
    }
    assert.deepEqual(await h.snapshot(), before);
  });

  it('reserves what awaits the bank so two payouts cannot spend one yuan twice, and releases it on a mismatch', async () => {
    const first = await register(PAYEES[1].accountNo, '60000000');
    assert.equal(first.r.ok, true, first.r.message);
    const second = await register(PAYEES[0].accountNo, '10000001');
    assert.match(second.r.message, /awaiting the bank's record 600000\.00 yuan/);
    const wrong = await record(first.serial, PAYEES[1].accountNo, '59999999');
    assert.equal(wrong.value.outcome, 'MISMATCH');
    assert.ok(wrong.value.discrepancyId);
    const s = await statement();
    assert.deepEqual([s.paidOut, s.pending], ['30000000', '0'], 'a mismatched payout moves nothing and frees its reservation');
    const rest = await register(PAYEES[1].accountNo, '70000000');
    assert.equal(rest.r.ok, true, rest.r.message);
    assert.equal((await record(rest.serial, PAYEES[1].accountNo, '70000000')).value.outcome, 'MATCHED');
    assert.deepEqual([(await statement()).paidOut], ['100000000'], 'paid out never exceeds what was accepted');
    assert.match((await register(PAYEES[0].accountNo, '1')).r.message, /would exceed what the implementing unit has accepted/);
  });
});
