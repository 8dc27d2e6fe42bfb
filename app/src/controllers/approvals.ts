/**
 * Project approval (项目审批) by the provincial command: the queue of submitted projects, and for each
 * a review page with the summary, the drafts the approval would issue, and the decision form. Approval
 * signs the drafts with the approver's own key (chain.approve) and issues them in the same transaction;
 * rejection sends the project back to its county office with the opinion.
 */
import type { Request, Response, Router } from 'express';
import type { Project } from '@fund/chaincode/dist/project/project';
import type { DraftTerms } from '@fund/chaincode/dist/draft/draft';
import { DraftView, OrganisationView, ProjectView } from '../models/projections';
import { StoredFile } from '../models/activity';
import { platformOf } from '../platform';
import { formatYuan } from '../services/money';
import type { Translate } from '../i18n';
import type { TimeZone } from '../services/time';
import { act, flash, FormError, refusal } from './act';
import { translateRefusal } from '../i18n/refusals';
import { visibleProject } from './projects';
import { route } from './route';

const PAGE_SIZE = 20;
/** The chaincode's opinionSchema (project-contract.ts): text('opinion', 1000), trimmed, not empty. */
export const OPINION_MAX = 1000;
export const LEGS = ['toPartnership', 'toCountyFund', 'toUnit'] as const;
type Leg = (typeof LEGS)[number];
const DEFAULT_DAYS: Record<Leg, number> = { toPartnership: 10, toCountyFund: 20, toUnit: 30 };
/** Defaults: the end of the day 10, 20 and 30 days from today, in the platform's zone (datetime-local inputs carry none). */
function defaultDeadlines(zone: TimeZone): Record<Leg, string> {
  return Object.fromEntries(LEGS.map((leg) => [leg, `${zone.date(Date.now() + DEFAULT_DAYS[leg] * 86400_000)}T23:59:59`])) as Record<Leg, string>;
}

function opinionOf(body: Record<string, unknown>, t: Translate): string {
  const opinion = typeof body.opinion === 'string' ? body.opinion.trim() : '';
  if (!opinion) throw new FormError(t('approval.err.opinionEmpty'));
  if (opinion.length > OPINION_MAX) throw new FormError(t('approval.err.opinionLong', { max: OPINION_MAX, n: opinion.length }));
  return opinion;
}

/** The three leg deadlines: real times, increasing, in the future; returned as ISO instants. */
export function deadlinesOf(body: Record<string, unknown>, t: Translate, zone: TimeZone, now = new Date()): Record<Leg, string> {
  const out = {} as Record<Leg, string>;
  let previous: { leg: Leg; at: number } | undefined;
  for (const leg of LEGS) {
    const value = typeof body[`deadline_${leg}`] === 'string' ? (body[`deadline_${leg}`] as string).trim() : '';
    // A datetime-local value, or a bare day meaning its end, in the platform's zone.
    const at = zone.parse(value, { endOfDay: true });
    if (!at) throw new FormError(t('approval.err.deadlineDate', { leg: t(`stage.${leg}`) }));
    if (at.valueOf() <= now.getTime()) throw new FormError(t('approval.err.deadlinePast', { leg: t(`stage.${leg}`), date: zone.time(at, { seconds: true }) }));
    if (previous && at.valueOf() <= previous.at) {
      throw new FormError(t('approval.err.deadlineOrder', { leg: t(`stage.${leg}`), previous: t(`stage.${previous.leg}`) }));
    }
    previous = { leg, at: at.valueOf() };
    out[leg] = at.toISOString();
  }
  return out;
}

/** Rows of the tranche table on the review form. */
export const TRANCHE_ROWS = 4;

