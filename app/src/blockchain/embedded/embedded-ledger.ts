/**
 * The embedded adapter of LedgerGateway: several channels in this process, each running the
 * same compiled chaincode through fabric-shim's contract dispatch, with Fabric's endorse →
 * order → validate → commit flow, LevelDB state and history and hash-chained block files
 * under one data directory:
 *
 *   <dataDir>/msp/<mspId>.json         the organisations' certificate authorities
 *   <dataDir>/<channel>/blocks, state  one ledger per channel
 *
 * A channel's peer runs on this thread (LocalChannel, with endorsement on a shared pool of
 * workers) or, with `channelThreads`, entirely on a worker thread of its own (ChannelThread), so
 * that channels work in parallel. Either way proposals are built and signed here, with the
 * caller's identity, and enrolment stays here.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { EventLoopUtilization } from 'node:perf_hooks';
import {
  CommitError,
  EndorsementError,
  type BlockEvent,
  type ChainInfo,
  type ChannelNode,
  type ChaincodeEventRecord,
  type Checkpoint,
  type EnrolRequest,
  type EventStream,
  type LedgerGateway,
  type OrderingStatus,
  type StoredBlock,
  type SubmitResult,
  type TransactionRequest,
  type TransactionSummary,
} from '../gateway';
import { FUND_CHAINCODE, chaincodeIdOf, loadChaincodeModule, type ChaincodeModule } from './chaincode-module';
import { ChaincodeConnection } from './chaincode-support';
import { ChannelLedger } from './channel-ledger';
import { LocalChannel, type ChannelPeer, type Outcome, type Started } from './channel-peer';
import { ChannelThread } from './channel-thread';
import { ORDERER_MSP, OrderingService, PEER_MSP, type CbftSettings } from './cbft/ordering-service';
import { EndorserPool } from './endorser-pool';
import { certificateHash, subjectCommonName, type Identity } from './identity';
import { Membership } from './membership';
import { buildProposal, proposalFunction } from './proposal';
import { THESIS_BATCH, type BatchSettings } from './ledger/block-cutter';
import type { Block, StoredTransaction } from './ledger/block';

/**
 * ORDERER's value when the caller names no ordering service: so that every suite written for the
 * embedded ledger runs unchanged on CBFT with ORDERER=cbft (the platform's configuration passes it explicitly).
 */
export function ordererFromEnvironment(value: string | undefined): 'solo' | 'cbft' {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '' || v === 'solo') return 'solo';
  if (v === 'cbft') return 'cbft';
  throw new Error(`ORDERER must be "solo" or "cbft", not ${JSON.stringify(value)}`);
}

/** Which channels run on a thread of their own: all, none, or those named. */
export type ChannelThreads = 'all' | 'none' | readonly string[];

export interface EmbeddedLedgerOptions {
  dataDir: string;
  channels: readonly string[];
  /** Block cutting; defaults to the thesis's BatchTimeout 2 s, MaxMessageCount 10. */
  batch?: Partial<BatchSettings>;
  /**
   * Block cutting of particular channels, over `batch` (as each Fabric channel has its own in its configuration):
   * the routing channel's few, latency-critical transactions want a short BatchTimeout.
   */
  channelBatch?: Readonly<Record<string, Partial<BatchSettings>>>;
  /** Which chaincode runs on every channel, and the name proposals are built for (default FUND_CHAINCODE). */
  chaincodeModule?: ChaincodeModule;
  /** A chaincode to use instead of the in-process one (e.g. a CCaaS connection); channel threads cannot use it. */
  chaincode?: ChaincodeConnection;
  /** Proposal timestamps (the chaincode's notion of "now"); tests move it, the platform does not. */
  clock?: () => Date;
  /**
   * Endorsement worker threads shared by the channels that run on this thread (default: one per
   * core but one, at least one; none are started when every channel has a thread of its own).
   * 0 runs the chaincode on the calling thread; a custom `chaincode` connection always does.
   */
  endorsers?: number;
  /**
   * Channels whose whole peer (endorsement, block cutting, validation, commit, state database and
   * block store) runs on a worker thread of its own, so that channels work on separate cores
   * (default 'none'). Enrolment and proposal signing stay on this thread.
   */
  channelThreads?: ChannelThreads;
  /** Endorsement workers inside each channel thread (default 0: the channel thread runs the chaincode itself). */
  threadEndorsers?: number;
  /**
   * The ordering service: 'solo' (default), each channel's own block cutter, or 'cbft', the
   * credit-scored BFT service of N replicas on threads of their own (cbft/ordering-service.ts).
   */
  orderer?: 'solo' | 'cbft';
  cbft?: CbftSettings;
}

