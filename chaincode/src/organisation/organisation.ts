import { z } from 'zod';
import { FundContext } from '../ledger/context';
import { badState, conflict, invalid, notFound } from '../ledger/errors';
import { accountNo, id, text } from '../ledger/validation';
import { ROLES, Role, COUNTY_ROLES } from '../access/roles';

/** A settlement account of an organisation, held at a commercial bank that is itself registered. */
export interface BankAccount {
  accountNo: string;
  bankId: string;
  name: string;
}

/** A party of the platform. Its type is the role its users act in. */
export interface Organisation {
  id: string;
  name: string;
  type: Role;
  mspId: string;
  county?: string;
  accounts: BankAccount[];
  active: boolean;
  registeredAt: string;
  updatedAt: string;
}

export const accountSchema = z.strictObject({
  accountNo: accountNo('accountNo'),
  bankId: id('bankId'),
  name: text('account name', 100),
});

export const organisationSchema = z
  .strictObject({
    id: id('id'),
    name: text('name', 100),
    type: z.enum(ROLES, `type must be one of ${ROLES.join(', ')}`),
    mspId: z.string('mspId must be a string').regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/, 'mspId must be 1–64 letters, digits, "." or "-"'),
    county: text('county', 40).optional(),
    accounts: z.array(accountSchema, 'accounts must be a list').max(10, 'at most 10 accounts').default([]),
  })
  .refine((o) => !COUNTY_ROLES.includes(o.type) || o.county !== undefined, { message: 'a county-level organisation must name its county', path: ['county'] });

export type OrganisationInput = z.output<typeof organisationSchema>;

const orgs = (ctx: FundContext) => ctx.store<Organisation>('Organisation');
const accountIndex = (ctx: FundContext) => ctx.store<{ orgId: string }>('Account');

export async function getOrganisation(ctx: FundContext, orgId: string): Promise<Organisation> {
  const org = await orgs(ctx).get(orgId);
  if (!org) throw notFound('organisation', orgId);
  return org;
}

/** An organisation that must exist, be active and be of the given type: used wherever a rule names a party. */
export async function requireParty(ctx: FundContext, field: string, orgId: string, type: Role): Promise<Organisation> {
  const org = await orgs(ctx).get(orgId);
  if (!org) throw invalid(`${field}: organisation ${orgId} is not registered`);
  if (org.type !== type) throw invalid(`${field}: organisation ${orgId} is a ${org.type}, not a ${type}`);
  if (!org.active) throw invalid(`${field}: organisation ${orgId} has left the platform`);
  return org;
}

/** The account every draft hop of this organisation pays from or into (its first account). */
export function settlementAccount(org: Organisation): BankAccount {
  const account = org.accounts[0];
  if (!account) throw invalid(`organisation ${org.id} has no bank account registered`);
  return account;
}

export async function accountOwner(ctx: FundContext, account: string): Promise<string | undefined> {
  return (await accountIndex(ctx).get(account))?.orgId;
}

async function checkAccounts(ctx: FundContext, org: Pick<Organisation, 'id' | 'type'>, accounts: BankAccount[]): Promise<void> {
  const seen = new Set<string>();
  for (const account of accounts) {
    if (seen.has(account.accountNo)) throw invalid(`accounts: account ${account.accountNo} is listed twice`);
    seen.add(account.accountNo);
    const owner = await accountOwner(ctx, account.accountNo);
    if (owner) throw conflict(`account ${account.accountNo} is already registered to ${owner}`);
    if (org.type === 'bank' && account.bankId === org.id) continue;
    await requireParty(ctx, `account ${account.accountNo}.bankId`, account.bankId, 'bank');
  }
}

export async function registerOrganisation(ctx: FundContext, input: OrganisationInput): Promise<Organisation> {
  if (await orgs(ctx).exists(input.id)) throw conflict(`organisation ${input.id} is already registered`);
  await checkAccounts(ctx, input, input.accounts);
  const org: Organisation = { ...input, active: true, registeredAt: ctx.nowIso, updatedAt: ctx.nowIso };
  await orgs(ctx).put(org, org.id);
  for (const account of org.accounts) await accountIndex(ctx).put({ orgId: org.id }, account.accountNo);
  ctx.emit('OrganisationRegistered', { orgId: org.id, type: org.type, name: org.name });
  return org;
}

export async function addAccount(ctx: FundContext, orgId: string, account: BankAccount): Promise<Organisation> {
  const org = await getOrganisation(ctx, orgId);
  if (org.accounts.length >= 10) throw invalid('accounts: at most 10 accounts');
  await checkAccounts(ctx, org, [account]);
  const updated: Organisation = { ...org, accounts: [...org.accounts, account], updatedAt: ctx.nowIso };
  await orgs(ctx).put(updated, orgId);
  await accountIndex(ctx).put({ orgId }, account.accountNo);
  ctx.emit('OrganisationUpdated', { orgId, change: 'accountAdded', accountNo: account.accountNo });
  return updated;
}

export async function setActive(ctx: FundContext, orgId: string, active: boolean): Promise<Organisation> {
  const org = await getOrganisation(ctx, orgId);
  if (org.active === active) throw conflict(`organisation ${orgId} is already ${active ? 'active' : 'inactive'}`);
  // Its administrators are the only ones who can bring organisations back: the platform would be locked.
  if (!active && org.type === 'admin') throw badState(`organisation ${orgId} operates the platform and cannot leave it`);
  const updated: Organisation = { ...org, active, updatedAt: ctx.nowIso };
  await orgs(ctx).put(updated, orgId);
  ctx.emit('OrganisationUpdated', { orgId, change: active ? 'joined' : 'left' });
  return updated;
}

export async function listOrganisations(ctx: FundContext, type?: Role): Promise<Organisation[]> {
  const all = await orgs(ctx).list();
  return type ? all.filter((o) => o.type === type) : all;
}
