/**
 * The Fabric adapter of LedgerGateway: fabric-network (the 2.2 SDK, which talks to Fabric 2.5 peers) against the
 * network of scripts/network.mjs, with the embedded adapter's semantics:
 *
 * - enrol: an X.509 certificate with the role and org attributes, issued by the organisation's own CA (the key
 *   cryptogen wrote) with the embedded CA code, subject OU "client" as fabric-ca writes it;
 * - submit: endorsed by the peers service discovery picks for the chaincode's endorsement policy, ordered, and
 *   resolved when the peer of FABRIC_ORG has committed it; a refusal by the chaincode is an EndorsementError with
 *   the chaincode's status and message ("AUTHORISATION: …"), a transaction the peers invalidated (MVCC_READ_CONFLICT,
 *   ENDORSEMENT_POLICY_FAILURE, …) a CommitError with Fabric's validation code and the block it is in;
 * - evaluate: on the peer of FABRIC_ORG, the one submit waits for, so a query sees what a submit just committed;
 * - chainInfo, getBlock, getTransaction: qscc on that peer, blocks decoded with @hyperledger/fabric-protos;
 * - blockEvents, chaincodeEvents: that peer's block events from a block number, then live, each block read through
 *   qscc and decoded the same way; a checkpoint {blockNumber, txId} resumes after that transaction;
 * - history: the chaincode's own Project:history / Draft:history;
 * - a peer that stops and starts again (test/fabric/peer-restart.fabric.test.ts): block and event streams on it
 *   resume by themselves from the next block (fabric-network's event source reconnects), reads of a block for a
 *   stream and queries wait for its connection to come back; submits whose endorsement needs a stopped peer fail
 *   (fabric-network: "No valid responses from any peers … Endorsement has failed") and nothing is ordered.
 *
 * One fabric-common Client (one set of connections) serves every user: a fabric-network Gateway per identity shares it.
 */
import * as crypto from 'node:crypto';
import './sdk-logging';
import { Client } from 'fabric-common';
import { Gateway, type BlockListener, type CommitEvent, type CommitListener, type Contract, type GatewayOptions, type Network, type Query, type X509Identity } from 'fabric-network';
import { loadFromConfig } from 'fabric-network/lib/impl/ccp/networkconfig';
import { common } from '@hyperledger/fabric-protos';
import {
  CommitError,
  EndorsementError,
  type BlockEvent,
  type ChainInfo,
  type ChaincodeEventRecord,
  type Checkpoint,
  type EnrolRequest,
  type EventStream,
  type LedgerGateway,
  type SubmitResult,
  type TransactionRequest,
  type TransactionSummary,
  type ValidationCode,
} from '../gateway';
import { CertificateAuthority, type Identity } from '../embedded/identity';
import { checkEnrolment } from '../embedded/membership';
import { decodeBlock, type DecodedBlock } from './blocks';
import { loadConnectionProfile, type ConnectionProfile, type FabricConfig } from './profile';
import { nativeSigningProvider } from './signing';

export interface FabricLedgerOptions {
  fabric: FabricConfig;
  channels: readonly string[];
}

/** A peer's answer with a status of 400 or more: the chaincode (or the peer) refused the proposal. */
class PeerRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface CommitOutcome {
  blockNumber: number;
  code: ValidationCode;
}

