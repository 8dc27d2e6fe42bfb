import { contracts } from '@fund/chaincode';
import {
  CertificateAuthority,
  ChaincodeConnection,
  EmbeddedLedger,
  Identity,
  MemoryState,
  TxSimulator,
  buildProposal,
  loadContractChaincode,
  signBytes,
  type VersionedState,
} from '@fund/app/dist/blockchain/embedded';
import { CommitError, EndorsementError, type ChaincodeEventRecord, type LedgerGateway } from '@fund/app/dist/blockchain/gateway';
import type { BatchSettings } from '@fund/app/dist/blockchain/embedded/ledger/block-cutter';
import type { CbftSettings } from '@fund/app/dist/blockchain/embedded/cbft/ordering-service';
import { MSP_OF_ROLE } from '@fund/app/dist/blockchain/msp';

export const CHAINCODE = 'fund';
export const CHANNEL = 'business';

export interface CallResult<T = unknown> {
  ok: boolean;
  status: number;
  message: string;
  value: T;
  txId: string;
  event?: { name: string; payload: { txId: string; at: string; events: Array<{ type: string; data: Record<string, unknown> }> } };
  writes: number;
}

/** What one call produced, before decoding. */
interface RawCall {
  status: number;
  message: string;
  payload: Buffer;
  txId: string;
  /** Only for committed submits. */
  event?: { name: string; payload: Buffer };
  writes: number;
}

/** Where calls go: straight to a chaincode over committed in-memory state, or through a LedgerGateway. */
interface Backend {
  call(identity: Identity, fcn: string, args: string[], commit: boolean, clock: Date): Promise<RawCall>;
  enrol(mspId: string, role: string, org: string): Promise<Identity>;
  state(): VersionedState;
  close(): Promise<void>;
}

/**
 * Each successful submit commits its write set as one block, a failed one commits nothing, as
 * on a Fabric peer; no ordering, so tests run at the speed of the chaincode.
 */
class DirectBackend implements Backend {
  private readonly memory = new MemoryState();
  private readonly cas = new Map<string, CertificateAuthority>();
  private height = 0;

  constructor(private readonly connection: ChaincodeConnection) {}

  async enrol(mspId: string, role: string, org: string): Promise<Identity> {
    let ca = this.cas.get(mspId);
    if (!ca) this.cas.set(mspId, (ca = await CertificateAuthority.create(mspId, `ca.${mspId.toLowerCase()}`)));
    return ca.enrol({ enrollmentId: `${role}@${org}`, role, org });
  }

  async call(identity: Identity, fcn: string, args: string[], commit: boolean, clock: Date): Promise<RawCall> {
    const proposal = buildProposal({ channel: CHANNEL, chaincode: CHAINCODE, args: [fcn, ...args], identity, timestamp: clock });
    const simulator = new TxSimulator(this.memory, CHAINCODE);
    const response = await this.connection.execute({ channel: CHANNEL, txId: proposal.txId, signedProposal: proposal.signedProposal, input: proposal.input }, simulator);
    const results = await simulator.results();
    const committed = response.status === 200 && commit;
    if (committed && results.writes.length > 0) {
      this.height += 1;
      this.memory.apply(CHAINCODE, results.writes, { blockNum: this.height, txNum: 0 }, proposal.txId, clock);
    }
    return { ...response, txId: proposal.txId, event: committed ? response.event : undefined, writes: results.writes.length };
  }

  state(): VersionedState {
    return this.memory;
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}

/** Every call goes through the embedded LedgerGateway: endorse, order into blocks, validate, commit. */
class GatewayBackend implements Backend {
  constructor(readonly ledger: EmbeddedLedger) {}

  enrol(mspId: string, role: string, org: string): Promise<Identity> {
    return this.ledger.enrol({ enrollmentId: `${role}@${org}`, mspId, role, org });
  }

  async call(identity: Identity, fcn: string, args: string[], commit: boolean): Promise<RawCall> {
    const req = { channel: CHANNEL, fcn, args };
    try {
      if (!commit) return { status: 200, message: '', payload: await this.ledger.evaluate(identity, req), txId: '', writes: 0 };
      const r = await this.ledger.submit(identity, req);
      const tx = (await this.ledger.ledger(CHANNEL).getBlock(r.blockNumber)).transactions.find((t) => t.txId === r.txId)!;
      const event = tx.event && { name: tx.event.name, payload: Buffer.from(tx.event.payload, 'base64') };
      return { status: 200, message: '', payload: r.payload, txId: r.txId, event, writes: tx.results.writes.length };
    } catch (err) {
      if (err instanceof EndorsementError) return { status: err.status, message: err.message, payload: Buffer.alloc(0), txId: err.txId, writes: 0 };
      if (err instanceof CommitError) return { status: 409, message: err.message, payload: Buffer.alloc(0), txId: err.txId, writes: 0 };
      throw err;
    }
  }

