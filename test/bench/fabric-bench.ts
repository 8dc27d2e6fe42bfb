/**
 * One run of the Fabric benchmark (spawned once per run by scripts/bench.mjs, or run by hand): on the native Fabric
 * network of `npm run network`, through the app's Fabric adapter (FabricLedger, FABRIC_ORG=province), `sets` business
 * channels (LEDGER_SETS: business, business2, …, beside an idle routing channel), each loaded by `clients` clients
 * running one of two workloads:
 *
 * - `workflow` (default): the ledger benchmark's clients (workload.ts's walkProjects): each walks projects through the
 *   whole workflow — file, approve (signed drafts), serial + bank record for every hop, accept ×3, progress to 100 % —
 *   waiting for each commit (the next step reads what the last wrote). The province is set up on every set first.
 * - `pressure`: thesis chapter 5's one-key contract (chaincode `pressure`, `PressureMeasure:add`, deployed with
 *   `deployCC pressure`). A client sends its next add as soon as the orderer has accepted the last one
 *   (FabricLedger.submitAsync), as the thesis's clients (loops of `peer chaincode invoke`) did; the commit is awaited
 *   on the side. Afterwards each set's balance must be 100 + the adds seen committed there.
 *
 * It brings the network up with the run's batch settings (createChannel reads BATCH_TIMEOUT_MS /
 * BATCH_MAX_MESSAGE_COUNT / BATCH_PREFERRED_MAX_BYTES), deploys the chaincode, and takes the network down at the end,
 * also after a failure. It refuses to run while a network is up (it would be torn down).
 *
 * Measured:
 * - throughput the thesis's way, per set: valid transactions in `blocks` consecutive blocks (default 100) ÷ time
 *   between the commit of the first and of the last of them (as the province's peer reports them in filtered block
 *   events), after `warmupBlocks`; the system's figure is the sum over the sets, as the thesis added Set1 and Set2;
 * - latency: submit → commit seen on the province's peer, of the transactions committed in the measured window;
 * - CPU per committed transaction, by process: user + system time from /proc/<pid>/stat of every process of
 *   data/fabric/pids.json (orderer, three peers, chaincode server) and process.cpuUsage() of this process (the client:
 *   adapter, SDK, load), over the window from the moment every set has begun its measured blocks to the moment every
 *   set has committed them, ÷ the valid transactions committed on all sets in that window; with the machine's own
 *   busy time (/proc/stat) beside it, which shows any other load on the machine;
 * - peak RSS of this process and of the Fabric processes summed.
 *
 * Usage: node fabric-bench.js '{"workload":"pressure","sets":2,"clients":10,"maxMessageCount":10,"batchTimeoutMs":2000,"preferredMaxBytes":524288}'
 * Prints one JSON row on its last line of output; progress goes to stderr.
 */
process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'ERROR';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Gateway, type BlockListener, type X509Identity } from 'fabric-network';
import { channelLayout, loadConnectionProfile, type FabricLedger } from '@fund/app/dist/blockchain/fabric';
import type { Identity } from '@fund/app/dist/blockchain/embedded';
import { MSP_OF_ROLE } from '@fund/app/dist/blockchain/msp';
import { ChaincodeHarness } from '../chaincode/support/harness';
import { CONFIG, ORGS, actor, type OrgKey } from '../chaincode/support/fixture';
import { FABRIC_DIR, openFabric, runningNetwork, script } from '../fabric/support';
import { percentile, processMemory, thesisThroughput, walkProjects, type BlockSeen, type WorkflowBenchParams } from './workload';

interface Params extends WorkflowBenchParams {
  /** What the clients run (default workflow). */
  workload?: 'workflow' | 'pressure';
  /** Business channels (default 1). */
  sets?: number;
  /** The orderer's PreferredMaxBytes (the thesis: 512 KB); default the network script's 2 MiB. */
  preferredMaxBytes?: number;
  /** Give up when no block has come on some set for this long (default 120 s). */
  stallSeconds?: number;
}

const log = (message: string) => process.stderr.write(`  [fabric-bench] ${message}\n`);
const round1 = (x: number) => Math.round(x * 10) / 10;

/** How many Raft orderers the network runs (data/fabric/network.json, written by `network up`; before it: one). */
function raftNodes(): number {
  try {
    return (JSON.parse(readFileSync(path.join(FABRIC_DIR, 'network.json'), 'utf8')) as { orderers: number }).orderers;
  } catch {
    return 1;
  }
}