/** The approval's terms besides the deadlines: tranches when the form splits the last leg, the policy exception. */
export function releaseTermsOf(body: Record<string, unknown>, t: Translate): { tranches?: Array<{ percent: number; milestone?: string }>; policyException?: string } {
  const out: { tranches?: Array<{ percent: number; milestone?: string }>; policyException?: string } = {};
  if (body.split === 'tranches') {
    const tranches: Array<{ percent: number; milestone?: string }> = [];
    for (let i = 0; i < TRANCHE_ROWS; i++) {
      const percent = typeof body[`tranche_percent_${i}`] === 'string' ? (body[`tranche_percent_${i}`] as string).trim() : '';
      const milestone = typeof body[`tranche_milestone_${i}`] === 'string' ? (body[`tranche_milestone_${i}`] as string).trim() : '';
      if (!percent && !milestone) continue;
      if (!/^[0-9]{1,3}$/.test(percent) || Number(percent) < 1 || Number(percent) > 100) throw new FormError(t('tranche.err.percent', { n: i + 1 }));
      tranches.push({ percent: Number(percent), ...(milestone ? { milestone } : {}) });
    }
    if (tranches.length === 0) throw new FormError(t('tranche.err.none'));
    out.tranches = tranches;
  }
  const exception = typeof body.policyException === 'string' ? body.policyException.trim() : '';
  if (exception) out.policyException = exception;
  return out;
}

/** The form's tranche rows when it first shows: 30 % on arrival, 40 % at a middle milestone, 30 % at the last. */
function defaultTranches(project: Project): Record<string, string> {
  const names = project.milestones.map((m) => m.name);
  const rows: Array<[string, string]> = names.length > 1 ? [['30', ''], ['40', names[Math.floor((names.length - 1) / 2)]], ['30', names[names.length - 1]]] : [['30', ''], ['70', names[0] ?? '']];
  return Object.fromEntries(rows.flatMap(([percent, milestone], i) => [[`tranche_percent_${i}`, percent], [`tranche_milestone_${i}`, milestone]]));
}

/** What the fund policy in force says about the project's plan now (it may have changed since filing). */
async function policyCheck(req: Request, project: Project): Promise<{ version: number; problems: string[] } | undefined> {
  try {
    const plan = project.fundingPlan.map(({ source, amount }) => ({ source, amount }));
    return await platformOf(req).chain.evaluate<{ version: number; problems: string[] }>(req.user!, 'Policy:checkPlan', JSON.stringify(plan));
  } catch {
    return undefined;
  }
}

/** The drafts an approval with these terms would issue, read from the chain (Draft:previewIssue). */
async function previewDrafts(req: Request, res: Response, projectId: string, terms: object): Promise<{ drafts: DraftTerms[]; error?: string }> {
  try {
    const preview = await platformOf(req).chain.evaluate<Array<{ draftId: string; content: string }>>(req.user!, 'Draft:previewIssue', projectId, JSON.stringify(terms));
    return { drafts: preview.map((p) => JSON.parse(p.content) as DraftTerms) };
  } catch (err) {
    // Shown as a warning: the approval would fail the same way, better to know before deciding.
    return { drafts: [], error: refusal(res, err) };
  }
}

async function renderReview(req: Request, res: Response, status: number, projectId: string, values: Record<string, unknown>, error?: string) {
  const view = await visibleProject(req, projectId);
  if (!view) return res.status(404).render('error', { status: 404, message: res.locals.t('error.notFound') });
  const project = view.doc as Project;
  const orgs = await OrganisationView.find().select('name').lean();
  const orgNames = Object.fromEntries(orgs.map((o) => [o._id, o.name]));
  const stored = new Set((await StoredFile.find({ _id: { $in: project.documents.map((d) => d.sha256) } }).select('_id').lean()).map((f) => f._id));
  // The preview uses the deadlines on the form when they are valid, the defaults otherwise.
  let previewDeadlines: Record<Leg, string>;
  try {
    previewDeadlines = deadlinesOf(values, res.locals.t, res.locals.zone);
  } catch {
    previewDeadlines = deadlinesOf(Object.fromEntries(LEGS.map((l) => [`deadline_${l}`, defaultDeadlines(res.locals.zone)[l]])), res.locals.t, res.locals.zone);
  }
  let release: ReturnType<typeof releaseTermsOf> = {};
  try {
    release = releaseTermsOf(values, res.locals.t);
  } catch {
    /* the form's own error says what is wrong; the preview shows the last leg whole */
  }
  const [preview, policy] = project.status === 'SUBMITTED' ? await Promise.all([previewDrafts(req, res, project.id, { deadlines: previewDeadlines, ...release }), policyCheck(req, project)]) : [{ drafts: [] as DraftTerms[] }, undefined];
  res.status(status).render('approvals-review', {
    policy,
    trancheRows: TRANCHE_ROWS,
    translateRefusal: (text: string) => translateRefusal(res.locals.t, text),
    title: 'nav.approvals',
    project,
    orgNames,
    stored,
    values,
    error,
    drafts: preview.drafts,
    previewError: preview.error,
    opinionMax: OPINION_MAX,
    minDate: `${(res.locals.zone as TimeZone).date(Date.now())}T00:00`,
  });
}

