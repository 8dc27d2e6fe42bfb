/**
 * Notification centre (消息中心): who hears of a ledger event. Role defaults (the provincial command
 * hears of every filing and every alert, a county office of its own projects' decisions, a paying
 * unit when a draft waits for it, a unit when a draft reaches it) plus users' own subscriptions.
 * Written by upsert on (user, event), so replaying events never notifies twice.
 */
import { Notification, Subscription } from '../models/activity';
import { User } from '../models/user';
import type { Draft } from '@fund/chaincode/dist/draft/draft';
import type { Fresh, ProjectedEvent } from './projector';

const ALERT_EVENTS = new Set(['DiscrepancyRaised', 'TransferMatchedLate', 'UnmatchedSwept', 'DraftAcceptedAfterExpiry']);

/**
 * Notifies for a batch of projected events. `fresh` holds the projects and drafts the projector has
 * just read from the chain for these events, so nothing needs to be queried again.
 */
export async function notifyFor(events: ProjectedEvent[], fresh: Fresh): Promise<void> {
  // A sweep that found nothing is routine, not news.
  const news = events.filter((e) => !(e.type === 'UnmatchedSwept' && e.data.flagged === 0));
  if (news.length === 0) return;
  const users = new Map<string, Promise<string[]>>();
  const usersOf = (filter: Record<string, unknown>) => {
    const key = JSON.stringify(filter);
    if (!users.has(key)) users.set(key, User.find({ ...filter, active: true }).select('_id').lean().then((found) => found.map((u) => String(u._id))));
    return users.get(key)!;
  };
  const subscriptions = await Subscription.find().select('kind target userId').lean<Array<{ kind: string; target: string; userId: string }>>();
  const writes: Array<{ updateOne: { filter: object; update: object; upsert: true } }> = [];
  for (const event of news) {
    const project = event.projectId ? fresh.projects.get(event.projectId) : undefined;
    const userIds = new Set<string>();
    const add = async (filter: Record<string, unknown>) => (await usersOf(filter)).forEach((id) => userIds.add(id));
    if (event.type === 'ProjectFiled' || event.type === 'ProjectRevised') await add({ role: 'leadingGroup' });
    if ((event.type === 'ProjectApproved' || event.type === 'ProjectRejected') && project) await add({ orgId: project.countyOfficeId });
    if (ALERT_EVENTS.has(event.type)) await add({ role: { $in: ['leadingGroup', 'auditor'] } });
    if (['DraftIssued', 'TransferMatched', 'TransferMatchedLate'].includes(event.type) && event.projectId) {
      for (const orgId of nextToAct(event, fresh.drafts.get(event.projectId) ?? [])) await add({ orgId });
    }
    for (const s of subscriptions) {
      const wanted = (s.kind === 'alerts' && ALERT_EVENTS.has(event.type)) || (s.kind === 'project' && s.target === event.projectId) || (s.kind === 'county' && !!project && s.target === project.county);
      if (wanted) userIds.add(s.userId);
    }
    const title = describe(event, project?.name);
    const link = event.projectId ? `/projects/${event.projectId}` : '/monitoring';
    for (const userId of userIds) {
      writes.push({
        updateOne: {
          filter: { userId, eventId: event.id },
          update: { $setOnInsert: { userId, eventId: event.id, kind: event.type, title, link, at: event.at, read: false } },
          upsert: true,
        },
      });
    }
  }
  if (writes.length === 0) return;
  const result = await Notification.bulkWrite(writes, { ordered: false });
  // Only notifications new to the collection count as unread: a replay inserts none.
  const added = new Map<string, number>();
  for (const index of Object.keys(result.upsertedIds)) {
    const userId = (writes[Number(index)].updateOne.filter as { userId: string }).userId;
    added.set(userId, (added.get(userId) ?? 0) + 1);
  }
  if (added.size > 0) await User.bulkWrite([...added].map(([userId, n]) => ({ updateOne: { filter: { _id: userId }, update: { $inc: { unread: n } } } })));
}

/** Recounts a user's unread notifications after they read some. */
export async function recountUnread(userId: string): Promise<void> {
  await User.updateOne({ _id: userId }, { $set: { unread: await Notification.countDocuments({ userId, read: false }) } });
}

/**
 * Who acts next on the drafts an issue or a matched transfer moved: the payer of each draft's next hop,
 * or the receiver once a draft has arrived. Read from the event and the drafts' fixed planned paths,
 * never from their current state, so replaying old events notifies exactly whom the live run did.
 */
function nextToAct(event: ProjectedEvent, drafts: Draft[]): Set<string> {
  const byId = new Map(drafts.map((d) => [d.draftId, d]));
  const orgs = new Set<string>();
  if (event.type === 'DraftIssued') {
    const first = byId.get(event.data.draftId as string)?.plannedPath[0];
    if (first) orgs.add(first.from.orgId);
    return orgs;
  }
  for (const draftId of (event.data.draftIds as string[] | undefined) ?? []) {
    const path = byId.get(draftId)?.plannedPath ?? [];
    const hop = path.findIndex((h) => h.stage === event.data.stage);
    if (hop >= 0) orgs.add(path[hop + 1]?.from.orgId ?? (event.data.to as string));
  }
  return orgs;
}

/** A one-line, bilingual-neutral summary: the event type is translated on the page, this names the object. */
function describe(event: ProjectedEvent, projectName?: string): string {
  const d = event.data;
  const subject = projectName ? `${projectName} (${event.projectId})` : event.projectId ?? (typeof d.serial === 'string' ? d.serial : '');
  return subject ? `${event.type}: ${subject}` : event.type;
}
