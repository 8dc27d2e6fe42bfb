/**
 * Monitoring centre (监控中心, thesis 6.3.1.1): anomaly monitoring (overdue hops, reconciliation
 * mismatches, transfers left unmatched, stalled projects) read from the projections, manual resolution
 * of discrepancies (平账) and the unmatched sweep on the chain, and business monitoring: the audit log
 * of who did what.
 */
import type { Request, Response, Router } from 'express';
import type { ChannelConfig } from '@fund/chaincode/dist/config/config';
import { AlertAcknowledgement, AuditEntry, RelayRequest } from '../models/activity';
import { DiscrepancyView, DraftView, OrganisationView, ProjectView, TransferView } from '../models/projections';
import { projectScope } from '../services/scope';
import { formatYuan } from '../services/money';
import { LOCKOUT_ALERT_HOURS } from '../services/login-guard';
import { platformOf, zoneOf } from '../platform';
import type { Translate } from '../i18n';
import { act, audit, flash, FormError, refusal } from './act';
import { OVERSIGHT, route } from './route';

export const ALERT_KINDS = ['overdue', 'mismatch', 'unmatched', 'parked', 'stalled', 'capacity', 'login-lockout'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];
const TABS = ['alerts', 'resolved', 'audit'] as const;
type Tab = (typeof TABS)[number];

/** An APPROVED project whose money has not moved for this long is stalled (issue 4). */
const APPROVED_IDLE_DAYS = 14;
/** Used when the channel configuration cannot be read; the chaincode's own default. */
const DEFAULT_UNMATCHED_HOURS = 48;
const AUDIT_PAGE = 50;
const RESOLVED_LIMIT = 200;
/** The chaincode's rule for a resolution reason (reconciliation-contract.ts): text('reason', 1000, 5). */
export const REASON_MIN = 5;
export const REASON_MAX = 1000;
const DAY = 86400_000;

export interface Alert {
  kind: AlertKind;
  /** what raised it: a draft id, a serial, a discrepancy id or a project id */
  ref: string;
  projectId?: string;
  projectName?: string;
  what: string;
  since: Date;
  /** an open discrepancy the provincial command can resolve here */
  discrepancyId?: string;
  /** what identifies the alert across requests (alertKey) */
  key: string;
  /** an overdue alert someone explained: shown, not counted as open */
  acknowledged?: { by: string; at: Date; reason: string };
}

/** Kinds of alert that can be acknowledged with a reason (the others end by a chain transaction or by themselves). */
export const ACKNOWLEDGEABLE: readonly AlertKind[] = ['overdue'];

/** An alert's identity: its kind, what raised it and since when (a draft's next deadline is a new alert). */
export function alertKey(a: Pick<Alert, 'kind' | 'ref' | 'since'>): string {
  return `${a.kind}:${a.ref}:${a.since.toISOString()}`;
}

/** Alerts still waiting for someone: what the dashboard's figure and the monitoring centre's counts say. */
export function openAlerts(alerts: Alert[]): Alert[] {
  return alerts.filter((a) => !a.acknowledged);
}

/** Bumped by every acknowledgement, so a cached open-alerts figure (the dashboard's) is not kept past one. */
export const acknowledgements = { generation: 0 };

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Problems of a discrepancy in words; amounts (fen) shown in yuan. */
export function problemText(t: Translate, problems: unknown): string {
  if (!Array.isArray(problems)) return '';
  return problems
    .map((p: { field: string; expected: string; actual: string }) => {
      const money = p.field === 'amount';
      return t('monitor.problem', {
        field: t(`monitor.field.${p.field}`),
        expected: money ? `${formatYuan(p.expected)} ${t('common.yuan')}` : p.expected,
        actual: money ? `${formatYuan(p.actual)} ${t('common.yuan')}` : p.actual,
      });
    })
    .join('; ');
}

/**
 * The thresholds the chain's configuration holds (changed on the rules page); STALLED_AFTER_DAYS is the default
 * while the chain names none.
 */
async function chainThresholds(req: Request): Promise<{ unmatchedHours: number; stalledDays: number }> {
  const fallbackDays = platformOf(req).config.stalledAfterDays;
  try {
    const config = await platformOf(req).chain.evaluate<ChannelConfig>(req.user!, 'Config:get');
    return { unmatchedHours: config.unmatchedThresholdHours ?? DEFAULT_UNMATCHED_HOURS, stalledDays: config.stalledAfterDays ?? fallbackDays };
  } catch {
    return { unmatchedHours: DEFAULT_UNMATCHED_HOURS, stalledDays: fallbackDays };
  }
}

