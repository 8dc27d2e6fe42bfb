/**
 * What a user may see of the projections: the same rule the chaincode's canSee applies on the chain
 * (project.ts), repeated here so lists and dashboards read from MongoDB show only what the person
 * could read from the chain.
 */
import type { UserDoc } from '../models/user';
import { OrganisationView } from '../models/projections';

export type ProjectFilter = Record<string, unknown>;

/** A filter over projectViews and every projection keyed by a project (they carry the same scope fields); `{ _id: null }` matches nothing. */
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

/** What projectScope's filters test: the project's county, implementing unit and payers. */
export interface ScopeFields {
  county: string | null;
  implementingUnitId: string | null;
  payerIds: string[];
}

/** The scope fields of a project, copied onto every projection keyed by it (models/projections.ts). */
export function scopeFieldsOf(project: { county: string; implementingUnitId: string; fundingPlan: Array<{ payerId: string }> } | undefined): ScopeFields {
  return project ? { county: project.county, implementingUnitId: project.implementingUnitId, payerIds: project.fundingPlan.map((f) => f.payerId) } : { county: null, implementingUnitId: null, payerIds: [] };
}

/** Whether a projection with these scope fields matches a projectScope filter, as MongoDB matches it (an array field holds the value). */
export function inScope(doc: Partial<ScopeFields>, filter: ProjectFilter): boolean {
  return Object.entries(filter).every(([field, wanted]) => {
    if (field === '_id') return false; // { _id: null }: nothing
    const value = (doc as Record<string, unknown>)[field];
    return Array.isArray(value) ? value.includes(wanted) : value === wanted;
  });
}
