/**
 * The Fabric adapter of LedgerGateway: fabric-network (the 2.2 SDK, which talks to Fabric 2.5 peers) against the
 * network of scripts/network.mjs, with the embedded adapter's semantics:
 *
 * - enrol: an X.509 certificate with the role and org attributes, issued by the organisation's own CA (the key
 *   cryptogen wrote) with the embedded CA code, subject OU "client" as fabric-ca writes it;
 * - a channel's gateway peers: its set's nodes as the routing chain lists them (the relay hands them over, useNodes),
 *   else the configured ones (FABRIC_PEERS, `nodes`), else the peers of FABRIC_ORG; discovery, queries, block events
 *   and commit events go to the first of them that answers;
 * - submit: endorsed by the peers service discovery picks for the chaincode's endorsement policy (a peer that does
 *   not answer is skipped for another of its organisation's where there is one, as fabric-common's DiscoveryHandler
 *   does), ordered, and resolved once committed: with gateway peers, the commit is awaited on the first two at once
 *   (thesis 4.3.3.2: at least two nodes of the set; see commitHandler); a refusal by the chaincode is an
 *   EndorsementError with the chaincode's status and message ("AUTHORISATION: …"), a transaction the peers
 *   invalidated (MVCC_READ_CONFLICT, ENDORSEMENT_POLICY_FAILURE, …) a CommitError with Fabric's validation code and
 *   the block it is in;
 * - evaluate: on the gateway peer in use, which a submit returns only once it has the commit (or has left it for
 *   the other), so a query sees what a submit just committed;
 * - chainInfo, getBlock, getTransaction: qscc on that peer, blocks decoded with @hyperledger/fabric-protos;
 * - blockEvents, chaincodeEvents: that peer's block events from a block number, then live, each block read through
 *   qscc and decoded the same way; a checkpoint {blockNumber, txId} resumes after that transaction;
 * - history: the chaincode's own Project:history / Draft:history;
 * - channelNodes: the channel's peers and orderers from the connection profile, this adapter's gateway peers first,
 *   which the platform registers at start as the nodes of a set that lists none;
 * - a peer that stops and starts again (test/fabric/peer-restart.fabric.test.ts): block and event streams on it
 *   resume by themselves from the next block (fabric-network's event source reconnects), reads of a block for a
 *   stream and queries wait for its connection to come back; submits whose endorsement needs a stopped peer fail
 *   (fabric-network: "No valid responses from any peers … Endorsement has failed") and nothing is ordered;
 * - with several gateway peers, one that stops answering is left for the next one in the list, for queries, commit
 *   waits, discovery and streams alike, and is used again once it answers with the channel's blocks up to the height
 *   the adapter last saw committed (test/fabric/failover.fabric.test.ts).
 *
 * One fabric-common Client (one set of connections) serves every user: a fabric-network Gateway per identity shares it.
 */
import * as crypto from 'node:crypto';
import './sdk-logging';
import { Client, type Channel, type Discoverer, type Endorser } from 'fabric-common';
import { Gateway, type BlockListener, type CommitEvent, type CommitListener, type Contract, type GatewayOptions, type Network, type Query, type X509Identity } from 'fabric-network';
import { loadFromConfig } from 'fabric-network/lib/impl/ccp/networkconfig';
import { common } from '@hyperledger/fabric-protos';
import {
  CommitError,
  EndorsementError,
  NotAvailableError,
  type BlockEvent,
  type ChainInfo,
  type ChannelNode,
  type ChaincodeEventRecord,
  type Checkpoint,
  type EnrolRequest,
  type EventStream,
  type LedgerGateway,
  type StoredBlock,
  type SubmitResult,
  type TransactionRequest,
  type SetNode,
  type TransactionSummary,
  type ValidationCode,
} from '../gateway';
import { CertificateAuthority, type Identity } from '../embedded/identity';
import { checkEnrolment } from '../embedded/membership';
import { decodeBlock, type DecodedBlock } from './blocks';
import { channelNodesOf, gatewayPeerNames, loadConnectionProfile, setPeerNames, type ConnectionProfile, type FabricConfig } from './profile';
import { nativeSigningProvider } from './signing';

