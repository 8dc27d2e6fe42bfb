/**
 * Fuzzing the chaincode through fabric-shim's real dispatch (the harness): every transaction function the contracts'
 * metadata lists, called with generated hostile arguments (see support/hostile.ts), wrong arities included, by the
 * roles it admits and now and then by any role; then replays of old successful transactions, and a project's whole
 * workflow in random orders. Properties: the chaincode keeps answering, a refusal is a clear error (a status other
 * than 200, a message starting with an error code, no stack trace, no "undefined" or "[object Object]" the caller did
 * not send, of bounded length), a refusal changes no state, nothing reaches Object.prototype, and what a success
 * stores is JSON. The money invariants over random sequences are test/chaincode/money-conservation.test.ts's.
 *
 * `npm test` tries RUNS inputs per function; `npm run soak` (FUZZ_RUNS) many more. A failure prints the
 * FUZZ_SEED and FUZZ_PATH that replay it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { signBytes, type Identity } from '@fund/app/dist/blockchain/embedded';
import { contracts } from '@fund/chaincode';
import { ChaincodeHarness, type CallResult } from '../chaincode/support/harness';
import { CONFIG, DraftView, ORGS, PAYEES, ROLE_ACTORS, actor, fundedProject, leishanProject, nextSerial, setUpProvince, terms, transferPlan, type PlannedTransfer } from '../chaincode/support/fixture';
import { FUZZ, deepJson, fuzz, hostileJsonValue, hostileString, mutatedJson, pollutingJson } from './support/hostile';

const RUNS = 100;
/** Sequences of up to six replays: half the per-function count. */
const REPLAY_SCALE = 1 / 2;
/** A random order of a whole workflow costs a hundred calls or so: a sixteenth of the per-function count. */
const REORDER_SCALE = 1 / 16;

interface Tx {
  contract: string;
  fcn: string;
  params: string[];
  query: boolean;
}

/** Every transaction the chaincode exposes, read from the contracts' metadata as fabric-shim reads it. */
const TRANSACTIONS: Tx[] = contracts.flatMap((c) => {
  const contract = (new c() as { getName(): string }).getName();
  const meta = (Reflect as unknown as { getMetadata(k: string, t: object): Array<{ name: string; tag: string[]; parameters?: Array<{ name: string }> }> | undefined }).getMetadata(
    'fabric:transactions',
    c.prototype,
  );
  return (meta ?? []).map((t) => ({ contract, fcn: `${contract}:${t.name}`, params: (t.parameters ?? []).map((p) => p.name), query: !t.tag.includes('SUBMIT') }));
});

const ROLES = Object.keys(ROLE_ACTORS);

const CODE = /^(AUTHORISATION|VALIDATION|NOT_FOUND|CONFLICT|STATE|NOT_INITIALISED): \S/;
/** A clear message names the field and the rule; it does not echo a megabyte of input back. */
const MAX_MESSAGE = 1000;

/** Why a refusal is not a clear error, or undefined when it is. */
function unclear(r: CallResult, args: string[]): string | undefined {
  if (r.status === 200) return 'status 200 on a refusal';
  if (!CODE.test(r.message)) return `no error code: ${JSON.stringify(r.message.slice(0, 300))}`;
  if (/\n\s+at\s/.test(r.message)) return `a stack trace: ${JSON.stringify(r.message.slice(0, 300))}`;
  for (const word of ['undefined', '[object Object]', 'NaN']) {
    if (r.message.includes(word) && !args.some((a) => a.includes(word))) return `"${word}" in ${JSON.stringify(r.message.slice(0, 300))}`;
  }
  if (r.message.length > MAX_MESSAGE) return `a message of ${r.message.length} characters`;
  return undefined;
}

const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort().join();
function prototypeClean(): boolean {
  return Object.getOwnPropertyNames(Object.prototype).sort().join() === PROTOTYPE_KEYS && ({} as Record<string, unknown>).polluted === undefined;
}

/** Ids that exist in the world the fuzzer runs in, so that some calls get past "not found" into the rules. */
interface World {
  projectId: string;
  submittedId: string;
  rejectedId: string;
  draftIds: string[];
  serial: string;
  discrepancyId: string;
  examples: Record<string, unknown>;
  ids: string[];
  /** Successful submits of the setup, for replays. */
  done: Array<{ identity: Identity; fcn: string; args: string[] }>;
}