/** Every current alert the user may see, oldest first (what has waited longest comes first). */
export async function collectAlerts(req: Request, t: Translate, now = new Date()): Promise<{ alerts: Alert[]; thresholdHours: number; stalledDays: number }> {
  const zone = zoneOf(req);
  const user = req.user!;
  const [scope, { unmatchedHours: thresholdHours, stalledDays }, orgs] = await Promise.all([projectScope(user), chainThresholds(req), OrganisationView.find().select('name').lean()]);
  const org = (id?: string | null) => (id ? (orgs.find((o) => o._id === id)?.name ?? id) : '—');
  const unmatchedCutoff = new Date(now.getTime() - thresholdHours * 3600_000);
  const stalledCutoff = new Date(now.getTime() - stalledDays * DAY);
  const idleCutoff = new Date(now.getTime() - APPROVED_IDLE_DAYS * DAY);

  const [overdueDrafts, lateTransfers, openDiscrepancies, waitingTransfers, funded, approved] = await Promise.all([
    DraftView.find({ ...scope, status: { $in: ['ISSUED', 'IN_TRANSIT'] }, nextDeadline: { $lt: now } }).select('-doc').lean(),
    TransferView.find({ ...scope, status: 'MATCHED_LATE' }).lean(),
    DiscrepancyView.find({ ...scope, status: 'OPEN' }).lean(),
    TransferView.find({ ...scope, status: { $in: ['REGISTERED', 'RECORDED'] }, updatedAt: { $lt: unmatchedCutoff } }).lean(),
    ProjectView.find({ ...scope, status: 'FUNDED', $or: [{ lastProgressAt: { $lt: stalledCutoff } }, { lastProgressAt: null, fundedAt: { $lt: stalledCutoff } }] })
      .select('name lastProgressAt fundedAt')
      .lean(),
    ProjectView.find({ ...scope, status: 'APPROVED', approvedAt: { $lt: idleCutoff } })
      .select('name approvedAt')
      .lean(),
  ]);

  const projectIds = new Set<string>();
  for (const x of [...overdueDrafts, ...lateTransfers, ...openDiscrepancies, ...waitingTransfers]) if (x.projectId) projectIds.add(x.projectId);
  const names = new Map((await ProjectView.find({ _id: { $in: [...projectIds] } }).select('name').lean()).map((p) => [String(p._id), p.name]));
  for (const p of [...funded, ...approved]) names.set(String(p._id), p.name);
  const alerts: Alert[] = [];
  const add = (a: Omit<Alert, 'projectName' | 'key'>) => alerts.push({ ...a, key: alertKey(a), projectName: a.projectId ? names.get(a.projectId) : undefined });

  for (const d of overdueDrafts) {
    add({
      kind: 'overdue',
      ref: String(d._id),
      projectId: d.projectId ?? undefined,
      since: d.nextDeadline!,
      what: t('monitor.what.overdueDraft', {
        draft: String(d._id),
        source: t(`source.${d.source}`),
        amount: formatYuan(d.amount),
        stage: t(`stage.${d.nextStage}`),
        payer: org(d.nextPayerId),
        payee: org(d.nextReceiverId),
      }),
    });
  }
  for (const x of lateTransfers) {
    const claim = x.claim as { deadline?: string } | undefined;
    const record = x.record as { paidAt?: string } | undefined;
    add({
      kind: 'overdue',
      ref: String(x._id),
      projectId: x.projectId ?? undefined,
      since: new Date(claim?.deadline ?? x.updatedAt ?? now),
      what: t('monitor.what.lateTransfer', {
        serial: String(x._id),
        stage: x.stage ? t(`stage.${x.stage}`) : '—',
        payer: org(x.payerId),
        amount: formatYuan(x.recordedAmount),
        paidAt: zone.time(record?.paidAt, { seconds: true }),
      }),
    });
  }
  for (const d of openDiscrepancies) {
    const kind: AlertKind = d.kind === 'MISMATCH' || d.kind === 'DUPLICATE_PAYMENT' ? 'mismatch' : 'unmatched';
    add({
      kind,
      ref: String(d._id),
      discrepancyId: String(d._id),
      projectId: d.projectId ?? undefined,
      since: d.raisedAt ?? now,
      what: t('monitor.what.discrepancy', { kind: t(`monitor.dkind.${d.kind}`), serial: d.serial ?? '—', problems: problemText(t, d.problems) }),
    });
  }
  for (const x of waitingTransfers) {
    add({
      kind: 'unmatched',
      ref: String(x._id),
      projectId: x.projectId ?? undefined,
      since: x.updatedAt ?? now,
      what: t(x.status === 'REGISTERED' ? 'monitor.what.noBankRecord' : 'monitor.what.noRegistration', {
        serial: String(x._id),
        hours: thresholdHours,
        payer: org(x.payerId),
        bank: org(x.bankId),
        amount: formatYuan(x.expectedAmount ?? x.recordedAmount),
      }),
    });
  }
  for (const p of funded) {
    const last = p.lastProgressAt ?? p.fundedAt!;
    add({
      kind: 'stalled',
      ref: String(p._id),
      projectId: String(p._id),
      since: last,
      what: t(p.lastProgressAt ? 'monitor.what.noProgress' : 'monitor.what.noProgressSinceFunded', { days: stalledDays }),
    });
  }
  if (approved.length > 0) {
    // The last time money moved for each approved project: its latest matched transfer, else the approval.
    const matched = await TransferView.find({ projectId: { $in: approved.map((p) => String(p._id)) }, status: { $in: ['MATCHED', 'MATCHED_LATE'] } })
      .select('projectId updatedAt')
      .lean();
    const lastMove = new Map<string, number>();
    for (const m of matched) if (m.projectId && m.updatedAt) lastMove.set(m.projectId, Math.max(lastMove.get(m.projectId) ?? 0, m.updatedAt.getTime()));
    for (const p of approved) {
      const last = Math.max(p.approvedAt!.getTime(), lastMove.get(String(p._id)) ?? 0);
      if (last >= idleCutoff.getTime()) continue;
      add({
        kind: 'stalled',
        ref: String(p._id),
        projectId: String(p._id),
        since: new Date(last),
        what: t(lastMove.has(String(p._id)) ? 'monitor.what.noMoveSince' : 'monitor.what.noMoveSinceApproval', { days: APPROVED_IDLE_DAYS }),
      });
    }
  }
  // Bank records parked because no set holds their serial yet (services/parked-records.ts), past the same threshold as
  // a bank record waiting on the chain. They have no project: only those who see everything see them.
  if (Object.keys(scope).length === 0) {
    for (const r of await RelayRequest.find({ state: 'PARKED', 'parked.at': { $lt: unmatchedCutoff } }).sort({ 'parked.at': 1 }).limit(500).lean()) {
      const record = JSON.parse(r.parked?.args?.[0] ?? '{}') as { payerAccount?: string; amount?: string; paidAt?: string };
      const what = t('monitor.what.parkedRecord', { serial: r.target ?? '—', bank: org(r.parked?.orgId), payer: record.payerAccount ?? '—', amount: formatYuan(record.amount ?? '0'), paidAt: zone.time(record.paidAt, { seconds: true }), hours: thresholdHours });
      add({ kind: 'parked', ref: r.target ?? String(r._id), since: r.parked!.at!, what: r.parked?.lastError ? what + t('monitor.what.parkedLastError', { error: r.parked.lastError }) : what });
    }
  }
  // A set at its warnNum on the routing chain (thesis 4.3.3.2 (3)): the operators must add a set before it is full.
  if (user.role === 'admin' || user.role === 'leadingGroup') {
    for (const set of await platformOf(req).chain.relay.setStatus()) {
      if (set.memberCount < set.warnNum) continue;
      add({
        kind: 'capacity',
        ref: set.setId,
        since: new Date(set.registeredAt),
        what: t(set.memberCount >= set.maxNum ? 'monitor.what.setFull' : 'monitor.what.setWarning', { setId: set.setId, channel: set.channel, n: set.memberCount, warn: set.warnNum, max: set.maxNum }),
      });
    }
  }
  // Accounts and addresses locked after failed logins (services/login-guard.ts): someone may be guessing passwords. Every
  // role here reads the audit log, where the same lockouts are.
  const { windowMinutes } = platformOf(req).loginGuard.limits;
  for (const l of await platformOf(req).loginGuard.recentLockouts(now)) {
    add({
      kind: 'login-lockout',
      ref: `${l.scope}:${l.key}`,
      since: l.at,
      what: t(l.scope === 'account' ? 'monitor.what.accountLocked' : 'monitor.what.addressLocked', {
        key: l.key,
        n: l.failures ?? 0,
        window: windowMinutes,
        ip: l.ip ?? '—',
        username: l.username || '—',
        until: zone.time(l.until),
      }),
    });
  }
  const acknowledgeable = alerts.filter((a) => ACKNOWLEDGEABLE.includes(a.kind));
  if (acknowledgeable.length > 0) {
    const acks = new Map((await AlertAcknowledgement.find({ _id: { $in: acknowledgeable.map((a) => a.key) } }).lean()).map((k) => [String(k._id), k]));
    for (const a of acknowledgeable) {
      const ack = acks.get(a.key);
      if (ack) a.acknowledged = { by: ack.by, at: ack.at, reason: ack.reason };
    }
  }
  alerts.sort((a, b) => a.since.getTime() - b.since.getTime() || a.ref.localeCompare(b.ref));
  return { alerts, thresholdHours, stalledDays };
}

