/**
 * One run of the thesis's chapter 5 experiment (tables 5.2 and 5.3) on the embedded ledger, spawned once per run by
 * scripts/bench.mjs (`npm run bench -- chapter5`): `sets` business channels ("sets", thesis 4.3) of one EmbeddedLedger,
 * each on a thread of its own (channelThreads 'all', unless `channelThreads` says 'none'), each loaded by `clients`
 * clients, at the thesis's block settings. The workload is the thesis's pressure contract (chaincode/src/pressure,
 * deployed alone) or the platform's full workflow (workload.ts's walkProjects).
 *
 * What a client is. The thesis's clients were bash loops of `peer chaincode invoke`, which returns once the peer has
 * endorsed the transaction and the orderer has accepted it, not at its commit; one such process made at most
 * ~12.7 requests/s (table 5.1: 79 ms an invoke, most of it the CLI starting up). A pressure client here is that loop
 * with our client's cost: it sends an `add`, waits until the transaction is endorsed and with the orderer, and sends
 * the next; its commit is awaited on the side (that is the latency reported). A closed loop waiting for each commit
 * would be bound by BatchTimeout instead (1 client: one add per 2-second block, 0.5 tx/s), and clients paced at the
 * thesis's 79 ms would measure only the pace (`paceMs` adds such a pace, for comparison). A workflow client must wait
 * for each commit (its next step reads what the last wrote): it walks projects as the other benchmarks do, so with
 * fewer clients per set than MaxMessageCount its blocks are cut by BatchTimeout.
 *
 * Clients per set: table 5.3's one-process column gives Set1 12.8 and Set2 12.1 tx/s, together more than one process
 * could send (12.7 req/s), so each set had processes of its own; `clients` is per set here too.
 *
 * Measured per set: the thesis's formula 5.2, valid transactions in `blocks` consecutive blocks ÷ the time between the
 * first's and the last's commit, after `warmupBlocks`; the system's figure is the sum over the sets, as the thesis
 * added Set1 and Set2. CPU per committed transaction: process.cpuUsage() (user + system, every thread of the process:
 * the channel threads too) from the first set's first measured block to the last set's last one, ÷ the valid
 * transactions committed on all sets in between. Latency: submit → commit, of the adds committed in the measured
 * blocks (pressure), of the submits after the warm-up (workflow). Peak RSS: the process's high-water mark (VmHWM).
 *
 * Usage: node chapter5-bench.js '{"workload":"pressure","sets":2,"clients":10}'
 * Prints one JSON row on its last line of output; progress goes to stderr.
 */
process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'ERROR';
import * as os from 'node:os';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedLedger, FUND_CHAINCODE, type ChaincodeModule, type ChannelThreads, type Identity } from '@fund/app/dist/blockchain/embedded';
import type { BatchSettings } from '@fund/app/dist/blockchain/embedded/ledger/block-cutter';
import { MSP_OF_ROLE } from '@fund/app/dist/blockchain/msp';
import { ChaincodeHarness } from '../chaincode/support/harness';
import { actor, setUpProvince } from '../chaincode/support/fixture';
import { removeDir, tempDir } from '../ledger/support/ledger';
import { percentile, processMemory, thesisThroughput, timeSubmits, walkProjects, type BlockSeen } from './workload';

export interface Chapter5Params {
  workload: 'pressure' | 'workflow';
  sets: number;
  /** Clients per set (the thesis's column). */
  clients: number;
  maxMessageCount?: number;
  batchTimeoutMs?: number;
  preferredMaxBytes?: number;
  /** Blocks committed on each set before measuring (default 300: the JIT is warm, as the thesis's network was). */
  warmupBlocks?: number;
  /** Consecutive blocks measured on each set (default 100, the thesis's n). */
  blocks?: number;
  /** Pressure clients: least time between one client's requests (the thesis's CLI took 79 ms). */
  paceMs?: number;
  /** Pressure: transactions of a set allowed between endorsement and commit, in blocks of MaxMessageCount (default 16). */
  uncommittedBlocks?: number;
  /** The row's scenario name (default `chapter5 <workload>`): the same run measured for another table. */
  scenario?: string;
  /** Which sets run on a thread of their own (default 'all'). */
  channelThreads?: ChannelThreads;
}