/** The processes of the network (data/fabric/pids.json) by name. */
function networkPids(): Map<string, number> {
  try {
    const pids = JSON.parse(readFileSync(path.join(FABRIC_DIR, 'pids.json'), 'utf8')) as Record<string, { pid: number }>;
    return new Map(Object.entries(pids).map(([name, { pid }]) => [name, pid]));
  } catch {
    return new Map(); // no network (yet)
  }
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** A process's user + system CPU time in ms (its threads included), from /proc/<pid>/stat; 0 if it is gone. */
function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 (state): utime is field 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS) * 1000;
  } catch {
    return 0;
  }
}

/** The machine's busy CPU time in ms, all cores (/proc/stat: everything but idle and iowait). */
function machineBusyMs(): number {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = values.map(Number);
  return ((user + nice + system + irq + softirq + steal) / CLOCK_TICKS) * 1000;
}

/** CPU used so far: every network process by name, this process as `client`, and the whole machine. */
function cpuSnapshot() {
  const byProcess = new Map<string, number>();
  for (const [name, pid] of networkPids()) byProcess.set(name, processCpuMs(pid));
  const own = process.cpuUsage();
  byProcess.set('client', (own.user + own.system) / 1000);
  return { byProcess, machine: machineBusyMs() };
}

/**
 * Calls `onBlock` with the number and the transactions' validation codes of every block of `channel` from
 * `startBlock`, as the province's peer commits them (fabric-network's filtered block events, as cryptogen's User1 of
 * the province, the adapter's own reading identity); returns what stops it.
 */
async function filteredBlocks(channel: string, startBlock: number, onBlock: (n: number, statuses: string[]) => void): Promise<() => void> {
  const profile = loadConnectionProfile({ dir: FABRIC_DIR, org: 'province', chaincode: 'fund', timeoutSeconds: 60 });
  const own = profile.organisations.get(profile.mspId)!;
  const gateway = new Gateway();
  const identity: X509Identity = { type: 'X.509', mspId: profile.mspId, credentials: { certificate: own.user.certificate, privateKey: own.user.privateKey } };
  await gateway.connect(profile.json, { identity, discovery: { enabled: true, asLocalhost: true } });
  const network = await gateway.getNetwork(channel);
  const listener: BlockListener = async (event) => onBlock(event.blockNumber.toNumber(), event.getTransactionEvents().map((t) => t.status));
  await network.addBlockListener(listener, { type: 'filtered', startBlock });
  return () => {
    network.removeBlockListener(listener);
    gateway.disconnect();
  };
}

/**
 * Right after deployCC the peers' discovery may not know the chaincode on every peer yet (gossip spreads it):
 * "failed constructing descriptor for chaincodes". The first submit on a channel waits for that, up to a minute.
 */
