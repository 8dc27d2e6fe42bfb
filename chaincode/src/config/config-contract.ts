import { Info, Transaction } from 'fabric-contract-api';
import { z } from 'zod';
import { FundContract } from '../ledger/base-contract';
import { FundContext } from '../ledger/context';
import { conflict, denied } from '../ledger/errors';
import { id, parseJsonArg, text } from '../ledger/validation';
import type { HistoryEntry } from '../ledger/state';
import { ALL_ROLES, OVERSIGHT_ROLES } from '../access/roles';
import { authorise, certificateRole } from '../access/caller';
import { ChannelConfig, configHistory, configInputSchema, readConfig, requireConfig, writeConfig } from './config';
import { Organisation } from '../organisation/organisation';

const operatorSchema = z.strictObject({ id: id('id'), name: text('name', 100) });

@Info({ title: 'Config', description: 'Channel configuration: role admission by MSP, reconciliation thresholds' })
export class ConfigContract extends FundContract {
  constructor() {
    super('Config');
  }

  /**
   * First transaction on a channel. The caller must hold the admin role; its organisation becomes the
   * platform operator, registered under the caller's MSP.
   */
  @Transaction()
  async initialise(ctx: FundContext, configJson: string, operatorJson: string): Promise<ChannelConfig> {
    const cert = certificateRole(ctx);
    if (cert.role !== 'admin') throw denied(`role ${cert.role} may not call initialise`);
    if (await readConfig(ctx)) throw conflict('this channel is already initialised; use Config:update');
    const input = parseJsonArg('config', configJson, configInputSchema);
    const operator = parseJsonArg('operator', operatorJson, operatorSchema);
    if (operator.id !== cert.orgId) throw denied(`operator.id ${operator.id} is not the caller's organisation ${cert.orgId}`);
    if (!input.roleMsps.admin.includes(cert.mspId)) throw denied(`config.roleMsps.admin must admit the caller's MSP ${cert.mspId}`);
    const config: ChannelConfig = { ...input, initialisedAt: ctx.nowIso, updatedAt: ctx.nowIso };
    await writeConfig(ctx, config);
    const org: Organisation = { id: operator.id, name: operator.name, type: 'admin', mspId: cert.mspId, accounts: [], active: true, registeredAt: ctx.nowIso, updatedAt: ctx.nowIso };
    await ctx.store<Organisation>('Organisation').put(org, org.id);
    ctx.emit('ChannelInitialised', { operatorId: org.id });
    return config;
  }

  /** The administrator changes the configuration; its `reason` (optional for scripts, asked by the page) is kept with it. */
  @Transaction()
  async update(ctx: FundContext, configJson: string): Promise<ChannelConfig> {
    const caller = await authorise(ctx, ['admin']);
    const { reason: checkedReason, ...input } = parseJsonArg('config', configJson, configInputSchema.extend({ reason: text('reason', 1000, 0).optional() }));
    if (!input.roleMsps.admin.includes(caller.mspId)) throw denied(`config.roleMsps.admin must keep admitting the caller's MSP ${caller.mspId}`);
    const current = await requireConfig(ctx);
    const config: ChannelConfig = { ...input, changedBy: caller.orgId, ...(checkedReason ? { reason: checkedReason } : {}), initialisedAt: current.initialisedAt, updatedAt: ctx.nowIso };
    await writeConfig(ctx, config);
    ctx.emit('ConfigUpdated', { by: caller.orgId, reason: checkedReason });
    return config;
  }

  /** Every version of the configuration with the transaction that wrote it, oldest first. */
  @Transaction(false)
  async history(ctx: FundContext): Promise<HistoryEntry<ChannelConfig>[]> {
    await authorise(ctx, OVERSIGHT_ROLES);
    return configHistory(ctx);
  }

  @Transaction(false)
  async get(ctx: FundContext): Promise<ChannelConfig> {
    await authorise(ctx, ALL_ROLES, { bindOrganisation: false });
    return requireConfig(ctx);
  }
}
