/**
 * First start of a platform: the operator's service identity, and both channels initialised with
 * which MSP carries which role. Idempotent: later starts find everything in place.
 */
import { User, type UserDoc } from '../models/user';
import { ROLE_MSPS } from '../blockchain/msp';
import { ChainError, type Chain } from './chain';

export const OPERATOR = { id: 'PLATFORM', name: '扶贫资金管理平台运营中心' };
const SYSTEM_USERNAME = 'system';

export async function bootstrap(chain: Chain, channels: string[], options: { unmatchedThresholdHours?: number; limitedPartnershipId?: string } = {}): Promise<UserDoc> {
  let system = await User.findOne({ username: SYSTEM_USERNAME });
  if (!system) {
    const { identity, wallet } = await chain.enrol(SYSTEM_USERNAME, 'admin', OPERATOR.id);
    // '!' is no scrypt hash: nobody can log in as the service identity.
    system = await User.create({ username: SYSTEM_USERNAME, displayName: '平台服务', passwordHash: '!', role: 'admin', orgId: OPERATOR.id, wallet });
    chain.remember(system.id, identity);
  }
  for (const channel of channels) {
    const identity = await chain.identityOf(system);
    try {
      await chain.evaluateAs(identity, 'Config:get', [], channel);
    } catch (err) {
      if (!(err instanceof ChainError) || err.code !== 'NOT_INITIALISED') throw err;
      const config = { roleMsps: ROLE_MSPS, unmatchedThresholdHours: options.unmatchedThresholdHours ?? 48, ...(options.limitedPartnershipId ? { limitedPartnershipId: options.limitedPartnershipId } : {}) };
      await chain.submitAs(identity, 'Config:initialise', [JSON.stringify(config), JSON.stringify(OPERATOR)], channel);
    }
  }
  return system;
}
