/**
 * Demo data for a fresh platform (`npm start`): the province's bodies, two banks, and for each of the
 * 20 extremely poor towns of thesis 1.1 its county's office, finance bureau, fund company and an
 * implementing unit; one login per role; and a project per town at every stage of the workflow.
 * Everything goes through the chain like a person's action would.
 */
import * as crypto from 'node:crypto';
import { signBytes, type Identity } from '../blockchain/embedded/identity';
import type { Draft } from '@fund/chaincode/dist/draft/draft';
import { MSP_OF_ROLE } from '../blockchain/msp';
import { ChainError, type Chain } from './chain';
import { createUser } from './accounts';
import { User } from '../models/user';
import { THESIS_POLICY } from '@fund/chaincode/dist/policy/policy';

/** 20 个极贫乡（镇）, thesis 1.1: county, town, and a short code for the county's organisations. */
export const DEMO_TOWNS: ReadonlyArray<{ county: string; town: string; code: string }> = [
  { county: '威宁县', town: '石门乡', code: 'WN' },
  { county: '晴隆县', town: '三宝彝族乡', code: 'QL' },
  { county: '从江县', town: '加勉乡', code: 'CJ' },
  { county: '赫章县', town: '河镇彝族苗族乡', code: 'HZ' },
  { county: '望谟县', town: '郊纳镇', code: 'WM' },
  { county: '黄平县', town: '谷陇镇', code: 'HP' },
  { county: '册亨县', town: '双江镇', code: 'CH' },
  { county: '贞丰县', town: '鲁容乡', code: 'ZF' },
  { county: '镇宁县', town: '简嘎乡', code: 'ZN' },
  { county: '纳雍县', town: '董地苗族彝族乡', code: 'NY' },
  { county: '德江县', town: '桶井土家族乡', code: 'DJ' },
  { county: '盘县', town: '保基苗族彝族乡', code: 'PX' },
  { county: '榕江县', town: '定威水族乡', code: 'RJ' },
  { county: '平塘县', town: '大塘镇', code: 'PT' },
  { county: '雷山县', town: '大塘镇', code: 'LS' },
  { county: '紫云县', town: '大营镇', code: 'ZY' },
  { county: '水城县', town: '营盘苗族彝族白族乡', code: 'SC' },
  { county: '长顺县', town: '代化镇', code: 'CS' },
  { county: '石阡县', town: '国荣乡', code: 'SQ' },
  { county: '务川县', town: '石朝乡', code: 'WC' },
];

export const DEMO_PASSWORD = 'demo1234';

interface OrgSpec {
  id: string;
  name: string;
  type: string;
  county?: string;
  accounts?: Array<{ accountNo: string; bankId: string; name: string }>;
}

let accountSeq = 0;
const account = (bankId: string, name: string) => ({ accountNo: `${bankId === 'BANK-GZ' ? '6' : '7'}${String(++accountSeq).padStart(11, '0')}`, bankId, name });

export function demoOrganisations(): OrgSpec[] {
  accountSeq = 0;
  const province: OrgSpec[] = [
    { id: 'BANK-GZ', name: '贵州银行', type: 'bank', accounts: [account('BANK-GZ', '贵州银行扶贫贷款户')] },
    { id: 'BANK-RC', name: '贵州省农村信用社', type: 'bank', accounts: [account('BANK-RC', '农信清算户')] },
    { id: 'LGO', name: '贵州脱贫攻坚投资基金管理领导小组办公室', type: 'leadingGroup' },
    { id: 'AUDIT', name: '贵州省审计厅', type: 'auditor' },
    { id: 'PROV-FIN', name: '贵州省财政厅', type: 'provincialFinance', accounts: [account('BANK-GZ', '省财政扶贫专户')] },
    { id: 'LP-FUND', name: '贵州脱贫攻坚投资极贫乡（镇）基金（有限合伙）', type: 'limitedPartnership', accounts: [account('BANK-GZ', '极贫基金托管户')] },
  ];
  const counties = DEMO_TOWNS.flatMap(({ county, town, code }) => [
    { id: `${code}-OFFICE`, name: `${county}脱贫攻坚指挥部`, type: 'countyOffice', county },
    { id: `${code}-FIN`, name: `${county}财政局`, type: 'countyFinance', county, accounts: [account('BANK-RC', `${county}财政扶贫专户`)] },
    { id: `${code}-FUND`, name: `${county}脱贫基金有限公司`, type: 'countyFundCompany', county, accounts: [account('BANK-GZ', `${county}基金公司户`)] },
    { id: `${code}-UNIT`, name: `${county}${town}人民政府`, type: 'implementingUnit', county, accounts: [account('BANK-GZ', `${town}项目资金户`)] },
  ]);
  return [...province, ...counties];
}