export class FabricLedger implements LedgerGateway {
  readonly backend = 'fabric' as const;
  private readonly gateways = new Map<string, Promise<Gateway>>();
  private readonly networks = new Map<string, Promise<Network>>();
  private readonly authorities = new Map<string, Promise<CertificateAuthority>>();
  /** Commit outcomes by txId, written by the commit handler, taken by submit(). */
  private readonly commits = new Map<string, CommitOutcome>();
  private readonly streams = new Set<EventStream<unknown>>();
  /** Every eventer and discoverer fabric-network created on the client, disconnected by close(): see the constructor. */
  private readonly endpoints = new Set<{ disconnect(): void }>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly config: FabricConfig,
    private readonly channelNames: readonly string[],
    private readonly profile: ConnectionProfile,
    private readonly client: Client,
    /** The adapter's own identity (the organisation's User1, no role): reads blocks, events and chain info. */
    private readonly service: Identity,
  ) {
    // fabric-common's Client keeps no list of the eventers and discoverers that fabric-network creates on it, and
    // Gateway.disconnect() leaves some of them connected (a network's discovery service is never closed; an event
    // service closes only its current eventer), so their gRPC connections kept the process alive after close().
    for (const method of ['newEventer', 'newDiscoverer'] as const) {
      const create = client[method].bind(client) as (...args: unknown[]) => { disconnect(): void };
      (client as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        const endpoint = create(...args);
        this.endpoints.add(endpoint);
        return endpoint;
      };
    }
  }

  static async open(opts: FabricLedgerOptions): Promise<FabricLedger> {
    if (opts.channels.length === 0) throw new Error('the Fabric ledger needs at least one channel');
    const profile = loadConnectionProfile(opts.fabric);
    const client = new Client(`fund-${profile.mspId}`);
    await loadFromConfig(client, profile.json);
    const own = profile.organisations.get(profile.mspId)!;
    const service: Identity = {
      mspId: profile.mspId,
      enrollmentId: 'ledger-gateway',
      role: '',
      org: '',
      certificate: own.user.certificate,
      privateKey: crypto.createPrivateKey(own.user.privateKey),
    };
    const ledger = new FabricLedger(opts.fabric, [...new Set(opts.channels)], profile, client, service);
    try {
      // Every channel answers (discovery included) before the app starts on it.
      for (const channel of ledger.channelNames) await ledger.chainInfo(channel);
    } catch (err) {
      await ledger.close();
      throw new Error(`the Fabric network (${opts.fabric.dir}, organisation ${profile.mspId}) does not answer: ${(err as Error).message}`);
    }
    return ledger;
  }

  channels(): string[] {
    return [...this.channelNames];
  }

  async enrol(req: EnrolRequest): Promise<Identity> {
    checkEnrolment(req);
    const ca = await this.authority(req.mspId);
    return ca.enrol({ enrollmentId: req.enrollmentId, role: req.role, org: req.org, nodeOU: 'client' });
  }

  async submit(identity: Identity, req: TransactionRequest): Promise<SubmitResult> {
    const contract = await this.contract(identity, req.channel);
    const tx = contract.createTransaction(req.fcn);
    const txId = tx.getTransactionId();
    await req.beforeEndorse?.(txId);
    let payload: Buffer;
    try {
      payload = await tx.submit(...(req.args ?? []));
    } catch (err) {
      this.commits.delete(txId);
      throw refusal(txId, err) ?? err;
    }
    const outcome = this.commits.get(txId);
    this.commits.delete(txId);
    if (!outcome) throw new Error(`transaction ${txId} was submitted but its commit was not observed`);
    if (outcome.code !== 'VALID') throw new CommitError(txId, outcome.blockNumber, outcome.code, outcome.code);
    return { txId, blockNumber: outcome.blockNumber, payload };
  }

  async evaluate(identity: Identity, req: TransactionRequest): Promise<Buffer> {
    const contract = await this.contract(identity, req.channel);
    const tx = contract.createTransaction(req.fcn);
    try {
      return await tx.evaluate(...(req.args ?? []));
    } catch (err) {
      throw refusal(tx.getTransactionId(), err) ?? err;
    }
  }

  async chainInfo(channel: string): Promise<ChainInfo> {
    const info = common.BlockchainInfo.deserializeBinary(await this.qscc(channel, 'GetChainInfo'));
    const height = Number(info.getHeight());
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    return { channel, height, currentBlockHash: height > 0 ? hex(info.getCurrentblockhash_asU8()) : '', previousBlockHash: hex(info.getPreviousblockhash_asU8()) };
  }

  async getBlock(channel: string, n: number): Promise<BlockEvent> {
    return (await this.block(channel, n)).event;
  }

  /** A block with its header hash and chaincode events (for the operator tools and tests). */
  async block(channel: string, n: number): Promise<DecodedBlock> {
    return decodeBlock(channel, await this.qscc(channel, 'GetBlockByNumber', String(n)));
  }

  async getTransaction(channel: string, txId: string): Promise<(TransactionSummary & { blockNumber: number }) | undefined> {
    let bytes: Buffer;
    try {
      bytes = await this.qscc(channel, 'GetBlockByTxID', txId);
    } catch (err) {
      if (err instanceof PeerRefusal) return undefined; // no such transaction on this channel
      throw err;
    }
    const { event } = decodeBlock(channel, bytes);
    const tx = event.transactions.find((t) => t.txId === txId);
    return tx && { ...tx, blockNumber: event.number };
  }

  blockEvents(channel: string, startBlock = 0): EventStream<BlockEvent> {
    return this.stream(channel, startBlock, (block) => [block.event]);
  }

  chaincodeEvents(channel: string, checkpoint: Checkpoint = { blockNumber: 0 }): EventStream<ChaincodeEventRecord> {
    return this.stream(channel, checkpoint.blockNumber, (block) => {
      if (block.event.number !== checkpoint.blockNumber || !checkpoint.txId) return block.chaincodeEvents;
      const seen = block.chaincodeEvents.findIndex((e) => e.txId === checkpoint.txId);
      return block.chaincodeEvents.slice(seen + 1);
    });
  }

  async history(identity: Identity, channel: string, entity: 'Project' | 'Draft', id: string): Promise<unknown[]> {
    const payload = await this.evaluate(identity, { channel, fcn: `${entity}:history`, args: [id] });
    return JSON.parse(payload.toString('utf8')) as unknown[];
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const stream of this.streams) stream.close();
      for (const pending of this.gateways.values()) {
        const gateway = await pending.catch(() => undefined);
        gateway?.disconnect();
      }
      this.gateways.clear();
      this.networks.clear();
      this.client.close();
      for (const endpoint of this.endpoints) endpoint.disconnect();
      this.endpoints.clear();
    })();
    return this.closing;
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────────────────────────────

  private channelOf(channel: string): string {
    if (!this.channelNames.includes(channel)) throw new Error(`unknown channel ${JSON.stringify(channel)}; this ledger has ${this.channelNames.join(', ')}`);
    return channel;
  }

  private authority(mspId: string): Promise<CertificateAuthority> {
    let ca = this.authorities.get(mspId);
    if (!ca) {
      const org = this.profile.organisations.get(mspId);
      if (!org) return Promise.reject(new Error(`unknown MSP ${JSON.stringify(mspId)}: the network has ${[...this.profile.organisations.keys()].join(', ')}`));
      ca = CertificateAuthority.load({ mspId, name: `ca.${org.name}`, certificate: org.ca.certificate, privateKey: org.ca.privateKey });
      this.authorities.set(mspId, ca);
    }
    return ca;
  }

  /** One fabric-network Gateway per identity, all on the shared Client. */
  private gateway(identity: Identity): Promise<Gateway> {
    if (this.closing) return Promise.reject(new Error('the ledger is shutting down'));
    return cachedPromise(this.gateways, identityKey(identity), async () => {
      const gateway = new Gateway();
      const x509: X509Identity = {
        type: 'X.509',
        mspId: identity.mspId,
        credentials: { certificate: identity.certificate, privateKey: identity.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
      };
      const timeout = this.config.timeoutSeconds;
      const options: GatewayOptions = {
        identity: x509,
        identityProvider: nativeSigningProvider(identity.privateKey),
        // Peers announce 127.0.0.1:<port>; asLocalhost names them localhost, as the connection profile does.
        discovery: { enabled: true, asLocalhost: true },
        eventHandlerOptions: { strategy: (txId, network) => this.commitHandler(txId, network), commitTimeout: timeout, endorseTimeout: timeout },
        queryHandlerOptions: { strategy: (network) => ({ evaluate: (query) => this.query(network, query) }), timeout },
      };
      await gateway.connect(this.client, options);
      return gateway;
    });
  }

  /**
   * One Network per identity and channel. Gateway.getNetwork keeps a network only once it is initialised, so
   * concurrent first calls each built their own, each with a discovery request and a commit event stream from the
   * peer that nothing closes: 500 benchmark clients starting at once sent 348 discovery requests, all timed out.
   */
  private network(identity: Identity, channel: string): Promise<Network> {
    const name = this.channelOf(channel);
    return cachedPromise(this.networks, `${identityKey(identity)}\0${name}`, async () => (await this.gateway(identity)).getNetwork(name));
  }

  private async contract(identity: Identity, channel: string): Promise<Contract> {
    return (await this.network(identity, channel)).getContract(this.config.chaincode);
  }

  /** The peers of FABRIC_ORG on a channel: where queries run and whose commit a submit waits for. */
  private ownPeers(network: Network) {
    const peers = network.getChannel().getEndorsers(this.profile.mspId);
    if (peers.length === 0) throw new Error(`no peer of ${this.profile.mspId} on channel ${network.getChannel().name}`);
    return peers;
  }

  /**
   * Evaluates on the first of FABRIC_ORG's peers that answers; a refusal (status ≥ 400) is final. A peer that has
   * just restarted finds its gRPC connection in reconnect back-off ("14 UNAVAILABLE: No connection established"):
   * the connection is checked once (fabric-common waits for it, reconnecting if need be) and the query asked again.
   */
  private async query(network: Network, query: Query): Promise<Buffer> {
    let last: Error | undefined;
    for (const peer of this.ownPeers(network)) {
      for (let attempt = 0; attempt < 2; attempt++) {
        const result = (await query.evaluate([peer]))[peer.name];
        if (!(result instanceof Error)) {
          if (result.status >= 400) throw new PeerRefusal(result.status, result.message);
          return result.payload;
        }
        last = result;
        if (attempt > 0 || !(await peer.checkConnection().catch(() => false))) break;
      }
    }
    throw last ?? new Error('no peer answered the query');
  }

  /** fabric-network's commit strategy: wait for the transaction's commit event on FABRIC_ORG's peer, keep the outcome. */
  private commitHandler(txId: string, network: Network) {
    let listener: CommitListener | undefined;
    let committed: Promise<void> = Promise.resolve();
    const stop = () => {
      if (listener) network.removeCommitListener(listener);
      listener = undefined;
    };
    return {
      startListening: async () => {
        committed = new Promise<void>((resolve, reject) => {
          listener = (error, event?: CommitEvent) => {
            stop();
            if (error || !event) return reject(error ?? new Error(`no commit event for ${txId}`));
            this.commits.set(txId, { blockNumber: event.getBlockEvent().blockNumber.toNumber(), code: event.status as ValidationCode });
            resolve();
          };
        });
        committed.catch(() => undefined); // observed by waitForEvents
        await network.addCommitListener(listener!, this.ownPeers(network).slice(0, 1), txId);
      },
      waitForEvents: () => withTimeout(committed, this.config.timeoutSeconds * 1000, `transaction ${txId} was not committed within ${this.config.timeoutSeconds} s`).finally(stop),
      cancelListening: stop,
    };
  }

  /** A query of the peer's ledger (qscc) with the adapter's own identity. */
  private async qscc(channel: string, fcn: string, ...args: string[]): Promise<Buffer> {
    const network = await this.network(this.service, channel);
    return network.getContract('qscc').evaluateTransaction(fcn, channel, ...args);
  }

  /**
   * A block a stream was told of. fabric-network's block event source reconnects by itself when the peer restarts
   * (from the block after the last one it delivered), but this read goes over the peer's endorser connection, which
   * may still be reconnecting then (UNAVAILABLE): it is retried, with growing pauses, for up to FABRIC_TIMEOUT_S.
   * A refusal by the peer is final; undefined when the stream was closed meanwhile.
   */
  private async blockForStream(channel: string, n: number, closed: () => boolean): Promise<DecodedBlock | undefined> {
    const deadline = Date.now() + this.config.timeoutSeconds * 1000;
    for (let pause = 100; ; pause = Math.min(pause * 2, 2000)) {
      try {
        return await this.block(channel, n);
      } catch (err) {
        if (err instanceof PeerRefusal || this.closing || Date.now() + pause > deadline) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      if (closed()) return undefined;
    }
  }

  /**
   * Blocks from `start`, then live: the peer's (filtered) block events say which block is next, the block itself is
   * read through qscc and decoded; `map` turns it into the stream's items. Each block is handed on only when the
   * consumer has taken most of the previous ones, so a slow consumer slows the delivery, not the memory.
   */
  private stream<T>(channel: string, start: number, map: (block: DecodedBlock) => T[]): EventStream<T> {
    const queue = new AsyncQueue<T>();
    let network: Network | undefined;
    let listener: BlockListener | undefined;
    const stream: EventStream<T> = {
      [Symbol.asyncIterator]: () => queue.iterate(),
      close: () => {
        queue.close();
        if (network && listener) network.removeBlockListener(listener);
        this.streams.delete(stream as EventStream<unknown>);
      },
    };
    this.streams.add(stream as EventStream<unknown>);
    (async () => {
      network = await this.network(this.service, channel);
      let next = Math.max(0, start);
      listener = async (event) => {
        const n = event.blockNumber.toNumber();
        if (queue.closed || n < next) return;
        try {
          const block = await this.blockForStream(channel, n, () => queue.closed);
          if (!block) return;
          next = n + 1;
          for (const item of map(block)) await queue.push(item);
        } catch (err) {
          queue.fail(err as Error);
        }
      };
      if (queue.closed) return;
      await network.addBlockListener(listener, { type: 'filtered', startBlock: next });
      if (queue.closed) network.removeBlockListener(listener);
    })().catch((err) => queue.fail(err as Error));
    return stream;
  }
}

/** The chaincode's own refusal in whatever fabric-network wrapped it, as an EndorsementError; undefined otherwise. */
function refusal(txId: string, err: unknown): EndorsementError | undefined {
  if (err instanceof PeerRefusal) return new EndorsementError(txId, err.status, err.message);
  if (!(err instanceof Error)) return undefined;
  type Response = { response?: { status?: number; message?: string } };
  const e = err as Error & { responses?: Response[]; errors?: Array<Error & { endorsements?: Response[] }> };
  const candidates: Response[] = [...(e.responses ?? []), ...(e.errors ?? []).flatMap((x) => x.endorsements ?? [])];
  const refused = candidates.find((r) => (r?.response?.status ?? 0) >= 400);
  if (refused) return new EndorsementError(txId, refused.response!.status!, refused.response!.message ?? '');
  return undefined;
}

/** The promise kept under `key`, made on first use; one that fails is forgotten, so the next call tries again. */
function cachedPromise<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let pending = cache.get(key);
  if (!pending) {
    pending = make();
    pending.catch(() => cache.delete(key));
    cache.set(key, pending);
  }
  return pending;
}