/**
 * LEDGER_CHANNEL_THREADS' value as channelThreads: unset, empty or "none" → none; "all" → every
 * channel; otherwise a comma-separated list of channel names.
 */
export function parseChannelThreads(value: string | undefined): ChannelThreads {
  const v = value?.trim() ?? '';
  if (v === '' || v === 'none') return 'none';
  if (v === 'all') return 'all';
  return v.split(',').map((c) => c.trim()).filter(Boolean);
}

export class EmbeddedLedger implements LedgerGateway {
  readonly backend = 'embedded' as const;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly membership: Membership,
    private readonly chaincodeModule: ChaincodeModule,
    private readonly peers: Map<string, ChannelPeer>,
    private readonly clock: () => Date,
    /** The main thread's chaincode, when this ledger started it (not a caller's connection). */
    private readonly ownChaincode: ChaincodeConnection | undefined,
    private readonly endorsers: EndorserPool | undefined,
    /** What a channel added later is opened with. */
    private readonly opened: Pick<EmbeddedLedgerOptions, 'dataDir' | 'threadEndorsers'> & { batch: BatchSettings },
    /** The CBFT ordering service, when it orders. */
    readonly orderingService: OrderingService | undefined,
  ) {}

  /**
   * Opens one more channel while the ledger runs (an operator adds a set), on a thread of its own. Its data folder
   * is created, or an existing one is opened as it is.
   */
  async addChannel(channel: string): Promise<void> {
    if (this.closing) throw new Error('the ledger is shutting down');
    if (this.peers.has(channel)) return;
    if (!/^[a-z][a-z0-9.-]{0,48}$/.test(channel)) throw new Error(`${JSON.stringify(channel)} is not a channel name (lower-case letters, digits, "." or "-")`);
    const membership = this.membership;
    const ordering = this.orderingService ? { ordering: this.orderingService.clientConfig() } : {};
    const peer = await ChannelThread.start({ dataDir: this.opened.dataDir, channel, batch: this.opened.batch, chaincode: this.chaincodeModule, endorsers: this.opened.threadEndorsers ?? 0, trustRoots: () => membership.roots(), ...ordering });
    this.peers.set(channel, peer);
  }

  static async open(opts: EmbeddedLedgerOptions): Promise<EmbeddedLedger> {
    if (opts.channels.length === 0) throw new Error('the embedded ledger needs at least one channel');
    const batch: BatchSettings = { ...THESIS_BATCH, ...opts.batch };
    const batchOf = (channel: string): BatchSettings => ({ ...batch, ...opts.channelBatch?.[channel] });
    const chaincodeModule = opts.chaincodeModule ?? FUND_CHAINCODE;
    const channels = [...new Set(opts.channels)];
    const threaded = threadedChannels(opts.channelThreads ?? 'none', channels);
    if (opts.chaincode && threaded.size > 0) throw new Error('a chaincode connection serves this thread only: channel threads run the chaincode module themselves');
    const local = channels.filter((c) => !threaded.has(c));
    const membership = await Membership.open(path.join(opts.dataDir, 'msp'));
    const ownChaincode =
      !opts.chaincode && local.length > 0 ? await ChaincodeConnection.inProcess(loadChaincodeModule(chaincodeModule), chaincodeIdOf(chaincodeModule)) : undefined;
    // After everything that can fail without threads to stop: replicas left running would keep the process alive.
    let service: OrderingService | undefined;
    try {
      if ((opts.orderer ?? ordererFromEnvironment(process.env.ORDERER)) === 'cbft') service = await OrderingService.start({ dataDir: opts.dataDir, membership, batch, channelBatch: opts.channelBatch, cbft: opts.cbft });
    } catch (err) {
      await ownChaincode?.close();
      throw err;
    }
    const ordering = service ? { ordering: service.clientConfig() } : {};
    const chaincode = opts.chaincode ?? ownChaincode;
    const peers = new Map<string, ChannelPeer>();
    let endorsers: EndorserPool | undefined;
    try {
      const threads = Promise.allSettled(
        [...threaded].map((channel) =>
          ChannelThread.start({ dataDir: opts.dataDir, channel, batch: batchOf(channel), chaincode: chaincodeModule, endorsers: opts.threadEndorsers ?? 0, trustRoots: () => membership.roots(), ...ordering }),
        ),
      );
      const ledgers: ChannelLedger[] = [];
      try {
        for (const channel of local) {
          ledgers.push(await ChannelLedger.open({ dataDir: opts.dataDir, channel, chaincode: chaincode!, namespace: chaincodeModule.name, batch: batchOf(channel), trustRoots: () => membership.roots(), ...ordering }));
        }
      } finally {
        for (const t of await threads) if (t.status === 'fulfilled') peers.set(t.value.channel, t.value);
        for (const l of ledgers) peers.set(l.channel, new LocalChannel(l));
      }
      const failed = (await threads).find((t) => t.status === 'rejected');
      if (failed) throw failed.reason;
      const workers = opts.chaincode || ledgers.length === 0 ? 0 : (opts.endorsers ?? Math.max(1, os.availableParallelism() - 1));
      if (workers > 0) {
        endorsers = await EndorserPool.start(workers, { chaincode: chaincodeModule }, new Map(ledgers.map((l) => [l.channel, l.store])));
        for (const ledger of ledgers) ledger.useEndorsers(endorsers);
      }
    } catch (err) {
      await endorsers?.close();
      await Promise.all([...peers.values()].map((p) => p.close().catch(() => undefined)));
      await ownChaincode?.close();
      await service?.close();
      throw err;
    }
    // In the order the caller named them.
    const ordered = new Map(channels.map((c) => [c, peers.get(c)!]));
    return new EmbeddedLedger(membership, chaincodeModule, ordered, opts.clock ?? (() => new Date()), ownChaincode, endorsers, { dataDir: opts.dataDir, threadEndorsers: opts.threadEndorsers, batch }, service);
  }

  channels(): string[] {
    return [...this.peers.keys()];
  }

  /** How busy a channel's own thread has been since it started (undefined when the channel runs on this thread). */
  channelThreadLoad(channel: string): EventLoopUtilization | undefined {
    const peer = this.peer(channel);
    return peer instanceof ChannelThread ? peer.eventLoopUtilization() : undefined;
  }

  enrol(req: EnrolRequest): Promise<Identity> {
    return this.membership.enrol(req);
  }

  async submit(identity: Identity, req: TransactionRequest): Promise<SubmitResult> {
    const { txId, started } = await this.start(identity, req, true);
    return committed(txId, await started.outcome);
  }

  /**
   * Like fabric-gateway's submitAsync: resolves once the transaction is endorsed and with the
   * orderer (throws EndorsementError if it was refused), with `committed` to follow, which
   * settles as submit() would.
   */
  async submitAsync(identity: Identity, req: TransactionRequest): Promise<{ txId: string; committed: Promise<SubmitResult> }> {
    const { txId, started } = await this.start(identity, req, true, true);
    const result = started.outcome.then((o) => committed(txId, o));
    if (!started.ordered) await result;
    return { txId, committed: result };
  }

  async evaluate(identity: Identity, req: TransactionRequest): Promise<Buffer> {
    const { txId, started } = await this.start(identity, req, false);
    return settled(txId, await started.outcome).payload;
  }

  async chainInfo(channel: string): Promise<ChainInfo> {
    return this.peer(channel).chainInfo();
  }

  async getBlock(channel: string, n: number): Promise<BlockEvent> {
    return blockEvent(channel, await this.peer(channel).getBlock(n));
  }

  async storedBlock(channel: string, n: number): Promise<StoredBlock> {
    const { number, previousHash, dataHash, transactions } = await this.peer(channel).getBlock(n);
    return { number, previousHash, dataHash, transactions };
  }

  async getTransaction(channel: string, txId: string): Promise<(TransactionSummary & { blockNumber: number }) | undefined> {
    const found = await this.peer(channel).getTransaction(txId);
    return found && { ...summary(found.transaction, found.txNum), blockNumber: found.blockNumber };
  }

  blockEvents(channel: string, startBlock = 0): EventStream<BlockEvent> {
    return mapStream(this.peer(channel).blocks(startBlock), (block) => [blockEvent(channel, block)]);
  }

  chaincodeEvents(channel: string, checkpoint: Checkpoint = { blockNumber: 0 }): EventStream<ChaincodeEventRecord> {
    return mapStream(this.peer(channel).blocks(checkpoint.blockNumber), (block) => {
      const events = chaincodeEventsOf(channel, block);
      if (block.number !== checkpoint.blockNumber || !checkpoint.txId) return events;
      const seen = events.findIndex((e) => e.txId === checkpoint.txId);
      return events.slice(seen + 1);
    });
  }

  async history(identity: Identity, channel: string, entity: 'Project' | 'Draft', id: string): Promise<unknown[]> {
    const payload = await this.evaluate(identity, { channel, fcn: `${entity}:history`, args: [id] });
    return JSON.parse(payload.toString('utf8')) as unknown[];
  }

  /** Orders what is pending, commits it, closes every channel (and its thread) and the chaincode. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Everything is closed even if a channel fails to (a thread or replica left running keeps the process alive).
      const channels = await Promise.allSettled([...this.peers.values()].map((p) => p.close()));
      await this.endorsers?.close();
      await this.ownChaincode?.close();
      // Last: the channels' closing flushes what they handed to it.
      await this.orderingService?.close();
      const failed = channels.find((c): c is PromiseRejectedResult => c.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return this.closing;
  }

  /**
   * A set here is one peer, the channel's own (on a thread of its own, or on this thread), in the peer organisation
   * the CBFT service's clients belong to; with CBFT, the replicas that order its blocks too. None of them listens on
   * a port of its own for the platform (the replicas' loopback ports change at every start): ports 0.
   */
  async channelNodes(channel: string): Promise<ChannelNode[]> {
    const peer = this.peers.get(channel);
    const where = peer && !(peer instanceof ChannelThread) ? "on the platform's main thread" : 'on a thread of its own';
    const peerCa = await this.membership.authority(PEER_MSP);
    const nodes: ChannelNode[] = [
      { nodeId: `embedded-${channel}`, listenIp: '127.0.0.1', p2pPort: 0, rpcPort: 0, nodeType: 'peer', desc: `the set's peer: channel ${channel} of the embedded ledger, in the platform's process ${where}`, caHash: certificateHash(peerCa.certificate), agencyInfo: PEER_MSP },
    ];
    const service = this.orderingService;
    if (service) {
      const caHash = certificateHash((await this.membership.authority(ORDERER_MSP)).certificate);
      for (let i = 0; i < service.n; i++) {
        nodes.push({ nodeId: `embedded-${channel}-replica${i}`, listenIp: '127.0.0.1', p2pPort: 0, rpcPort: 0, nodeType: 'orderer', desc: `CBFT replica ${i} of ${service.n} (f = ${service.f}), on a thread of the platform's process`, caHash, agencyInfo: ORDERER_MSP });
      }
    }
    return nodes;
  }

  async orderingStatus(): Promise<OrderingStatus> {
    const service = this.orderingService;
    if (!service) return { service: 'solo' };
    return { service: 'cbft', n: service.n, f: service.f, rule: service.rule, replicas: await service.status() };
  }

  /** The ledger of one channel that runs on this thread, for the operator tools. */
  ledger(channel: string): ChannelLedger {
    const peer = this.peer(channel);
    if (!(peer instanceof LocalChannel)) throw new Error(`channel ${JSON.stringify(channel)} runs on a thread of its own: its ChannelLedger is not reachable from this thread`);
    return peer.ledger;
  }

  private peer(channel: string): ChannelPeer {
    const peer = this.peers.get(channel);
    if (!peer) throw new Error(`unknown channel ${JSON.stringify(channel)}; this ledger has ${this.channels().join(', ')}`);
    return peer;
  }

  /**
   * Builds and signs the proposal here, with the caller's identity, lets a submit's `beforeEndorse`
   * see its txId, then has the channel's peer endorse it (and, for a submit, order it).
   */
  private async start(identity: Identity, req: TransactionRequest, submit: boolean, tellOrdered = false): Promise<{ txId: string; started: Started }> {
    const peer = this.peer(req.channel);
    if (this.closing) throw new Error('the ledger is shutting down');
    const proposal = buildProposal({ channel: peer.channel, chaincode: this.chaincodeModule.name, args: [req.fcn, ...(req.args ?? [])], identity, timestamp: this.clock() });
    if (submit) await req.beforeEndorse?.(proposal.txId);
    return { txId: proposal.txId, started: await peer.start(proposal.signedProposal, submit, tellOrdered) };
  }
}