/** One login per role (two banks: the county finance bureaux bank with the rural credit union). */
export const DEMO_USERS = [
  { username: 'admin', displayName: '系统管理员', role: 'admin', orgId: 'PLATFORM' },
  { username: 'lgo', displayName: '省指挥部审批员', role: 'leadingGroup', orgId: 'LGO' },
  { username: 'provfin', displayName: '省财政厅经办', role: 'provincialFinance', orgId: 'PROV-FIN' },
  { username: 'county', displayName: '雷山县指挥部经办', role: 'countyOffice', orgId: 'LS-OFFICE' },
  { username: 'countyfin', displayName: '雷山县财政局经办', role: 'countyFinance', orgId: 'LS-FIN' },
  { username: 'bank', displayName: '贵州银行柜员', role: 'bank', orgId: 'BANK-GZ' },
  { username: 'bank2', displayName: '农信社柜员', role: 'bank', orgId: 'BANK-RC' },
  { username: 'lp', displayName: '有限合伙公司经办', role: 'limitedPartnership', orgId: 'LP-FUND' },
  { username: 'countyfund', displayName: '雷山县基金公司经办', role: 'countyFundCompany', orgId: 'LS-FUND' },
  { username: 'unit', displayName: '大塘镇项目负责人', role: 'implementingUnit', orgId: 'LS-UNIT' },
  { username: 'auditor', displayName: '省审计厅审计员', role: 'auditor', orgId: 'AUDIT' },
] as const;

/** Stages a demo project is left at, by town index. */
export const STAGE_OF_TOWN = ['SUBMITTED', 'REJECTED', 'APPROVED', 'IN_TRANSIT', 'FUNDED', 'COMPLETED'] as const;

