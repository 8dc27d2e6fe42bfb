/**
 * What a user may see of the projections: the same rule the chaincode's canSee applies on the chain
 * (project.ts), repeated here so lists and dashboards read from MongoDB show only what the person
 * could read from the chain.
 */
import type { UserDoc } from '../models/user';
import { OrganisationView, ProjectView } from '../models/projections';

export type ProjectFilter = Record<string, unknown>;

/** A filter over projectViews; `{ _id: null }` matches nothing. */
export async function projectScope(user: Pick<UserDoc, 'role' | 'orgId'>): Promise<ProjectFilter> {
  switch (user.role) {
    case 'admin':
    case 'leadingGroup':
    case 'provincialFinance':
    case 'auditor':
    case 'limitedPartnership':
      return {};
    case 'countyOffice':
    case 'countyFinance':
    case 'countyFundCompany': {
      const org = await OrganisationView.findById(user.orgId).select('county').lean();
      return org?.county ? { county: org.county } : { _id: null };
    }
    case 'implementingUnit':
      return { implementingUnitId: user.orgId };
    case 'bank':
      return { payerIds: user.orgId };
    default:
      return { _id: null };
  }
}

/** The same scope for collections keyed by projectId (drafts, transfers, discrepancies, events); `projects`: projectScope's result when the caller has it. */
export async function projectIdScope(user: Pick<UserDoc, 'role' | 'orgId'>, projects?: ProjectFilter): Promise<ProjectFilter> {
  const scope = projects ?? (await projectScope(user));
  if (Object.keys(scope).length === 0) return {};
  const ids = (await ProjectView.find(scope).select('_id').lean()).map((p) => p._id);
  return { projectId: { $in: ids } };
}