/**
 * A province with a funded project (payees named), a submitted and a rejected one, a discrepancy, a route set with a
 * node and a whitelist entry; every successful submit recorded.
 */
async function buildWorld(h: ChaincodeHarness): Promise<World> {
  const done: World['done'] = [];
  const submit = h.submit.bind(h);
  h.submit = (async (identity: Identity, fcn: string, ...args: string[]) => {
    const r = await submit(identity, fcn, ...args);
    if (r.ok) done.push({ identity, fcn, args });
    return r;
  }) as ChaincodeHarness['submit'];
  try {
    await setUpProvince(h);
    const admin = await actor(h, 'platform');
    const county = await actor(h, 'countyOffice');
    const lgo = await actor(h, 'leadingGroup');
    const projectId = await fundedProject(h, { payees: PAYEES });
    const unit = await actor(h, 'unit');
    await h.ok(unit, 'Project:reportProgress', projectId, JSON.stringify({ milestone: '基地土地流转与整理', percent: 30, note: '完成', evidence: [{ name: '验收单.pdf', sha256: 'c'.repeat(64) }] }));
    await h.ok(unit, 'Reconciliation:registerPayout', JSON.stringify({ serial: nextSerial('PAY'), projectId, payeeAccount: PAYEES[0].accountNo, amount: '100000', purpose: '土地整理工程款' }));
    const submittedId = (await h.ok<{ id: string }>(county, 'Project:file', JSON.stringify(leishanProject()))).id;
    const rejectedId = (await h.ok<{ id: string }>(county, 'Project:file', JSON.stringify(leishanProject()))).id;
    await h.ok(lgo, 'Project:reject', rejectedId, '请补充材料');
    const approved = await fundedOrApproved(h);
    const serial = nextSerial();
    const bank = await actor(h, 'bank');
    await h.ok(bank, 'Reconciliation:registerSerial', JSON.stringify({ serial, draftIds: [approved[0].draftId], stage: 'toPartnership' }));
    const mismatch = await h.ok<{ discrepancyId: string }>(
      bank,
      'Reconciliation:recordBankTransfer',
      JSON.stringify({ serial, payerAccount: '600000000001', payeeAccount: '600000000003', amount: '1', paidAt: new Date(h.clock.getTime() - 1000).toISOString() }),
    );
    await h.ok(admin, 'RouteManager:registerSet', JSON.stringify({ setId: 'SET-FUZZ', channel: 'business-fuzz', maxNum: 1000, warnNum: 900 }));
    await h.ok(admin, 'RouteManager:registerRoute', 'BIZ-FUZZ-1');
    const node = { nodeId: 'peer-fuzz', listenIp: '127.0.0.1', p2pPort: 7051, rpcPort: 7052, nodeType: 'peer', desc: '', caHash: 'd'.repeat(64), agencyInfo: '贵州银行' };
    await h.ok(admin, 'RouteSet:addNode', 'SET-FUZZ', JSON.stringify(node));
    await h.ok(admin, 'Whitelist:add', JSON.stringify({ address: '10.1.2.3', description: '中继' }));
    await h.ok(lgo, 'Policy:set', JSON.stringify({ fiscalShareBp: 1000, provinceShareOfFiscalBp: 4000, toleranceBp: 50, fiscalFirst: false, milestoneConfirmation: false, reason: '模糊测试用的政策' }));
    const draftIds = [...(await h.query<DraftView[]>(lgo, 'Draft:listByProject', projectId)).map((d) => d.draftId), ...approved.map((d) => d.draftId)];
    const examples: Record<string, unknown> = {
      configJson: CONFIG,
      operatorJson: { id: ORGS.platform.id, name: ORGS.platform.name },
      organisationJson: { id: 'FUZZ-COOP', name: '模糊测试合作社', type: 'implementingUnit', mspId: 'CountyMSP', county: '雷山县' },
      orgId: 'LS-UNIT',
      accountJson: { accountNo: '800000000001', bankId: 'BANK-GZ', name: '备用户' },
      active: 'true',
      type: 'bank',
      policyJson: { fiscalShareBp: 1000, provinceShareOfFiscalBp: 4000, toleranceBp: 50, fiscalFirst: false, milestoneConfirmation: false, reason: '模糊测试用的政策' },
      planJson: [{ source: 'bank', amount: '90000000' }, { source: 'provincialFinance', amount: '4000000' }, { source: 'countyFinance', amount: '6000000' }],
      projectJson: leishanProject({ payees: PAYEES }),
      projectId: submittedId,
      opinion: '同意',
      termsJson: terms(h),
      signaturesJson: Object.fromEntries(approved.map((d) => [d.draftId, Buffer.alloc(70, 1).toString('base64')])),
      reportJson: { milestone: '种苗采购与种植', percent: 60, note: '完成', evidence: [{ name: '照片.jpg', sha256: 'c'.repeat(64) }] },
      confirmationJson: { milestone: '基地土地流转与整理', note: '现场核实' },
      filterJson: { status: 'SUBMITTED', county: '雷山县' },
      draftId: draftIds[0],
      registrationJson: { serial: nextSerial('FZ'), draftIds: [approved[1].draftId], stage: 'toPartnership' },
      payoutJson: { serial: nextSerial('FZ'), projectId, payeeAccount: PAYEES[1].accountNo, amount: '100', purpose: '合作社分红' },
      recordJson: { serial: nextSerial('FZ'), payerAccount: '600000000002', payeeAccount: '600000000003', amount: '4000000', paidAt: new Date(h.clock.getTime() - 1000).toISOString() },
      serial,
      discrepancyId: mismatch.discrepancyId,
      reason: '经核实银行已冲正',
      setJson: { setId: 'SET-FUZZ-2', channel: 'business-fuzz-2', maxNum: 100, warnNum: 80 },
      businessId: 'BIZ-FUZZ-2',
      businessIdsJson: ['BIZ-FUZZ-3', 'BIZ-FUZZ-4'],
      setId: 'SET-FUZZ',
      nodeJson: { ...node, nodeId: 'peer-fuzz-2' },
      nodeId: 'peer-fuzz',
      entryJson: { address: '10.9.0.0/16', description: '中继' },
      address: '10.1.2.3',
    };
    const ids = [projectId, submittedId, rejectedId, ...draftIds, serial, mismatch.discrepancyId, 'SET-FUZZ', 'peer-fuzz', 'BIZ-FUZZ-1', ...Object.values(ORGS).map((o) => o.id)];
    return { projectId, submittedId, rejectedId, draftIds, serial, discrepancyId: mismatch.discrepancyId, examples, ids, done };
  } finally {
    h.submit = submit;
  }
}

