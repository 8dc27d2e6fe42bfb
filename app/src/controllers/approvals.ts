/**
 * Project approval (项目审批) by the provincial command: the queue of submitted projects, and for each
 * a review page with the summary, the drafts the approval would issue, and the decision form. Approval
 * signs the drafts with the approver's own key (chain.approve) and issues them in the same transaction;
 * rejection sends the project back to its county office with the opinion.
 */
import type { Request, Response, Router } from 'express';
import moment from 'moment';
import type { Project } from '@fund/chaincode/dist/project/project';
import type { DraftTerms } from '@fund/chaincode/dist/draft/draft';
import { DraftView, OrganisationView, ProjectView } from '../models/projections';
import { StoredFile } from '../models/activity';
import { platformOf } from '../platform';
import { formatYuan } from '../services/money';
import type { Translate } from '../i18n';
import { act, flash, FormError, refusal } from './act';
import { visibleProject } from './projects';
import { route } from './route';

const PAGE_SIZE = 20;
/** The chaincode's opinionSchema (project-contract.ts): text('opinion', 1000), trimmed, not empty. */
export const OPINION_MAX = 1000;
export const LEGS = ['toPartnership', 'toCountyFund', 'toUnit'] as const;
type Leg = (typeof LEGS)[number];
const DEFAULT_DAYS: Record<Leg, number> = { toPartnership: 10, toCountyFund: 20, toUnit: 30 };
/** Deadlines are wall-clock times in the province (datetime-local inputs carry no zone). */
const PROVINCE_OFFSET = '+08:00';

function today(): moment.Moment {
  return moment().utcOffset(PROVINCE_OFFSET);
}

/** Defaults: the end of the day 10, 20 and 30 days from today. */
function defaultDeadlines(): Record<Leg, string> {
  return Object.fromEntries(LEGS.map((leg) => [leg, `${today().add(DEFAULT_DAYS[leg], 'days').format('YYYY-MM-DD')}T23:59:59`])) as Record<Leg, string>;
}

/** "YYYY-MM-DDTHH:mm[:ss]" (datetime-local) or a bare "YYYY-MM-DD" (the end of that day), Beijing time → the instant, or undefined. */
function provinceInstant(value: string): moment.Moment | undefined {
  const local = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T23:59:59` : /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value) ? `${value}:00` : value;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(local)) return undefined;
  const at = moment(`${local}${PROVINCE_OFFSET}`, 'YYYY-MM-DDTHH:mm:ssZ', true);
  return at.isValid() ? at : undefined;
}

function opinionOf(body: Record<string, unknown>, t: Translate): string {
  const opinion = typeof body.opinion === 'string' ? body.opinion.trim() : '';
  if (!opinion) throw new FormError(t('approval.err.opinionEmpty'));
  if (opinion.length > OPINION_MAX) throw new FormError(t('approval.err.opinionLong', { max: OPINION_MAX, n: opinion.length }));
  return opinion;
}

/** The three leg deadlines: real times, increasing, in the future; returned as ISO instants. */
export function deadlinesOf(body: Record<string, unknown>, t: Translate, now = new Date()): Record<Leg, string> {
  const out = {} as Record<Leg, string>;
  let previous: { leg: Leg; at: number } | undefined;
  for (const leg of LEGS) {
    const value = typeof body[`deadline_${leg}`] === 'string' ? (body[`deadline_${leg}`] as string).trim() : '';
    const at = provinceInstant(value);
    if (!at) throw new FormError(t('approval.err.deadlineDate', { leg: t(`stage.${leg}`) }));
    if (at.valueOf() <= now.getTime()) throw new FormError(t('approval.err.deadlinePast', { leg: t(`stage.${leg}`), date: value.replace('T', ' ') }));
    if (previous && at.valueOf() <= previous.at) {
      throw new FormError(t('approval.err.deadlineOrder', { leg: t(`stage.${leg}`), previous: t(`stage.${previous.leg}`) }));
    }
    previous = { leg, at: at.valueOf() };
    out[leg] = at.toISOString();
  }
  return out;
}

/** The drafts an approval with these deadlines would issue, read from the chain (Draft:previewIssue). */
async function previewDrafts(req: Request, res: Response, projectId: string, deadlines: Record<Leg, string>): Promise<{ drafts: DraftTerms[]; error?: string }> {
  try {
    const preview = await platformOf(req).chain.evaluate<Array<{ draftId: string; content: string }>>(req.user!, 'Draft:previewIssue', projectId, JSON.stringify({ deadlines }));
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
    previewDeadlines = deadlinesOf(values, res.locals.t);
  } catch {
    previewDeadlines = deadlinesOf(Object.fromEntries(LEGS.map((l) => [`deadline_${l}`, defaultDeadlines()[l]])), res.locals.t);
  }
  const preview = project.status === 'SUBMITTED' ? await previewDrafts(req, res, project.id, previewDeadlines) : { drafts: [] as DraftTerms[] };
  res.status(status).render('approvals-review', {
    title: 'nav.approvals',
    project,
    orgNames,
    stored,
    values,
    error,
    drafts: preview.drafts,
    previewError: preview.error,
    opinionMax: OPINION_MAX,
    minDate: `${today().format('YYYY-MM-DD')}T00:00`,
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
    const defaults = defaultDeadlines();
    await renderReview(req, res, 200, String(req.params.id), Object.fromEntries(LEGS.map((l) => [`deadline_${l}`, defaults[l]])));
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
    const deadlines = deadlinesOf(req.body as Record<string, unknown>, t);
    const done = await act(req, 'Project:approve', projectId, () => platformOf(req).chain.approve(req.user!, projectId, opinion, { deadlines }));
    const drafts = await DraftView.find({ projectId }).sort({ _id: 1 }).lean();
    const list = drafts.map((d) => `${d._id} (${t(`source.${d.source}`)} ${formatYuan(d.amount)} ${t('common.yuan')})`).join('; ');
    flash(req, 'success', t('approval.approved', { project: projectId, n: drafts.length, drafts: list, block: done.blockNumber }));
  }));

  route(router, 'POST', '/approvals/:id/reject', ['leadingGroup'], decide(async (req, res, projectId, opinion) => {
    const done = await act(req, 'Project:reject', projectId, () => platformOf(req).chain.submit<Project>(req.user!, 'Project:reject', projectId, opinion));
    flash(req, 'warning', res.locals.t('approval.rejected', { project: projectId, block: done.blockNumber }));
  }));
}