export async function seedDemo(chain: Chain, system: { id: string }, log: (line: string) => void = console.log): Promise<void> {
  // Seeded once: the last login created marks a finished seed.
  if (await User.exists({ username: DEMO_USERS[DEMO_USERS.length - 1].username })) return;
  const orgs = demoOrganisations();
  const sys = await chain.identityOf(system);
  log(`› demo: registering ${orgs.length} organisations on the chain…`);
  // A seed interrupted half-way is resumed: organisations already on the chain are kept.
  const register = (o: OrgSpec) =>
    chain.submitAs(sys, 'Organisation:register', [JSON.stringify({ ...o, mspId: MSP_OF_ROLE[o.type] })]).catch((err: unknown) => {
      if (!(err instanceof ChainError && err.code === 'CONFLICT')) throw err;
    });
  await Promise.all(orgs.filter((o) => o.type === 'bank').map(register));
  await Promise.all(orgs.filter((o) => o.type !== 'bank').map(register));
  await chain.submitAs(sys, 'Config:update', [JSON.stringify({ roleMsps: await roleMsps(chain, sys), unmatchedThresholdHours: 48, limitedPartnershipId: 'LP-FUND' })]);
  // The thesis's fund structure (6.1) as the policy in force, set as the provincial command would set it.
  if (!(await chain.evaluateAs<unknown>(sys, 'Policy:current', []))) {
    await chain.submitAs(sys, 'Policy:set', [JSON.stringify({ ...THESIS_POLICY, reason: DEMO_POLICY_REASON })]);
  }

  log(`› demo: creating ${DEMO_USERS.length} users (password ${DEMO_PASSWORD})…`);
  for (const u of DEMO_USERS) if (!(await User.exists({ username: u.username }))) await createUser(chain, { ...u, password: DEMO_PASSWORD });

  log('› demo: filing a project in each of the 20 towns and moving them along the workflow (about a minute)…');
  const as = demoActors(chain);
  const lgo = await as('LGO', 'leadingGroup');
  let done = 0;
  await Promise.all(
    DEMO_TOWNS.map(async (t, i) => {
      const stage = STAGE_OF_TOWN[i % STAGE_OF_TOWN.length];
      const project = demoProject(i);
      const office = await as(`${t.code}-OFFICE`, 'countyOffice');
      const filed = await chain.submitAs<{ id: string }>(office, 'Project:file', [JSON.stringify(project)]);
      await advanceProject(chain, as, lgo, filed.result.id, `${t.code}-UNIT`, stage);
      done += 1;
      if (done % 5 === 0) log(`  ${done}/20 towns`);
    }),
  );
  // 雷山县's second project, paid in tranches (按需拨付): the first tranche accepted and partly paid out, the next
  // milestone reported and awaiting the county office's confirmation, which the demo's county login can give.
  log('› demo: a project paid in tranches in 雷山县…');
  const ls = DEMO_TOWNS.findIndex((t) => t.code === 'LS');
  const second = await chain.submitAs<{ id: string }>(await as('LS-OFFICE', 'countyOffice'), 'Project:file', [JSON.stringify(demoProject(ls + DEMO_TOWNS.length))]);
  await advanceProject(chain, as, lgo, second.result.id, 'LS-UNIT', 'IN_TRANCHES');
}

export const DEMO_POLICY_REASON = '《贵州省脱贫攻坚投资基金管理办法》：财政资金占 10%（省级 4 : 县级 6）先行到位，银行融资 90% 随后拨付；分期拨付须县指挥部确认里程碑。';

/** 30 % on arrival, 40 % when the main works are done, 30 % on acceptance of the works. */
export const DEMO_TRANCHES = [{ percent: 30 }, { percent: 40, milestone: '主体完工' }, { percent: 30, milestone: '竣工验收' }];

/**
 * The demo's `n`-th project: in town n mod 20, one of five kinds of work, a budget that grows with n,
 * 90 % bank-financed with provincial and county shares (the thesis's funding structure).
 */
export function demoProject(n: number) {
  const i = n % DEMO_TOWNS.length;
  const t = DEMO_TOWNS[i];
  const round = Math.floor(n / DEMO_TOWNS.length);
  const budgetYuan = 200_000 + i * 37_500 + round * 1_000;
  const fen = (yuan: number) => (BigInt(yuan) * 100n).toString();
  const bank = Math.round(budgetYuan * 0.9);
  const prov = Math.round(budgetYuan * 0.04);
  return {
    name: `${t.town}${['产业路硬化', '茶叶种植基地', '安全饮水工程', '易地搬迁配套', '肉牛养殖合作社'][n % 5]}项目${round ? `（${round + 1}期）` : ''}`,
    county: t.county,
    town: t.town,
    department: `${t.county}农业农村局`,
    description: `${t.county}${t.town}极贫乡（镇）脱贫攻坚项目。`,
    budget: fen(budgetYuan),
    implementingUnitId: `${t.code}-UNIT`,
    startDate: '2026-12-01',
    endDate: '2027-11-30',
    milestones: [
      { name: '开工', dueDate: '2027-01-15' },
      { name: '主体完工', dueDate: '2027-08-31' },
      { name: '竣工验收', dueDate: '2027-11-30' },
    ],
    fundingPlan: [
      { source: 'bank', payerId: 'BANK-GZ', amount: fen(bank) },
      { source: 'provincialFinance', payerId: 'PROV-FIN', amount: fen(prov) },
      { source: 'countyFinance', payerId: `${t.code}-FIN`, amount: fen(budgetYuan - bank - prov) },
    ],
    documents: [],
    // Who the unit pays the money out to: the works' contractor and the town's cooperative.
    payees: [
      { name: `${t.county}${t.town}建设工程有限公司`, accountNo: `62${String(i * 2 + 1).padStart(10, '0')}`, bank: '贵州银行' },
      { name: `${t.town}农民专业合作社`, accountNo: `72${String(i * 2 + 2).padStart(10, '0')}`, bank: '贵州省农村信用社' },
    ],
  };
}

