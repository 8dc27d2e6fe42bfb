/**
 * The web platform's one door to the ledger: every call is signed with the acting user's own
 * certificate (from the wallet), so the chaincode's access rules apply to the person, not to the
 * server. Errors come back as ChainError with the chaincode's class (VALIDATION, AUTHORISATION, …).
 */
import { CommitError, EndorsementError, type Identity, type LedgerGateway } from '../blockchain';
import { MSP_OF_ROLE } from '../blockchain/msp';
import { exportIdentity, importIdentity, signBytes } from '../blockchain/embedded/identity';
import { seal, unseal } from './secrets';
import { User, type UserDoc } from '../models/user';

export type ChainErrorCode = 'VALIDATION' | 'AUTHORISATION' | 'NOT_INITIALISED' | 'NOT_FOUND' | 'CONFLICT' | 'STATE' | 'MVCC' | 'CHAINCODE';

export class ChainError extends Error {
  constructor(
    readonly code: ChainErrorCode,
    message: string,
    readonly txId?: string,
  ) {
    super(message);
    this.name = 'ChainError';
  }

  static from(err: unknown): ChainError {
    if (err instanceof ChainError) return err;
    if (err instanceof EndorsementError) {
      const code = err.code as ChainErrorCode;
      return new ChainError(code, err.message.replace(/^[A-Z_]+:\s*/, ''), err.txId);
    }
    if (err instanceof CommitError) {
      return new ChainError('MVCC', `someone else changed the same record at the same moment (${err.code}); nothing was written — reload and try again`, err.txId);
    }
    return new ChainError('CHAINCODE', err instanceof Error ? err.message : String(err));
  }
}

export interface Submitted<T> {
  result: T;
  txId: string;
  blockNumber: number;
  channel: string;
}

/** Something that can act on the chain: a logged-in user, or the platform's own service identity. */
export type Actor = Pick<UserDoc, 'id'> & { wallet?: { certificate?: string | null } | null };

export class Chain {
  private readonly identities = new Map<string, Identity>();

  constructor(
    readonly gateway: LedgerGateway,
    readonly channel: string,
    private readonly walletKey: Buffer,
  ) {}

  /** Enrol a certificate for a user with the MSP's CA; returns the wallet entry to store on the user. */
  async enrol(enrollmentId: string, role: string, orgId: string) {
    const identity = await this.gateway.enrol({ enrollmentId, mspId: MSP_OF_ROLE[role], role, org: orgId });
    const json = exportIdentity(identity);
    return { identity, wallet: { mspId: json.mspId, enrollmentId: json.enrollmentId, certificate: json.certificate, encryptedKey: seal(this.walletKey, json.privateKey) } };
  }

  /** The user's identity, decrypted from the wallet once per process. */
  async identityOf(user: Actor): Promise<Identity> {
    const cached = this.identities.get(user.id);
    if (cached && cached.certificate === user.wallet?.certificate) return cached;
    const stored = await User.findById(user.id).select('+wallet.encryptedKey').lean();
    if (!stored?.wallet?.encryptedKey || !stored.wallet.certificate) throw new ChainError('AUTHORISATION', `user ${user.id} has no enrolled certificate`);
    const identity = importIdentity({
      mspId: stored.wallet.mspId!,
      enrollmentId: stored.wallet.enrollmentId!,
      role: stored.role,
      org: stored.orgId,
      certificate: stored.wallet.certificate,
      privateKey: unseal(this.walletKey, stored.wallet.encryptedKey),
    });
    this.identities.set(user.id, identity);
    return identity;
  }

  remember(userId: string, identity: Identity): void {
    this.identities.set(userId, identity);
  }

  async submitAs<T>(identity: Identity, fcn: string, args: string[], channel = this.channel): Promise<Submitted<T>> {
    try {
      const r = await this.gateway.submit(identity, { channel, fcn, args });
      return { result: parse<T>(r.payload), txId: r.txId, blockNumber: r.blockNumber, channel };
    } catch (err) {
      throw ChainError.from(err);
    }
  }

  async evaluateAs<T>(identity: Identity, fcn: string, args: string[], channel = this.channel): Promise<T> {
    try {
      return parse<T>(await this.gateway.evaluate(identity, { channel, fcn, args }));
    } catch (err) {
      throw ChainError.from(err);
    }
  }

  async submit<T>(user: Actor, fcn: string, ...args: string[]): Promise<Submitted<T>> {
    return this.submitAs<T>(await this.identityOf(user), fcn, args);
  }

  async evaluate<T>(user: Actor, fcn: string, ...args: string[]): Promise<T> {
    return this.evaluateAs<T>(await this.identityOf(user), fcn, args);
  }

  /** Approval: the approver signs exactly the draft content the chain will issue, then approves. */
  async approve(user: Actor, projectId: string, opinion: string, terms: object): Promise<Submitted<unknown>> {
    const identity = await this.identityOf(user);
    const preview = await this.evaluateAs<Array<{ draftId: string; content: string }>>(identity, 'Draft:previewIssue', [projectId, JSON.stringify(terms)]);
    const signatures = Object.fromEntries(preview.map((p) => [p.draftId, signBytes(identity, Buffer.from(p.content, 'utf8')).toString('base64')]));
    return this.submitAs(identity, 'Project:approve', [projectId, opinion, JSON.stringify(terms), JSON.stringify(signatures)]);
  }
}

function parse<T>(payload: Buffer): T {
  const text = payload.toString('utf8');
  return (text === '' ? undefined : JSON.parse(text)) as T;
}
