import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChaincodeHarness } from './support/harness';
import { DraftView, actor, approvedProject, nextSerial, setUpProvince } from './support/fixture';

type Check = { outcome: string; discrepancyId?: string; problems?: Array<{ field: string; expected: string; actual: string }> };
type Discrepancy = { id: string; kind: string; status: string; serial: string; problems: Array<{ field: string }>; resolution?: { kind: string; reason: string; by: string } };

// Accounts of the fixture: bank 600000000001, province 600000000002, fund vehicle 600000000003,
// county fund company 600000000004, unit 600000000005 (all at BANK-GZ).
const BANK_ACC = '600000000001';
const PROV_ACC = '600000000002';
const LP_ACC = '600000000003';
const FUND_ACC = '600000000004';
const UNIT_ACC = '600000000005';

describe('reconciliation (实时对账): every outcome of checking(serial)', () => {
  let h: ChaincodeHarness;
  before(async () => {
    h = await ChaincodeHarness.start();
    await setUpProvince(h);
  });
  after(() => h.close());

  const paidAt = () => new Date(h.clock.getTime() - 60_000).toISOString();
  const register = async (who: 'bank' | 'provincialFinance' | 'partnership' | 'countyFund', serial: string, drafts: DraftView[], stage: string) =>
    h.submit<Check>(await actor(h, who), 'Reconciliation:registerSerial', JSON.stringify({ serial, draftIds: drafts.map((d) => d.draftId), stage }));
  const record = async (serial: string, payerAccount: string, payeeAccount: string, amount: string, at = paidAt()) =>
    h.submit<Check>(await actor(h, 'bank'), 'Reconciliation:recordBankTransfer', JSON.stringify({ serial, payerAccount, payeeAccount, amount, paidAt: at }));
  const draft = async (id: string) => h.query<DraftView>(await actor(h, 'leadingGroup'), 'Draft:get', id);
  const discrepancy = async (id: string) =>
    (await h.query<Discrepancy[]>(await actor(h, 'leadingGroup'), 'Reconciliation:listDiscrepancies', '{}')).find((d) => d.id === id)!;

  it('match: the draft moves, the holder changes, the pending set is cleared', async () => {
    const { drafts } = await approvedProject(h);
    const serial = nextSerial();
    assert.equal((await register('bank', serial, [drafts[0]], 'toPartnership')).value.outcome, 'PENDING_BANK_RECORD');
    const r = await record(serial, BANK_ACC, LP_ACC, drafts[0].amount);
    assert.equal(r.value.outcome, 'MATCHED');
    const moved = await draft(drafts[0].draftId);
    assert.deepEqual([moved.nextHop, moved.holderId, moved.status, moved.actualPath[0].serial, moved.actualPath[0].overdue], [1, 'LP-FUND', 'IN_TRANSIT', serial, false]);
    const pending = await h.query<Array<{ serial: string }>>(await actor(h, 'leadingGroup'), 'Reconciliation:listPending');
    assert.ok(!pending.some((p) => p.serial === serial));
  });

  it('late: paid after the deadline, the hop still moves but is marked overdue with a warning event', async () => {
    const { drafts } = await approvedProject(h, [1, 20, 30]);
    const serial = nextSerial();
    await register('provincialFinance', serial, [drafts[1]], 'toPartnership');
    h.advance(48);
    const r = await record(serial, PROV_ACC, LP_ACC, drafts[1].amount);
    assert.equal(r.value.outcome, 'MATCHED_LATE');
    assert.ok(r.event!.payload.events.some((e) => e.type === 'TransferMatchedLate'));
    const moved = await draft(drafts[1].draftId);
    assert.deepEqual([moved.nextHop, moved.actualPath[0].overdue], [1, true]);
  });

  it('wrong amount: a discrepancy is recorded, nothing moves; a correct transfer for the hop then closes it', async () => {
    const { drafts } = await approvedProject(h);
    const serial = nextSerial();
    await register('bank', serial, [drafts[0]], 'toPartnership');
    const r = await record(serial, BANK_ACC, LP_ACC, (BigInt(drafts[0].amount) - 100n).toString());
    assert.equal(r.value.outcome, 'MISMATCH');
    assert.deepEqual(r.value.problems, [{ field: 'amount', expected: drafts[0].amount, actual: (BigInt(drafts[0].amount) - 100n).toString() }]);
    assert.ok(r.event!.payload.events.some((e) => e.type === 'DiscrepancyRaised'));
    assert.equal((await draft(drafts[0].draftId)).nextHop, 0, 'the draft did not move');
    assert.equal((await discrepancy(r.value.discrepancyId!)).status, 'OPEN');

    const retry = nextSerial();
    await register('bank', retry, [drafts[0]], 'toPartnership');
    const fixed = await record(retry, BANK_ACC, LP_ACC, drafts[0].amount);
    assert.equal(fixed.value.outcome, 'MATCHED');
    const closed = await discrepancy(r.value.discrepancyId!);
    assert.equal(closed.status, 'RESOLVED');
    assert.equal(closed.resolution?.kind, 'SUPERSEDED');
  });

  it('wrong payer account and wrong payee account are discrepancies naming the field', async () => {
    const { drafts } = await approvedProject(h);
    const s1 = nextSerial();
    await register('bank', s1, [drafts[0]], 'toPartnership');
    const wrongPayer = await record(s1, FUND_ACC, LP_ACC, drafts[0].amount);
    assert.equal(wrongPayer.value.outcome, 'MISMATCH');
    assert.deepEqual(wrongPayer.value.problems, [{ field: 'payerAccount', expected: BANK_ACC, actual: FUND_ACC }]);

    const s2 = nextSerial();
    await register('bank', s2, [drafts[0]], 'toPartnership');
    const wrongPayee = await record(s2, BANK_ACC, UNIT_ACC, drafts[0].amount);
    assert.equal(wrongPayee.value.outcome, 'MISMATCH');
    assert.deepEqual(wrongPayee.value.problems, [{ field: 'payeeAccount', expected: LP_ACC, actual: UNIT_ACC }]);
    assert.equal((await draft(drafts[0].draftId)).nextHop, 0);
  });

  it('unknown serial: checking fails with NOT_FOUND and writes nothing', async () => {
    const before = await h.snapshot();
    const r = await h.submit(await actor(h, 'leadingGroup'), 'Reconciliation:checking', 'NOSUCH000001');
    assert.equal(r.ok, false);
    assert.match(r.message, /^NOT_FOUND: serial NOSUCH000001/);
    assert.deepEqual(await h.snapshot(), before);
  });

  it('serial reused: a second registration or a different bank record under one serial is refused; an identical record is idempotent', async () => {
    const { drafts } = await approvedProject(h);
    const serial = nextSerial();
    await register('bank', serial, [drafts[0]], 'toPartnership');
    await record(serial, BANK_ACC, LP_ACC, drafts[0].amount);
    const before = await h.snapshot();
    const again = await register('provincialFinance', serial, [drafts[1]], 'toPartnership');
    assert.equal(again.ok, false);
    assert.match(again.message, /^CONFLICT: serial .* is already registered/);
    const first = (await h.query<{ record: { paidAt: string } }>(await actor(h, 'bank'), 'Reconciliation:getSerial', serial)).record;
    const changed = await record(serial, BANK_ACC, LP_ACC, '1', first.paidAt);
    assert.match(changed.message, /^CONFLICT: serial .* already recorded with different details/);
    const same = await record(serial, BANK_ACC, LP_ACC, drafts[0].amount, first.paidAt);
    assert.equal(same.value.outcome, 'ALREADY_RECORDED');
    assert.equal(same.writes, 0);
    assert.deepEqual(await h.snapshot(), before);
  });

  it('draft already moved: a second payment for a hop already paid is refused', async () => {
    const { drafts } = await approvedProject(h);
    const serial = nextSerial();
    await register('bank', serial, [drafts[0]], 'toPartnership');
    await record(serial, BANK_ACC, LP_ACC, drafts[0].amount);
    const before = await h.snapshot();
    const twice = await register('bank', nextSerial(), [drafts[0]], 'toPartnership');
    assert.equal(twice.ok, false);
    assert.match(twice.message, new RegExp(`^STATE: draft ${drafts[0].draftId} has already moved through toPartnership \\(serial ${serial}\\)`));
    assert.deepEqual(await h.snapshot(), before);
  });

  it('a second registration for a hop that already has one pending is refused', async () => {
    const { drafts } = await approvedProject(h);
    await register('bank', nextSerial(), [drafts[0]], 'toPartnership');
    const second = await register('bank', nextSerial(), [drafts[0]], 'toPartnership');
    assert.match(second.message, /^CONFLICT: draft .* already has serial .* registered for this hop/);
  });

  it('combined transfer: several drafts of one hop in one transfer must add up; a wrong sum is a discrepancy', async () => {
    const { drafts } = await approvedProject(h);
    for (const [who, d, acc] of [['bank', drafts[0], BANK_ACC], ['provincialFinance', drafts[1], PROV_ACC]] as const) {
      const s = nextSerial();
      await register(who, s, [d], 'toPartnership');
      assert.equal((await record(s, acc, LP_ACC, d.amount)).value.outcome, 'MATCHED');
    }
    const serial = nextSerial();
    const sum = (BigInt(drafts[0].amount) + BigInt(drafts[1].amount)).toString();
    const reg = await register('partnership', serial, [drafts[0], drafts[1]], 'toCountyFund');
    assert.equal(reg.ok, true, reg.message);
    const wrong = await record(serial, LP_ACC, FUND_ACC, drafts[0].amount);
    assert.equal(wrong.value.outcome, 'MISMATCH');
    assert.deepEqual(wrong.value.problems, [{ field: 'amount', expected: sum, actual: drafts[0].amount }]);
    assert.deepEqual([(await draft(drafts[0].draftId)).nextHop, (await draft(drafts[1].draftId)).nextHop], [1, 1]);

    const fixed = nextSerial();
    await register('partnership', fixed, [drafts[0], drafts[1]], 'toCountyFund');
    assert.equal((await record(fixed, LP_ACC, FUND_ACC, sum)).value.outcome, 'MATCHED');
    assert.deepEqual([(await draft(drafts[0].draftId)).holderId, (await draft(drafts[1].draftId)).holderId], ['LS-FUND', 'LS-FUND']);
  });

  it('drafts that do not travel the same hop cannot share a transfer', async () => {
    const { drafts } = await approvedProject(h);
    const r = await register('bank', nextSerial(), [drafts[0], drafts[1]], 'toPartnership');
    assert.match(r.message, /^VALIDATION: draftIds: .* does not travel the same hop/);
  });

  it('only the paying unit registers its hop, and only the bank holding the account records it', async () => {
    const { drafts } = await approvedProject(h);
    const before = await h.snapshot();
    const notPayer = await register('partnership', nextSerial(), [drafts[0]], 'toPartnership');
    assert.match(notPayer.message, /^AUTHORISATION: this hop is paid by BANK-GZ, not LP-FUND/);
    const otherBank = await h.submit(await actor(h, 'bank2'), 'Reconciliation:recordBankTransfer', JSON.stringify({ serial: nextSerial(), payerAccount: BANK_ACC, payeeAccount: LP_ACC, amount: '1', paidAt: paidAt() }));
    assert.match(otherBank.message, /^AUTHORISATION: account 600000000001 is held at BANK-GZ; only that bank may record its transfers/);
    assert.deepEqual(await h.snapshot(), before);
  });

  it('sweep: registrations and bank records unmatched past the threshold become discrepancies; a late match closes them', async () => {
    const { drafts } = await approvedProject(h);
    const claimOnly = nextSerial();
    const recordOnly = nextSerial();
    await register('bank', claimOnly, [drafts[0]], 'toPartnership');
    await record(recordOnly, PROV_ACC, LP_ACC, drafts[1].amount);
    const lgo = await actor(h, 'leadingGroup');
    h.advance(47);
    const early = await h.ok<{ flagged: number; discrepancyIds: string[] }>(lgo, 'Reconciliation:sweepUnmatched');
    assert.equal(early.flagged, 0, 'nothing is flagged before the threshold');
    h.advance(2);
    const swept = await h.ok<{ flagged: number; discrepancyIds: string[] }>(lgo, 'Reconciliation:sweepUnmatched');
    assert.ok(swept.flagged >= 2);
    const raised = await Promise.all(swept.discrepancyIds.map(discrepancy));
    const bySerial = new Map(raised.map((d) => [d.serial, d]));
    assert.equal(bySerial.get(claimOnly)?.kind, 'UNMATCHED_CLAIM');
    assert.equal(bySerial.get(recordOnly)?.kind, 'UNMATCHED_RECORD');
    assert.equal((await h.ok<{ flagged: number }>(lgo, 'Reconciliation:sweepUnmatched')).flagged, 0, 'a record is flagged once');

    // The province registers the serial the bank had recorded: the match closes the sweep's alert.
    const late = await register('provincialFinance', recordOnly, [drafts[1]], 'toPartnership');
    assert.match(late.value.outcome, /^MATCHED/);
    assert.equal((await discrepancy(bySerial.get(recordOnly)!.id)).status, 'RESOLVED');
  });

  it('manual resolution (平账): the provincial command may close a discrepancy with a reason; other roles may not', async () => {
    const { drafts } = await approvedProject(h);
    const serial = nextSerial();
    await register('bank', serial, [drafts[0]], 'toPartnership');
    const mismatch = await record(serial, BANK_ACC, LP_ACC, '1');
    const id = mismatch.value.discrepancyId!;
    const before = await h.snapshot();
    for (const who of ['bank', 'auditor', 'platform', 'countyOffice'] as const) {
      const r = await h.submit(await actor(h, who), 'Reconciliation:resolveDiscrepancy', id, '银行冲正，已退回');
      assert.match(r.message, /^AUTHORISATION: role \w+ may not call Reconciliation:resolveDiscrepancy/);
    }
    assert.deepEqual(await h.snapshot(), before);
    const short = await h.submit(await actor(h, 'leadingGroup'), 'Reconciliation:resolveDiscrepancy', id, 'ok');
    assert.match(short.message, /^VALIDATION: reason: reason must be at least 5 characters/);
    const resolved = await h.submit<Discrepancy>(await actor(h, 'leadingGroup'), 'Reconciliation:resolveDiscrepancy', id, '银行已冲正错误转账并退回付款户，经核实平账');
    assert.equal(resolved.ok, true, resolved.message);
    assert.deepEqual([resolved.value.status, resolved.value.resolution?.kind, resolved.value.resolution?.by], ['RESOLVED', 'MANUAL', 'LGO']);
    assert.equal(resolved.event?.name, 'DiscrepancyResolved');
    const again = await h.submit(await actor(h, 'leadingGroup'), 'Reconciliation:resolveDiscrepancy', id, '重复平账尝试');
    assert.match(again.message, /^STATE: discrepancy .* is already resolved/);
  });
});
