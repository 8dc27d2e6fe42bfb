import { z } from 'zod';
import { FundContext } from '../ledger/context';
import { ContractError } from '../ledger/errors';
import { id } from '../ledger/validation';
import { ROLES, Role } from '../access/roles';
import type { HistoryEntry } from '../ledger/state';

/**
 * Channel configuration, written once by the platform administrator (initialise) and changed only by
 * the administrator: which MSPs may carry which role, and the reconciliation thresholds.
 */
export interface ChannelConfig {
  roleMsps: Record<Role, string[]>;
  /** A bank record or a registered serial left unmatched this long becomes a discrepancy. */
  unmatchedThresholdHours: number;
  /** The fund vehicle (有限合伙公司) every provincial and bank draft passes through. */
  limitedPartnershipId?: string;
  /** A funded project with no progress reported for this many days is stalled (an alert in the monitoring centre). */
  stalledAfterDays?: number;
  /** Who made the last change and why (absent on the first write). */
  changedBy?: string;
  reason?: string;
  initialisedAt: string;
  updatedAt: string;
}

const mspId = z.string('MSP id must be a string').regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/, 'MSP id must be 1–64 letters, digits, "." or "-"');

export const configInputSchema = z.strictObject({
  roleMsps: z.strictObject(
    Object.fromEntries(ROLES.map((r) => [r, z.array(mspId, `roleMsps.${r} must be a list of MSP ids`).min(1, `roleMsps.${r} must name at least one MSP`)])) as Record<
      Role,
      z.ZodArray<typeof mspId>
    >,
  ),
  unmatchedThresholdHours: z.number('unmatchedThresholdHours must be a number').int('unmatchedThresholdHours must be whole hours').min(1).max(24 * 90).default(48),
  limitedPartnershipId: id('limitedPartnershipId').optional(),
  stalledAfterDays: z.number('stalledAfterDays must be a number').int('stalledAfterDays must be whole days').min(1, 'stalledAfterDays must be 1–3650').max(3650, 'stalledAfterDays must be 1–3650').default(30),
});

export type ConfigInput = z.output<typeof configInputSchema>;

const CONFIG_ID = 'channel';

export async function readConfig(ctx: FundContext): Promise<ChannelConfig | undefined> {
  return ctx.store<ChannelConfig>('Config').get(CONFIG_ID);
}

export async function requireConfig(ctx: FundContext): Promise<ChannelConfig> {
  const config = await readConfig(ctx);
  if (!config) throw new ContractError('NOT_INITIALISED', 'this channel has not been initialised by the platform administrator (Config:initialise)');
  return config;
}

export async function configHistory(ctx: FundContext): Promise<HistoryEntry<ChannelConfig>[]> {
  return ctx.store<ChannelConfig>('Config').history(CONFIG_ID);
}

export async function writeConfig(ctx: FundContext, config: ChannelConfig): Promise<void> {
  await ctx.store<ChannelConfig>('Config').put(config, CONFIG_ID);
}