export function register(router: Router): void {
  route(router, 'GET', '/approvals', ['leadingGroup'], async (req, res) => {
    const page = Math.max(1, Math.min(10_000, Number.parseInt(String(req.query.page ?? '1'), 10) || 1));
    const filter = { status: 'SUBMITTED' };
    // Oldest first: the project that has waited longest is reviewed first.
    const [projects, [waiting]] = await Promise.all([
      ProjectView.find(filter).sort({ updatedAt: 1 }).skip((page - 1) * PAGE_SIZE).limit(PAGE_SIZE).lean(),
      ProjectView.aggregate<{ n: number; fen: number }>([{ $match: filter }, { $group: { _id: null, n: { $sum: 1 }, fen: { $sum: '$budgetFen' } } }]),
    ]);
    const total = waiting?.n ?? 0;
    const totalFen = waiting?.fen ?? 0;
    res.render('approvals', { title: 'nav.approvals', projects, total, totalFen, page, pages: Math.max(1, Math.ceil(total / PAGE_SIZE)) });
  });

  route(router, 'GET', '/approvals/:id', ['leadingGroup'], async (req, res) => {
    const defaults = defaultDeadlines(res.locals.zone);
    const view = await visibleProject(req, String(req.params.id));
    const tranches = view ? defaultTranches(view.doc as Project) : {};
    await renderReview(req, res, 200, String(req.params.id), { ...tranches, ...Object.fromEntries(LEGS.map((l) => [`deadline_${l}`, defaults[l]])) });
  });

  /** Approve and reject share their checks: a visible project, a valid opinion, still awaiting review. */
  const decide = (work: (req: Request, res: Response, projectId: string, opinion: string) => Promise<void>) => async (req: Request, res: Response) => {
    const projectId = String(req.params.id);
    const body = req.body as Record<string, unknown>;
    const t = res.locals.t;
    const view = await visibleProject(req, projectId);
    if (!view) return res.status(404).render('error', { status: 404, message: t('error.notFound') });
    try {
      const opinion = opinionOf(body, t);
      if (view.status !== 'SUBMITTED') throw new FormError(t('approval.err.notSubmitted', { status: t(`status.${view.status}`) }));
      await work(req, res, projectId, opinion);
      res.redirect(`/projects/${projectId}`);
    } catch (err) {
      await renderReview(req, res, 400, projectId, body, refusal(res, err));
    }
  };

  route(router, 'POST', '/approvals/:id/approve', ['leadingGroup'], decide(async (req, res, projectId, opinion) => {
    const t = res.locals.t;
    const deadlines = deadlinesOf(req.body as Record<string, unknown>, t, res.locals.zone);
    const release = releaseTermsOf(req.body as Record<string, unknown>, t);
    const done = await act(req, 'Project:approve', projectId, () => platformOf(req).chain.approve(req.user!, projectId, opinion, { deadlines, ...release }));
    const drafts = await DraftView.find({ projectId }).sort({ _id: 1 }).lean();
    const list = drafts.map((d) => `${d._id} (${t(`source.${d.source}`)} ${formatYuan(d.amount)} ${t('common.yuan')})`).join('; ');
    flash(req, 'success', t('approval.approved', { project: projectId, n: drafts.length, drafts: list, block: done.blockNumber }));
  }));

  route(router, 'POST', '/approvals/:id/reject', ['leadingGroup'], decide(async (req, res, projectId, opinion) => {
    const done = await act(req, 'Project:reject', projectId, () => platformOf(req).chain.submit<Project>(req.user!, 'Project:reject', projectId, opinion));
    flash(req, 'warning', res.locals.t('approval.rejected', { project: projectId, block: done.blockNumber }));
  }));
}
