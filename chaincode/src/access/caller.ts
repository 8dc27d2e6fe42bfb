import { FundContext } from '../ledger/context';
import { denied } from '../ledger/errors';
import { ChannelConfig, requireConfig } from '../config/config';
import { Role, isRole } from './roles';
import { requireNotRevoked } from './revocation';
import type { Organisation } from '../organisation/organisation';

export interface Caller {
  role: Role;
  mspId: string;
  /** The organisation named by the certificate's `org` attribute. */
  orgId: string;
  /** Fabric's identity string (x509::subject::issuer). */
  identity: string;
  /** Present when the channel keeps an organisation registry and the caller's organisation is bound to it. */
  org?: Organisation;
  config: ChannelConfig;
}

/** Role and organisation read from the caller's certificate, before any permission check. */
export function certificateRole(ctx: FundContext): { role: Role; mspId: string; orgId: string; identity: string } {
  const role = ctx.clientIdentity.getAttributeValue('role');
  if (!role) throw denied('the caller certificate carries no role attribute');
  if (!isRole(role)) throw denied(`the caller certificate carries an unknown role "${role}"`);
  const orgId = ctx.clientIdentity.getAttributeValue('org');
  if (!orgId) throw denied('the caller certificate carries no org attribute');
  return { role, mspId: ctx.clientIdentity.getMSPID(), orgId, identity: ctx.clientIdentity.getID() };
}

/**
 * The one access check every transaction starts with: the certificate's role must be one the
 * transaction allows, its MSP must be one the channel configuration admits for that role, and
 * (on business channels) its organisation must be registered under that MSP with that role.
 */
export async function authorise(
  ctx: FundContext,
  allowed: readonly Role[],
  { bindOrganisation = true }: { bindOrganisation?: boolean } = {},
): Promise<Caller> {
  const cert = certificateRole(ctx);
  const fcn = ctx.stub.getFunctionAndParameters().fcn;
  if (!allowed.includes(cert.role)) throw denied(`role ${cert.role} may not call ${fcn}`);
  const config = await requireConfig(ctx);
  if (!config.roleMsps[cert.role].includes(cert.mspId)) {
    throw denied(`MSP ${cert.mspId} is not admitted for role ${cert.role} on this channel`);
  }
  await requireNotRevoked(ctx);
  const caller: Caller = { ...cert, config };
  if (bindOrganisation) {
    const org = await ctx.store<Organisation>('Organisation').get(cert.orgId);
    if (!org) throw denied(`organisation ${cert.orgId} of the caller is not registered on this channel`);
    if (org.mspId !== cert.mspId) throw denied(`organisation ${cert.orgId} belongs to MSP ${org.mspId}, not ${cert.mspId}`);
    if (org.type !== cert.role) throw denied(`organisation ${cert.orgId} is a ${org.type}, it cannot act as ${cert.role}`);
    if (!org.active) throw denied(`organisation ${cert.orgId} has left the platform`);
    caller.org = org;
  }
  return caller;
}
