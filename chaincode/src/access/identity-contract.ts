import { Info, Transaction } from 'fabric-contract-api';
import { FundContract } from '../ledger/base-contract';
import { FundContext } from '../ledger/context';
import { parseArg, parseJsonArg, sha256 } from '../ledger/validation';
import { ALL_ROLES, OVERSIGHT_ROLES } from './roles';
import { authorise } from './caller';
import { Revocation, listRevocations, revocationOf, revocationSchema, revokeCertificate } from './revocation';

@Info({ title: 'Identity', description: 'Certificate revocation: a revoked certificate is refused by every transaction' })
export class IdentityContract extends FundContract {
  constructor() {
    super('Identity');
  }

  /** The administrator revokes a user's certificate (a user who left, a key that may have leaked, a rotated one). */
  @Transaction()
  async revoke(ctx: FundContext, revocationJson: string): Promise<Revocation> {
    const caller = await authorise(ctx, ['admin']);
    return revokeCertificate(ctx, caller.orgId, parseJsonArg('revocation', revocationJson, revocationSchema));
  }

  /** The revocation of a certificate by its fingerprint, or null. */
  @Transaction(false)
  async isRevoked(ctx: FundContext, fingerprint: string): Promise<Revocation | null> {
    await authorise(ctx, ALL_ROLES);
    return (await revocationOf(ctx, parseArg('fingerprint', fingerprint, sha256('fingerprint')))) ?? null;
  }

  @Transaction(false)
  async listRevoked(ctx: FundContext): Promise<Revocation[]> {
    await authorise(ctx, OVERSIGHT_ROLES);
    return listRevocations(ctx);
  }
}
