import { z } from 'zod';
import { FundContext } from '../ledger/context';
import { badState, denied, invalid, notFound } from '../ledger/errors';
import { FEN_PATTERN, sumFen } from '../ledger/money';
import { accountNo, day, documentRef, fen, id, text } from '../ledger/validation';
import { Caller } from '../access/caller';
import { OVERSIGHT_ROLES } from '../access/roles';
import { requireParty } from '../organisation/organisation';
import { INDEX_VALUE } from '../ledger/state';
import { PolicyCheck, currentPolicy, planProblems, requireCompliant } from '../policy/policy';

/**
 * A poverty-alleviation project (扶贫项目) and its life cycle:
 * SUBMITTED → (REJECTED → SUBMITTED)* → APPROVED (drafts issued) → FUNDED (all drafts accepted) → COMPLETED.
 */
export const PROJECT_STATUSES = ['SUBMITTED', 'REJECTED', 'APPROVED', 'FUNDED', 'COMPLETED'] as const;
export type ProjectStatus = (typeof PROJECT_STATUSES)[number];

/** Who pays a share of the budget: 省财政厅, 县财政局 or a commercial bank (the financing share). */
export const FUNDING_SOURCES = ['provincialFinance', 'countyFinance', 'bank'] as const;
export type FundingSource = (typeof FUNDING_SOURCES)[number];

export const projectInputSchema = z
  .strictObject({
    name: text('name', 100),
    county: text('county', 40),
    town: text('town', 40),
    department: text('department', 100),
    description: text('description', 2000, 0).default(''),
    budget: fen('budget'),
    implementingUnitId: id('implementingUnitId'),
    startDate: day('startDate'),
    endDate: day('endDate'),
    milestones: z
      .array(z.strictObject({ name: text('milestone name', 100), dueDate: day('milestone dueDate') }), 'milestones must be a list')
      .min(1, 'at least one milestone is required')
      .max(20, 'at most 20 milestones'),
    fundingPlan: z
      .array(
        z.strictObject({
          source: z.enum(FUNDING_SOURCES, `source must be one of ${FUNDING_SOURCES.join(', ')}`),
          payerId: id('payerId'),
          amount: fen('amount'),
        }),
        'fundingPlan must be a list',
      )
      .min(1, 'the funding plan needs at least one source')
      .max(10, 'at most 10 funding sources'),
    documents: z.array(documentRef, 'documents must be a list').max(20, 'at most 20 documents').default([]),
    /** Who the implementing unit may pay the money out to (承兑后的支付对象): contractors, cooperatives, suppliers. */
    payees: z
      .array(z.strictObject({ name: text('payee name', 100), accountNo: accountNo('payee accountNo'), bank: text('payee bank', 100) }), 'payees must be a list')
      .max(20, 'at most 20 payees')
      .default([])
      .refine((list) => new Set(list.map((p) => p.accountNo)).size === list.length, 'a payee account is listed twice'),
    /** Why a plan that does not meet the fund policy should still be approved; the provincial command decides. */
    exceptionRequest: text('exceptionRequest', 1000, 5).optional(),
  })
  .refine((p) => p.endDate >= p.startDate, { message: 'endDate must not be before startDate', path: ['endDate'] })
  .refine((p) => p.milestones.every((m) => m.dueDate >= p.startDate && m.dueDate <= p.endDate), {
    message: 'every milestone must fall between startDate and endDate',
    path: ['milestones'],
  })
  .refine((p) => [p.budget, ...p.fundingPlan.map((f) => f.amount)].every((v) => FEN_PATTERN.test(v)) && sumFen(p.fundingPlan.map((f) => f.amount)) === p.budget, {
    message: 'the funding plan amounts must add up to the budget',
    path: ['fundingPlan'],
  })
  .refine((p) => new Set(p.fundingPlan.map((f) => `${f.source}/${f.payerId}`)).size === p.fundingPlan.length, {
    message: 'each payer may appear once per source',
    path: ['fundingPlan'],
  });

export type ProjectInput = z.output<typeof projectInputSchema>;

export interface Review {
  decision: 'APPROVED' | 'REJECTED';
  opinion: string;
  revision: number;
  byOrg: string;
  byIdentity: string;
  at: string;
  txId: string;
}

export interface ProgressReport {
  milestone: string;
  percent: number;
  note: string;
  evidence: z.output<typeof documentRef>[];
  byOrg: string;
  at: string;
  txId: string;
}