function tabOf(value: unknown): Tab {
  return typeof value === 'string' && (TABS as readonly string[]).includes(value) ? (value as Tab) : 'alerts';
}

async function renderMonitoring(req: Request, res: Response, status = 200, extra: { error?: string; errorFor?: string; reason?: string } = {}) {
  const t = res.locals.t as Translate;
  const q = req.query as Record<string, unknown>;
  const tab = extra.errorFor ? 'alerts' : tabOf(q.tab);
  const kind = typeof q.kind === 'string' && (ALERT_KINDS as readonly string[]).includes(q.kind) ? (q.kind as AlertKind) : '';
  const { alerts, thresholdHours, stalledDays } = await collectAlerts(req, t);
  // Counts are of open alerts; acknowledged ones are listed (marked so) but wait for nobody.
  const open = openAlerts(alerts);
  const counts = Object.fromEntries(ALERT_KINDS.map((k) => [k, open.filter((a) => a.kind === k).length]));
  // A bank record nobody registered has no project: only those whose scope is everything ({}) see it.
  const scope = await projectScope(req.user!);

  let resolved: unknown[] = [];
  const resolvedTotal = await DiscrepancyView.countDocuments({ ...scope, status: 'RESOLVED' });
  if (tab === 'resolved') {
    resolved = await DiscrepancyView.find({ ...scope, status: 'RESOLVED' }).sort({ 'resolution.at': -1, raisedAt: -1 }).limit(RESOLVED_LIMIT).lean();
  }

  const auditFilter: Record<string, unknown> = {};
  const username = typeof q.username === 'string' ? q.username.trim().slice(0, 64) : '';
  const action = typeof q.action === 'string' ? q.action.trim().slice(0, 64) : '';
  if (username) auditFilter.username = username;
  if (action) auditFilter.action = { $regex: escapeRegex(action), $options: 'i' };
  const page = Math.max(1, Math.min(100_000, Number.parseInt(String(q.page ?? '1'), 10) || 1));
  let audit: unknown[] = [];
  let auditTotal = 0;
  let actions: string[] = [];
  if (tab === 'audit') {
    [audit, auditTotal, actions] = await Promise.all([
      AuditEntry.find(auditFilter).sort({ at: -1, _id: -1 }).skip((page - 1) * AUDIT_PAGE).limit(AUDIT_PAGE).lean(),
      AuditEntry.countDocuments(auditFilter),
      AuditEntry.distinct('action'),
    ]);
  }
  const role = req.user!.role;
  res.status(status).render('monitoring', {
    title: 'nav.monitoring',
    tab,
    kind,
    alerts: kind ? alerts.filter((a) => a.kind === kind) : alerts,
    total: open.length,
    counts,
    kinds: ALERT_KINDS,
    thresholdHours,
    stalledDays,
    idleDays: APPROVED_IDLE_DAYS,
    lockoutAlertHours: LOCKOUT_ALERT_HOURS,
    resolved,
    resolvedTotal,
    resolvedLimit: RESOLVED_LIMIT,
    audit,
    auditTotal,
    actions: actions.sort(),
    username,
    action,
    page,
    pages: Math.max(1, Math.ceil(auditTotal / AUDIT_PAGE)),
    canResolve: role === 'leadingGroup',
    canAcknowledge: role === 'leadingGroup',
    acknowledgeable: ACKNOWLEDGEABLE,
    canSweep: role === 'leadingGroup' || role === 'admin',
    reasonMin: REASON_MIN,
    reasonMax: REASON_MAX,
    problemText: (problems: unknown) => problemText(t, problems),
    ...extra,
  });
}