/** The outcome as the gateway reports it: the chaincode's payload, or EndorsementError / CommitError. */
function settled(txId: string, outcome: Outcome): Outcome & { kind: 'done' } {
  if (outcome.kind === 'refused') throw new EndorsementError(txId, outcome.status, outcome.message);
  if (outcome.kind === 'invalid') throw new CommitError(txId, outcome.blockNumber, outcome.code, outcome.message);
  return outcome;
}

function committed(txId: string, outcome: Outcome): SubmitResult {
  const { blockNumber, payload } = settled(txId, outcome);
  return { txId, blockNumber: blockNumber!, payload };
}

/** The channels of `channels` that get a thread of their own; names that are not among them are an error. */
function threadedChannels(option: ChannelThreads, channels: readonly string[]): Set<string> {
  if (option === 'none') return new Set();
  if (option === 'all') return new Set(channels);
  const unknown = option.filter((c) => !channels.includes(c));
  if (unknown.length > 0) throw new Error(`channel threads asked for ${unknown.map((c) => JSON.stringify(c)).join(', ')}, which this ledger does not have (${channels.join(', ')})`);
  return new Set(option);
}

function mapStream<T, U>(source: AsyncIterable<T> & { close(): void }, map: (item: T) => Iterable<U>): EventStream<U> {
  const mapped = (async function* () {
    for await (const item of source) yield* map(item);
  })();
  return { [Symbol.asyncIterator]: () => mapped, close: () => source.close() };
}

