import { MSP_OF_ROLE, ROLE_MSPS } from '@fund/app/dist/blockchain/msp';
import { ChaincodeHarness } from './harness';

/** The test province: operator, provincial bodies, two banks and two counties of the thesis's 20 towns. */
export const ORGS = {
  platform: { id: 'PLATFORM', name: '扶贫资金管理平台运营中心', type: 'admin' },
  leadingGroup: { id: 'LGO', name: '贵州脱贫攻坚投资基金管理领导小组办公室', type: 'leadingGroup' },
  auditor: { id: 'AUDIT', name: '贵州省审计厅', type: 'auditor' },
  bank: { id: 'BANK-GZ', name: '贵州银行', type: 'bank', accounts: [{ accountNo: '600000000001', bankId: 'BANK-GZ', name: '贵州银行扶贫贷款户' }] },
  bank2: { id: 'BANK-RC', name: '贵州农信', type: 'bank', accounts: [{ accountNo: '700000000001', bankId: 'BANK-RC', name: '贵州农信清算户' }] },
  provincialFinance: { id: 'PROV-FIN', name: '贵州省财政厅', type: 'provincialFinance', accounts: [{ accountNo: '600000000002', bankId: 'BANK-GZ', name: '省财政扶贫专户' }] },
  partnership: { id: 'LP-FUND', name: '贵州扶贫产业子基金（有限合伙）', type: 'limitedPartnership', accounts: [{ accountNo: '600000000003', bankId: 'BANK-GZ', name: '子基金托管户' }] },
  countyOffice: { id: 'LS-OFFICE', name: '雷山县脱贫攻坚指挥部', type: 'countyOffice', county: '雷山县' },
  countyFinance: { id: 'LS-FIN', name: '雷山县财政局', type: 'countyFinance', county: '雷山县', accounts: [{ accountNo: '700000000002', bankId: 'BANK-RC', name: '雷山县财政扶贫专户' }] },
  countyFund: { id: 'LS-FUND', name: '雷山县脱贫基金公司', type: 'countyFundCompany', county: '雷山县', accounts: [{ accountNo: '600000000004', bankId: 'BANK-GZ', name: '雷山县基金公司户' }] },
  unit: { id: 'LS-UNIT', name: '雷山县农业科学研究所', type: 'implementingUnit', county: '雷山县', accounts: [{ accountNo: '600000000005', bankId: 'BANK-GZ', name: '农科所项目户' }] },
  otherOffice: { id: 'CJ-OFFICE', name: '从江县脱贫攻坚指挥部', type: 'countyOffice', county: '从江县' },
  otherFinance: { id: 'CJ-FIN', name: '从江县财政局', type: 'countyFinance', county: '从江县', accounts: [{ accountNo: '700000000003', bankId: 'BANK-RC', name: '从江县财政扶贫专户' }] },
  otherFund: { id: 'CJ-FUND', name: '从江县脱贫基金公司', type: 'countyFundCompany', county: '从江县', accounts: [{ accountNo: '600000000006', bankId: 'BANK-GZ', name: '从江县基金公司户' }] },
  otherUnit: { id: 'CJ-UNIT', name: '从江县香猪养殖合作社', type: 'implementingUnit', county: '从江县', accounts: [{ accountNo: '600000000007', bankId: 'BANK-GZ', name: '合作社项目户' }] },
} as const;

export type OrgKey = keyof typeof ORGS;

/** One fixture organisation per role, each in a 雷山县 or provincial organisation the scenarios involve. */
export const ROLE_ACTORS: Record<string, OrgKey> = {
  admin: 'platform',
  leadingGroup: 'leadingGroup',
  provincialFinance: 'provincialFinance',
  countyOffice: 'countyOffice',
  countyFinance: 'countyFinance',
  bank: 'bank',
  limitedPartnership: 'partnership',
  countyFundCompany: 'countyFund',
  implementingUnit: 'unit',
  auditor: 'auditor',
};

export const CONFIG = { roleMsps: ROLE_MSPS, unmatchedThresholdHours: 48, limitedPartnershipId: 'LP-FUND' };