export function register(router: Router): void {
  route(router, 'GET', '/monitoring', OVERSIGHT, async (req, res) => {
    await renderMonitoring(req, res);
  });

  route(router, 'POST', '/monitoring/discrepancies/:id/resolve', ['leadingGroup'], async (req, res) => {
    const t = res.locals.t as Translate;
    const id = String(req.params.id);
    const reason = typeof req.body.reason === 'string' ? req.body.reason.trim() : '';
    try {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$/.test(id)) throw new FormError(t('monitor.err.noDiscrepancy', { id: id.slice(0, 64) }));
      const open = await DiscrepancyView.findById(id).lean();
      if (!open) throw new FormError(t('monitor.err.noDiscrepancy', { id }));
      if (open.status !== 'OPEN') throw new FormError(t('monitor.err.alreadyResolved', { id }));
      if (reason.length < REASON_MIN) throw new FormError(t('monitor.err.reasonShort', { min: REASON_MIN }));
      if (reason.length > REASON_MAX) throw new FormError(t('monitor.err.reasonLong', { max: REASON_MAX, n: reason.length }));
      const { chain } = platformOf(req);
      const done = await act(req, 'Reconciliation:resolveDiscrepancy', id, () => chain.submitTo(req.user!, { channel: open.channel ?? undefined }, 'Reconciliation:resolveDiscrepancy', id, reason));
      flash(req, 'success', t('monitor.resolved', { id, block: done.blockNumber }));
      res.redirect('/monitoring?tab=resolved');
    } catch (err) {
      await renderMonitoring(req, res, 400, { error: refusal(res, err), errorFor: id, reason });
    }
  });

  // An overdue alert explained by the provincial command: recorded off-chain with who and when (the hop's lateness
  // itself stays on the chain), and in the audit log.
  route(router, 'POST', '/monitoring/alerts/acknowledge', ['leadingGroup'], async (req, res) => {
    const t = res.locals.t as Translate;
    const key = typeof req.body.key === 'string' ? req.body.key.slice(0, 200) : '';
    const reason = typeof req.body.reason === 'string' ? req.body.reason.trim() : '';
    try {
      const alert = (await collectAlerts(req, t)).alerts.find((a) => a.key === key);
      if (!alert || !ACKNOWLEDGEABLE.includes(alert.kind)) throw new FormError(t('monitor.err.noAlert', { key: key || '—' }));
      if (alert.acknowledged) throw new FormError(t('monitor.err.alreadyAcknowledged', { by: alert.acknowledged.by }));
      if (reason.length < REASON_MIN) throw new FormError(t('monitor.err.reasonShort', { min: REASON_MIN }));
      if (reason.length > REASON_MAX) throw new FormError(t('monitor.err.reasonLong', { max: REASON_MAX, n: reason.length }));
      const user = req.user!;
      await AlertAcknowledgement.create({ _id: key, kind: alert.kind, ref: alert.ref, since: alert.since, reason, by: user.username, role: user.role });
      acknowledgements.generation++;
      await audit(req, 'alert:acknowledge', key, true, reason);
      flash(req, 'success', t('monitor.acknowledged', { ref: alert.ref }));
      res.redirect('/monitoring?kind=overdue');
    } catch (err) {
      await renderMonitoring(req, res, 400, { error: refusal(res, err), errorFor: key, reason });
    }
  });

  route(router, 'POST', '/monitoring/sweep', ['admin', 'leadingGroup'], async (req, res) => {
    const t = res.locals.t as Translate;
    try {
      const { chain } = platformOf(req);
      const done = await act(req, 'Reconciliation:sweepUnmatched', 'pending', () =>
        chain.submit<{ flagged: number; discrepancyIds: string[] }>(req.user!, 'Reconciliation:sweepUnmatched'),
      );
      // Every set sweeps its own pending transfers.
      const results = done.perSet?.map((p) => p.result) ?? [done.result];
      const flagged = results.reduce((n, r) => n + r.flagged, 0);
      const discrepancyIds = results.flatMap((r) => r.discrepancyIds);
      flash(req, flagged > 0 ? 'warning' : 'success', t('monitor.swept', { n: flagged, ids: discrepancyIds.join(', ') || '—', block: done.blockNumber }));
      res.redirect('/monitoring?kind=unmatched');
    } catch (err) {
      await renderMonitoring(req, res, 400, { error: refusal(res, err) });
    }
  });
}
