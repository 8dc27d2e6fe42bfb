/**
 * Notification centre (消息中心): the messages services/notifier.ts wrote for the user, and the user's
 * subscriptions (订阅) to a project, a county or every alert. The notifier does not check visibility
 * when it delivers, so a subscription is only accepted for what the user may see: a visible project,
 * a county within the user's scope, all alerts only for roles that see every project.
 */
import type { Request, Response, Router } from 'express';
import mongoose from 'mongoose';
import { Notification, Subscription } from '../models/activity';
import { OrganisationView } from '../models/projections';
import { projectScope } from '../services/scope';
import { recountUnread } from '../services/notifier';
import { CATALOGUES, type Translate } from '../i18n';
import { audit, flash, FormError, refusal } from './act';
import { visibleProject } from './projects';
import { ANY_USER, route } from './route';

const PAGE_SIZE = 30;

/** The counties whose events the user may follow: all for province-wide roles, else the user's own. */
async function followableCounties(req: Request): Promise<string[]> {
  const scope = await projectScope(req.user!);
  if (Object.keys(scope).length === 0) return ((await OrganisationView.distinct('county', { county: { $nin: [null, ''] } })) as string[]).sort((a, b) => a.localeCompare(b, 'zh-CN'));
  return typeof scope.county === 'string' ? [scope.county] : [];
}

async function mayFollowAllAlerts(req: Request): Promise<boolean> {
  return Object.keys(await projectScope(req.user!)).length === 0;
}

/** "EventType: subject" (the notifier's title) → the event type in the user's language, and the subject. */
function present(t: Translate, title: string, kind?: string | null): { event: string; subject: string } {
  const type = kind || title.split(': ')[0];
  const subject = title.startsWith(`${type}: `) ? title.slice(type.length + 2) : title === type ? '' : title;
  const key = `event.${type}`;
  return { event: key in CATALOGUES['zh-CN'] ? t(key) : type, subject };
}

async function render(req: Request, res: Response, status = 200, extra: { error?: string; values?: Record<string, string> } = {}) {
  const user = req.user!;
  const t = res.locals.t as Translate;
  const filter: Record<string, unknown> = { userId: user.id };
  const onlyUnread = req.query.unread === '1';
  if (onlyUnread) filter.read = false;
  const page = Math.max(1, Math.min(10_000, Number.parseInt(String(req.query.page ?? '1'), 10) || 1));
  const [items, total, unreadCount, subscriptions, counties, alertsAllowed] = await Promise.all([
    // Events of one transaction share a time: their event ids (block:tx:index) keep them in ledger order.
    Notification.find(filter).sort({ at: -1, eventId: -1, _id: -1 }).skip((page - 1) * PAGE_SIZE).limit(PAGE_SIZE).lean(),
    Notification.countDocuments(filter),
    Notification.countDocuments({ userId: user.id, read: false }),
    Subscription.find({ userId: user.id }).sort({ at: -1 }).lean(),
    followableCounties(req),
    mayFollowAllAlerts(req),
  ]);
  const notifications = items.map((n) => ({ ...n, ...present(t, n.title, n.kind) }));
  res.status(status).render('notifications', {
    title: 'nav.notifications',
    notifications,
    total,
    unreadCount,
    onlyUnread,
    page,
    pages: Math.max(1, Math.ceil(total / PAGE_SIZE)),
    subscriptions,
    counties,
    alertsAllowed,
    values: extra.values ?? {},
    error: extra.error,
  });
}

export function register(router: Router): void {
  route(router, 'GET', '/notifications', ANY_USER, async (req, res) => {
    await render(req, res);
  });

  route(router, 'POST', '/notifications/read', ANY_USER, async (req, res) => {
    const r = await Notification.updateMany({ userId: req.user!.id, read: false }, { $set: { read: true } });
    await recountUnread(req.user!.id);
    flash(req, 'success', res.locals.t('notify.allRead', { n: r.modifiedCount }));
    res.redirect('/notifications');
  });

  route(router, 'POST', '/notifications/:id/read', ANY_USER, async (req, res) => {
    const id = String(req.params.id);
    const found = mongoose.isValidObjectId(id) ? await Notification.findOneAndUpdate({ _id: id, userId: req.user!.id }, { $set: { read: true } }).lean() : null;
    if (!found) return res.status(404).render('error', { status: 404, message: res.locals.t('error.notFound') });
    if (!found.read) await recountUnread(req.user!.id);
    // "open" marks read and goes on to what the message is about; a plain "mark read" stays here.
    const next = req.body.open === '1' && typeof found.link === 'string' && /^\/(?!\/)/.test(found.link) ? found.link : '/notifications';
    res.redirect(next);
  });

  route(router, 'POST', '/notifications/subscriptions', ANY_USER, async (req, res) => {
    const t = res.locals.t as Translate;
    const kind = typeof req.body.kind === 'string' ? req.body.kind : '';
    const raw = typeof req.body[`target_${kind}`] === 'string' ? (req.body[`target_${kind}`] as string).trim() : '';
    const values = { kind, [`target_${kind}`]: raw };
    try {
      let target = '';
      if (kind === 'project') {
        target = raw.toUpperCase();
        if (!target) throw new FormError(t('notify.err.projectEmpty'));
        if (!(await visibleProject(req, target))) throw new FormError(t('notify.err.projectUnknown', { id: target.slice(0, 64) }));
      } else if (kind === 'county') {
        target = raw;
        if (!target) throw new FormError(t('notify.err.countyEmpty'));
        if (!(await OrganisationView.exists({ county: target }))) throw new FormError(t('notify.err.countyUnknown', { county: target.slice(0, 40) }));
        if (!(await followableCounties(req)).includes(target)) throw new FormError(t('notify.err.countyScope', { county: target }));
      } else if (kind === 'alerts') {
        if (!(await mayFollowAllAlerts(req))) throw new FormError(t('notify.err.alertsScope'));
      } else {
        throw new FormError(t('notify.err.kind'));
      }
      if (await Subscription.exists({ userId: req.user!.id, kind, target })) throw new FormError(t('notify.err.duplicate'));
      await Subscription.create({ userId: req.user!.id, kind, target });
      await audit(req, 'subscribe', `${kind}:${target}`);
      flash(req, 'success', t('notify.subscribed', { what: t(`notify.kind.${kind}`) + (target ? ` ${target}` : '') }));
      res.redirect('/notifications#subscriptions');
    } catch (err) {
      await render(req, res, 400, { error: refusal(res, err), values });
    }
  });

  route(router, 'POST', '/notifications/subscriptions/:id/delete', ANY_USER, async (req, res) => {
    const id = String(req.params.id);
    const found = mongoose.isValidObjectId(id) ? await Subscription.findOneAndDelete({ _id: id, userId: req.user!.id }).lean() : null;
    if (!found) return res.status(404).render('error', { status: 404, message: res.locals.t('error.notFound') });
    await audit(req, 'unsubscribe', `${found.kind}:${found.target ?? ''}`);
    flash(req, 'success', res.locals.t('notify.unsubscribed'));
    res.redirect('/notifications#subscriptions');
  });
}