/** The user acting for one of the fixture's organisations, in its organisation's role. */
export function actor(h: ChaincodeHarness, key: OrgKey) {
  const org = ORGS[key];
  return h.user(org.type, org.id);
}

/** Initialise the channel and register every organisation (banks first: accounts name them). */
export async function setUpProvince(h: ChaincodeHarness): Promise<void> {
  const admin = await actor(h, 'platform');
  await h.ok(admin, 'Config:initialise', JSON.stringify(CONFIG), JSON.stringify({ id: ORGS.platform.id, name: ORGS.platform.name }));
  for (const key of Object.keys(ORGS) as OrgKey[]) {
    if (key === 'platform') continue;
    const org = ORGS[key];
    await h.ok(admin, 'Organisation:register', JSON.stringify({ ...org, mspId: MSP_OF_ROLE[org.type] }));
  }
}

export const YUAN = 100n; // fen per yuan

/** A project of 雷山县 for 1,000,000 yuan: bank 90%, province 4%, county 6% (thesis 6.1's shares). */
export function leishanProject(overrides: Record<string, unknown> = {}) {
  return {
    name: '农村种植产业扶贫项目',
    county: '雷山县',
    town: '大塘镇',
    department: '雷山县农业农村局',
    description: '茶叶与中药材种植基地建设，带动建档立卡贫困户 320 户。',
    budget: (1_000_000n * YUAN).toString(),
    implementingUnitId: 'LS-UNIT',
    startDate: '2026-12-01',
    endDate: '2027-11-30',
    milestones: [
      { name: '基地土地流转与整理', dueDate: '2027-03-31' },
      { name: '种苗采购与种植', dueDate: '2027-06-30' },
      { name: '验收', dueDate: '2027-11-30' },
    ],
    fundingPlan: [
      { source: 'bank', payerId: 'BANK-GZ', amount: (900_000n * YUAN).toString() },
      { source: 'provincialFinance', payerId: 'PROV-FIN', amount: (40_000n * YUAN).toString() },
      { source: 'countyFinance', payerId: 'LS-FIN', amount: (60_000n * YUAN).toString() },
    ],
    documents: [{ name: '可行性研究报告.pdf', sha256: 'a'.repeat(64), size: 1024 }],
    ...overrides,
  };
}

/** Who the 雷山县 unit pays the money out to: a contractor and a villagers' cooperative. */
export const PAYEES = [
  { name: '雷山县苗岭建筑工程有限公司', accountNo: '620000000101', bank: '贵州银行雷山支行' },
  { name: '大塘镇茶叶种植专业合作社', accountNo: '620000000102', bank: '贵州农信大塘分社' },
];

/** Deadlines for the three legs, counted in days from the harness clock. */
export function terms(h: ChaincodeHarness, days = [10, 20, 30]) {
  const at = (d: number) => new Date(h.clock.getTime() + d * 86400 * 1000).toISOString();
  return { deadlines: { toPartnership: at(days[0]), toCountyFund: at(days[1]), toUnit: at(days[2]) } };
}

export interface DraftView {
  draftId: string;
  projectId: string;
  source: string;
  amount: string;
  status: string;
  nextHop: number;
  holderId: string;
  plannedPath: Array<{
    seq: number;
    stage: string;
    deadline: string;
    amount?: string;
    tranche?: { n: number; of: number; percent: number; milestone?: string };
    from: { orgId: string; accountNo: string };
    to: { orgId: string; accountNo: string };
  }>;
  acceptedAmount?: string;
  actualPath: Array<{ seq: number; serial: string; overdue: boolean; transferAmount: string }>;
}

/** A freshly filed and approved 雷山县 project; its drafts in funding-plan order (bank, province, county). */
export async function approvedProject(h: ChaincodeHarness, deadlineDays?: number[], overrides: Record<string, unknown> = {}): Promise<{ projectId: string; drafts: DraftView[] }> {
  const project = await h.ok<{ id: string }>(await actor(h, 'countyOffice'), 'Project:file', JSON.stringify(leishanProject(overrides)));
  const lgo = await actor(h, 'leadingGroup');
  const approval = await h.approve(lgo, project.id, '同意', terms(h, deadlineDays));
  if (!approval.ok) throw new Error(approval.message);
  return { projectId: project.id, drafts: await h.query<DraftView[]>(lgo, 'Draft:listByProject', project.id) };
}

