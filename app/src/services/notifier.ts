/**
 * Notification centre (消息中心): who hears of a ledger event. Role defaults (the provincial command
 * hears of every filing and every alert, a county office of its own projects' decisions, a paying
 * unit when a draft waits for it, a unit when a draft reaches it) plus users' own subscriptions.
 * Written by upsert on (user, event), so replaying events never notifies twice.
 */
import { Notification, Subscription } from '../models/activity';
import { DraftView, ProjectView } from '../models/projections';
import { User } from '../models/user';
import type { ProjectedEvent } from './projector';

const ALERT_EVENTS = new Set(['DiscrepancyRaised', 'TransferMatchedLate', 'UnmatchedSwept', 'DraftAcceptedAfterExpiry']);

export async function notifyFor(event: ProjectedEvent): Promise<void> {
  // A sweep that found nothing is routine, not news.
  if (event.type === 'UnmatchedSwept' && event.data.flagged === 0) return;
  const project = event.projectId ? await ProjectView.findById(event.projectId).select('name county countyOfficeId implementingUnitId').lean() : null;
  const userIds = new Set<string>();
  const usersOf = async (filter: Record<string, unknown>) => {
    for (const u of await User.find({ ...filter, active: true }).select('_id').lean()) userIds.add(String(u._id));
  };

  if (event.type === 'ProjectFiled' || event.type === 'ProjectRevised') await usersOf({ role: 'leadingGroup' });
  if ((event.type === 'ProjectApproved' || event.type === 'ProjectRejected') && project) await usersOf({ orgId: project.countyOfficeId });
  if (ALERT_EVENTS.has(event.type)) await usersOf({ role: { $in: ['leadingGroup', 'auditor'] } });
  if (['DraftIssued', 'TransferMatched', 'TransferMatchedLate'].includes(event.type) && event.projectId) {
    // Whoever must pay next, and the unit once a draft has arrived.
    const waiting = await DraftView.find({ projectId: event.projectId, status: { $ne: 'ACCEPTED' } }).select('nextPayerId holderId status').lean();
    const orgs = new Set(waiting.map((d) => (d.status === 'AWAITING_ACCEPTANCE' ? d.holderId : d.nextPayerId)).filter((o): o is string => !!o));
    if (orgs.size > 0) await usersOf({ orgId: { $in: [...orgs] } });
  }

  const wanted: Array<Record<string, string>> = [{ kind: 'alerts', target: '' }];
  if (event.projectId) wanted.push({ kind: 'project', target: event.projectId });
  if (project) wanted.push({ kind: 'county', target: project.county });
  const subscriptions = await Subscription.find({ $or: wanted } as Record<string, unknown>)
    .select('kind userId')
    .lean<Array<{ kind: string; userId: string }>>();
  for (const s of subscriptions) if (s.kind !== 'alerts' || ALERT_EVENTS.has(event.type)) userIds.add(s.userId);
  if (userIds.size === 0) return;

  const title = describe(event, project?.name ?? undefined);
  const link = event.projectId ? `/projects/${event.projectId}` : '/monitoring';
  for (const userId of userIds) {
    await Notification.updateOne(
      { userId, eventId: event.id },
      { $setOnInsert: { userId, eventId: event.id, kind: event.type, title, link, at: event.at, read: false } },
      { upsert: true },
    );
  }
}

/** A one-line, bilingual-neutral summary: the event type is translated on the page, this names the object. */
function describe(event: ProjectedEvent, projectName?: string): string {
  const d = event.data;
  const subject = projectName ? `${projectName} (${event.projectId})` : event.projectId ?? (typeof d.serial === 'string' ? d.serial : '');
  return subject ? `${event.type}: ${subject}` : event.type;
}