/** A project approved with its drafts issued, none paid yet. */
async function fundedOrApproved(h: ChaincodeHarness): Promise<DraftView[]> {
  const lgo = await actor(h, 'leadingGroup');
  const p = await h.ok<{ id: string }>(await actor(h, 'countyOffice'), 'Project:file', JSON.stringify(leishanProject()));
  const approval = await h.approve(lgo, p.id, '同意', terms(h));
  assert.ok(approval.ok, approval.message);
  return h.query<DraftView[]>(lgo, 'Draft:listByProject', p.id);
}

/** One argument for a parameter: hostile, a real id, or the valid example with something wrong inside. */
function argument(world: World, param: string): fc.Arbitrary<string> {
  const example = world.examples[param];
  const plain = fc.oneof(
    { weight: 3, arbitrary: hostileString },
    { weight: 1, arbitrary: fc.constantFrom(...world.ids) },
    { weight: 1, arbitrary: fc.constant(typeof example === 'string' ? example : JSON.stringify(example ?? '')) },
  );
  if (!param.endsWith('Json') || example === undefined) return plain;
  return fc.oneof(
    { weight: 5, arbitrary: mutatedJson(example) },
    { weight: 2, arbitrary: plain },
    { weight: 1, arbitrary: deepJson },
    { weight: 1, arbitrary: pollutingJson },
    { weight: 1, arbitrary: hostileJsonValue.map((v) => JSON.stringify(v) ?? '') },
  );
}

/** The arguments of one call: usually as many as the function takes, sometimes fewer or more. */
function argumentsFor(world: World, tx: Tx): fc.Arbitrary<string[]> {
  const exact = fc.tuple(...tx.params.map((p) => argument(world, p)));
  const any = fc.array(argument(world, tx.params[0] ?? 'extra'), { maxLength: tx.params.length + 3 }).filter((a) => a.length !== tx.params.length);
  return fc.oneof({ weight: 6, arbitrary: exact }, { weight: 1, arbitrary: any });
}