export interface Project extends ProjectInput {
  id: string;
  status: ProjectStatus;
  revision: number;
  countyOfficeId: string;
  filedAt: string;
  updatedAt: string;
  reviews: Review[];
  draftIds: string[];
  approvedAt?: string;
  fundedAt?: string;
  completedAt?: string;
  percentComplete: number;
  progress: ProgressReport[];
  /** The fund policy the plan was last checked under (at filing, then at approval); absent when none was in force. */
  policy?: PolicyCheck;
  /** Milestones the county office has confirmed, which release the tranches tied to them. */
  milestoneConfirmations?: MilestoneConfirmation[];
}

export interface MilestoneConfirmation {
  milestone: string;
  note: string;
  byOrg: string;
  byIdentity: string;
  at: string;
  txId: string;
}

export const projects = (ctx: FundContext) => ctx.store<Project>('Project');
/** Index ProjectByCounty~county~projectId, for county-scoped listing. */
const byCounty = (ctx: FundContext) => ctx.store<object>('ProjectByCounty');

export async function getProject(ctx: FundContext, projectId: string): Promise<Project> {
  const project = await projects(ctx).get(projectId);
  if (!project) throw notFound('project', projectId);
  return project;
}

/** The parties a funding plan names must exist, be of the right kind and, where local, of the project's county. */
async function checkParties(ctx: FundContext, input: ProjectInput): Promise<void> {
  const unit = await requireParty(ctx, 'implementingUnitId', input.implementingUnitId, 'implementingUnit');
  if (unit.county !== input.county) throw invalid(`implementingUnitId: ${unit.id} is in ${unit.county}, not ${input.county}`);
  for (const [i, share] of input.fundingPlan.entries()) {
    const payer = await requireParty(ctx, `fundingPlan.${i}.payerId`, share.payerId, share.source);
    if (share.source === 'countyFinance' && payer.county !== input.county) {
      throw invalid(`fundingPlan.${i}.payerId: ${payer.id} is the finance bureau of ${payer.county}, not ${input.county}`);
    }
  }
}

function requireOwnCounty(caller: Caller, county: string): void {
  if (caller.org?.county !== county) throw denied(`${caller.orgId} files projects for ${caller.org?.county ?? 'no county'}, not ${county}`);
}

/** A project id: PRJ- and 12 upper-case hex digits. */
export const PROJECT_ID_PATTERN = /^PRJ-[0-9A-F]{12}$/;
export const projectIdSchema = z.string('id must be a string').regex(PROJECT_ID_PATTERN, 'id must be PRJ- followed by 12 upper-case hexadecimal digits');

/**
 * `routedId` is the id the relay registered on the routing chain before choosing this set (a project's set is
 * decided before the project exists); without it the id is derived from the transaction id, unique and the same on
 * every endorser.
 */
/** Check a plan against the policy in force: a non-compliant plan needs the county's reason for an exception. */
async function checkPolicyAtFiling(ctx: FundContext, input: ProjectInput): Promise<PolicyCheck | undefined> {
  const policy = await currentPolicy(ctx);
  if (!policy) return undefined;
  const problems = planProblems(policy, input.fundingPlan);
  requireCompliant(problems, input.exceptionRequest !== undefined, 'Change the funding plan, or file it with an exceptionRequest giving the reason for the provincial command to decide');
  return { version: policy.version, problems };
}

/**
 * The policy in force decides again at approval (it may have changed since filing): a non-compliant plan is
 * approved only with the provincial command's own reason, recorded with the county's request.
 */
export async function checkPolicyAtApproval(ctx: FundContext, caller: Caller, project: Project, exceptionReason: string | undefined): Promise<PolicyCheck | undefined> {
  const policy = await currentPolicy(ctx);
  if (!policy) {
    if (exceptionReason !== undefined) throw invalid('terms.policyException: no fund policy is in force, so there is nothing to make an exception to');
    return undefined;
  }
  const problems = planProblems(policy, project.fundingPlan);
  if (problems.length === 0) {
    if (exceptionReason !== undefined) throw invalid(`terms.policyException: the plan complies with fund policy v${policy.version}; no exception is needed`);
    return { version: policy.version, problems };
  }
  requireCompliant(problems, exceptionReason !== undefined, 'Reject it for the county to revise, or approve it with a policyException giving the reason');
  const exception = {
    ...(project.exceptionRequest ? { requestedReason: project.exceptionRequest } : {}),
    approvedReason: exceptionReason!,
    approvedBy: caller.orgId,
    approvedByIdentity: caller.identity,
    at: ctx.nowIso,
    txId: ctx.txId,
  };
  return { version: policy.version, problems, exception };
}

