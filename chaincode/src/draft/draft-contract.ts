import { Info, Transaction } from 'fabric-contract-api';
import { FundContract } from '../ledger/base-contract';
import { FundContext } from '../ledger/context';
import { denied } from '../ledger/errors';
import { HistoryEntry } from '../ledger/state';
import { id, parseArg, parseJsonArg } from '../ledger/validation';
import { ALL_ROLES } from '../access/roles';
import { Caller, authorise } from '../access/caller';
import { getProject, projects, visibleProject, canSee } from '../project/project';
import { Draft, acceptDraft, drafts, getDraft, planDrafts, projectDrafts, signatureValid, signedContent, termsOf, termsSchema } from './draft';

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
    const plans = await planDrafts(ctx, caller.config, project, caller.orgId, parseJsonArg('terms', termsJson, termsSchema));
    return plans.map((p) => ({ draftId: p.draftId, content: signedContent(p) }));
  }

  /** Acceptance (承兑) by the implementing unit; the last acceptance marks the project funded. */
  @Transaction()
  async accept(ctx: FundContext, draftId: string): Promise<Draft> {
    const caller = await authorise(ctx, ['implementingUnit']);
    const { draft, projectFunded } = await acceptDraft(ctx, caller, parseArg('draftId', draftId, id('draftId')));
    ctx.emit('DraftAccepted', { draftId: draft.draftId, projectId: draft.projectId, amount: draft.amount, by: caller.orgId });
    if (projectFunded) {
      const project = await getProject(ctx, draft.projectId);
      await projects(ctx).put({ ...project, status: 'FUNDED', fundedAt: ctx.nowIso, updatedAt: ctx.nowIso }, project.id);
      ctx.emit('ProjectFunded', { projectId: project.id, budget: project.budget });
    }
    return draft;
  }

  @Transaction(false)
  async get(ctx: FundContext, draftId: string): Promise<Draft> {
    const caller = await authorise(ctx, ALL_ROLES);
    return visibleDraft(ctx, caller, parseArg('draftId', draftId, id('draftId')));
  }

  @Transaction(false)
  async listByProject(ctx: FundContext, projectId: string): Promise<Draft[]> {
    const caller = await authorise(ctx, ALL_ROLES);
    const project = await visibleProject(ctx, caller, parseArg('projectId', projectId, id('projectId')));
    return projectDrafts(ctx, project.id);
  }

  /** Drafts whose next hop the caller's organisation must pay, or whose paying account its bank holds. */
  @Transaction(false)
  async listPayable(ctx: FundContext): Promise<Draft[]> {
    const caller = await authorise(ctx, ['provincialFinance', 'countyFinance', 'bank', 'limitedPartnership', 'countyFundCompany']);
    const all = await drafts(ctx).list();
    return all.filter((d) => {
      const hop = d.plannedPath[d.nextHop];
      return hop !== undefined && (hop.from.orgId === caller.orgId || (caller.role === 'bank' && hop.from.bankId === caller.orgId));
    });
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