/** The roles a function admits: the ones not refused with AUTHORISATION for arguments of the right shape. */
async function admittedRoles(h: ChaincodeHarness, world: World, tx: Tx): Promise<string[]> {
  const args = tx.params.map((p) => {
    const e = world.examples[p];
    return typeof e === 'string' ? e : JSON.stringify(e ?? 'x');
  });
  const admitted: string[] = [];
  for (const role of ROLES) {
    // Evaluated, not submitted: finding out must not change the world.
    const r = await h.evaluate(await actor(h, ROLE_ACTORS[role]), tx.fcn, ...args);
    if (!r.message.startsWith('AUTHORISATION')) admitted.push(role);
  }
  return admitted.length > 0 ? admitted : ROLES;
}

interface Tally {
  calls: number;
  ok: number;
  byCode: Record<string, number>;
}

/** The state after the last call checked: a refusal leaves it as it was, so it need not be read again before the next. */
const lastState = new WeakMap<ChaincodeHarness, Map<string, string>>();
async function stateOf(h: ChaincodeHarness): Promise<Map<string, string>> {
  return lastState.get(h) ?? (await h.snapshot());
}

function count(tally: Tally, r: CallResult): void {
  tally.calls += 1;
  if (r.ok) tally.ok += 1;
  else {
    const code = /^[A-Z_]+/.exec(r.message)?.[0] ?? '?';
    tally.byCode[code] = (tally.byCode[code] ?? 0) + 1;
  }
}

/** Calls once and checks every property; returns the problem, or undefined. */
async function check(h: ChaincodeHarness, tx: Tx, role: string, args: string[], tally: Tally): Promise<string | undefined> {
  const identity = await actor(h, ROLE_ACTORS[role]);
  const before = await stateOf(h);
  const r = tx.query ? await h.evaluate(identity, tx.fcn, ...args) : await h.submit(identity, tx.fcn, ...args);
  const after = await h.snapshot();
  lastState.set(h, after);
  count(tally, r);
  if (!prototypeClean()) return 'Object.prototype was changed';
  if (r.ok) {
    for (const [key, value] of after) {
      if (before.get(key) === value) continue;
      try {
        JSON.parse(Buffer.from(value, 'hex').toString('utf8'));
      } catch {
        return `a success stored something that is not JSON under ${JSON.stringify(key)}`;
      }
    }
    return undefined;
  }
  const why = unclear(r, args);
  if (why) return why;
  try {
    assert.deepEqual(after, before);
  } catch {
    return 'a refused call changed the state';
  }
  return undefined;
}

/** Arguments shortened for a failure message (a huge string would drown it). */
const show = (args: string[]) => JSON.stringify(args.map((a) => (a.length > 120 ? `${a.slice(0, 120)}…(${a.length})` : a)));

const totals: Array<[string, number]> = [];

describe('chaincode fuzzing: hostile arguments to every transaction', () => {
  it('lists every transaction of the metadata', () => {
    assert.ok(TRANSACTIONS.length > 40, `found ${TRANSACTIONS.length}`);
  });

  for (const contract of [...new Set(TRANSACTIONS.map((t) => t.contract))]) {
    describe(contract, () => {
      let h: ChaincodeHarness;
      let world: World;
      before(async () => {
        h = await ChaincodeHarness.start();
        world = await buildWorld(h);
      });
      after(async () => {
        await h?.close();
      });

      for (const tx of TRANSACTIONS.filter((t) => t.contract === contract)) {
        it(`${tx.fcn}(${tx.params.join(', ')})`, async (t) => {
          const admitted = await admittedRoles(h, world, tx);
          const tally: Tally = { calls: 0, ok: 0, byCode: {} };
          const role = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...admitted) }, { weight: 1, arbitrary: fc.constantFrom(...ROLES) });
          const runs = await fuzz(
            fc.asyncProperty(argumentsFor(world, tx), role, async (args, who) => {
              const problem = await check(h, tx, who, args, tally);
              if (problem) throw new Error(`${tx.fcn} as ${who} with ${show(args)}: ${problem}`);
            }),
            RUNS,
          );
          // The chaincode still answers after all that.
          assert.equal((await h.evaluate(await actor(h, 'auditor'), 'Config:get')).ok, true, 'the chaincode stopped answering');
          totals.push([tx.fcn, runs]);
          t.diagnostic(`${runs} inputs, ${tally.ok} accepted, refused: ${JSON.stringify(tally.byCode)}; admitted roles ${admitted.join(',')}`);
        });
      }
    });
  }

  after(() => {
    const inputs = totals.reduce((n, [, runs]) => n + runs, 0);
    console.log(`# chaincode fuzz: ${totals.length} transactions, ${inputs} inputs (${FUZZ.runs ?? RUNS} per function), seed ${FUZZ.seed}`);
  });
});

