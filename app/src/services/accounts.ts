/** User accounts: creating one enrols its certificate with the ledger's CA for its organisation. */
import { ROLES, type Role } from '@fund/chaincode/dist/access/roles';
import { User, type UserDoc } from '../models/user';
import { hashPassword } from './secrets';
import { certificateFingerprint } from '@fund/chaincode/dist/access/revocation';
import { ChainError, type Actor, type Chain } from './chain';
import { FormError } from '../controllers/act';

export interface NewUser {
  username: string;
  displayName: string;
  password: string;
  role: Role;
  orgId: string;
}

export async function createUser(chain: Chain, input: NewUser): Promise<UserDoc> {
  if (!/^[a-z][a-z0-9_.-]{1,31}$/.test(input.username)) throw new FormError('username: 2–32 lower-case letters, digits, "_", "." or "-", starting with a letter');
  if (!(ROLES as readonly string[]).includes(input.role)) throw new FormError(`role: must be one of ${ROLES.join(', ')}`);
  if (input.password.length < 8 || input.password.length > 128) throw new FormError('password: 8–128 characters');
  if (!input.displayName.trim() || input.displayName.length > 50) throw new FormError('displayName: 1–50 characters');
  if (await User.exists({ username: input.username })) throw new FormError(`username: ${input.username} is taken`);
  const { identity, wallet } = await chain.enrol(input.username, input.role, input.orgId);
  const user = await User.create({ username: input.username, displayName: input.displayName.trim(), passwordHash: hashPassword(input.password), role: input.role, orgId: input.orgId, wallet });
  chain.remember(user.id, identity);
  return user;
}

/**
 * Revokes a user's certificate on the chain (Identity:revoke, by the administrator `by`): every transaction signed with
 * it is refused from then on, whatever the MSP says. A certificate already revoked counts as done.
 */
export async function revokeUserCertificate(chain: Chain, by: Actor, user: UserDoc, reason: string): Promise<string | undefined> {
  const certificate = user.wallet?.certificate;
  if (!certificate) return undefined;
  try {
    await chain.submit(by, 'Identity:revoke', JSON.stringify({ certificate, reason }));
  } catch (err) {
    if (!(err instanceof ChainError && err.code === 'CONFLICT')) throw err;
  }
  return certificateFingerprint(certificate);
}

/** Rotation: a new certificate for the same user, role and organisation; the old one is revoked on the chain. */
export async function renewUserCertificate(chain: Chain, by: Actor, user: UserDoc, reason: string): Promise<{ revoked?: string; fingerprint: string }> {
  const { identity, wallet } = await chain.enrol(user.username, user.role, user.orgId);
  const revoked = await revokeUserCertificate(chain, by, user, reason);
  user.wallet = wallet as UserDoc['wallet'];
  await user.save();
  chain.remember(user.id, identity);
  return { revoked, fingerprint: certificateFingerprint(wallet.certificate) };
}