/** Acting as an organisation's clerk: one certificate per organisation, enrolled on first use. */
export function demoActors(chain: Chain): ActAs {
  const identities = new Map<string, Promise<Identity>>();
  return (orgId, role) => {
    if (!identities.has(orgId)) identities.set(orgId, chain.enrol(`demo-${orgId.toLowerCase()}`, role, orgId).then((e) => e.identity));
    return identities.get(orgId)!;
  };
}

/** The town stages, and IN_TRANCHES: approved in tranches, the first accepted and partly paid out, the next milestone reported. */
export type DemoStage = (typeof STAGE_OF_TOWN)[number] | 'IN_TRANCHES';
/** An identity acting for an organisation in a given role (enrolled once, then reused). */
export type ActAs = (orgId: string, role: string) => Promise<Identity>;

/** Moves a filed project on to `stage` as the people of each step would: reject, or approve, pay, accept and report. */
export async function advanceProject(chain: Chain, as: ActAs, lgo: Identity, id: string, unitOrgId: string, stage: DemoStage): Promise<void> {
  if (stage === 'REJECTED') await chain.submitAs(lgo, 'Project:reject', [id, '资金计划需补充县级配套说明，请修改后重新申报。']);
  if (stage === 'SUBMITTED' || stage === 'REJECTED') return;
  const day = 86400_000;
  const terms = { deadlines: { toPartnership: iso(10 * day), toCountyFund: iso(20 * day), toUnit: iso(30 * day) }, ...(stage === 'IN_TRANCHES' ? { tranches: DEMO_TRANCHES } : {}) };
  const preview = await chain.evaluateAs<Array<{ draftId: string; content: string }>>(lgo, 'Draft:previewIssue', [id, JSON.stringify(terms)]);
  const signatures = Object.fromEntries(preview.map((p) => [p.draftId, signBytes(lgo, Buffer.from(p.content, 'utf8')).toString('base64')]));
  await chain.submitAs(lgo, 'Project:approve', [id, '同意立项，按计划拨付。', JSON.stringify(terms), JSON.stringify(signatures)]);
  if (stage === 'APPROVED') return;
  await payHops(chain, lgo, id, as, stage === 'IN_TRANSIT' ? 1 : Infinity);
  if (stage === 'IN_TRANSIT') return;
  const unit = await as(unitOrgId, 'implementingUnit');
  const drafts = await chain.evaluateAs<Draft[]>(lgo, 'Draft:listByProject', [id]);
  for (const d of drafts) await chain.submitAs(unit, 'Draft:accept', [d.draftId]);
  const evidence = [{ name: '现场照片.jpg', sha256: sha256Hex(`${id}-photo`), size: 204800 }];
  if (stage === 'IN_TRANCHES') {
    const project = await chain.evaluateAs<{ payees: Array<{ accountNo: string }> }>(lgo, 'Project:get', [id]);
    const unitAccount = drafts[0].plannedPath[drafts[0].plannedPath.length - 1].to;
    const serial = `PAY${id.slice(4, 12)}01`;
    // Half of the first tranche, which the unit has just accepted.
    const amount = (drafts.reduce((sum, d) => sum + BigInt(d.plannedPath[d.nextHop - 1].amount ?? d.amount), 0n) / 2n).toString();
    await chain.submitAs(unit, 'Reconciliation:registerPayout', [JSON.stringify({ serial, projectId: id, payeeAccount: project.payees[0].accountNo, amount, purpose: '首期工程款（开工预付）' })]);
    const bank = await as(unitAccount.bankId, 'bank');
    const record = { serial, payerAccount: unitAccount.accountNo, payeeAccount: project.payees[0].accountNo, amount, paidAt: new Date(Date.now() - 60_000).toISOString() };
    await chain.submitAs(bank, 'Reconciliation:recordBankTransfer', [JSON.stringify(record)]);
    await chain.submitAs(unit, 'Project:reportProgress', [id, JSON.stringify({ milestone: '主体完工', percent: 60, note: '主体工程完工，待县指挥部现场确认。', evidence })]);
    return;
  }
  await chain.submitAs(unit, 'Project:reportProgress', [id, JSON.stringify({ milestone: '开工', percent: 30, note: '已开工，人员设备到位。', evidence })]);
  if (stage === 'COMPLETED') {
    await chain.submitAs(unit, 'Project:reportProgress', [id, JSON.stringify({ milestone: '竣工验收', percent: 100, note: '工程已竣工并通过县级验收。', evidence })]);
  }
}