async function once<T>(what: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await what();
    } catch (err) {
      if (!/failed constructing descriptor/.test((err as Error).message) || Date.now() > deadline) throw err;
      log('discovery does not know the chaincode on every peer yet; retrying in 1 s');
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/**
 * The province's set-up (fixture's setUpProvince) in three rounds instead of fifteen sequential submits: with
 * 2-second blocks that saves half a minute. Organisations write only their own keys (banks first: accounts name them).
 */
async function setUp(h: ChaincodeHarness): Promise<void> {
  const admin = await actor(h, 'platform');
  await once(() => h.ok(admin, 'Config:initialise', JSON.stringify(CONFIG), JSON.stringify({ id: ORGS.platform.id, name: ORGS.platform.name })));
  const keys = (Object.keys(ORGS) as OrgKey[]).filter((k) => k !== 'platform');
  const register = (k: OrgKey) => h.ok(admin, 'Organisation:register', JSON.stringify({ ...ORGS[k], mspId: MSP_OF_ROLE[ORGS[k].type] }));
  await Promise.all(keys.filter((k) => ORGS[k].type === 'bank').map(register));
  await Promise.all(keys.filter((k) => ORGS[k].type !== 'bank').map(register));
}

/** A commit seen by a client: when, and how long after its submit. */
interface Latency {
  at: number;
  ms: number;
}

/** The clients of one workload on every set. */
interface Load {
  /** Starts the clients; the returned function stops them and resolves when every request has settled. */
  start(stopped: () => boolean, onError: (err: Error) => void): Promise<void>;
  latencies: Latency[];
  /** Refuses the run if the chain disagrees with what the clients saw committed. */
  check(): Promise<void>;
  /** What a client does, for the row. */
  client: string;
}

async function workflowLoad(ledger: FabricLedger, channels: string[], clients: number): Promise<Load> {
  // One harness per set (the bench reads no chaincode events: no block read per submit); proposals carry the real
  // time, so deadlines and paid-at times follow it.
  const harnesses = channels.map((channel) => ChaincodeHarness.onGateway(ledger, async () => [], channel));
  const ticker = setInterval(() => harnesses.forEach((h) => (h.clock = new Date())), 200);
  ticker.unref();
  const started = performance.now();
  await Promise.all(harnesses.map(setUp));
  log(`province set up on ${channels.join(', ')} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const latencies: Latency[] = [];
  for (const h of harnesses) {
    const submit = h.submit.bind(h);
    h.submit = (async (...args: Parameters<typeof submit>) => {
      const t0 = performance.now();
      const r = await submit(...args);
      if (!r.ok) throw new Error(`${args[1]} failed: ${r.message}`);
      latencies.push({ at: performance.now(), ms: performance.now() - t0 });
      return r;
    }) as typeof h.submit;
  }
  const units = await Promise.all(harnesses.map((h) => actor(h, 'unit')));
  return {
    client: 'walks projects through the workflow, waiting for each commit',
    latencies,
    start: (stopped, onError) =>
      Promise.all(harnesses.flatMap((h, set) => Array.from({ length: clients }, () => walkProjects(h, units[set], stopped, onError)))).then(() => clearInterval(ticker)),
    check: async () => {},
  };
}

async function pressureLoad(ledger: FabricLedger, channels: string[], clients: number): Promise<Load> {
  // No role check in the contract: any member's certificate will do; one caller per set.
  const callers: Identity[] = await Promise.all(
    channels.map((channel) => ledger.enrol({ enrollmentId: `pressure-${channel}@BANK-GZ`, mspId: MSP_OF_ROLE.bank, role: 'bank', org: 'BANK-GZ' })),
  );
  await Promise.all(channels.map((channel, set) => once(() => ledger.submit(callers[set], { channel, fcn: 'PressureMeasure:init' }))));
  const committedAdds = channels.map(() => 0);
  const latencies: Latency[] = [];
  const pending = new Set<Promise<unknown>>();
  const client = async (set: number, stopped: () => boolean, onError: (err: Error) => void) => {
    while (!stopped()) {
      const t0 = performance.now();
      try {
        const { committed } = await ledger.submitAsync(callers[set], { channel: channels[set], fcn: 'PressureMeasure:add' });
        const done = committed.then(
          () => {
            committedAdds[set]++;
            latencies.push({ at: performance.now(), ms: performance.now() - t0 });
          },
          onError,
        );
        pending.add(done);
        void done.finally(() => pending.delete(done));
      } catch (err) {
        onError(err as Error);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  };
  return {
    client: 'sends its next add as soon as the orderer has accepted the last (FabricLedger.submitAsync)',
    latencies,
    start: async (stopped, onError) => {
      await Promise.all(channels.flatMap((_, set) => Array.from({ length: clients }, () => client(set, stopped, onError))));
      while (pending.size > 0) await Promise.all([...pending]);
    },
    check: async () => {
      for (const [set, channel] of channels.entries()) {
        const balance = Number((await ledger.evaluate(callers[set], { channel, fcn: 'PressureMeasure:get' })).toString('utf8'));
        if (balance !== 100 + committedAdds[set]) throw new Error(`${channel}: A is ${balance}, expected 100 + ${committedAdds[set]} committed adds`);
      }
    },
  };
}

async function main(): Promise<void> {
  const params = JSON.parse(process.argv[2] ?? '{}') as Params;
  const workload = params.workload ?? 'workflow';
  const sets = params.sets ?? 1;
  const warmup = params.warmupBlocks ?? 20;
  const measured = params.blocks ?? 100;
  const alive = runningNetwork();
  if (alive.length > 0) throw new Error(`a Fabric network is already running (${alive.join(', ')}); npm run network -- down first`);

  // The sets' channels and an idle routing channel, as the app and the tests run them (with the business channel
  // alone, discovery kept answering "failed constructing descriptor" for a minute in the one run tried). The nodes
  // log warnings only (at INFO a peer logs every proposal and gRPC call).
  const env: Record<string, string> = {
    LEDGER_SETS: String(sets),
    BATCH_TIMEOUT_MS: String(params.batchTimeoutMs),
    BATCH_MAX_MESSAGE_COUNT: String(params.maxMessageCount),
    ...(params.preferredMaxBytes ? { BATCH_PREFERRED_MAX_BYTES: String(params.preferredMaxBytes) } : {}),
    FABRIC_LOGGING_SPEC: process.env.FABRIC_LOGGING_SPEC ?? 'WARNING',
  };
  const channels = channelLayout(env).business;
  const networkStart = performance.now();
  script('fabric-tools.mjs', []);
  let ledger: FabricLedger | undefined;
  const stops: Array<() => void> = [];
  let peakRss = 0;
  let peakNetworkRss = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    peakNetworkRss = Math.max(peakNetworkRss, [...networkPids().values()].reduce((sum, pid) => sum + processMemory(pid, 'VmRSS'), 0));
  }, 250);
  try {
    script('network.mjs', ['up'], env);
    script('network.mjs', ['createChannel'], env);
    script('network.mjs', ['deployCC', workload === 'pressure' ? 'pressure' : 'fund'], env);
    const networkSeconds = (performance.now() - networkStart) / 1000;
    log(`network up, ${channels.join(', ')} (${params.maxMessageCount} / ${params.batchTimeoutMs} ms), ${workload} chaincode deployed in ${networkSeconds.toFixed(1)} s`);
    ledger = (await openFabric('province', channels, workload === 'pressure' ? { CHAINCODE_NAME: 'pressure' } : {})) as FabricLedger;
    const load = await (workload === 'pressure' ? pressureLoad : workflowLoad)(ledger, channels, params.clients);

    // Commit time and validation codes of every block of every set, from the province peer's filtered block events
    // (transaction ids and codes only): the measurement adds no block reading or decoding.
    const seen = new Map(channels.map((c) => [c, new Map<number, BlockSeen & { codes: Record<string, number> }>()]));
    const first = new Map<string, number>();
    const last = new Map<string, number>();
    for (const channel of channels) {
      const start = (await ledger.chainInfo(channel)).height;
      first.set(channel, start + warmup);
      last.set(channel, start + warmup + measured - 1);
    }
    let begun = 0;
    let done = 0;
    let windowStart: { at: number; cpu: ReturnType<typeof cpuSnapshot> } | undefined;
    let windowEnd: { at: number; cpu: ReturnType<typeof cpuSnapshot> } | undefined;
    let lastBlockAt = performance.now();
    let reachedLast!: () => void;
    const watching = new Promise<void>((resolve) => (reachedLast = resolve));
    for (const channel of channels) {
      const blocks = seen.get(channel)!;
      stops.push(
        await filteredBlocks(channel, first.get(channel)! - warmup, (n, statuses) => {
          const codes: Record<string, number> = {};
          for (const status of statuses) codes[status] = (codes[status] ?? 0) + 1;
          const valid = codes.VALID ?? 0;
          const at = performance.now();
          blocks.set(n, { at, valid, invalid: statuses.length - valid, codes });
          lastBlockAt = at;
          if (n === first.get(channel) && ++begun === channels.length) {
            windowStart = { at, cpu: cpuSnapshot() };
            log(`warm-up done on every set; measuring ${measured} blocks on each`);
          }
          if (n === last.get(channel) && ++done === channels.length) {
            windowEnd = { at, cpu: cpuSnapshot() };
            reachedLast();
          }
        }),
      );
    }
    const stall = (params.stallSeconds ?? 120) * 1000;
    const watchdog = new Promise<never>((_, reject) => {
      const timer = setInterval(() => {
        if (performance.now() - lastBlockAt > stall) reject(new Error(`no block for ${stall / 1000} s (blocks seen: ${channels.map((c) => `${c} ${Math.max(-1, ...seen.get(c)!.keys())}`).join(', ')})`));
      }, 1000);
      void watching.finally(() => clearInterval(timer));
    });

    // A failed submit or walk is counted; its client goes on.
    const errors = new Map<string, number>();
    const countError = (err: Error) => {
      const message = err.message.split('\n')[0].slice(0, 160);
      errors.set(message, (errors.get(message) ?? 0) + 1);
    };
    let stop = false;
    const clients = load.start(() => stop, countError);
    await Promise.race([watching, watchdog]);
    stop = true;
    await clients;
    for (const s of stops.splice(0)) s();
    await load.check();

    // Per set, the thesis's formula; CPU and the transactions committed between windowStart and windowEnd, all sets.
    const perSet = channels.map((c) => thesisThroughput(seen.get(c)!, first.get(c)!, last.get(c)!));
    const invalidCodes: Record<string, number> = {};
    for (const c of channels) {
      for (let n = first.get(c)!; n <= last.get(c)!; n++) {
        for (const [code, count] of Object.entries(seen.get(c)!.get(n)!.codes)) if (code !== 'VALID') invalidCodes[code] = (invalidCodes[code] ?? 0) + count;
      }
    }
    const from = windowStart!;
    const to = windowEnd!;
    const windowSeconds = (to.at - from.at) / 1000;
    let committedInWindow = 0;
    for (const blocks of seen.values()) for (const b of blocks.values()) if (b.at > from.at && b.at <= to.at) committedInWindow += b.valid;
    const cpuMsPerTx: Record<string, number> = {};
    let cpuMs = 0;
    for (const [name, ms] of to.cpu.byProcess) {
      const used = ms - (from.cpu.byProcess.get(name) ?? 0);
      cpuMs += used;
      cpuMsPerTx[name] = Math.round((used / committedInWindow) * 100) / 100;
    }
    cpuMsPerTx.total = Math.round((cpuMs / committedInWindow) * 100) / 100;
    const windowLatencies = load.latencies.filter((l) => l.at > from.at && l.at <= to.at).map((l) => l.ms);
    const row = {
      scenario: workload,
      backend: 'fabric',
      orderer: `etcdraft (${raftNodes()} node${raftNodes() === 1 ? '' : 's'})`,
      client: load.client,
      sets,
      channels,
      clients: params.clients,
      totalClients: params.clients * sets,
      maxMessageCount: params.maxMessageCount,
      batchTimeoutMs: params.batchTimeoutMs,
      preferredMaxBytes: params.preferredMaxBytes ?? 2 * 1024 * 1024,
      txs: perSet.reduce((s, r) => s + r.txs, 0),
      invalidTxs: perSet.reduce((s, r) => s + r.invalidTxs, 0),
      ...(Object.keys(invalidCodes).length > 0 ? { invalidCodes } : {}),
      blocks: measured,
      warmupBlocks: warmup,
      /** Per set: seconds between the first and the last measured block's commit. */
      seconds: perSet.length === 1 ? round1(perSet[0].seconds) : perSet.map((r) => round1(r.seconds)),
      tps: round1(perSet.reduce((s, r) => s + r.tps, 0)),
      perSetTps: perSet.map((r) => r.tps),
      p50Ms: percentile(windowLatencies, 0.5),
      p99Ms: percentile(windowLatencies, 0.99),
      /** The window every set was measuring in: its length, the valid transactions committed in it on all sets. */
      windowSeconds: round1(windowSeconds),
      windowTxs: committedInWindow,
      /** CPU ms per committed transaction by process (client = this process), and their total. */
      cpuMsPerTx,
      /** Cores busy on average in the window: the processes above, and the whole machine (other load included). */
      busyCores: round1(cpuMs / 1000 / windowSeconds),
      /** Share of one core this process used in the window (as the ledger benchmark's rows). */
      cpuPercent: Math.round(((to.cpu.byProcess.get('client')! - from.cpu.byProcess.get('client')!) / 1000 / windowSeconds) * 100),
      machineBusyCores: round1((to.cpu.machine - from.cpu.machine) / 1000 / windowSeconds),
      cores: os.availableParallelism(),
      /** This process: the app side (adapter, SDK, clients). */
      peakRssMb: Math.round(peakRss / 1024 / 1024),
      /** Orderer, three peers and the chaincode server, summed. */
      networkPeakRssMb: Math.round(peakNetworkRss / 1024 / 1024),
      failed: [...errors.values()].reduce((a, b) => a + b, 0),
      /** Commits the adapter found by asking the peer, their commit event not having come within 10 s. */
      commitsFoundByQuery: ledger.commitsFoundByQuery,
      ...(errors.size ? { errors: Object.fromEntries(errors) } : {}),
      networkSetupSeconds: round1(networkSeconds),
    };
    console.log(JSON.stringify(row));
  } finally {
    clearInterval(sampler);
    for (const s of stops) s();
    await ledger?.close().catch(() => {});
    try {
      script('network.mjs', ['down'], env);
    } catch (err) {
      log(`network down failed: ${(err as Error).message}`);
    }
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