describe('chaincode fuzzing: what the first runs found', () => {
  it("fabric-shim's own refusals carry a code: wrong arity, unknown contract; a missing field says it is required", async () => {
    const h = await ChaincodeHarness.start();
    try {
      await setUpProvince(h);
      const admin = await actor(h, 'platform');
      const cases: Array<[string, string[], RegExp]> = [
        ['Project:get', [], /^VALIDATION: Expected 1 parameters, but 0 have been supplied$/],
        ['Config:get', ['extra'], /^VALIDATION: Expected 0 parameters, but 1 have been supplied$/],
        ['Nope:get', [], /^NOT_FOUND: transaction Nope:get does not exist$/],
        // Was "config.roleMsps: Invalid input: expected object, received undefined".
        ['Config:update', ['{}'], /^VALIDATION: config\.roleMsps: roleMsps is required$/],
      ];
      for (const [fcn, args, expected] of cases) {
        const before = await h.snapshot();
        const r = await h.submit(admin, fcn, ...args);
        assert.match(r.message, expected, fcn);
        assert.deepEqual(await h.snapshot(), before);
      }
    } finally {
      await h.close();
    }
  });
});

describe('chaincode fuzzing: replays and reordered calls', () => {
  let h: ChaincodeHarness;
  let world: World;
  before(async () => {
    h = await ChaincodeHarness.start();
    world = await buildWorld(h);
  });
  after(async () => {
    await h?.close();
  });

  /** Transactions that must never take effect twice: the same arguments again are refused. */
  const ONCE = new Set([
    'Config:initialise',
    'Organisation:register',
    'Project:approve',
    'Project:reject',
    'Draft:accept',
    'Reconciliation:registerSerial',
    'Reconciliation:registerPayout',
    'RouteManager:registerSet',
    'RouteSet:addNode',
  ]);
  /** Transactions whose repetition is answered like the first call and changes nothing. */
  const IDEMPOTENT = new Set(['Reconciliation:recordBankTransfer', 'RouteManager:registerRoute', 'RouteManager:registerRoutes']);

  it('replays of old successful transactions: refused cleanly where they must not repeat, no change where they are idempotent', async (t) => {
    const tally: Tally = { calls: 0, ok: 0, byCode: {} };
    const replayable = world.done;
    const runs = await fuzz(
      fc.asyncProperty(fc.array(fc.nat({ max: replayable.length - 1 }), { minLength: 1, maxLength: 6 }), async (picks) => {
        for (const i of picks) {
          const { identity, fcn, args } = replayable[i];
          const before = await h.snapshot();
          const r = await h.submit(identity, fcn, ...args);
          const after = await h.snapshot();
          count(tally, r);
          const where = `replaying ${fcn} ${show(args)}`;
          if (ONCE.has(fcn)) assert.equal(r.ok, false, `${where} took effect twice`);
          if (!r.ok) {
            assert.equal(unclear(r, args), undefined, `${where}: ${unclear(r, args)}`);
            assert.deepEqual(after, before, `${where}: refused, yet the state changed`);
          }
          if (IDEMPOTENT.has(fcn)) assert.deepEqual(after, before, `${where}: a repetition changed the state`);
        }
      }),
      RUNS,
      REPLAY_SCALE,
    );
    t.diagnostic(`${runs} sequences, ${tally.calls} replays of ${replayable.length} recorded transactions, ${tally.ok} accepted, refused: ${JSON.stringify(tally.byCode)}`);
  });

  /**
   * One project's workflow (approve, every transfer's registration and bank record, every acceptance, a progress
   * report) sent in a random order, then again and again until nothing more goes through: every refusal is clean
   * and changes nothing, and in the end every step has gone through exactly once and every draft is accepted in
   * full: the order calls arrive in does not change where the money ends.
   */
  it('a workflow in random orders ends where the ordered one does', async (t) => {
    let passes = 0;
    const runs = await fuzz(
      fc.asyncProperty(fc.infiniteStream(fc.nat()), async (stream) => {
        const steps = await workflowSteps(h);
        lastState.delete(h); // the filing changed the state behind the cache
        // A random permutation from the stream (Fisher–Yates).
        const order = [...steps.keys()];
        const random = stream[Symbol.iterator]();
        for (let i = order.length - 1; i > 0; i--) {
          const j = (random.next().value as number) % (i + 1);
          [order[i], order[j]] = [order[j], order[i]];
        }
        const succeeded = new Set<number>();
        for (let progress = true; progress; ) {
          progress = false;
          passes += 1;
          for (const i of order.filter((k) => !succeeded.has(k))) {
            const s = steps[i];
            const before = await stateOf(h);
            const r = await h.submit(await s.who(), s.fcn, ...s.args);
            const after = await h.snapshot();
            lastState.set(h, after);
            if (r.ok) {
              succeeded.add(i);
              progress = true;
              continue;
            }
            assert.equal(unclear(r, s.args), undefined, `${s.fcn} out of order: ${unclear(r, s.args)}`);
            assert.deepEqual(after, before, `${s.fcn} refused out of order, yet the state changed`);
          }
        }
        assert.deepEqual(
          steps.filter((_, i) => !succeeded.has(i)).map((s) => `${s.fcn} ${show(s.args)}`),
          [],
          `order ${order.join(',')}: steps that never went through`,
        );
        for (const d of await h.query<DraftView[]>(await actor(h, 'auditor'), 'Draft:listByProject', steps[0].args[0])) {
          assert.equal(d.acceptedAmount ?? '0', d.amount, `${d.draftId} accepted in full`);
          assert.deepEqual(d.actualPath.map((a) => a.seq), d.plannedPath.map((p) => p.seq), `${d.draftId}: every hop once, in order`);
        }
      }),
      RUNS,
      REORDER_SCALE,
    );
    t.diagnostic(`${runs} random orders, ${passes} passes`);
  });
});