  state(): VersionedState {
    return this.ledger.ledger(CHANNEL).store.state;
  }

  close(): Promise<void> {
    return this.ledger.close();
  }
}

/**
 * Every call through any LedgerGateway (the Fabric adapter): `eventsOf` lists the chaincode events of a committed
 * block. The world state is not reachable from here (no snapshot, no write count).
 */
class AnyGatewayBackend implements Backend {
  constructor(
    readonly ledger: LedgerGateway,
    private readonly channel: string,
    private readonly eventsOf: (blockNumber: number) => Promise<ChaincodeEventRecord[]>,
  ) {}

  enrol(mspId: string, role: string, org: string): Promise<Identity> {
    return this.ledger.enrol({ enrollmentId: `${role}@${org}`, mspId, role, org });
  }

  async call(identity: Identity, fcn: string, args: string[], commit: boolean): Promise<RawCall> {
    const req = { channel: this.channel, fcn, args };
    try {
      if (!commit) return { status: 200, message: '', payload: await this.ledger.evaluate(identity, req), txId: '', writes: NaN };
      const r = await this.ledger.submit(identity, req);
      const event = (await this.eventsOf(r.blockNumber)).find((e) => e.txId === r.txId);
      return { status: 200, message: '', payload: r.payload, txId: r.txId, event: event && { name: event.name, payload: event.payload }, writes: NaN };
    } catch (err) {
      if (err instanceof EndorsementError) return { status: err.status, message: err.message, payload: Buffer.alloc(0), txId: err.txId, writes: 0 };
      if (err instanceof CommitError) return { status: 409, message: err.message, payload: Buffer.alloc(0), txId: err.txId, writes: 0 };
      throw err;
    }
  }

  state(): VersionedState {
    throw new Error('the world state of a LedgerGateway is not reachable from the harness');
  }

  close(): Promise<void> {
    return this.ledger.close();
  }
}

export interface LedgerHarnessOptions {
  dataDir: string;
  batch?: Partial<BatchSettings>;
  /** The ordering service (default: ORDERER's, solo when unset) and CBFT's settings. */
  orderer?: 'solo' | 'cbft';
  cbft?: CbftSettings;
}

/**
 * Runs the compiled chaincode through fabric-shim's real message handler, stub and contract
 * dispatch, with real signed proposals from real X.509 identities.
 */
export class ChaincodeHarness {
  clock = new Date('2026-11-02T09:00:00+08:00');
  /** Enrolments by key, kept as promises so that clients asking at once share one certificate. */
  private readonly identities = new Map<string, Promise<Identity>>();

  private constructor(private readonly backend: Backend) {}

  /** In-process by default; pass a connection to drive a chaincode server over gRPC instead. */
  static async start(connection?: ChaincodeConnection): Promise<ChaincodeHarness> {
    if (connection) return new ChaincodeHarness(new DirectBackend(connection));
    const chaincode = loadContractChaincode([...contracts], '@fund/chaincode', '0.1.0');
    return new ChaincodeHarness(new DirectBackend(await ChaincodeConnection.inProcess(chaincode, `${CHAINCODE}:0.1.0`)));
  }

  /** The same calls through the embedded ledger in `dataDir` (opened or reopened). */
  static async onLedger(opts: LedgerHarnessOptions): Promise<ChaincodeHarness> {
    // The ledger stamps proposals with the harness's clock, which tests move.
    const self: { harness?: ChaincodeHarness } = {};
    const ledger = await EmbeddedLedger.open({ dataDir: opts.dataDir, channels: [CHANNEL], batch: opts.batch, orderer: opts.orderer, cbft: opts.cbft, clock: () => self.harness!.clock });
    self.harness = new ChaincodeHarness(new GatewayBackend(ledger));
    return self.harness;
  }

