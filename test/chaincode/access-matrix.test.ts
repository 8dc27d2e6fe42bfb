import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChaincodeHarness } from './support/harness';
import { CONFIG, PAYEES, ROLE_ACTORS, actor, approvedProject, fundedProject, leishanProject, nextSerial, payAllHops, setUpProvince, terms } from './support/fixture';
import { signBytes } from '@fund/app/dist/blockchain/embedded';
import { contracts } from '@fund/chaincode';

const ROLES = Object.keys(ROLE_ACTORS);
const EVERYONE = ROLES;
const PAYERS = ['provincialFinance', 'countyFinance', 'bank', 'limitedPartnership', 'countyFundCompany'];

interface Case {
  fcn: string;
  /** Roles that succeed in this scenario; every other role must get an authorisation error. */
  allowed: string[];
  /** Arguments for one call, prepared afresh for every allowed caller (a success changes state). */
  args: (h: ChaincodeHarness) => Promise<string[]>;
  query?: boolean;
  /** For an allowed caller whose call is refused for a reason other than authorisation. */
  allowedError?: RegExp;
}

let counter = 0;
const uid = (p: string) => `${p}-${++counter}`;

const CASES: Case[] = [
  { fcn: 'Config:initialise', allowed: ['admin'], allowedError: /^CONFLICT: this channel is already initialised/, args: async () => [JSON.stringify(CONFIG), JSON.stringify({ id: 'PLATFORM', name: '运营中心' })] },
  { fcn: 'Config:update', allowed: ['admin'], args: async () => [JSON.stringify(CONFIG)] },
  { fcn: 'Config:get', allowed: EVERYONE, query: true, args: async () => [] },
  { fcn: 'Config:history', allowed: ['admin', 'leadingGroup', 'provincialFinance', 'auditor'], query: true, args: async () => [] },
  // Shares the fixture's plan meets, and no order rule, so the other cases' transfers are unaffected.
  { fcn: 'Policy:set', allowed: ['leadingGroup', 'admin'], args: async () => [JSON.stringify({ fiscalShareBp: 1000, provinceShareOfFiscalBp: 4000, toleranceBp: 50, fiscalFirst: false, milestoneConfirmation: false, reason: '访问矩阵测试' })] },
  {
    fcn: 'Identity:revoke',
    allowed: ['admin'],
    args: async (h) => [JSON.stringify({ certificate: (await h.user('auditor', uid('AUDITOR'))).certificate, reason: '矩阵测试吊销' })],
  },
  { fcn: 'Identity:isRevoked', allowed: EVERYONE, query: true, args: async () => ['a'.repeat(64)] },
  { fcn: 'Identity:listRevoked', allowed: ['admin', 'leadingGroup', 'provincialFinance', 'auditor'], query: true, args: async () => [] },
  { fcn: 'Policy:current', allowed: EVERYONE, query: true, args: async () => [] },
  { fcn: 'Policy:list', allowed: EVERYONE, query: true, args: async () => [] },
  { fcn: 'Policy:checkPlan', allowed: EVERYONE, query: true, args: async () => [JSON.stringify([{ source: 'bank', amount: '100' }])] },
  { fcn: 'Organisation:register', allowed: ['admin'], args: async () => [JSON.stringify({ id: uid('UNIT'), name: '测试合作社', type: 'implementingUnit', mspId: 'CountyMSP', county: '雷山县' })] },
  { fcn: 'Organisation:addAccount', allowed: ['admin'], args: async () => ['LS-UNIT', JSON.stringify({ accountNo: `8${String(++counter).padStart(11, '0')}`, bankId: 'BANK-GZ', name: '备用户' })] },
  {
    fcn: 'Organisation:setActive',
    allowed: ['admin'],
    args: async (h) => {
      const orgId = uid('COOP');
      await h.ok(await actor(h, 'platform'), 'Organisation:register', JSON.stringify({ id: orgId, name: '待退出合作社', type: 'implementingUnit', mspId: 'CountyMSP', county: '雷山县' }));
      return [orgId, 'false'];
    },
  },
  { fcn: 'Organisation:get', allowed: EVERYONE, query: true, args: async () => ['LS-UNIT'] },
  { fcn: 'Organisation:list', allowed: EVERYONE, query: true, args: async () => [''] },
  { fcn: 'Project:file', allowed: ['countyOffice'], args: async () => [JSON.stringify(leishanProject())] },
  {
    fcn: 'Project:revise',
    allowed: ['countyOffice'],
    args: async (h) => {
      const p = await h.ok<{ id: string }>(await actor(h, 'countyOffice'), 'Project:file', JSON.stringify(leishanProject()));
      await h.ok(await actor(h, 'leadingGroup'), 'Project:reject', p.id, '请补充材料');
      return [p.id, JSON.stringify(leishanProject({ town: '丹江镇' }))];
    },
  },
  {
    fcn: 'Project:approve',
    allowed: ['leadingGroup'],
    args: async (h) => {
      const lgo = await actor(h, 'leadingGroup');
      const p = await h.ok<{ id: string }>(await actor(h, 'countyOffice'), 'Project:file', JSON.stringify(leishanProject()));
      const t = terms(h);
      const preview = await h.query<Array<{ draftId: string; content: string }>>(lgo, 'Draft:previewIssue', p.id, JSON.stringify(t));
      const sigs = Object.fromEntries(preview.map((x) => [x.draftId, signBytes(lgo, Buffer.from(x.content)).toString('base64')]));
      return [p.id, '同意', JSON.stringify(t), JSON.stringify(sigs)];
    },
  },
  {
    fcn: 'Project:reject',
    allowed: ['leadingGroup'],
    args: async (h) => [(await h.ok<{ id: string }>(await actor(h, 'countyOffice'), 'Project:file', JSON.stringify(leishanProject()))).id, '不符合条件'],
  },
  {
    fcn: 'Project:reportProgress',
    allowed: ['implementingUnit'],
    args: async (h) => [await fundedProject(h), JSON.stringify({ milestone: '开工', percent: 10, note: '已开工', evidence: [{ name: '照片.jpg', sha256: 'c'.repeat(64) }] })],
  },
  {
    fcn: 'Project:confirmMilestone',
    allowed: ['countyOffice'],
    args: async (h) => {
      const projectId = await fundedProject(h);
      await h.ok(await actor(h, 'unit'), 'Project:reportProgress', projectId, JSON.stringify({ milestone: '基地土地流转与整理', percent: 30, note: '完成', evidence: [{ name: '验收单.pdf', sha256: 'c'.repeat(64) }] }));
      return [projectId, JSON.stringify({ milestone: '基地土地流转与整理', note: '现场核实' })];
    },
  },
  { fcn: 'Project:get', allowed: EVERYONE, query: true, args: async (h) => [(await approvedProject(h)).projectId] },
  { fcn: 'Project:list', allowed: EVERYONE, query: true, args: async () => ['{}'] },
  { fcn: 'Project:history', allowed: EVERYONE, query: true, args: async (h) => [(await approvedProject(h)).projectId] },
  {
    fcn: 'Draft:previewIssue',
    allowed: ['leadingGroup'],
    query: true,
    args: async (h) => [(await h.ok<{ id: string }>(await actor(h, 'countyOffice'), 'Project:file', JSON.stringify(leishanProject()))).id, JSON.stringify(terms(h))],
  },
  {
    fcn: 'Draft:accept',
    allowed: ['implementingUnit'],
    args: async (h) => {
      const { projectId } = await approvedProject(h);
      return [(await payAllHops(h, projectId))[0].draftId];
    },
  },
  { fcn: 'Draft:get', allowed: EVERYONE, query: true, args: async (h) => [(await approvedProject(h)).drafts[0].draftId] },
  { fcn: 'Draft:listByProject', allowed: EVERYONE, query: true, args: async (h) => [(await approvedProject(h)).projectId] },
  { fcn: 'Draft:listPayable', allowed: PAYERS, query: true, args: async () => [] },
  { fcn: 'Draft:history', allowed: EVERYONE, query: true, args: async (h) => [(await approvedProject(h)).drafts[0].draftId] },
  { fcn: 'Draft:verifyIssuerSignature', allowed: EVERYONE, query: true, args: async (h) => [(await approvedProject(h)).drafts[0].draftId] },
  {
    // The bank's own financing draft: only the bank pays its first hop.
    fcn: 'Reconciliation:registerSerial',
    allowed: ['bank'],
    args: async (h) => [JSON.stringify({ serial: nextSerial(), draftIds: [(await approvedProject(h)).drafts[0].draftId], stage: 'toPartnership' })],
  },
  {
    fcn: 'Reconciliation:recordBankTransfer',
    allowed: ['bank'],
    args: async (h) => [JSON.stringify({ serial: nextSerial(), payerAccount: '600000000002', payeeAccount: '600000000003', amount: '100', paidAt: new Date(h.clock.getTime() - 1000).toISOString() })],
  },
  {
    fcn: 'Reconciliation:checking',
    allowed: [...PAYERS, 'leadingGroup'],
    args: async (h) => {
      const serial = nextSerial();
      await h.ok(await actor(h, 'bank'), 'Reconciliation:registerSerial', JSON.stringify({ serial, draftIds: [(await approvedProject(h)).drafts[0].draftId], stage: 'toPartnership' }));
      return [serial];
    },
  },
  { fcn: 'Reconciliation:sweepUnmatched', allowed: ['admin', 'leadingGroup'], args: async () => [] },
  {
    fcn: 'Reconciliation:resolveDiscrepancy',
    allowed: ['leadingGroup'],
    args: async (h) => {
      const serial = nextSerial();
      await h.ok(await actor(h, 'bank'), 'Reconciliation:registerSerial', JSON.stringify({ serial, draftIds: [(await approvedProject(h)).drafts[0].draftId], stage: 'toPartnership' }));
      const r = await h.ok<{ discrepancyId: string }>(await actor(h, 'bank'), 'Reconciliation:recordBankTransfer', JSON.stringify({ serial, payerAccount: '600000000001', payeeAccount: '600000000003', amount: '1', paidAt: new Date(h.clock.getTime() - 1000).toISOString() }));
      return [r.discrepancyId, '经核实银行已冲正'];
    },
  },
  {
    fcn: 'Reconciliation:getSerial',
    allowed: EVERYONE,
    query: true,
    args: async (h) => {
      const serial = nextSerial();
      await h.ok(await actor(h, 'bank'), 'Reconciliation:registerSerial', JSON.stringify({ serial, draftIds: [(await approvedProject(h)).drafts[0].draftId], stage: 'toPartnership' }));
      return [serial];
    },
  },
  {
    fcn: 'Reconciliation:registerPayout',
    allowed: ['implementingUnit'],
    args: async (h) => [JSON.stringify({ serial: nextSerial(), projectId: await fundedProject(h, { payees: PAYEES }), payeeAccount: PAYEES[0].accountNo, amount: '100000', purpose: '土地整理工程款' })],
  },
  { fcn: 'Reconciliation:payouts', allowed: EVERYONE, query: true, args: async (h) => [await fundedProject(h, { payees: PAYEES })] },
  { fcn: 'Reconciliation:listDiscrepancies', allowed: EVERYONE, query: true, args: async () => ['{}'] },
  { fcn: 'Reconciliation:listPending', allowed: ['admin', 'leadingGroup', 'auditor'], query: true, args: async () => [] },
  { fcn: 'RouteManager:registerSet', allowed: ['admin'], args: async () => [JSON.stringify({ setId: uid('SET'), channel: `business-${++counter}`, maxNum: 100, warnNum: 80 })] },
  { fcn: 'RouteManager:registerRoute', allowed: ['admin', 'countyOffice', 'leadingGroup'], args: async () => [uid('BIZ')] },
  { fcn: 'RouteManager:registerRoutes', allowed: ['admin', 'countyOffice', 'leadingGroup'], args: async () => [JSON.stringify([uid('BIZ'), uid('BIZ')])] },
  {
    fcn: 'RouteManager:getRoute',
    allowed: EVERYONE,
    query: true,
    args: async (h) => {
      const id = uid('BIZ');
      await h.ok(await actor(h, 'platform'), 'RouteManager:registerRoute', id);
      return [id];
    },
  },
  { fcn: 'RouteManager:getManager', allowed: EVERYONE, query: true, args: async () => [] },
  { fcn: 'RouteSet:getSet', allowed: EVERYONE, query: true, args: async () => ['SET-MATRIX'] },
  { fcn: 'RouteSet:getNodeList', allowed: EVERYONE, query: true, args: async () => ['SET-MATRIX'] },
  { fcn: 'RouteSet:isFull', allowed: EVERYONE, query: true, args: async () => ['SET-MATRIX'] },
  {
    fcn: 'RouteSet:addNode',
    allowed: ['admin'],
    args: async () => ['SET-MATRIX', JSON.stringify({ nodeId: uid('peer'), listenIp: '127.0.0.1', p2pPort: 7051, rpcPort: 7052, nodeType: 'peer', desc: '', caHash: 'd'.repeat(64), agencyInfo: '贵州银行' })],
  },
  {
    fcn: 'RouteSet:removeNode',
    allowed: ['admin'],
    args: async (h) => {
      const nodeId = uid('peer');
      await h.ok(await actor(h, 'platform'), 'RouteSet:addNode', 'SET-MATRIX', JSON.stringify({ nodeId, listenIp: '127.0.0.1', p2pPort: 7051, rpcPort: 7052, nodeType: 'peer', caHash: 'e'.repeat(64), agencyInfo: '省财政厅' }));
      return ['SET-MATRIX', nodeId];
    },
  },
  { fcn: 'Whitelist:add', allowed: ['admin'], args: async () => [JSON.stringify({ address: `127.0.${++counter % 250}.${counter % 250}`, description: '中继' })] },
  {
    fcn: 'Whitelist:remove',
    allowed: ['admin'],
    args: async (h) => {
      const address = `10.9.${++counter % 250}.1`;
      await h.ok(await actor(h, 'platform'), 'Whitelist:add', JSON.stringify({ address, description: '待删除' }));
      return [address];
    },
  },
  { fcn: 'Whitelist:check', allowed: EVERYONE, query: true, args: async () => ['127.0.0.1'] },
  { fcn: 'Whitelist:list', allowed: EVERYONE, query: true, args: async () => [] },
];