interface Step {
  who: () => Promise<Identity>;
  fcn: string;
  args: string[];
}

/** A newly filed project's workflow as calls prepared in advance (the drafts' paths come from Draft:previewIssue). */
async function workflowSteps(h: ChaincodeHarness): Promise<Step[]> {
  const lgo = await actor(h, 'leadingGroup');
  const projectId = (await h.ok<{ id: string }>(await actor(h, 'countyOffice'), 'Project:file', JSON.stringify(leishanProject()))).id;
  const t = terms(h);
  const preview = await h.query<Array<{ draftId: string; content: string }>>(lgo, 'Draft:previewIssue', projectId, JSON.stringify(t));
  const signatures = Object.fromEntries(preview.map((p) => [p.draftId, signBytes(lgo, Buffer.from(p.content, 'utf8')).toString('base64')]));
  const drafts = preview.map((p) => ({ ...(JSON.parse(p.content) as DraftView), nextHop: 0, actualPath: [] }));
  const steps: Step[] = [{ who: () => actor(h, 'leadingGroup'), fcn: 'Project:approve', args: [projectId, '同意', JSON.stringify(t), JSON.stringify(signatures)] }];
  for (const transfer of transferPlan(drafts)) steps.push(...transferSteps(h, transfer));
  for (const d of drafts) steps.push({ who: () => actor(h, 'unit'), fcn: 'Draft:accept', args: [d.draftId] });
  steps.push({
    who: () => actor(h, 'unit'),
    fcn: 'Project:reportProgress',
    args: [projectId, JSON.stringify({ milestone: '基地土地流转与整理', percent: 30, note: '完成', evidence: [{ name: '验收单.pdf', sha256: 'c'.repeat(64) }] })],
  });
  // approve's first argument is the project id the final check reads.
  return steps;
}

function transferSteps(h: ChaincodeHarness, t: PlannedTransfer): Step[] {
  const serial = nextSerial('ORD');
  const record = { serial, payerAccount: t.payer.account, payeeAccount: t.payeeAccount, amount: t.amount, paidAt: new Date(h.clock.getTime() - 1000).toISOString() };
  return [
    { who: () => actor(h, t.payer.key), fcn: 'Reconciliation:registerSerial', args: [JSON.stringify({ serial, draftIds: t.draftIds, stage: t.stage })] },
    { who: () => actor(h, t.payer.recorder), fcn: 'Reconciliation:recordBankTransfer', args: [JSON.stringify(record)] },
  ];
}