/** Thesis 5.1.1 (3): BatchTimeout 2 s, MaxMessageCount 10, PreferredMaxBytes 512 KB. */
const THESIS_SETTINGS: BatchSettings = { maxMessageCount: 10, batchTimeoutMs: 2000, preferredMaxBytes: 512 * 1024 };

const PRESSURE_CHAINCODE: ChaincodeModule = { name: 'pressure', version: '0.1.0', module: '@fund/chaincode', exportName: 'pressureContracts' };

/** Where a committed transaction landed. */
export interface Committed {
  channel: string;
  blockNumber: number;
}

/**
 * How a client sends one request: resolves when the client may send its next one (the transaction is with the
 * orderer, as with fabric-gateway's submitAsync or the peer CLI's invoke), with `committed` settling at its commit.
 * A relay in front of the sets plugs in here.
 */
export type Submit = (clientIndex: number) => Promise<{ committed: Promise<Committed> }>;

const log = (message: string) => process.stderr.write(`  [chapter5] ${message}\n`);

/** Admits up to `limit` holders at once; the others wait in arrival order. */
class Slots {
  private used = 0;
  private readonly queue: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async take(): Promise<void> {
    if (this.used < this.limit) {
      this.used += 1;
      return;
    }
    await new Promise<void>((resolve) => this.queue.push(resolve));
  }

  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.used -= 1;
  }
}

/**
 * `fcn` on `channelOf(client)` through the embedded ledger's gateway: EmbeddedLedger.submitAsync, which returns once
 * the transaction is endorsed and with the orderer, as the thesis's `peer chaincode invoke` did.
 *
 * At most `maxUncommitted` transactions of a set are between endorsement and commit; a client's next request waits for
 * a place. Fabric bounds this pipeline (solo's Broadcast waits while the orderer writes a block, a peer's block buffer
 * is bounded, a commit holds the state lock that simulations need); the embedded ledger does not. Without a bound,
 * clients that do not wait for commits endorse ahead of the committer: with the chaincode on the ledger's thread,
 * 100 clients got 6 s p50 and a quarter of the throughput, 1,000 clients 34 s and 32 tx/s; on channel threads the
 * backlog's commits arrive here in bursts that formula 5.2's 100 blocks mistake for speed (57,000 "tx/s" from 2 sets).
 * The default, 16 blocks' worth, is what the committer itself lets wait for the disk (MAX_PENDING_BLOCKS).
 */
function viaGateway(
  ledger: EmbeddedLedger,
  fcn: string,
  channelOf: (client: number) => string,
  identityOf: (client: number) => Identity,
  maxUncommitted: number,
): Submit {
  const slots = new Map(ledger.channels().map((channel) => [channel, new Slots(maxUncommitted)]));
  return async (client) => {
    const channel = channelOf(client);
    const slot = slots.get(channel)!;
    await slot.take();
    let committed: Promise<Committed>;
    try {
      committed = (await ledger.submitAsync(identityOf(client), { channel, fcn })).committed.then((r) => ({ channel, blockNumber: r.blockNumber }));
    } catch (err) {
      slot.release();
      throw err;
    }
    committed.then(
      () => slot.release(),
      () => slot.release(),
    );
    return { committed };
  };
}

/** One pressure client: its next request as soon as the last is with the orderer (and `paceMs` has passed). */
async function pressureClient(client: number, submit: Submit, stopped: () => boolean, paceMs: number, onCommit: (c: Committed, latencyMs: number) => void, pending: Set<Promise<void>>): Promise<void> {
  while (!stopped()) {
    const t0 = performance.now();
    const { committed } = await submit(client);
    const done: Promise<void> = committed.then((c) => onCommit(c, performance.now() - t0)).finally(() => pending.delete(done));
    pending.add(done);
    const rest = t0 + paceMs - performance.now();
    // A real client's next request crosses a network; this one at least yields a turn of the event loop, so that a
    // chaincode answering by promises alone cannot keep the committer's I/O callbacks from running.
    await (rest > 0 ? sleep(rest) : nextTurn());
  }
}

