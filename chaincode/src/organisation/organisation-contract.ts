import { Info, Transaction } from 'fabric-contract-api';
import { z } from 'zod';
import { FundContract } from '../ledger/base-contract';
import { FundContext } from '../ledger/context';
import { id, parseArg, parseJsonArg } from '../ledger/validation';
import { ALL_ROLES, ROLES } from '../access/roles';
import { authorise } from '../access/caller';
import { Organisation, accountSchema, addAccount, getOrganisation, listOrganisations, organisationSchema, registerOrganisation, setActive } from './organisation';

@Info({ title: 'Organisation', description: 'Registry of the parties, their MSPs and bank accounts' })
export class OrganisationContract extends FundContract {
  constructor() {
    super('Organisation');
  }

  @Transaction()
  async register(ctx: FundContext, organisationJson: string): Promise<Organisation> {
    await authorise(ctx, ['admin']);
    return registerOrganisation(ctx, parseJsonArg('organisation', organisationJson, organisationSchema));
  }

  @Transaction()
  async addAccount(ctx: FundContext, orgId: string, accountJson: string): Promise<Organisation> {
    await authorise(ctx, ['admin']);
    return addAccount(ctx, parseArg('orgId', orgId, id('orgId')), parseJsonArg('account', accountJson, accountSchema));
  }

  /** An organisation leaving (退出) or rejoining the platform; its users lose or regain access. */
  @Transaction()
  async setActive(ctx: FundContext, orgId: string, active: string): Promise<Organisation> {
    await authorise(ctx, ['admin']);
    // A string argument, so a bad value gets our message rather than the serializer's.
    const flag = parseArg('active', active, z.enum(['true', 'false'], 'active must be "true" or "false"'));
    return setActive(ctx, parseArg('orgId', orgId, id('orgId')), flag === 'true');
  }

  @Transaction(false)
  async get(ctx: FundContext, orgId: string): Promise<Organisation> {
    await authorise(ctx, ALL_ROLES);
    return getOrganisation(ctx, parseArg('orgId', orgId, id('orgId')));
  }

  @Transaction(false)
  async list(ctx: FundContext, type: string): Promise<Organisation[]> {
    await authorise(ctx, ALL_ROLES);
    const role = type === '' ? undefined : parseArg('type', type, z.enum(ROLES, `type must be empty or one of ${ROLES.join(', ')}`));
    return listOrganisations(ctx, role);
  }
}
