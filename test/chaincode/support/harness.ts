import { contracts } from '@fund/chaincode';
import { CertificateAuthority, ChaincodeConnection, Identity, MemoryState, TxSimulator, buildProposal, loadContractChaincode, signBytes } from '@fund/app/dist/blockchain/embedded';

export const CHAINCODE = 'fund';
export const CHANNEL = 'business';

/** Which MSP issues the certificates of each role in the test network. */
export const MSP_OF_ROLE: Record<string, string> = {
  admin: 'ProvinceMSP',
  leadingGroup: 'ProvinceMSP',
  provincialFinance: 'ProvinceMSP',
  limitedPartnership: 'ProvinceMSP',
  auditor: 'ProvinceMSP',
  countyOffice: 'CountyMSP',
  countyFinance: 'CountyMSP',
  countyFundCompany: 'CountyMSP',
  implementingUnit: 'CountyMSP',
  bank: 'BankMSP',
};

export interface CallResult<T = unknown> {
  ok: boolean;
  status: number;
  message: string;
  value: T;
  txId: string;
  event?: { name: string; payload: { txId: string; at: string; events: Array<{ type: string; data: Record<string, unknown> }> } };
  writes: number;
}

/**
 * Runs the compiled chaincode through fabric-shim's real message handler, stub and contract
 * dispatch, with real signed proposals from real X.509 identities; each successful submit commits
 * its write set as one block, a failed one commits nothing, as on a Fabric peer.
 */
export class ChaincodeHarness {
  readonly state = new MemoryState();
  clock = new Date('2026-11-02T09:00:00+08:00');
  private height = 0;
  private readonly cas = new Map<string, CertificateAuthority>();
  private readonly identities = new Map<string, Identity>();

  private constructor(private readonly connection: ChaincodeConnection) {}

  /** In-process by default; pass a connection to drive a chaincode server over gRPC instead. */
  static async start(connection?: ChaincodeConnection): Promise<ChaincodeHarness> {
    if (connection) return new ChaincodeHarness(connection);
    const chaincode = loadContractChaincode([...contracts], '@fund/chaincode', '0.1.0');
    return new ChaincodeHarness(await ChaincodeConnection.inProcess(chaincode, `${CHAINCODE}:0.1.0`));
  }

  async close(): Promise<void> {
    await this.connection.close();
  }

  advance(hours: number): void {
    this.clock = new Date(this.clock.getTime() + hours * 3600 * 1000);
  }

  /** A user of the given role in the given organisation, enrolled once with its MSP's CA. */
  async user(role: string, org: string, mspId = MSP_OF_ROLE[role]): Promise<Identity> {
    const key = `${mspId}/${org}/${role}`;
    let identity = this.identities.get(key);
    if (!identity) {
      let ca = this.cas.get(mspId);
      if (!ca) this.cas.set(mspId, (ca = await CertificateAuthority.create(mspId, `ca.${mspId.toLowerCase()}`)));
      identity = await ca.enrol({ enrollmentId: `${role}@${org}`, role, org });
      this.identities.set(key, identity);
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
    const proposal = buildProposal({ channel: CHANNEL, chaincode: CHAINCODE, args: [fcn, ...args], identity, timestamp: this.clock });
    const simulator = new TxSimulator(this.state, CHAINCODE);
    const response = await this.connection.execute({ channel: CHANNEL, txId: proposal.txId, signedProposal: proposal.signedProposal, input: proposal.input }, simulator);
    const results = await simulator.results();
    const ok = response.status === 200;
    if (ok && commit && results.writes.length > 0) {
      this.height += 1;
      this.state.apply(CHAINCODE, results.writes, { blockNum: this.height, txNum: 0 }, proposal.txId, this.clock);
    }
    const text = response.payload.length > 0 ? response.payload.toString('utf8') : '';
    let value: unknown = text;
    try {
      value = text === '' ? undefined : JSON.parse(text);
    } catch {
      /* a plain string result */
    }
    return {
      ok,
      status: response.status,
      message: response.message,
      value: value as T,
      txId: proposal.txId,
      event: ok && commit && response.event ? { name: response.event.name, payload: JSON.parse(response.event.payload.toString('utf8')) } : undefined,
      writes: results.writes.length,
    };
  }

  /** Every key and value in the chaincode's namespace: compared before and after a refused call. */
  async snapshot(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for await (const kv of this.state.range(CHAINCODE, '', '')) out.set(kv.key, kv.value.toString('hex'));
    return out;
  }

  /** The approver signs exactly the content Draft:previewIssue returns, then submits the approval. */
  async approve(approver: Identity, projectId: string, opinion: string, terms: object): Promise<CallResult> {
    const preview = await this.query<Array<{ draftId: string; content: string }>>(approver, 'Draft:previewIssue', projectId, JSON.stringify(terms));
    const signatures = Object.fromEntries(preview.map((p) => [p.draftId, signBytes(approver, Buffer.from(p.content, 'utf8')).toString('base64')]));
    return this.submit(approver, 'Project:approve', projectId, opinion, JSON.stringify(terms), JSON.stringify(signatures));
  }
}