function blockEvent(channel: string, block: Block): BlockEvent {
  return {
    channel,
    number: block.number,
    previousHash: block.previousHash,
    dataHash: block.dataHash,
    cutAt: block.metadata.cutAt,
    transactions: block.transactions.map(summary),
  };
}

function summary(tx: StoredTransaction, txNum: number): TransactionSummary {
  const summary = {
    txId: tx.txId,
    txNum,
    creatorMspId: tx.creator.mspId,
    creator: subjectCommonName(tx.creator.certificate),
    timestamp: tx.timestamp,
    fcn: '',
    validationCode: tx.validationCode,
    ...(tx.validationMessage ? { validationMessage: tx.validationMessage } : {}),
  };
  // The function name is decoded from the signed proposal when first read: a block reader that only counts valid
  // transactions (a benchmark's, the monitoring's) would otherwise decode every proposal of every block.
  let fcn: string | undefined;
  return Object.defineProperty(summary, 'fcn', { enumerable: true, get: () => (fcn ??= proposalFunction(Buffer.from(tx.signedProposal, 'base64'))) });
}

function chaincodeEventsOf(channel: string, block: Block): ChaincodeEventRecord[] {
  return block.transactions.flatMap((tx, txNum) =>
    tx.validationCode === 'VALID' && tx.event
      ? [{ channel, blockNumber: block.number, txNum, txId: tx.txId, chaincode: tx.results.namespace, name: tx.event.name, payload: Buffer.from(tx.event.payload, 'base64') }]
      : [],
  );
}