/** What a workload gives the measurement. */
/** The parameters with their defaults (the scenario name only labels the row). */
type Settings = Required<Omit<Chapter5Params, 'scenario'>>;

interface Load {
  ledger: EmbeddedLedger;
  client: string;
  /** Starts the clients; the returned function stops them and resolves when every request has settled. */
  start(): () => Promise<void>;
  /** The warm-up is over: from here on latencies count (transactions in blocks first..last of their set). */
  measureFrom(first: Map<string, number>, last: Map<string, number>): void;
  latencies(): number[];
  /** Refuses the run if the ledger's state disagrees with what the clients saw committed. */
  check(): Promise<void>;
}

function openLedger(p: Settings, dataDir: string, channels: string[], chaincodeModule: ChaincodeModule, batch: Partial<BatchSettings>): Promise<EmbeddedLedger> {
  return EmbeddedLedger.open({ dataDir, channels, batch, chaincodeModule, channelThreads: p.channelThreads });
}

async function pressureLoad(p: Settings, dataDir: string, channels: string[]): Promise<Load> {
  // Account A is opened with quick blocks; the ledger is then reopened with the settings under test.
  const setup = await openLedger(p, dataDir, channels, PRESSURE_CHAINCODE, { batchTimeoutMs: 5 });
  const enrol = (set: number) => setup.enrol({ enrollmentId: `pressure${set + 1}@BANK-GZ`, mspId: MSP_OF_ROLE.bank, role: 'bank', org: 'BANK-GZ' });
  const identities = await Promise.all(channels.map((_, set) => enrol(set)));
  await Promise.all(channels.map((channel, set) => setup.submit(identities[set], { channel, fcn: 'PressureMeasure:init' })));
  await setup.close();

  const ledger = await openLedger(p, dataDir, channels, PRESSURE_CHAINCODE, { maxMessageCount: p.maxMessageCount, batchTimeoutMs: p.batchTimeoutMs, preferredMaxBytes: p.preferredMaxBytes });
  const setOf = (client: number) => client % channels.length;
  const submit = viaGateway(ledger, 'PressureMeasure:add', (c) => channels[setOf(c)], (c) => identities[setOf(c)], p.uncommittedBlocks * p.maxMessageCount);
  const committedAdds = new Map(channels.map((c) => [c, 0]));
  const latencies: number[] = [];
  let window: { first: Map<string, number>; last: Map<string, number> } | undefined;
  const onCommit = (c: Committed, ms: number) => {
    committedAdds.set(c.channel, committedAdds.get(c.channel)! + 1);
    if (window && c.blockNumber >= window.first.get(c.channel)! && c.blockNumber <= window.last.get(c.channel)!) latencies.push(ms);
  };
  return {
    ledger,
    client: `sends its next add once the last is with the orderer${p.paceMs > 0 ? `, at most one per ${p.paceMs} ms` : ''}; at most ${p.uncommittedBlocks * p.maxMessageCount} uncommitted per set`,
    start() {
      let stop = false;
      const pending = new Set<Promise<void>>();
      const clients = Array.from({ length: p.clients * channels.length }, (_, i) => pressureClient(i, submit, () => stop, p.paceMs, onCommit, pending));
      return async () => {
        stop = true;
        await Promise.all(clients);
        while (pending.size > 0) await Promise.all([...pending]);
      };
    },
    measureFrom(first, last) {
      window = { first, last };
    },
    latencies: () => latencies,
    async check() {
      const reader = await ledger.enrol({ enrollmentId: 'auditor@AUDIT', mspId: MSP_OF_ROLE.auditor, role: 'auditor', org: 'AUDIT' });
      for (const channel of channels) {
        const balance = JSON.parse((await ledger.evaluate(reader, { channel, fcn: 'PressureMeasure:get' })).toString('utf8')) as number;
        const adds = committedAdds.get(channel)!;
        if (balance !== 100 + adds) throw new Error(`${channel}: A is ${balance}, but 100 + ${adds} adds were committed`);
      }
    },
  };
}