let serialCounter = 0;
/** A fresh bank serial number for each transfer of a test. */
export function nextSerial(prefix = 'GZB'): string {
  serialCounter += 1;
  return `${prefix}${String(Date.now()).slice(-6)}${String(serialCounter).padStart(5, '0')}`;
}

/** Which fixture organisation pays from which account. */
const PAYER_OF: Record<string, { key: OrgKey; account: string; recorder: OrgKey }> = {
  'BANK-GZ': { key: 'bank', account: '600000000001', recorder: 'bank' },
  'PROV-FIN': { key: 'provincialFinance', account: '600000000002', recorder: 'bank' },
  'LP-FUND': { key: 'partnership', account: '600000000003', recorder: 'bank' },
  'LS-FIN': { key: 'countyFinance', account: '700000000002', recorder: 'bank2' },
  'LS-FUND': { key: 'countyFund', account: '600000000004', recorder: 'bank' },
};

export interface PlannedTransfer {
  payer: { key: OrgKey; account: string; recorder: OrgKey };
  stage: string;
  draftIds: string[];
  amount: string;
  payeeAccount: string;
}

/**
 * The transfers that move every draft from where it is to the unit, in the order the chain
 * expects them: one transfer per payer and leg, carrying every draft that takes that hop next.
 */
export function transferPlan(drafts: DraftView[]): PlannedTransfer[] {
  const next = new Map(drafts.map((d) => [d.draftId, d.nextHop]));
  const plan: PlannedTransfer[] = [];
  for (;;) {
    const due = drafts.filter((d) => next.get(d.draftId)! < d.plannedPath.length);
    if (due.length === 0) return plan;
    const hop = due[0].plannedPath[next.get(due[0].draftId)!];
    const together = due.filter((d) => {
      const other = d.plannedPath[next.get(d.draftId)!];
      return other.stage === hop.stage && other.from.orgId === hop.from.orgId && other.to.orgId === hop.to.orgId;
    });
    for (const d of together) next.set(d.draftId, next.get(d.draftId)! + 1);
    plan.push({
      payer: PAYER_OF[hop.from.orgId],
      stage: hop.stage,
      draftIds: together.map((d) => d.draftId),
      amount: together.reduce((sum, d) => sum + BigInt(d.plannedPath[next.get(d.draftId)! - 1].amount ?? d.amount), 0n).toString(),
      payeeAccount: hop.to.accountNo,
    });
  }
}

/** Register the serial and record the bank transfer of one planned transfer, paid a second ago. */
export async function pay(h: ChaincodeHarness, t: PlannedTransfer): Promise<void> {
  const serial = nextSerial();
  await h.ok(await actor(h, t.payer.key), 'Reconciliation:registerSerial', JSON.stringify({ serial, draftIds: t.draftIds, stage: t.stage }));
  const record = { serial, payerAccount: t.payer.account, payeeAccount: t.payeeAccount, amount: t.amount, paidAt: new Date(h.clock.getTime() - 1000).toISOString() };
  await h.ok(await actor(h, t.payer.recorder), 'Reconciliation:recordBankTransfer', JSON.stringify(record));
}

/** Pay every hop of every draft, leaving the drafts with the unit. */
export async function payAllHops(h: ChaincodeHarness, projectId: string): Promise<DraftView[]> {
  const lgo = await actor(h, 'leadingGroup');
  for (const t of transferPlan(await h.query<DraftView[]>(lgo, 'Draft:listByProject', projectId))) await pay(h, t);
  return h.query<DraftView[]>(lgo, 'Draft:listByProject', projectId);
}

/** A project whose drafts have all been accepted by the unit. */
export async function fundedProject(h: ChaincodeHarness, overrides: Record<string, unknown> = {}): Promise<string> {
  const { projectId } = await approvedProject(h, undefined, overrides);
  const unit = await actor(h, 'unit');
  for (const d of await payAllHops(h, projectId)) await h.ok(unit, 'Draft:accept', d.draftId);
  return projectId;
}
