/**
 * The web platform's one door to the ledger: every call is signed with the acting user's own
 * certificate (from the wallet), so the chaincode's access rules apply to the person, not to the
 * server, and goes through the relay (blockchain/relay), which admits the platform by its address and
 * takes the call to the set that owns its business. Errors come back as ChainError with the chaincode's
 * class (VALIDATION, AUTHORISATION, …).
 */
import { CommitError, EndorsementError, type Identity, type LedgerGateway } from '../blockchain';
import { RelayError, businessRoute, type Relay, type RelayCall, type RelayedResult } from '../blockchain/relay';
import { MSP_OF_ROLE } from '../blockchain/msp';
import { exportIdentity, importIdentity, signBytes } from '../blockchain/embedded/identity';
import { seal, unseal } from './secrets';
import { User, type UserDoc } from '../models/user';

/** LEDGER: the ledger could not write the block (its disk full or read-only): the platform's fault, nothing was done. */
export type ChainErrorCode = 'VALIDATION' | 'AUTHORISATION' | 'NOT_INITIALISED' | 'NOT_FOUND' | 'CONFLICT' | 'STATE' | 'MVCC' | 'CHAINCODE' | 'LEDGER';

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
    if (err instanceof RelayError) {
      const code: ChainErrorCode = err.code === 'NOT_ADMITTED' ? 'AUTHORISATION' : err.code === 'UNAVAILABLE' ? 'CHAINCODE' : err.code;
      return new ChainError(code, err.message);
    }
    if (err instanceof CommitError) {
      return new ChainError('MVCC', `someone else changed the same record at the same moment (${err.code}); nothing was written — reload and try again`, err.txId);
    }
    const message = err instanceof Error ? err.message : String(err);
    // The embedded ledger's commit failing on its storage (channel-ledger.ts): not the chaincode's refusal.
    if (/^channel \S+: block could not be committed: /.test(message)) return new ChainError('LEDGER', message);
    return new ChainError('CHAINCODE', message);
  }
}

export interface Submitted<T> {
  result: T;
  txId: string;
  blockNumber: number;
  channel: string;
  /** A registry write's result on each set (set 1 first). */
  perSet?: Array<{ channel: string; result: T }>;
  /** A new project's route, with the routing chain's warning when its set reached warnNum. */
  route?: RelayedResult['route'];
}

/** How a call may be steered: a channel named outright, or the project it belongs to when its arguments do not say. */
export type CallOptions = Pick<RelayCall, 'channel' | 'businessId' | 'onDigest'>;

/** Something that can act on the chain: a logged-in user, or the platform's own service identity. */
export type Actor = Pick<UserDoc, 'id'> & { wallet?: { certificate?: string | null } | null };

export class Chain {
  private readonly identities = new Map<string, Identity>();

  constructor(
    readonly relay: Relay,
    private readonly walletKey: Buffer,
    /** The platform's own address as a relay client (PLATFORM_ADDRESS). */
    readonly address = '127.0.0.1',
  ) {}

  get gateway(): LedgerGateway {
    return this.relay.gateway;
  }

  /** Set 1's business channel. */
  get channel(): string {
    return this.relay.setChannels[0];
  }

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

  async submitAs<T>(identity: Identity, fcn: string, args: string[], options: CallOptions | string = {}): Promise<Submitted<T>> {
    const steer = typeof options === 'string' ? { channel: options } : options;
    try {
      this.admit(fcn);
      const r = await this.relay.submit(identity, { fcn, args, ...steer });
      return {
        result: parse<T>(r.payload),
        txId: r.txId,
        blockNumber: r.blockNumber,
        channel: r.channel,
        ...(r.perSet ? { perSet: r.perSet.map((p) => ({ channel: p.channel, result: parse<T>(p.payload) })) } : {}),
        ...(r.route ? { route: r.route } : {}),
      };
    } catch (err) {
      throw ChainError.from(err);
    }
  }

  async evaluateAs<T>(identity: Identity, fcn: string, args: string[], options: CallOptions | string = {}): Promise<T> {
    const steer = typeof options === 'string' ? { channel: options } : options;
    try {
      this.admit(fcn);
      return parse<T>(await this.relay.evaluate(identity, { fcn, args, ...steer }));
    } catch (err) {
      throw ChainError.from(err);
    }
  }

  /**
   * The relay admits the platform by its address like any client. The routing chain's own management is not
   * refused: an operator who took the platform off the whitelist must still be able to put it back.
   */
  private admit(fcn: string): void {
    if (businessRoute(fcn, []).kind !== 'routing') this.relay.admit(this.address);
  }

  async submit<T>(user: Actor, fcn: string, ...args: string[]): Promise<Submitted<T>> {
    return this.submitAs<T>(await this.identityOf(user), fcn, args);
  }

  async evaluate<T>(user: Actor, fcn: string, ...args: string[]): Promise<T> {
    return this.evaluateAs<T>(await this.identityOf(user), fcn, args);
  }

  /** A user's submit steered to a set (a discrepancy's, whose id does not say which). */
  async submitTo<T>(user: Actor, options: CallOptions, fcn: string, ...args: string[]): Promise<Submitted<T>> {
    return this.submitAs<T>(await this.identityOf(user), fcn, args, options);
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