async function workflowLoad(p: Settings, dataDir: string, channels: string[]): Promise<Load> {
  // The province is registered on every set with quick blocks; then the ledger is reopened with the settings under test.
  const noEvents = async () => [];
  const setup = await openLedger(p, dataDir, channels, FUND_CHAINCODE, { batchTimeoutMs: 5 });
  await Promise.all(channels.map((channel) => setUpProvince(ChaincodeHarness.onGateway(setup, noEvents, channel))));
  await setup.close();

  const ledger = await openLedger(p, dataDir, channels, FUND_CHAINCODE, { maxMessageCount: p.maxMessageCount, batchTimeoutMs: p.batchTimeoutMs, preferredMaxBytes: p.preferredMaxBytes });
  // One harness per set, whose submit waits for the commit (never closed: that would close the shared ledger).
  const harnesses = channels.map((channel) => ChaincodeHarness.onGateway(ledger, noEvents, channel));
  const latencies: number[][] = [];
  return {
    ledger,
    client: 'walks projects through the workflow, waiting for each commit',
    start() {
      let stop = false;
      const clients = harnesses.flatMap((h) => Array.from({ length: p.clients }, async () => walkProjects(h, await actor(h, 'unit'), () => stop)));
      return async () => {
        stop = true;
        await Promise.all(clients);
      };
    },
    measureFrom() {
      for (const h of harnesses) latencies.push(timeSubmits(h));
    },
    latencies: () => latencies.flat(),
    async check() {},
  };
}

/** The busy share of an event loop between two readings of its cumulative utilisation. */
function busyShare(later: EventLoopUtilization, earlier: EventLoopUtilization): number {
  const active = later.active - earlier.active;
  return active / (active + later.idle - earlier.idle);
}

