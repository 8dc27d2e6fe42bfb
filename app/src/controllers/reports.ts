/**
 * Problem reports (申报, thesis 6.3.1.1 customer centre): anyone reports a problem the system did not
 * flag, optionally about a project they can see; the provincial command and the administrator answer
 * or close it; auditors read them all. Off-chain, recorded in the audit log, and the people concerned
 * hear of it in their notification centre.
 */
import type { Request, Response, Router } from 'express';
import mongoose from 'mongoose';
import { Notification, ProblemReport } from '../models/activity';
import { User } from '../models/user';
import type { Translate } from '../i18n';
import { audit, flash, FormError, refusal } from './act';
import { visibleProject } from './projects';
import { ANY_USER, route } from './route';

export const TITLE_MAX = 100;
export const BODY_MAX = 2000;
export const RESPONSE_MAX = 2000;
const PAGE_SIZE = 20;
const STATUSES = ['OPEN', 'ANSWERED', 'CLOSED'] as const;
/** Who reads every report; of them, who may answer. */
const READERS = ['leadingGroup', 'admin', 'auditor'];
const ANSWERERS = ['leadingGroup', 'admin'] as const;

const str = (v: unknown) => (typeof v === 'string' ? v.trim() : '');
const seesAll = (req: Request) => READERS.includes(req.user!.role);

/** A notification for the people concerned, in the notifier's "EventType: subject" form. */
async function notify(userIds: string[], type: string, subject: string, link: string, eventId: string) {
  for (const userId of new Set(userIds)) {
    await Notification.updateOne({ userId, eventId }, { $setOnInsert: { userId, eventId, kind: type, title: `${type}: ${subject}`, link, at: new Date(), read: false } }, { upsert: true });
  }
}

async function renderList(req: Request, res: Response, status = 200, extra: { error?: string; values?: Record<string, string> } = {}) {
  const filter: Record<string, unknown> = seesAll(req) ? {} : { userId: req.user!.id };
  const statusFilter = typeof req.query.status === 'string' && (STATUSES as readonly string[]).includes(req.query.status) ? req.query.status : '';
  if (statusFilter) filter.status = statusFilter;
  const page = Math.max(1, Math.min(10_000, Number.parseInt(String(req.query.page ?? '1'), 10) || 1));
  const [reports, total] = await Promise.all([
    ProblemReport.find(filter).sort({ at: -1, _id: -1 }).skip((page - 1) * PAGE_SIZE).limit(PAGE_SIZE).lean(),
    ProblemReport.countDocuments(filter),
  ]);
  res.status(status).render('reports', {
    title: 'nav.reports',
    reports,
    total,
    page,
    pages: Math.max(1, Math.ceil(total / PAGE_SIZE)),
    statusFilter,
    statuses: STATUSES,
    seesAll: seesAll(req),
    values: extra.values ?? { projectId: typeof req.query.project === 'string' ? req.query.project.slice(0, 64) : '' },
    error: extra.error,
    titleMax: TITLE_MAX,
    bodyMax: BODY_MAX,
  });
}

/** A report the user may read: their own, or any for the readers; undefined otherwise. */
async function readableReport(req: Request, id: string) {
  if (!mongoose.isValidObjectId(id)) return undefined;
  const report = await ProblemReport.findById(id).lean();
  if (!report || (!seesAll(req) && report.userId !== req.user!.id)) return undefined;
  return report;
}

async function renderDetail(req: Request, res: Response, id: string, status = 200, extra: { error?: string; values?: Record<string, string> } = {}) {
  const report = await readableReport(req, id);
  if (!report) return res.status(404).render('error', { status: 404, message: res.locals.t('error.notFound') });
  res.status(status).render('reports-detail', {
    title: 'nav.reports',
    report,
    canAnswer: (ANSWERERS as readonly string[]).includes(req.user!.role),
    values: extra.values ?? { response: report.response ?? '', status: report.status === 'OPEN' ? 'ANSWERED' : report.status },
    error: extra.error,
    responseMax: RESPONSE_MAX,
  });
}

export function register(router: Router): void {
  route(router, 'GET', '/reports', ANY_USER, async (req, res) => {
    await renderList(req, res);
  });

  route(router, 'POST', '/reports', ANY_USER, async (req, res) => {
    const t = res.locals.t as Translate;
    const values = { title: str(req.body.title), body: str(req.body.body), projectId: str(req.body.projectId).toUpperCase() };
    try {
      if (!values.title) throw new FormError(t('report.err.titleEmpty'));
      if (values.title.length > TITLE_MAX) throw new FormError(t('report.err.titleLong', { max: TITLE_MAX, n: values.title.length }));
      if (!values.body) throw new FormError(t('report.err.bodyEmpty'));
      if (values.body.length > BODY_MAX) throw new FormError(t('report.err.bodyLong', { max: BODY_MAX, n: values.body.length }));
      // Not found and not visible look the same: a report must not reveal that a project exists.
      if (values.projectId && !(await visibleProject(req, values.projectId))) throw new FormError(t('report.err.project', { id: values.projectId.slice(0, 64) }));
      const user = req.user!;
      const report = await ProblemReport.create({
        userId: user.id,
        username: user.username,
        orgId: user.orgId,
        projectId: values.projectId || undefined,
        title: values.title,
        body: values.body,
      });
      await audit(req, 'report:file', String(report._id));
      const answerers = await User.find({ role: { $in: ANSWERERS }, active: true, _id: { $ne: user._id } }).select('_id').lean();
      await notify(answerers.map((u) => String(u._id)), 'ReportFiled', values.title, `/reports/${report._id}`, `report:${report._id}:filed`);
      flash(req, 'success', t('report.filed'));
      res.redirect(`/reports/${report._id}`);
    } catch (err) {
      await renderList(req, res, 400, { error: refusal(res, err), values });
    }
  });

  route(router, 'GET', '/reports/:id', ANY_USER, async (req, res) => {
    await renderDetail(req, res, String(req.params.id));
  });

  route(router, 'POST', '/reports/:id/answer', [...ANSWERERS], async (req, res) => {
    const t = res.locals.t as Translate;
    const id = String(req.params.id);
    const values = { response: str(req.body.response), status: str(req.body.status) };
    const report = await readableReport(req, id);
    if (!report) return res.status(404).render('error', { status: 404, message: t('error.notFound') });
    try {
      if (values.status !== 'ANSWERED' && values.status !== 'CLOSED') throw new FormError(t('report.err.status'));
      if (!values.response) throw new FormError(t('report.err.responseEmpty'));
      if (values.response.length > RESPONSE_MAX) throw new FormError(t('report.err.responseLong', { max: RESPONSE_MAX, n: values.response.length }));
      await ProblemReport.updateOne(
        { _id: report._id },
        { $set: { response: values.response, status: values.status, respondedBy: req.user!.username, respondedAt: new Date() } },
      );
      await audit(req, `report:${values.status === 'CLOSED' ? 'close' : 'answer'}`, id);
      if (report.userId && report.userId !== req.user!.id) {
        // One notification per answer: the event id carries the time, so a second answer notifies again.
        await notify([report.userId], values.status === 'CLOSED' ? 'ReportClosed' : 'ReportAnswered', report.title, `/reports/${id}`, `report:${id}:${Date.now()}`);
      }
      flash(req, 'success', t('report.answered', { status: t(`report.status.${values.status}`) }));
      res.redirect(`/reports/${id}`);
    } catch (err) {
      await renderDetail(req, res, id, 400, { error: refusal(res, err), values });
    }
  });
}
