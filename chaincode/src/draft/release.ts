import { FundContext } from '../ledger/context';
import { FISCAL_SOURCES, policyVersion } from '../policy/policy';
import { Project, getProject } from '../project/project';
import { Draft, projectDrafts } from './draft';

/**
 * The rules that keep a draft's next hop from being paid even though it is due: money is released against work
 * (按需拨付) and in the order the fund policy the project was approved under sets. A sentence saying what is
 * missing, or undefined when the hop may be paid. `project` and `siblings` (the project's drafts), when the caller has
 * them already, spare reading them again.
 */
export async function nextHopHeldBack(ctx: FundContext, draft: Draft, project?: Project, siblings?: Draft[]): Promise<string | undefined> {
  const hop = draft.plannedPath[draft.nextHop];
  if (!hop) return undefined;
  const previous = draft.plannedPath[draft.nextHop - 1];
  if (draft.status === 'AWAITING_ACCEPTANCE' && previous?.tranche) {
    return `draft ${draft.draftId}: tranche ${previous.tranche.n} of ${previous.tranche.of} must be accepted by the implementing unit before the next tranche is paid`;
  }
  const owner = project ?? (await getProject(ctx, draft.projectId));
  const policy = owner.policy && owner.policy.version > 0 ? await policyVersion(ctx, owner.policy.version) : undefined;
  if (hop.tranche?.milestone) {
    const milestone = hop.tranche.milestone;
    const what = `draft ${draft.draftId}: tranche ${hop.tranche.n} of ${hop.tranche.of} (${hop.tranche.percent} %) is released by milestone "${milestone}"`;
    if (!owner.progress.some((r) => r.milestone === milestone)) return `${what}, which has not been reported with evidence yet`;
    if (policy?.milestoneConfirmation && !(owner.milestoneConfirmations ?? []).some((c) => c.milestone === milestone)) {
      return `${what}, which the county office has not confirmed yet (fund policy v${policy.version})`;
    }
  }
  if (policy?.fiscalFirst && draft.source === 'bank' && draft.nextHop === 0) {
    const waiting = (siblings ?? (await projectDrafts(ctx, draft.projectId))).filter((d) => FISCAL_SOURCES.includes(d.source) && d.nextHop === 0);
    if (waiting.length > 0) {
      return `draft ${draft.draftId}: bank money moves only once the fiscal share is in place (fund policy v${policy.version}); ${waiting.map((d) => `${d.draftId} (${d.source}) has not made its first transfer`).join(', ')}`;
    }
  }
  return undefined;
}
