import { Info, Transaction } from 'fabric-contract-api';
import { z } from 'zod';
import { FundContract } from '../ledger/base-contract';
import { FundContext } from '../ledger/context';
import { badState } from '../ledger/errors';
import { sumFen } from '../ledger/money';
import { HistoryEntry } from '../ledger/state';
import { id, parseArg, parseJsonArg, text } from '../ledger/validation';
import { ALL_ROLES } from '../access/roles';
import { authorise } from '../access/caller';
import { issueDrafts, planDrafts, projectDrafts, signaturesSchema, termsSchema } from '../draft/draft';
import {
  PROJECT_STATUSES,
  Project,
  checkPolicyAtApproval,
  confirmMilestone,
  confirmationSchema,
  fileProject,
  getProject,
  listProjects,
  progressSchema,
  projectIdSchema,
  projectInputSchema,
  projects,
  rejectProject,
  reportProgress,
  requireSubmitted,
  review,
  reviseProject,
  visibleProject,
} from './project';

const opinionSchema = text('opinion', 1000);
/** The filing's optional id; the rest is checked by projectInputSchema. */
const filingSchema = z.looseObject({ id: projectIdSchema.optional() });
const filterSchema = z.strictObject({
  status: z.enum(PROJECT_STATUSES, `status must be one of ${PROJECT_STATUSES.join(', ')}`).optional(),
  county: text('county', 40).optional(),
});

@Info({ title: 'Project', description: 'Filing, review, approval (which issues the drafts) and progress of projects' })
export class ProjectContract extends FundContract {
  constructor() {
    super('Project');
  }

  /**
   * A county office files (申报) a project of its own county. The JSON may carry the project's `id` when the relay
   * registered its route first (see fileProject).
   */
  @Transaction()
  async file(ctx: FundContext, projectJson: string): Promise<Project> {
    const caller = await authorise(ctx, ['countyOffice']);
    const { id: routedId, ...input } = parseJsonArg('project', projectJson, filingSchema);
    return fileProject(ctx, caller, parseArg('project', input, projectInputSchema), routedId);
  }

  @Transaction()
  async revise(ctx: FundContext, projectId: string, projectJson: string): Promise<Project> {
    const caller = await authorise(ctx, ['countyOffice']);
    return reviseProject(ctx, caller, parseArg('projectId', projectId, id('projectId')), parseJsonArg('project', projectJson, projectInputSchema));
  }

  /**
   * The provincial command approves: the project's state changes and, in the same transaction, one
   * draft per funding source is issued, each signed by the approver (see Draft:previewIssue).
   */
  @Transaction()
  async approve(ctx: FundContext, projectId: string, opinion: string, termsJson: string, signaturesJson: string): Promise<Project> {
    const caller = await authorise(ctx, ['leadingGroup']);
    const project = await getProject(ctx, parseArg('projectId', projectId, id('projectId')));
    const checkedOpinion = parseArg('opinion', opinion, opinionSchema);
    const terms = parseJsonArg('terms', termsJson, termsSchema);
    const signatures = parseJsonArg('signatures', signaturesJson, signaturesSchema);
    requireSubmitted(project);
    const policy = await checkPolicyAtApproval(ctx, caller, project, terms.policyException);
    const plans = await planDrafts(ctx, caller.config, project, caller.orgId, terms);
    const drafts = await issueDrafts(ctx, caller, plans, signatures);
    if (sumFen(drafts.map((d) => d.amount)) !== project.budget) throw badState(`drafts of project ${project.id} do not add up to its budget`);
    const { policy: _filingCheck, ...rest } = project;
    const approved: Project = {
      ...rest,
      ...(policy ? { policy } : {}),
      status: 'APPROVED',
      draftIds: drafts.map((d) => d.draftId),
      approvedAt: ctx.nowIso,
      reviews: [...project.reviews, review(ctx, caller, project, 'APPROVED', checkedOpinion)],
      updatedAt: ctx.nowIso,
    };
    await projects(ctx).put(approved, project.id);
    ctx.emit('ProjectApproved', {
      projectId: project.id,
      revision: project.revision,
      opinion: checkedOpinion,
      by: caller.orgId,
      budget: project.budget,
      ...(policy ? { policyVersion: policy.version, policyException: policy.exception?.approvedReason ?? null } : {}),
      tranches: terms.tranches?.length ?? 0,
    });
    for (const d of drafts) {
      ctx.emit('DraftIssued', { draftId: d.draftId, projectId: d.projectId, source: d.source, amount: d.amount, holderId: d.holderId });
    }
    return approved;
  }

  @Transaction()
  async reject(ctx: FundContext, projectId: string, opinion: string): Promise<Project> {
    const caller = await authorise(ctx, ['leadingGroup']);
    return rejectProject(ctx, caller, parseArg('projectId', projectId, id('projectId')), parseArg('opinion', opinion, opinionSchema));
  }

  @Transaction()
  async reportProgress(ctx: FundContext, projectId: string, reportJson: string): Promise<Project> {
    const caller = await authorise(ctx, ['implementingUnit']);
    const checkedId = parseArg('projectId', projectId, id('projectId'));
    const report = parseJsonArg('report', reportJson, progressSchema);
    const trancheAccepted = (await projectDrafts(ctx, checkedId)).some((d) => d.plannedPath.some((h) => h.tranche) && BigInt(d.acceptedAmount ?? '0') > 0n);
    return reportProgress(ctx, caller, checkedId, report, trancheAccepted);
  }

  /** The county office confirms a milestone the unit reported, releasing the tranches tied to it. */
  @Transaction()
  async confirmMilestone(ctx: FundContext, projectId: string, confirmationJson: string): Promise<Project> {
    const caller = await authorise(ctx, ['countyOffice']);
    return confirmMilestone(ctx, caller, parseArg('projectId', projectId, id('projectId')), parseJsonArg('confirmation', confirmationJson, confirmationSchema));
  }

  @Transaction(false)
  async get(ctx: FundContext, projectId: string): Promise<Project> {
    const caller = await authorise(ctx, ALL_ROLES);
    return visibleProject(ctx, caller, parseArg('projectId', projectId, id('projectId')));
  }

  /** Projects the caller may see, filtered by status and county (filterJson may be "{}"). */
  @Transaction(false)
  async list(ctx: FundContext, filterJson: string): Promise<Project[]> {
    const caller = await authorise(ctx, ALL_ROLES);
    return listProjects(ctx, caller, parseJsonArg('filter', filterJson, filterSchema));
  }

  /** Every committed version of the project with the transaction that wrote it. */
  @Transaction(false)
  async history(ctx: FundContext, projectId: string): Promise<HistoryEntry<Project>[]> {
    const caller = await authorise(ctx, ALL_ROLES);
    const checkedId = parseArg('projectId', projectId, id('projectId'));
    await visibleProject(ctx, caller, checkedId);
    return projects(ctx).history(checkedId);
  }
}