async function main(): Promise<void> {
  const given = JSON.parse(process.argv[2] ?? '{}') as Chapter5Params;
  const p: Settings = { ...THESIS_SETTINGS, warmupBlocks: 300, blocks: 100, paceMs: 0, uncommittedBlocks: 16, channelThreads: 'all', ...given };
  const channels = Array.from({ length: p.sets }, (_, i) => `business${i + 1}`);
  const dataDir = tempDir();
  let ledger: EmbeddedLedger | undefined;
  try {
    const load = await (p.workload === 'pressure' ? pressureLoad : workflowLoad)(p, dataDir, channels);
    ledger = load.ledger;
    const heights = await Promise.all(channels.map(async (c) => (await ledger!.chainInfo(c)).height));
    const start = new Map(channels.map((c, i) => [c, heights[i]]));
    const first = new Map(channels.map((c) => [c, start.get(c)! + p.warmupBlocks]));
    const last = new Map(channels.map((c) => [c, first.get(c)! + p.blocks - 1]));

    // Commit time and valid count of every block of every set; CPU and the running valid count where the window opens
    // (the first set's first measured block) and where it closes (the last set's last one).
    const seen = new Map(channels.map((c) => [c, new Map<number, BlockSeen>()]));
    // The same blocks at the time the orderer cut them (the block's own timestamp, as formula 5.2 literally has it).
    const cut = new Map(channels.map((c) => [c, new Map<number, BlockSeen>()]));
    let valid = 0;
    let finished = 0;
    type Mark = { cpu: NodeJS.CpuUsage; elu: EventLoopUtilization; sets: Array<EventLoopUtilization | undefined>; valid: number; at: number };
    const mark = (): Mark => ({ cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), sets: channels.map((c) => ledger!.channelThreadLoad(c)), valid, at: performance.now() });
    let opened: Mark | undefined;
    let closed: Mark | undefined;
    const watchers = channels.map(async (channel) => {
      const stream = ledger!.blockEvents(channel, start.get(channel)!);
      for await (const b of stream) {
        const ok = b.transactions.filter((t) => t.validationCode === 'VALID').length;
        seen.get(channel)!.set(b.number, { at: performance.now(), valid: ok, invalid: b.transactions.length - ok });
        cut.get(channel)!.set(b.number, { at: Date.parse(b.cutAt), valid: ok, invalid: b.transactions.length - ok });
        valid += ok;
        if (b.number === first.get(channel) && !opened) {
          opened = mark();
          load.measureFrom(first, last);
          log(`warm-up over on ${channel}: measuring`);
        }
        if (b.number === last.get(channel) && ++finished === channels.length) closed = mark();
        if (b.number >= last.get(channel)!) break;
      }
      stream.close();
    });

    const stop = load.start();
    await Promise.all(watchers);
    await stop();
    await load.check();

    const perSet = channels.map((c) => thesisThroughput(seen.get(c)!, first.get(c)!, last.get(c)!));
    const cpuMs = (closed!.cpu.user + closed!.cpu.system - opened!.cpu.user - opened!.cpu.system) / 1000;
    const seconds = (closed!.at - opened!.at) / 1000;
    const sum = (f: (r: (typeof perSet)[number]) => number) => perSet.reduce((s, r) => s + f(r), 0);
    const row = {
      scenario: given.scenario ?? `chapter5 ${p.workload}`,
      backend: 'embedded',
      via: 'gateway',
      orderer: 'solo (in-process block cutter)',
      channelThreads: p.channelThreads,
      client: load.client,
      sets: p.sets,
      /** Per set, the thesis's column. */
      clients: p.clients,
      maxMessageCount: p.maxMessageCount,
      batchTimeoutMs: p.batchTimeoutMs,
      preferredMaxBytes: p.preferredMaxBytes,
      ...(p.paceMs > 0 ? { paceMs: p.paceMs } : {}),
      txs: sum((r) => r.txs),
      invalidTxs: sum((r) => r.invalidTxs),
      /** Consecutive blocks measured on each set (the thesis's formula takes 100). */
      blocks: p.blocks,
      warmupBlocks: p.warmupBlocks,
      tps: Math.round(sum((r) => r.tps) * 10) / 10,
      perSetTps: perSet.map((r) => r.tps),
      /**
       * Formula 5.2 over the blocks' cut times instead of their commits: a cross-check. Commits reach this thread in
       * bursts (a group commit, a channel thread's batched notices), which a short window can mistake for speed.
       */
      tpsByCutTime: Math.round(channels.reduce((s, c) => s + thesisThroughput(cut.get(c)!, first.get(c)!, last.get(c)!).tps, 0) * 10) / 10,
      p50Ms: percentile(load.latencies(), 0.5),
      p99Ms: percentile(load.latencies(), 0.99),
      peakRssMb: Math.round(processMemory(process.pid, 'VmHWM') / 1024 / 1024),
      /** Share of one core the whole process (all threads) used over the measured window. */
      cpuPercent: Math.round((cpuMs / 1000 / seconds) * 100),
      cpuMsPerTx: Math.round((cpuMs / (closed!.valid - opened!.valid)) * 1000) / 1000,
      /** How busy this process's main thread (clients, proposal signing, the gateway) was over the window. */
      mainThreadBusyPercent: Math.round(performance.eventLoopUtilization(closed!.elu, opened!.elu).utilization * 100),
      /** How busy each set's own thread was (endorsement, ordering, validation, commit): 100 is its core saturated. */
      setThreadBusyPercent: channels.map((_, i) => (closed!.sets[i] && opened!.sets[i] ? Math.round(busyShare(closed!.sets[i]!, opened!.sets[i]!) * 100) : null)),
      cores: os.availableParallelism(),
      /** The machine's 1-minute load average as the window closed (this run's threads included): others' work shows here. */
      loadAverage: Math.round(os.loadavg()[0] * 10) / 10,
    };
    console.log(JSON.stringify(row));
  } finally {
    await ledger?.close();
    removeDir(dataDir);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