describe('access control: every transaction called by every role', () => {
  let h: ChaincodeHarness;
  before(async () => {
    h = await ChaincodeHarness.start();
    await setUpProvince(h);
    const admin = await actor(h, 'platform');
    await h.ok(admin, 'RouteManager:registerSet', JSON.stringify({ setId: 'SET-MATRIX', channel: 'business-matrix', maxNum: 1000, warnNum: 900 }));
  });
  after(() => h.close());

  for (const c of CASES) {
    it(`${c.fcn}: ${c.allowed.length === ROLES.length ? 'every role' : c.allowed.join(', ')}`, async () => {
      const args = await c.args(h);
      for (const role of ROLES.filter((r) => !c.allowed.includes(r))) {
        const before = await h.snapshot();
        const r = await h.submit(await actor(h, ROLE_ACTORS[role]), c.fcn, ...args);
        assert.equal(r.ok, false, `${role} must not be able to call ${c.fcn}`);
        assert.match(r.message, /^AUTHORISATION: /, `${role} calling ${c.fcn}: ${r.message}`);
        assert.deepEqual(await h.snapshot(), before, `${role} calling ${c.fcn} changed state`);
      }
      for (const [i, role] of c.allowed.entries()) {
        const callArgs = i === 0 || c.query ? args : await c.args(h);
        const r = await (c.query ? h.evaluate(await actor(h, ROLE_ACTORS[role]), c.fcn, ...callArgs) : h.submit(await actor(h, ROLE_ACTORS[role]), c.fcn, ...callArgs));
        if (c.allowedError) assert.match(r.message, c.allowedError, `${role} calling ${c.fcn}`);
        else assert.equal(r.ok, true, `${role} calling ${c.fcn} should succeed: ${r.message}`);
      }
    });
  }

  it('covers every transaction the chaincode exposes', () => {
    const exposed = contracts.flatMap((c) => {
      const contract = new c() as { getName(): string };
      const txs = (Reflect as unknown as { getMetadata(k: string, t: object): Array<{ name: string }> | undefined }).getMetadata('fabric:transactions', c.prototype) ?? [];
      return txs.map((t) => `${contract.getName()}:${t.name}`);
    });
    const covered = new Set(CASES.map((c) => c.fcn));
    assert.ok(exposed.length > 40, `found ${exposed.length} transactions`);
    assert.deepEqual(exposed.filter((fcn) => !covered.has(fcn)), [], 'transactions missing from the access matrix');
  });

  it('the draft transfer is not a transaction: no role can move a draft except through reconciliation', async () => {
    const { drafts } = await approvedProject(h);
    for (const role of ROLES) {
      const r = await h.submit(await actor(h, ROLE_ACTORS[role]), 'Draft:transfer', drafts[0].draftId, '{}');
      assert.equal(r.ok, false);
      assert.match(r.message, /^NOT_FOUND: transaction Draft:transfer does not exist/);
    }
  });

  it('certificates: a missing or unknown role, an MSP not admitted for the role, an unregistered or mismatched organisation are refused', async () => {
    const before = await h.snapshot();
    const file = JSON.stringify(leishanProject());
    const cases: Array<[Promise<Parameters<ChaincodeHarness['submit']>[0]>, RegExp]> = [
      [h.user('', 'LS-OFFICE', 'CountyMSP'), /^AUTHORISATION: the caller certificate carries no role attribute/],
      [h.user('superuser', 'LS-OFFICE', 'CountyMSP'), /^AUTHORISATION: the caller certificate carries an unknown role "superuser"/],
      [h.user('countyOffice', 'LS-OFFICE', 'BankMSP'), /^AUTHORISATION: MSP BankMSP is not admitted for role countyOffice/],
      [h.user('countyOffice', 'NOWHERE', 'CountyMSP'), /^AUTHORISATION: organisation NOWHERE of the caller is not registered/],
      [h.user('countyOffice', 'LS-FIN', 'CountyMSP'), /^AUTHORISATION: organisation LS-FIN is a countyFinance, it cannot act as countyOffice/],
      [h.user('countyOffice', 'CJ-OFFICE', 'CountyMSP'), /^AUTHORISATION: CJ-OFFICE files projects for 从江县, not 雷山县/],
    ];
    for (const [identity, expected] of cases) {
      const r = await h.submit(await identity, 'Project:file', file);
      assert.match(r.message, expected);
    }
    assert.deepEqual(await h.snapshot(), before);
  });
});
