import { Info, Transaction } from 'fabric-contract-api';
import { z } from 'zod';
import { FundContract } from '../ledger/base-contract';
import { FundContext } from '../ledger/context';
import { fen, parseJsonArg } from '../ledger/validation';
import { ALL_ROLES } from '../access/roles';
import { authorise } from '../access/caller';
import { FUNDING_SOURCES } from '../project/project';
import { FundPolicy, currentPolicy, listPolicies, planProblems, policyInputSchema, setPolicy } from './policy';

const planSchema = z
  .array(z.strictObject({ source: z.enum(FUNDING_SOURCES, `source must be one of ${FUNDING_SOURCES.join(', ')}`), amount: fen('amount') }), 'plan must be a list')
  .min(1, 'the plan needs at least one source')
  .max(10, 'at most 10 funding sources');

@Info({ title: 'Policy', description: 'The fund policy: required shares of each kind of source and the order in which money moves' })
export class PolicyContract extends FundContract {
  constructor() {
    super('Policy');
  }

  /** The provincial command (or the administrator) sets a new version of the policy, with its reason. */
  @Transaction()
  async set(ctx: FundContext, policyJson: string): Promise<FundPolicy> {
    const caller = await authorise(ctx, ['leadingGroup', 'admin']);
    return setPolicy(ctx, caller, parseJsonArg('policy', policyJson, policyInputSchema));
  }

  /** The policy in force, or null when none has been set (then plans are not checked). */
  @Transaction(false)
  async current(ctx: FundContext): Promise<FundPolicy | null> {
    await authorise(ctx, ALL_ROLES);
    return (await currentPolicy(ctx)) ?? null;
  }

  /** Every version, oldest first, with who set it and why. */
  @Transaction(false)
  async list(ctx: FundContext): Promise<FundPolicy[]> {
    await authorise(ctx, ALL_ROLES);
    return listPolicies(ctx);
  }

  /** What the policy in force says about a plan, for a form to show before it is filed. */
  @Transaction(false)
  async checkPlan(ctx: FundContext, planJson: string): Promise<{ version: number; problems: string[] }> {
    await authorise(ctx, ALL_ROLES);
    const plan = parseJsonArg('plan', planJson, planSchema);
    const policy = await currentPolicy(ctx);
    return policy ? { version: policy.version, problems: planProblems(policy, plan) } : { version: 0, problems: [] };
  }
}