  /**
   * The same calls through any LedgerGateway on `channel` (the Fabric adapter); proposals carry the gateway's own
   * time, so tests that compute deadlines keep `clock` at the real time.
   */
  static onGateway(ledger: LedgerGateway, eventsOf: (blockNumber: number) => Promise<ChaincodeEventRecord[]>, channel = CHANNEL): ChaincodeHarness {
    const harness = new ChaincodeHarness(new AnyGatewayBackend(ledger, channel, eventsOf));
    harness.clock = new Date();
    return harness;
  }

  /** The embedded ledger behind an onLedger harness. */
  get ledger(): EmbeddedLedger {
    if (!(this.backend instanceof GatewayBackend)) throw new Error('this harness does not run on a ledger');
    return this.backend.ledger;
  }

  async close(): Promise<void> {
    await this.backend.close();
  }

  advance(hours: number): void {
    this.clock = new Date(this.clock.getTime() + hours * 3600 * 1000);
  }

  /** A user of the given role in the given organisation, enrolled once with its MSP's CA. */
  async user(role: string, org: string, mspId = MSP_OF_ROLE[role]): Promise<Identity> {
    const key = `${mspId}/${org}/${role}`;
    let identity = this.identities.get(key);
    if (!identity) {
      identity = this.backend.enrol(mspId, role, org);
      this.identities.set(key, identity);
      identity.catch(() => this.identities.delete(key));
    }
    return identity;
  }

  async submit<T = unknown>(identity: Identity, fcn: string, ...args: string[]): Promise<CallResult<T>> {
    return this.call<T>(identity, fcn, args, true);
  }

  async evaluate<T = unknown>(identity: Identity, fcn: string, ...args: string[]): Promise<CallResult<T>> {
    return this.call<T>(identity, fcn, args, false);
  }

  /** Submit and insist on success; returns the decoded result. */
  async ok<T = unknown>(identity: Identity, fcn: string, ...args: string[]): Promise<T> {
    const r = await this.submit<T>(identity, fcn, ...args);
    if (!r.ok) throw new Error(`${fcn} failed: ${r.message}`);
    return r.value;
  }

  async query<T = unknown>(identity: Identity, fcn: string, ...args: string[]): Promise<T> {
    const r = await this.evaluate<T>(identity, fcn, ...args);
    if (!r.ok) throw new Error(`${fcn} failed: ${r.message}`);
    return r.value;
  }

  private async call<T>(identity: Identity, fcn: string, args: string[], commit: boolean): Promise<CallResult<T>> {
    const raw = await this.backend.call(identity, fcn, args, commit, this.clock);
    const text = raw.payload.length > 0 ? raw.payload.toString('utf8') : '';
    let value: unknown = text;
    try {
      value = text === '' ? undefined : JSON.parse(text);
    } catch {
      /* a plain string result */
    }
    return {
      ok: raw.status === 200,
      status: raw.status,
      message: raw.message,
      value: value as T,
      txId: raw.txId,
      event: raw.event ? { name: raw.event.name, payload: JSON.parse(raw.event.payload.toString('utf8')) } : undefined,
      writes: raw.writes,
    };
  }

  /** Every key and value in the chaincode's namespace: compared before and after a refused call. */
  async snapshot(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for await (const kv of this.backend.state().range(CHAINCODE, '', '')) out.set(kv.key, kv.value.toString('hex'));
    return out;
  }

  /** Overwrites a stored value behind the chaincode's back (direct backend only): what tampered state looks like. */
  tamper(key: string, value: Buffer): void {
    const state = this.backend.state();
    if (!(state instanceof MemoryState)) throw new Error('tamper() needs the direct backend');
    state.apply(CHAINCODE, [{ key, isDelete: false, value }], { blockNum: Number.MAX_SAFE_INTEGER, txNum: 0 }, 'tamper', new Date());
  }

  /** The approver signs exactly the content Draft:previewIssue returns, then submits the approval. */
  async approve(approver: Identity, projectId: string, opinion: string, terms: object): Promise<CallResult> {
    const preview = await this.query<Array<{ draftId: string; content: string }>>(approver, 'Draft:previewIssue', projectId, JSON.stringify(terms));
    const signatures = Object.fromEntries(preview.map((p) => [p.draftId, signBytes(approver, Buffer.from(p.content, 'utf8')).toString('base64')]));
    return this.submit(approver, 'Project:approve', projectId, opinion, JSON.stringify(terms), JSON.stringify(signatures));
  }
}