export async function fileProject(ctx: FundContext, caller: Caller, input: ProjectInput, routedId?: string): Promise<Project> {
  requireOwnCounty(caller, input.county);
  await checkParties(ctx, input);
  const policy = await checkPolicyAtFiling(ctx, input);
  const projectId = routedId ?? `PRJ-${ctx.txId.slice(0, 12).toUpperCase()}`;
  if (await projects(ctx).exists(projectId)) throw badState(`project id ${projectId} is already taken; resubmit`);
  const project: Project = {
    ...input,
    id: projectId,
    status: 'SUBMITTED',
    revision: 1,
    countyOfficeId: caller.orgId,
    filedAt: ctx.nowIso,
    updatedAt: ctx.nowIso,
    reviews: [],
    draftIds: [],
    percentComplete: 0,
    progress: [],
    milestoneConfirmations: [],
    ...(policy ? { policy } : {}),
  };
  await projects(ctx).put(project, projectId);
  await byCounty(ctx).put(INDEX_VALUE, input.county, projectId);
  ctx.emit('ProjectFiled', { projectId, county: input.county, budget: input.budget, by: caller.orgId });
  return project;
}

export async function reviseProject(ctx: FundContext, caller: Caller, projectId: string, input: ProjectInput): Promise<Project> {
  const project = await getProject(ctx, projectId);
  if (project.countyOfficeId !== caller.orgId) throw denied(`project ${projectId} was filed by ${project.countyOfficeId}, not ${caller.orgId}`);
  if (project.status !== 'REJECTED') throw badState(`project ${projectId} is ${project.status}; only a rejected project can be revised`);
  if (input.county !== project.county) throw invalid('county: a project cannot move to another county');
  await checkParties(ctx, input);
  const policy = await checkPolicyAtFiling(ctx, input);
  const { policy: _previousCheck, exceptionRequest: _previousRequest, ...rest } = project;
  const revised: Project = { ...rest, ...input, ...(policy ? { policy } : {}), status: 'SUBMITTED', revision: project.revision + 1, updatedAt: ctx.nowIso };
  await projects(ctx).put(revised, projectId);
  ctx.emit('ProjectRevised', { projectId, revision: revised.revision, by: caller.orgId });
  return revised;
}

export function requireSubmitted(project: Project): void {
  if (project.status !== 'SUBMITTED') throw badState(`project ${project.id} is ${project.status}; only a submitted project can be reviewed`);
}

export function review(ctx: FundContext, caller: Caller, project: Project, decision: Review['decision'], opinion: string): Review {
  return { decision, opinion, revision: project.revision, byOrg: caller.orgId, byIdentity: caller.identity, at: ctx.nowIso, txId: ctx.txId };
}

export async function rejectProject(ctx: FundContext, caller: Caller, projectId: string, opinion: string): Promise<Project> {
  const project = await getProject(ctx, projectId);
  requireSubmitted(project);
  const rejected: Project = { ...project, status: 'REJECTED', reviews: [...project.reviews, review(ctx, caller, project, 'REJECTED', opinion)], updatedAt: ctx.nowIso };
  await projects(ctx).put(rejected, projectId);
  ctx.emit('ProjectRejected', { projectId, revision: project.revision, opinion, by: caller.orgId });
  return rejected;
}

export const progressSchema = z.strictObject({
  milestone: text('milestone', 100),
  percent: z.number('percent must be a number').int('percent must be a whole number').min(0, 'percent must be 0–100').max(100, 'percent must be 0–100'),
  note: text('note', 2000),
  evidence: z.array(documentRef, 'evidence must be a list').min(1, 'at least one piece of evidence is required').max(20, 'at most 20 pieces of evidence'),
});

/** Progress (项目进度) with evidence whose files stay off-chain and whose SHA-256 is recorded here. */
/**
 * `trancheAccepted`: the unit has accepted a first tranche of a project paid in tranches, so work (and its
 * reports, which release the next tranches) starts before the whole budget has arrived.
 */