/** Pay the drafts' hops the way paying units and banks would: one transfer per payer and leg. */
async function payHops(chain: Chain, reader: Identity, projectId: string, as: ActAs, rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const drafts = await chain.evaluateAs<Array<Draft & { heldBack: string | null }>>(reader, 'Draft:listByProject', [projectId]);
    // What the chain holds back (bank money before the fiscal share, a tranche before its milestone) waits.
    const due = drafts.filter((d) => d.nextHop < d.plannedPath.length && !d.heldBack);
    if (due.length === 0) return;
    const groups = new Map<string, Draft[]>();
    for (const d of due) {
      const hop = d.plannedPath[d.nextHop];
      const key = `${hop.stage}|${hop.from.orgId}|${hop.to.orgId}`;
      groups.set(key, [...(groups.get(key) ?? []), d]);
    }
    for (const group of groups.values()) {
      const hop = group[0].plannedPath[group[0].nextHop];
      const serial = `DEMO${projectId.slice(4, 12)}${String(round)}${hop.from.orgId.replace(/[^A-Z]/g, '').slice(0, 6)}`;
      const payer = await as(hop.from.orgId, roleOfPayer(hop.from.orgId));
      await chain.submitAs(payer, 'Reconciliation:registerSerial', [JSON.stringify({ serial, draftIds: group.map((d) => d.draftId), stage: hop.stage })]);
      const amount = group.reduce((sum, d) => sum + BigInt(d.plannedPath[d.nextHop].amount ?? d.amount), 0n).toString();
      const bank = await as(hop.from.bankId, 'bank');
      const record = { serial, payerAccount: hop.from.accountNo, payeeAccount: hop.to.accountNo, amount, paidAt: new Date(Date.now() - 60_000).toISOString() };
      await chain.submitAs(bank, 'Reconciliation:recordBankTransfer', [JSON.stringify(record)]);
    }
  }
}

function roleOfPayer(orgId: string): string {
  if (orgId.startsWith('BANK-')) return 'bank';
  if (orgId === 'PROV-FIN') return 'provincialFinance';
  if (orgId === 'LP-FUND') return 'limitedPartnership';
  if (orgId.endsWith('-FIN')) return 'countyFinance';
  return 'countyFundCompany';
}

async function roleMsps(chain: Chain, sys: Identity): Promise<Record<string, string[]>> {
  return (await chain.evaluateAs<{ roleMsps: Record<string, string[]> }>(sys, 'Config:get', [])).roleMsps;
}

function iso(offsetMs: number): string {
  return new Date(Date.now() + offsetMs).toISOString();
}

function sha256Hex(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}
