/** Tranches (按需拨付): the last leg split by the approval and released only against reported, confirmed milestones. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChaincodeHarness } from './support/harness';
import { DraftView, actor, leishanProject, pay, setUpProvince, terms, transferPlan } from './support/fixture';

const POLICY = { fiscalShareBp: 1000, provinceShareOfFiscalBp: 4000, toleranceBp: 50, fiscalFirst: false, milestoneConfirmation: true, reason: '按需拨付须县指挥部确认' };
const TRANCHES = [{ percent: 30 }, { percent: 40, milestone: '种苗采购与种植' }, { percent: 30, milestone: '验收' }];
const evidence = [{ name: '现场照片.jpg', sha256: 'e'.repeat(64) }];

describe('tranches', () => {
  let h: ChaincodeHarness;
  before(async () => {
    h = await ChaincodeHarness.start();
    await setUpProvince(h);
    await h.ok(await actor(h, 'leadingGroup'), 'Policy:set', JSON.stringify(POLICY));
  });
  after(() => h.close());

  const lgo = () => actor(h, 'leadingGroup');
  const draftsOf = async (projectId: string) => h.query<DraftView[]>(await lgo(), 'Draft:listByProject', projectId);
  /** The transfers due now: every draft's next hop, merged as the fixture merges them, only the first round. */
  const dueTransfers = async (projectId: string) => {
    const drafts = await draftsOf(projectId);
    const plan = transferPlan(drafts);
    const stage = plan[0].stage;
    return plan.filter((t) => t.stage === stage).slice(0, stage === 'toUnit' ? 1 : undefined);
  };

  it('refuses bad tranche terms with the field named and writes nothing', async () => {
    const project = await h.ok<{ id: string }>(await actor(h, 'countyOffice'), 'Project:file', JSON.stringify(leishanProject()));
    const before = await h.snapshot();
    for (const [tranches, error] of [
      [[{ percent: 30 }, { percent: 60, milestone: '验收' }], /^VALIDATION: terms\.tranches: the percentages must add up to 100/],
      [[{ percent: 50 }, { percent: 50 }], /^VALIDATION: terms\.tranches: only the first tranche may be released without a milestone/],
      [[{ percent: 50, milestone: '验收' }, { percent: 50, milestone: '验收' }], /^VALIDATION: terms\.tranches: a milestone releases one tranche/],
      [[{ percent: 50 }, { percent: 50, milestone: '封顶' }], /^VALIDATION: terms\.tranches\.1\.milestone: project .* has no milestone "封顶" \(its milestones: 基地土地流转与整理, 种苗采购与种植, 验收\)/],
      [[{ percent: 0.5 }, { percent: 99.5, milestone: '验收' }], /^VALIDATION: terms\.tranches\.0\.percent: tranche percent must be a whole number/],
      [[], /^VALIDATION: terms\.tranches: at least one tranche/],
    ] as const) {
      const r = await h.submit(await lgo(), 'Project:approve', project.id, '同意', JSON.stringify({ ...terms(h), tranches }), '{}');
      assert.equal(r.ok, false);
      assert.match(r.message, error);
    }
    assert.deepEqual(await h.snapshot(), before);
  });

  it('releases each tranche once, only against its milestone reported with evidence and confirmed by the county office', async () => {
    const office = await actor(h, 'countyOffice');
    const unit = await actor(h, 'unit');
    const project = await h.ok<{ id: string }>(office, 'Project:file', JSON.stringify(leishanProject()));
    const approval = await h.approve(await lgo(), project.id, '同意', { ...terms(h), tranches: TRANCHES });
    assert.equal(approval.ok, true, approval.message);

    // The last leg of every draft is three hops that add up to the draft exactly.
    for (const d of await draftsOf(project.id)) {
      const tranches = d.plannedPath.filter((hop) => hop.tranche);
      assert.deepEqual(tranches.map((t) => t.tranche!.percent), [30, 40, 30]);
      assert.equal(tranches.reduce((s, t) => s + BigInt(t.amount!), 0n), BigInt(d.amount));
      assert.equal(tranches[0].amount, ((BigInt(d.amount) * 30n) / 100n).toString());
    }

    // The path to the county fund company as usual, then the first tranche (released on arrival).
    for (let round = 0; round < 2; round++) for (const t of await dueTransfers(project.id)) await pay(h, t);
    const [first] = await dueTransfers(project.id);
    assert.equal(first.stage, 'toUnit');
    assert.equal(first.amount, ((1_000_000n * 100n * 30n) / 100n).toString(), 'the first tranche of the three drafts merged: 30 % of the budget');
    await pay(h, first);
    const arrived = await draftsOf(project.id);
    assert.ok(arrived.every((d) => d.status === 'AWAITING_ACCEPTANCE'));

    // The next tranche waits for the unit to accept this one.
    const county = await actor(h, 'countyFund');
    const register = (draftIds: string[], serial: string) => h.submit(county, 'Reconciliation:registerSerial', JSON.stringify({ serial, draftIds, stage: 'toUnit' }));
    const ids = arrived.map((d) => d.draftId);
    assert.match((await register(ids, 'T2-EARLY-01')).message, /^STATE: draft .*-D1: tranche 1 of 3 must be accepted by the implementing unit before the next tranche is paid/);
    for (const id of ids) {
      const accepted = await h.ok<{ status: string; acceptedAmount: string }>(unit, 'Draft:accept', id);
      assert.equal(accepted.status, 'PARTLY_ACCEPTED');
    }
    assert.match((await h.submit(unit, 'Draft:accept', ids[0])).message, /^STATE: draft .* has nothing awaiting acceptance \(tranche 2 of 3 is unpaid\)/);

    // Not reported, then reported but unconfirmed: still held back, with the reason.
    const before = await h.snapshot();
    assert.match((await register(ids, 'T2-EARLY-02')).message, /^STATE: draft .*-D1: tranche 2 of 3 \(40 %\) is released by milestone "种苗采购与种植", which has not been reported with evidence yet/);
    assert.deepEqual(await h.snapshot(), before, 'a held-back registration writes nothing');
    assert.match((await h.submit(office, 'Project:confirmMilestone', project.id, JSON.stringify({ milestone: '种苗采购与种植' }))).message, /has not been reported with evidence yet; it cannot be confirmed/);
    // Work starts on the first tranche: the unit may report before the project is fully funded.
    await h.ok(unit, 'Project:reportProgress', project.id, JSON.stringify({ milestone: '种苗采购与种植', percent: 60, note: '种苗已种植', evidence }));
    assert.match((await register(ids, 'T2-EARLY-03')).message, /which the county office has not confirmed yet \(fund policy v1\)/);
    const payable = await h.query<Array<{ draftId: string; heldBack: string | null }>>(county, 'Draft:listPayable');
    assert.match(payable.find((d) => d.draftId === ids[0])!.heldBack!, /has not confirmed yet/);
    const other = await h.submit(await actor(h, 'otherOffice'), 'Project:confirmMilestone', project.id, JSON.stringify({ milestone: '种苗采购与种植' }));
    assert.match(other.message, /^AUTHORISATION: project .* was filed by LS-OFFICE; only that office confirms its milestones/);
    await h.ok(office, 'Project:confirmMilestone', project.id, JSON.stringify({ milestone: '种苗采购与种植', note: '现场核实' }));
    assert.match((await h.submit(office, 'Project:confirmMilestone', project.id, JSON.stringify({ milestone: '种苗采购与种植' }))).message, /is already confirmed/);

    const [second] = await dueTransfers(project.id);
    assert.equal(second.amount, ((1_000_000n * 100n * 40n) / 100n).toString());
    await pay(h, second);
    for (const id of ids) await h.ok(unit, 'Draft:accept', id);

    // Completion: the project is COMPLETED before its last tranche, and stays so when the last tranche is accepted.
    await h.ok(unit, 'Project:reportProgress', project.id, JSON.stringify({ milestone: '验收', percent: 100, note: '竣工', evidence }));
    await h.ok(office, 'Project:confirmMilestone', project.id, JSON.stringify({ milestone: '验收' }));
    const [third] = await dueTransfers(project.id);
    await pay(h, third);
    for (const id of ids) assert.equal((await h.ok<{ status: string }>(unit, 'Draft:accept', id)).status, 'ACCEPTED');
    const done = await h.query<{ status: string; fundedAt?: string }>(await lgo(), 'Project:get', project.id);
    assert.equal(done.status, 'COMPLETED');
    assert.ok(done.fundedAt);

    // Each tranche moved exactly once, and the accepted money is the budget.
    const final = await draftsOf(project.id);
    for (const d of final) {
      const seqs = d.actualPath.map((a) => a.seq);
      assert.deepEqual(seqs, [...new Set(seqs)], 'no hop moved twice');
      assert.equal(seqs.length, d.plannedPath.length);
      assert.equal(d.acceptedAmount, d.amount);
    }
    assert.match((await register(ids, 'T4-AFTER-01')).message, /has already moved through toUnit|has completed its path/);
  });

  it('leaves a project approved without tranches as before: one hop to the unit, accepted whole', async () => {
    const project = await h.ok<{ id: string }>(await actor(h, 'countyOffice'), 'Project:file', JSON.stringify(leishanProject()));
    assert.equal((await h.approve(await lgo(), project.id, '同意', terms(h))).ok, true);
    const drafts = await draftsOf(project.id);
    assert.ok(drafts.every((d) => d.plannedPath.filter((hop) => hop.stage === 'toUnit').length === 1 && d.plannedPath.every((hop) => hop.amount === undefined)));
    // Without tranches, progress waits for the whole budget as it always did.
    const early = await h.submit(await actor(h, 'unit'), 'Project:reportProgress', project.id, JSON.stringify({ milestone: '验收', percent: 10, note: '开工', evidence }));
    assert.match(early.message, /^STATE: project .* is APPROVED; progress is reported once the drafts \(or a first tranche\) are accepted/);
  });
});