function identityKey(identity: Identity): string {
  return `${identity.mspId}\0${identity.certificate}`;
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}

/** A bounded queue between a push-style producer (block listener) and an async iterator. */
class AsyncQueue<T> {
  private readonly items: T[] = [];
  private error: Error | undefined;
  closed = false;
  private wakeConsumer: (() => void) | undefined;
  private readonly roomWaiters: Array<() => void> = [];

  constructor(private readonly highWater = 256) {}

  async push(item: T): Promise<void> {
    if (this.closed) return;
    this.items.push(item);
    this.wake();
    if (this.items.length >= this.highWater) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  fail(err: Error): void {
    this.error ??= err;
    this.wake();
  }

  close(): void {
    this.closed = true;
    this.wake();
    for (const r of this.roomWaiters.splice(0)) r();
  }

  private wake(): void {
    const w = this.wakeConsumer;
    this.wakeConsumer = undefined;
    w?.();
  }

  async *iterate(): AsyncGenerator<T> {
    for (;;) {
      if (this.closed) return;
      if (this.items.length > 0) {
        const item = this.items.shift()!;
        if (this.items.length < this.highWater / 2) for (const r of this.roomWaiters.splice(0)) r();
        yield item;
        continue;
      }
      if (this.error) throw this.error;
      await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
    }
  }
}
