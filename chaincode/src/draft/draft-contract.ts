import { Info, Transaction } from 'fabric-contract-api';
import { FundContract } from '../ledger/base-contract';
import { FundContext } from '../ledger/context';
import { denied } from '../ledger/errors';
import { HistoryEntry } from '../ledger/state';
import { id, parseArg, parseJsonArg } from '../ledger/validation';
import { ALL_ROLES } from '../access/roles';
import { Caller, authorise } from '../access/caller';
import { canSee, checkPolicyAtApproval, getProject, projects, visibleProject } from '../project/project';
import { Draft, acceptDraft, drafts, getDraft, planDrafts, projectDrafts, signatureValid, signedContent, termsOf, termsSchema } from './draft';
import { nextHopHeldBack } from './release';

async function visibleDraft(ctx: FundContext, caller: Caller, draftId: string): Promise<Draft> {
  const draft = await getDraft(ctx, draftId);
  if (!canSee(caller, await getProject(ctx, draft.projectId))) throw denied(`${caller.orgId} may not see draft ${draftId}`);
  return draft;
}

@Info({ title: 'Draft', description: 'Digital drafts (数字汇票): preview for signing, acceptance, queries and history' })
export class DraftContract extends FundContract {
  constructor() {
    super('Draft');
  }

  /**
   * The exact content of each draft an approval with these terms would issue, for the approver to
   * sign with its own key before submitting Project:approve.
   */
  @Transaction(false)
  async previewIssue(ctx: FundContext, projectId: string, termsJson: string): Promise<Array<{ draftId: string; content: string }>> {
    const caller = await authorise(ctx, ['leadingGroup']);
    const project = await getProject(ctx, parseArg('projectId', projectId, id('projectId')));
    const terms = parseJsonArg('terms', termsJson, termsSchema);
    // The policy decides before anyone signs: an approval it would refuse is refused here with the same words.
    await checkPolicyAtApproval(ctx, caller, project, terms.policyException);
    const plans = await planDrafts(ctx, caller.config, project, caller.orgId, terms);
    return plans.map((p) => ({ draftId: p.draftId, content: signedContent(p) }));
  }

  /** Acceptance (承兑) by the implementing unit; the last acceptance marks the project funded. */
  @Transaction()
  async accept(ctx: FundContext, draftId: string): Promise<Draft> {
    const caller = await authorise(ctx, ['implementingUnit']);
    const { draft, amount, projectFunded } = await acceptDraft(ctx, caller, parseArg('draftId', draftId, id('draftId')));
    const tranche = draft.plannedPath[draft.nextHop - 1].tranche;
    ctx.emit('DraftAccepted', { draftId: draft.draftId, projectId: draft.projectId, amount, draftAmount: draft.amount, acceptedAmount: draft.acceptedAmount, complete: draft.status === 'ACCEPTED', ...(tranche ? { tranche: tranche.n, of: tranche.of } : {}), by: caller.orgId });
    if (projectFunded) {
      const project = await getProject(ctx, draft.projectId);
      // A project paid in tranches may already be COMPLETED when its last tranche is accepted: it stays so.
      const status = project.status === 'APPROVED' ? 'FUNDED' : project.status;
      await projects(ctx).put({ ...project, status, fundedAt: ctx.nowIso, updatedAt: ctx.nowIso }, project.id);
      ctx.emit('ProjectFunded', { projectId: project.id, budget: project.budget });
    }
    return draft;
  }

  @Transaction(false)
  async get(ctx: FundContext, draftId: string): Promise<Draft> {
    const caller = await authorise(ctx, ALL_ROLES);
    return visibleDraft(ctx, caller, parseArg('draftId', draftId, id('draftId')));
  }

  /** A project's drafts, each with `heldBack`: what keeps its next hop from being paid yet, or null. */
  @Transaction(false)
  async listByProject(ctx: FundContext, projectId: string): Promise<Array<Draft & { heldBack: string | null }>> {
    const caller = await authorise(ctx, ALL_ROLES);
    const project = await visibleProject(ctx, caller, parseArg('projectId', projectId, id('projectId')));
    const out: Array<Draft & { heldBack: string | null }> = [];
    const siblings = await projectDrafts(ctx, project.id);
    for (const d of siblings) out.push({ ...d, heldBack: (await nextHopHeldBack(ctx, d, project, siblings)) ?? null });
    return out;
  }

  /**
   * Drafts whose next hop the caller's organisation must pay, or whose paying account its bank holds; each with
   * `heldBack`, the rule that keeps its next hop from being paid yet (a tranche's milestone, fiscal money first).
   */
  @Transaction(false)
  async listPayable(ctx: FundContext): Promise<Array<Draft & { heldBack: string | null }>> {
    const caller = await authorise(ctx, ['provincialFinance', 'countyFinance', 'bank', 'limitedPartnership', 'countyFundCompany']);
    const all = await drafts(ctx).list();
    const payable = all.filter((d) => {
      const hop = d.plannedPath[d.nextHop];
      return hop !== undefined && (hop.from.orgId === caller.orgId || (caller.role === 'bank' && hop.from.bankId === caller.orgId));
    });
    const out: Array<Draft & { heldBack: string | null }> = [];
    for (const d of payable) out.push({ ...d, heldBack: (await nextHopHeldBack(ctx, d)) ?? null });
    return out;
  }

  @Transaction(false)
  async history(ctx: FundContext, draftId: string): Promise<HistoryEntry<Draft>[]> {
    const caller = await authorise(ctx, ALL_ROLES);
    const draft = await visibleDraft(ctx, caller, parseArg('draftId', draftId, id('draftId')));
    return drafts(ctx).history(draft.draftId);
  }

  /** Anyone may check that the stored draft is exactly what its issuer signed. */
  @Transaction(false)
  async verifyIssuerSignature(ctx: FundContext, draftId: string): Promise<{ draftId: string; issuerId: string; valid: boolean }> {
    const caller = await authorise(ctx, ALL_ROLES);
    const draft = await visibleDraft(ctx, caller, parseArg('draftId', draftId, id('draftId')));
    return { draftId: draft.draftId, issuerId: draft.issuerId, valid: signatureValid(draft.issuerCertificate, signedContent(termsOf(draft)), draft.issuerSignature) };
  }
}