/** The longest pause between attempts to reach a peer or orderer whose connection was lost. */
const RECONNECT_BACKOFF_MS = 2000;
/** How often a submit whose commit event has not come asks the gateway peer for the transaction. */
const COMMIT_CHECK_MS = 10_000;
/** How long a connection to a gateway peer may take before the next gateway peer is tried. */
const FAILOVER_WAIT_MS = 1000;
/** How many gateway peers a submit's commit is awaited on at once (thesis 4.3.3.2: at least two nodes of the set). */
const COMMIT_WAITS = 2;
/** How long a submit waits for the peer in use to report a commit another gateway peer reported, before leaving it. */
const COMMIT_LAG_MS = 1000;
/** How often, at most, a channel's gateway peers that failed are asked whether they are back and caught up. */
const RETURN_CHECK_MS = 2000;

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
  /** Commits that were found by asking the gateway peer because their commit event had not come (see commitHandler). */
  commitsFoundByQuery = 0;
  /** submitAsync's callers by txId, told when the orderer has accepted their transaction. */
  private readonly handedOver = new Map<string, () => void>();
  private readonly streams = new Set<EventStream<unknown>>();
  /** Every eventer and discoverer fabric-network created on the client, disconnected by close(): see the constructor. */
  private readonly endpoints = new Set<{ disconnect(): void }>();
  /** Each channel's gateway peers: its set's nodes, else the configured ones (none: FABRIC_ORG's peers). */
  private readonly nodes = new Map<string, GatewayNodes>();
  /** The last warning about a channel's set nodes, so that each reading of the routing chain does not repeat it. */
  private readonly warned = new Map<string, string>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly config: FabricConfig,
    private readonly channelNames: readonly string[],
    private readonly profile: ConnectionProfile,
    private readonly client: Client,
    /** The adapter's own identity (the organisation's User1, no role): reads blocks, events and chain info. */
    private readonly service: Identity,
    /** The configured gateway peers (FABRIC_PEERS), for channels whose set lists no nodes; undefined: FABRIC_ORG's. */
    private readonly configuredNodes: readonly string[] | undefined,
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
    const configured = opts.fabric.nodes && gatewayPeerNames(opts.fabric.nodes, profile);
    const client = new Client(`fund-${profile.mspId}`);
    client.setCentralizedConnectionOptions({
      // grpc-js retries a lost connection with a back-off that grows to two minutes, and a new client to the same
      // address shares that connection (and its back-off): after a long outage a restarted peer stayed unreachable
      // for tens of seconds (20 s after 70 s down, measured). On a network this size a retry every 2 s is cheap.
      'grpc.max_reconnect_backoff_ms': RECONNECT_BACKOFF_MS,
    });
    await loadFromConfig(client, profile.json);
    if (configured && configured.length > 1) for (const name of configured) failFast(client.getEndorser(name));
    const own = profile.organisations.get(profile.mspId)!;
    const service: Identity = {
      mspId: profile.mspId,
      enrollmentId: 'ledger-gateway',
      role: '',
      org: '',
      certificate: own.user.certificate,
      privateKey: crypto.createPrivateKey(own.user.privateKey),
    };
    const ledger = new FabricLedger(opts.fabric, [...new Set(opts.channels)], profile, client, service, configured);
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

  /**
   * A set's nodes from the routing chain become its channel's gateway peers, in their order (none: FABRIC_PEERS or
   * FABRIC_ORG's peers again). Nodes that are no peer of the connection profile are left out, with a warning.
   */
  useNodes(channel: string, nodes: readonly SetNode[]): void {
    if (!this.channelNames.includes(channel)) return;
    const { names, unknown } = setPeerNames(nodes, this.profile);
    const warning = unknown.length > 0 ? `fabric: nodes of the set on ${channel} that are no peer of the connection profile, left out: ${unknown.join(', ')}` : '';
    if (warning && this.warned.get(channel) !== warning) console.warn(warning);
    this.warned.set(channel, warning);
    const chosen = names.length > 0 ? names : this.configuredNodes;
    // The same list again (each reading of the routing chain hands it over) keeps what is known of failed peers.
    if (chosen && this.nodes.get(channel)?.names.join() === chosen.join()) return;
    if (!chosen) this.nodes.delete(channel);
    else this.nodes.set(channel, this.newNodes(chosen));
  }

  /** A channel's gateway peers, the one in use first (for the operators' pages); empty when FABRIC_ORG's peers serve. */
  gatewayNodes(channel: string): string[] {
    return this.nodesOf(channel)?.inOrder() ?? [];
  }

  /**
   * The channel's peers and orderers from the connection profile, the configured gateway peers (FABRIC_PEERS, else
   * FABRIC_ORG's) first, so that registering them keeps the peer this adapter uses and adds the others behind it.
   */
  async channelNodes(channel: string): Promise<ChannelNode[]> {
    const { nodes, left } = await channelNodesOf(this.profile, this.config.dir, channel, this.configuredNodes);
    if (left.length > 0) console.warn(`fabric: nodes of channel ${channel} left out of its description: ${left.join('; ')}`);
    return nodes;
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

  /**
   * submit(), resolving as soon as the orderer has accepted the transaction (as fabric-gateway's submitAsync, or the
   * peer CLI's invoke that the thesis's benchmark clients ran), with its commit to follow in `committed`. A refusal
   * at endorsement or by the orderer rejects this call itself.
   */
  async submitAsync(identity: Identity, req: TransactionRequest): Promise<{ txId: string; committed: Promise<SubmitResult> }> {
    let txId = '';
    let accepted!: () => void;
    const ordered = new Promise<void>((resolve) => (accepted = resolve));
    const committed = this.submit(identity, {
      ...req,
      beforeEndorse: async (id) => {
        txId = id;
        this.handedOver.set(id, accepted);
        await req.beforeEndorse?.(id);
      },
    });
    const forget = () => this.handedOver.delete(txId);
    committed.then(forget, forget);
    await Promise.race([ordered, committed]);
    return { txId, committed };
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
    this.nodesOf(channel)?.committed(height);
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

  /**
   * Not on a Fabric network, although qscc's GetBlockByNumber gives the block: its transactions are envelopes
   * (protobuf, signed by the client over the endorsed read/write set, with the endorsers' signatures) and its data
   * hash is over their bytes, a different format from the embedded ledger's that the dossier verifier does not read.
   */
  async storedBlock(channel: string, n: number): Promise<StoredBlock> {
    throw new NotAvailableError(`block ${n} of ${channel}: audit dossiers are made from the embedded ledger's block format; on a Fabric network check blocks with the peer's own tools (qscc GetBlockByNumber) instead`);
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
    return cachedPromise(this.networks, `${identityKey(identity)}\0${name}`, async () => {
      const gateway = await this.gateway(identity);
      this.discoverThroughNodes(this.client.getChannel(name));
      const network = await gateway.getNetwork(name);
      this.streamFromNodes(network);
      return network;
    });
  }

  /**
   * fabric-network asks the identity's own organisation's peers for discovery; when the channel has gateway peers
   * (set nodes or FABRIC_PEERS), its discovery requests go to them instead, in order (fabric-common's
   * DiscoveryService tries its targets in turn until one answers). One Channel serves every identity, so this is
   * done once per channel; the nodes are looked up at each request, as the routing chain may change them.
   */
  private discoverThroughNodes(channel: Channel): void {
    const patched = channel as Channel & { fundNodes?: true };
    if (patched.fundNodes) return;
    patched.fundNodes = true;
    const newDiscoveryService = channel.newDiscoveryService.bind(channel);
    channel.newDiscoveryService = (name: string) => {
      const service = newDiscoveryService(name);
      const send = service.send.bind(service);
      const discoverers = new Map<string, Discoverer>();
      service.send = (request = {}) => {
        const nodes = this.nodesOf(channel.name);
        if (!nodes) return send(request);
        const targets = this.nodePeers(channel, nodes).map((peer) => {
          let discoverer = discoverers.get(peer.name);
          if (!discoverer) {
            discoverer = this.client.newDiscoverer(peer.name, peer.mspid);
            discoverer.setEndpoint(peer.endpoint);
            discoverers.set(peer.name, discoverer);
          }
          return discoverer;
        });
        return send({ ...request, targets });
      };
      return service;
    };
  }

  /**
   * Block and chaincode event streams: fabric-network's event source takes the identity's organisation's peers in a
   * random order; when the channel has gateway peers it takes them in order, from the one in use (fabric-common's
   * EventService starts on the first target that connects, and the event source starts again on an error).
   */
  private streamFromNodes(network: Network): void {
    const manager = eventServiceManager(network);
    const byDefault = manager.newDefaultEventService.bind(manager);
    manager.newDefaultEventService = () => {
      const nodes = this.nodesOf(network.getChannel().name);
      return nodes ? manager.newEventService(this.nodePeers(network.getChannel(), nodes)) : byDefault();
    };
  }

  private async contract(identity: Identity, channel: string): Promise<Contract> {
    return (await this.network(identity, channel)).getContract(this.config.chaincode);
  }

  /** A channel's gateway peers: its set's nodes (useNodes), else the configured ones; undefined: FABRIC_ORG's peers. */
  private nodesOf(channel: string): GatewayNodes | undefined {
    let nodes = this.nodes.get(channel);
    if (!nodes && this.configuredNodes) this.nodes.set(channel, (nodes = new GatewayNodes(this.configuredNodes)));
    return nodes;
  }

  /** Gateway peers for a channel; with more than one, each is given up quickly when it does not connect. */
  private newNodes(names: readonly string[]): GatewayNodes {
    if (names.length > 1) for (const name of names) failFast(this.client.getEndorser(name));
    return new GatewayNodes(names);
  }

  /**
   * The gateway peers of a channel, the one in use first: where queries run and whose commit a submit waits for.
   * Without gateway peers, the peers of FABRIC_ORG. Peers that failed are asked now and then whether they are back.
   */
  private gatewayPeers(network: Network): Endorser[] {
    const channel = network.getChannel();
    const nodes = this.nodesOf(channel.name);
    if (nodes) {
      this.checkReturning(channel.name, nodes);
      return this.nodePeers(channel, nodes);
    }
    const peers = channel.getEndorsers(this.profile.mspId);
    if (peers.length === 0) throw new Error(`no peer of ${this.profile.mspId} on channel ${channel.name}`);
    return peers;
  }

  /** A channel's gateway peers (the one in use first) that the channel knows. */
  private nodePeers(channel: Channel, nodes: GatewayNodes): Endorser[] {
    const peers = nodes
      .inOrder()
      .map((name) => channel.getEndorser(name) ?? this.client.getEndorser(name))
      .filter((peer): peer is Endorser => peer !== undefined);
    if (peers.length === 0) throw new Error(`none of the gateway peers ${nodes.names.join(', ')} is on channel ${channel.name}`);
    return peers;
  }

  /**
   * Takes back a gateway peer that failed once it answers again and has caught up: its height at least the height
   * this adapter last saw committed on the channel. A restarted peer answers before it has fetched the blocks it
   * missed, and a query there would not see what a submit just committed. In the background of the channel's
   * requests, at most every RETURN_CHECK_MS.
   */
  private checkReturning(channel: string, nodes: GatewayNodes): void {
    if (this.closing || !nodes.checkDue(RETURN_CHECK_MS)) return;
    void (async () => {
      for (const name of nodes.away()) {
        const peer = this.client.getEndorser(name);
        try {
          if (!(await peer.checkConnection())) continue;
          const info = common.BlockchainInfo.deserializeBinary(await this.qsccOn(channel, peer, 'GetChainInfo'));
          nodes.answered(name, Number(info.getHeight()));
        } catch {
          // still away
        }
      }
    })().finally(() => nodes.checkDone());
  }

  /** A query of one peer's ledger (qscc), whichever peer is in use: the returning peer's height. */
  private async qsccOn(channel: string, peer: Endorser, fcn: string, ...args: string[]): Promise<Buffer> {
    const context = (await this.gateway(this.service)).identityContext!;
    const query = (await this.network(this.service, channel)).getChannel().newQuery('qscc');
    query.build(context, { fcn, args: [channel, ...args] });
    query.sign(context);
    const { responses, errors } = await query.send({ targets: [peer], requestTimeout: FAILOVER_WAIT_MS * 3 });
    const answer = responses[0]?.response;
    if (!answer) throw errors[0] ?? new Error(`no answer from ${peer.name}`);
    if (answer.status >= 400) throw new PeerRefusal(answer.status, answer.message);
    return answer.payload;
  }

  /**
   * Evaluates on the first gateway peer that answers; a refusal (status ≥ 400) is final. A peer that has
   * just restarted finds its gRPC connection in reconnect back-off ("14 UNAVAILABLE: No connection established"):
   * the connection is checked once (fabric-common waits for it, reconnecting if need be) and the query asked again.
   * With a next gateway peer to go to, the query goes there at once instead: checking a dead peer's connection
   * takes fabric-common up to twice its 3-second wait (measured 6 s for the first queries after a peer was killed).
   */
  private async query(network: Network, query: Query): Promise<Buffer> {
    let last: Error | undefined;
    const peers = this.gatewayPeers(network);
    const nodes = this.nodesOf(network.getChannel().name);
    for (const [index, peer] of peers.entries()) {
      const another = nodes !== undefined && index < peers.length - 1;
      for (let attempt = 0; attempt < 2; attempt++) {
        const result = (await query.evaluate([peer]))[peer.name];
        if (!(result instanceof Error)) {
          if (result.status >= 400) throw new PeerRefusal(result.status, result.message);
          return result.payload;
        }
        last = result;
        if (attempt > 0 || another || !(await peer.checkConnection().catch(() => false))) break;
      }
      nodes?.failed(peer.name);
    }
    throw last ?? new Error('no peer answered the query');
  }

  /**
   * fabric-network's commit strategy. With a set's nodes (or FABRIC_PEERS), the commit event is awaited on the
   * channel's first two gateway peers that have not failed, at once; the first to report it settles the outcome. The
   * submit returns when the peer in use (where the next query goes) has it too, or, should that peer not report it
   * within COMMIT_LAG_MS, puts that peer behind the other until it has caught up: a query after a submit sees what the
   * submit committed, and a peer a block behind or whose event does not come does not hold the submit up.
   * A peer whose event stream fails is replaced by the next gateway peer not yet waited on: its listener starts first,
   * then the peer in use is asked whether it has the transaction already (it may have committed it before the
   * listener started); only when no peer is left to wait on does the submit fail. Without gateway peers, the first
   * of FABRIC_ORG's peers is waited on, the next when it fails.
   */
  private commitHandler(txId: string, network: Network) {
    const nodes = this.nodesOf(network.getChannel().name);
    /** Each listener and the peer it listens on. */
    const listeners = new Map<CommitListener, string>();
    let settled = false;
    let outcome: CommitOutcome | undefined;
    let lagging: NodeJS.Timeout | undefined;
    let settle!: (outcome: CommitOutcome | Error) => void;
    const committed = new Promise<void>((resolve, reject) => {
      settle = (result) => {
        if (settled) return;
        settled = true;
        stop();
        if (result instanceof Error) return reject(result);
        nodes?.committed(result.blockNumber + 1);
        this.commits.set(txId, result);
        resolve();
      };
    });
    committed.catch(() => undefined); // observed by waitForEvents
    const stop = () => {
      clearTimeout(lagging);
      for (const listener of listeners.keys()) network.removeCommitListener(listener);
      listeners.clear();
    };
    /** `peer` has the transaction committed (undefined: the peer a query went to, the one in use). */
    const reported = (result: CommitOutcome, peer?: string) => {
      outcome ??= result;
      const inUse = nodes?.inOrder()[0];
      if (!inUse || peer === undefined || peer === inUse || ![...listeners.values()].includes(inUse)) return settle(outcome);
      lagging ??= setTimeout(() => {
        nodes!.failed(inUse);
        settle(outcome!);
      }, COMMIT_LAG_MS);
    };

    let peers: Endorser[] = [];
    /** The next of `peers` to wait on. */
    let next = 0;
    let last: Error | undefined;
    /** Waits on the next peer whose listener starts; throws when none is left and no other wait is on. */
    const listenNext = async (askFirst: boolean): Promise<void> => {
      while (!settled && next < peers.length) {
        const peer = peers[next++];
        let starting = true;
        let startError: Error | undefined;
        const current: CommitListener = (error, event?: CommitEvent) => {
          if (!listeners.has(current)) return; // a listener left behind
          if (event) return reported({ blockNumber: event.getBlockEvent().blockNumber.toNumber(), code: event.status as ValidationCode }, peer.name);
          listeners.delete(current);
          network.removeCommitListener(current);
          nodes?.failed(peer.name);
          const failure = error ?? new Error(`no commit event for ${txId} from ${peer.name}`);
          if (outcome) settle(outcome); // another peer reported it: this one was the peer in use
          else if (starting) startError = failure;
          else {
            last = failure;
            listenNext(true).catch(settle);
          }
        };
        listeners.set(current, peer.name);
        await network.addCommitListener(current, [peer], txId);
        starting = false;
        if (startError) {
          // fabric-network shares one commit event service per peer; a start that failed leaves it marked in use, so
          // later listeners would be added to it as if it ran and wait in vain. Closing it tells them (an error: they
          // move on) and lets the next start begin afresh.
          eventServiceManager(network).getCommitEventService(peer).close();
          last = startError;
          askFirst = true;
          continue;
        }
        if (askFirst) {
          const found = await this.getTransaction(network.getChannel().name, txId).catch(() => undefined);
          if (found && listeners.has(current)) reported({ blockNumber: found.blockNumber, code: found.validationCode });
        }
        return;
      }
      if (!settled && listeners.size === 0) throw last ?? new Error(`no gateway peer to wait on for ${txId}`);
    };

    return {
      startListening: async () => {
        peers = this.gatewayPeers(network);
        const waits = nodes ? Math.max(1, Math.min(COMMIT_WAITS, nodes.inUse())) : 1;
        await Promise.all(Array.from({ length: waits }, () => listenNext(false)));
      },
      waitForEvents: () => {
        // fabric-network waits for the events once the orderer has accepted the transaction.
        this.handedOver.get(txId)?.();
        // Should the event not come (a commit stream that fabric-network keeps 'in use' without running, for one),
        // the peer in use is asked now and then whether it has the transaction.
        const asking = setInterval(() => {
          void this.getTransaction(network.getChannel().name, txId).then(
            (found) => {
              if (!found || settled) return;
              this.commitsFoundByQuery++;
              reported({ blockNumber: found.blockNumber, code: found.validationCode });
            },
            () => undefined,
          );
        }, COMMIT_CHECK_MS);
        return withTimeout(committed, this.config.timeoutSeconds * 1000, `transaction ${txId} was not committed within ${this.config.timeoutSeconds} s`).finally(() => {
          clearInterval(asking);
          stop();
        });
      },
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

/**
 * A channel's gateway peers in order (its set's nodes, or FABRIC_PEERS) and those that failed: the first that has not
 * failed is in use. A peer that failed stays behind the others until it answers again with every block the adapter
 * saw committed on the channel (FabricLedger.checkReturning), then takes its place in the order again.
 */
class GatewayNodes {
  private readonly failedPeers = new Set<string>();
  /** The highest height the adapter saw committed on the channel (a submit's block + 1, a chain info). */
  private height = 0;
  private lastCheck = 0;
  private checking = false;

  constructor(readonly names: readonly string[]) {}

  /** Every name, those that have not failed first, each part in the set's order. */
  inOrder(): string[] {
    return [...this.names.filter((n) => !this.failedPeers.has(n)), ...this.names.filter((n) => this.failedPeers.has(n))];
  }

  /** How many have not failed. */
  inUse(): number {
    return this.names.length - this.failedPeers.size;
  }

  /** Those that failed and have not come back. */
  away(): string[] {
    return this.names.filter((n) => this.failedPeers.has(n));
  }

  /** `name` did not answer: it goes behind the others (unless it is the only one: nowhere else to go). */
  failed(name: string): void {
    if (this.names.length > 1 && this.names.includes(name)) this.failedPeers.add(name);
  }

  committed(height: number): void {
    this.height = Math.max(this.height, height);
  }

  /** A peer that failed answered with its height: back in its place if it has caught up. */
  answered(name: string, height: number): void {
    if (height >= this.height) this.failedPeers.delete(name);
  }

  /** Whether to ask the peers that failed now (none is being asked, the last time was `every` ms ago or more). */
  checkDue(every: number): boolean {
    if (this.checking || this.failedPeers.size === 0 || Date.now() - this.lastCheck < every) return false;
    this.checking = true;
    this.lastCheck = Date.now();
    return true;
  }

  checkDone(): void {
    this.checking = false;
  }
}

/**
 * With another gateway peer to go to, a dead one is given up after FAILOVER_WAIT_MS instead of fabric-common's 3 s,
 * which it may wait two or three times over (connect, reconnect, stream start): a submit's commit wait that began on
 * a peer killed while the adapter was idle took 9.6 s to move on. fabric-common reads the wait from the peer's
 * endpoint options, which the eventers and discoverers made for the peer copy, and from the peer's own copy.
 */
function failFast(peer: Endorser): void {
  const endpoint = peer as unknown as { endpoint?: { options?: Record<string, unknown> }; options?: Record<string, unknown> };
  for (const options of [endpoint.endpoint?.options, endpoint.options]) if (options) options['grpc-wait-for-ready-timeout'] = FAILOVER_WAIT_MS;
}

/** fabric-network's event services of a Network (not part of its typed interface). */
function eventServiceManager(network: Network) {
  return (network as unknown as { eventServiceManager: { newDefaultEventService(): unknown; newEventService(peers: Endorser[]): unknown; getCommitEventService(peer: Endorser): { close(): void } } })
    .eventServiceManager;
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