export async function reportProgress(ctx: FundContext, caller: Caller, projectId: string, input: z.output<typeof progressSchema>, trancheAccepted: boolean): Promise<Project> {
  const project = await getProject(ctx, projectId);
  if (project.implementingUnitId !== caller.orgId) throw denied(`${caller.orgId} is not the implementing unit of project ${projectId}`);
  const underway = project.status === 'FUNDED' || (project.status === 'APPROVED' && trancheAccepted);
  if (!underway) throw badState(`project ${projectId} is ${project.status}; progress is reported once the drafts (or a first tranche) are accepted`);
  if (input.percent < project.percentComplete) throw invalid(`percent: progress cannot go back from ${project.percentComplete}% to ${input.percent}%`);
  const report: ProgressReport = { ...input, byOrg: caller.orgId, at: ctx.nowIso, txId: ctx.txId };
  const completed = input.percent === 100;
  const updated: Project = {
    ...project,
    progress: [...project.progress, report],
    percentComplete: input.percent,
    status: completed ? 'COMPLETED' : project.status,
    completedAt: completed ? ctx.nowIso : undefined,
    updatedAt: ctx.nowIso,
  };
  await projects(ctx).put(updated, projectId);
  ctx.emit('ProgressReported', { projectId, percent: input.percent, milestone: input.milestone, evidence: input.evidence.map((e) => e.sha256) });
  if (completed) ctx.emit('ProjectCompleted', { projectId });
  return updated;
}

export const confirmationSchema = z.strictObject({ milestone: text('milestone', 100), note: text('note', 1000, 0).default('') });

/** The county office confirms a reported milestone (its evidence checked on site), releasing the tranches tied to it. */
export async function confirmMilestone(ctx: FundContext, caller: Caller, projectId: string, input: z.output<typeof confirmationSchema>): Promise<Project> {
  const project = await getProject(ctx, projectId);
  if (project.countyOfficeId !== caller.orgId) throw denied(`project ${projectId} was filed by ${project.countyOfficeId}; only that office confirms its milestones`);
  if (!project.milestones.some((m) => m.name === input.milestone)) throw invalid(`milestone: project ${projectId} has no milestone "${input.milestone}"`);
  if (!project.progress.some((r) => r.milestone === input.milestone)) throw badState(`milestone "${input.milestone}" has not been reported with evidence yet; it cannot be confirmed`);
  const confirmations = project.milestoneConfirmations ?? [];
  if (confirmations.some((c) => c.milestone === input.milestone)) throw badState(`milestone "${input.milestone}" is already confirmed`);
  const confirmation: MilestoneConfirmation = { ...input, byOrg: caller.orgId, byIdentity: caller.identity, at: ctx.nowIso, txId: ctx.txId };
  const updated: Project = { ...project, milestoneConfirmations: [...confirmations, confirmation], updatedAt: ctx.nowIso };
  await projects(ctx).put(updated, projectId);
  ctx.emit('MilestoneConfirmed', { projectId, milestone: input.milestone, by: caller.orgId });
  return updated;
}

/** What a caller may see of a project: oversight roles everything, others what concerns them. */
export function canSee(caller: Caller, project: Project): boolean {
  if (OVERSIGHT_ROLES.includes(caller.role) || caller.role === 'limitedPartnership') return true;
  switch (caller.role) {
    case 'countyOffice':
    case 'countyFinance':
    case 'countyFundCompany':
      return caller.org?.county === project.county;
    case 'implementingUnit':
      return project.implementingUnitId === caller.orgId;
    case 'bank':
      return project.fundingPlan.some((f) => f.payerId === caller.orgId);
    default:
      return false;
  }
}

export async function visibleProject(ctx: FundContext, caller: Caller, projectId: string): Promise<Project> {
  const project = await getProject(ctx, projectId);
  if (!canSee(caller, project)) throw denied(`${caller.orgId} may not see project ${projectId}`);
  return project;
}

export async function listProjects(ctx: FundContext, caller: Caller, filter: { status?: ProjectStatus; county?: string }): Promise<Project[]> {
  const found = filter.county
    ? await Promise.all((await byCounty(ctx).listKeys([filter.county])).map(([, projectId]) => getProject(ctx, projectId)))
    : await projects(ctx).list();
  return found.filter((p) => canSee(caller, p) && (!filter.status || p.status === filter.status));
}
