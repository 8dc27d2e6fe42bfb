/**
 * One run of the Fabric benchmark (spawned once per run by scripts/bench.mjs): the ledger benchmark's workload and
 * measurement (test/bench/ledger-bench.ts) on the native Fabric network of `npm run network`, through the app's
 * Fabric adapter (FabricLedger, FABRIC_ORG=province). It brings the network up with the run's batch settings
 * (createChannel reads BATCH_TIMEOUT_MS / BATCH_MAX_MESSAGE_COUNT), deploys the chaincode, sets the province up,
 * then `clients` clients each walk projects through the whole workflow — file, approve (signed drafts), register
 * serial + bank record for every hop, accept ×3, progress to 100 % — as fast as their commits come back; it takes
 * the network down at the end, also after a failure. It refuses to run while a network is up (it would be torn down).
 *
 * Throughput is measured the thesis's way: valid transactions in `blocks` consecutive blocks (default 100) ÷ time
 * between the commit of the first and of the last of them (as the province's peer reports them to the adapter's
 * block stream), after `warmupBlocks`. Latency: submit → commit seen on the province's peer. Peak RSS: this process
 * (the application side) and, separately, the Fabric processes (orderer, three peers, chaincode server) summed.
 *
 * Usage: node fabric-bench.js '{"clients":64,"maxMessageCount":10,"batchTimeoutMs":2000}'
 * Prints one JSON row on its last line of output; progress goes to stderr.
 */
process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'ERROR';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Gateway, type BlockListener, type X509Identity } from 'fabric-network';
import { loadConnectionProfile, type FabricLedger } from '@fund/app/dist/blockchain/fabric';
import { MSP_OF_ROLE } from '@fund/app/dist/blockchain/msp';
import { ChaincodeHarness } from '../chaincode/support/harness';
import { CONFIG, ORGS, actor, type OrgKey } from '../chaincode/support/fixture';
import { FABRIC_DIR, openFabric, runningNetwork, script } from '../fabric/support';
import { cpuPercent, percentile, processMemory, thesisThroughput, timeSubmits, walkProjects, type BlockSeen, type WorkflowBenchParams } from './workload';

interface Params extends WorkflowBenchParams {
  /** Give up when no block has come for this long (default 120 s). */
  stallSeconds?: number;
}

const CHANNEL = 'business';
const log = (message: string) => process.stderr.write(`  [fabric-bench] ${message}\n`);

/** Resident memory of the network's processes (data/fabric/pids.json), summed, in bytes. */
function networkRss(): number {
  try {
    const pids = JSON.parse(readFileSync(path.join(FABRIC_DIR, 'pids.json'), 'utf8')) as Record<string, { pid: number }>;
    return Object.values(pids).reduce((sum, { pid }) => sum + processMemory(pid, 'VmRSS'), 0);
  } catch {
    return 0; // no network (yet)
  }
}

/**
 * Calls `onBlock` with the number and the transactions' validation codes of every block of the business channel from
 * `startBlock`, as the province's peer commits them (fabric-network's filtered block events, as cryptogen's User1 of
 * the province, the adapter's own reading identity); returns what stops it.
 */
async function filteredBlocks(startBlock: number, onBlock: (n: number, statuses: string[]) => void): Promise<() => void> {
  const profile = loadConnectionProfile({ dir: FABRIC_DIR, org: 'province', chaincode: 'fund', timeoutSeconds: 60 });
  const own = profile.organisations.get(profile.mspId)!;
  const gateway = new Gateway();
  const identity: X509Identity = { type: 'X.509', mspId: profile.mspId, credentials: { certificate: own.user.certificate, privateKey: own.user.privateKey } };
  await gateway.connect(profile.json, { identity, discovery: { enabled: true, asLocalhost: true } });
  const network = await gateway.getNetwork(CHANNEL);
  const listener: BlockListener = async (event) => onBlock(event.blockNumber.toNumber(), event.getTransactionEvents().map((t) => t.status));
  await network.addBlockListener(listener, { type: 'filtered', startBlock });
  return () => {
    network.removeBlockListener(listener);
    gateway.disconnect();
  };
}

/**
 * The province's set-up (fixture's setUpProvince) in three rounds instead of fifteen sequential submits: with
 * 2-second blocks that saves half a minute. Organisations write only their own keys (banks first: accounts name them).
 */
async function setUp(h: ChaincodeHarness): Promise<void> {
  const admin = await actor(h, 'platform');
  // Right after deployCC the peers' discovery may not know the chaincode on every peer yet (gossip spreads it):
  // "failed constructing descriptor for chaincodes". The first submit waits for that, up to a minute.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await h.ok(admin, 'Config:initialise', JSON.stringify(CONFIG), JSON.stringify({ id: ORGS.platform.id, name: ORGS.platform.name }));
      break;
    } catch (err) {
      if (!/failed constructing descriptor/.test((err as Error).message) || Date.now() > deadline) throw err;
      log('discovery does not know the chaincode on every peer yet; retrying in 1 s');
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  const keys = (Object.keys(ORGS) as OrgKey[]).filter((k) => k !== 'platform');
  const register = (k: OrgKey) => h.ok(admin, 'Organisation:register', JSON.stringify({ ...ORGS[k], mspId: MSP_OF_ROLE[ORGS[k].type] }));
  await Promise.all(keys.filter((k) => ORGS[k].type === 'bank').map(register));
  await Promise.all(keys.filter((k) => ORGS[k].type !== 'bank').map(register));
}

async function main(): Promise<void> {
  const params = JSON.parse(process.argv[2] ?? '{}') as Params;
  const warmup = params.warmupBlocks ?? 20;
  const measured = params.blocks ?? 100;
  const alive = runningNetwork();
  if (alive.length > 0) throw new Error(`a Fabric network is already running (${alive.join(', ')}); npm run network -- down first`);

  // The orderer's batch settings under test; the nodes log warnings only (at INFO a peer logs every proposal and
  // gRPC call).
  // Both channels, as the app and the tests run them: with the business channel alone, discovery kept answering
  // "failed constructing descriptor for chaincodes fund" for a minute in the one run tried (the peers' gossip had
  // not found each other). The routing channel stays idle.
  const env = {
    BATCH_TIMEOUT_MS: String(params.batchTimeoutMs),
    BATCH_MAX_MESSAGE_COUNT: String(params.maxMessageCount),
    FABRIC_LOGGING_SPEC: process.env.FABRIC_LOGGING_SPEC ?? 'WARNING',
  };
  const networkStart = performance.now();
  script('fabric-tools.mjs', []);
  let ledger: FabricLedger | undefined;
  let h: ChaincodeHarness | undefined;
  let peakRss = 0;
  let peakNetworkRss = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    peakNetworkRss = Math.max(peakNetworkRss, networkRss());
  }, 250);
  let ticker: NodeJS.Timeout | undefined;
  try {
    script('network.mjs', ['up'], env);
    script('network.mjs', ['createChannel'], env);
    script('network.mjs', ['deployCC'], env);
    const networkSeconds = (performance.now() - networkStart) / 1000;
    log(`network up, channel ${CHANNEL} (${params.maxMessageCount} / ${params.batchTimeoutMs} ms), chaincode deployed in ${networkSeconds.toFixed(1)} s`);
    ledger = (await openFabric('province', [CHANNEL])) as FabricLedger;
    // The bench does not look at chaincode events: no block read per submit.
    h = ChaincodeHarness.onGateway(ledger, async () => [], CHANNEL);
    // Proposals carry the real time; deadlines and paid-at times follow it.
    const harness = h;
    ticker = setInterval(() => (harness.clock = new Date()), 200);
    const setupStart = performance.now();
    await setUp(h);
    log(`province set up in ${((performance.now() - setupStart) / 1000).toFixed(1)} s`);

    const start = (await ledger.chainInfo(CHANNEL)).height;
    const first = start + warmup;
    const last = first + measured - 1;

    // Commit time and validation codes of every block, from the province peer's filtered block events (transaction
    // ids and codes only): like the ledger benchmark's raw blocks, the measurement adds no block reading or decoding.
    const committedAt = new Map<number, BlockSeen & { codes: Record<string, number> }>();
    let cpuAtFirst: NodeJS.CpuUsage | undefined;
    let cpu: NodeJS.CpuUsage | undefined;
    let lastBlockAt = performance.now();
    const stall = (params.stallSeconds ?? 120) * 1000;
    let reachedLast!: () => void;
    const watching = new Promise<void>((resolve) => (reachedLast = resolve));
    const stopWatching = await filteredBlocks(start, (n, statuses) => {
      const codes: Record<string, number> = {};
      for (const status of statuses) codes[status] = (codes[status] ?? 0) + 1;
      const valid = codes.VALID ?? 0;
      committedAt.set(n, { at: performance.now(), valid, invalid: statuses.length - valid, codes });
      lastBlockAt = performance.now();
      if (n === first) {
        cpuAtFirst = process.cpuUsage();
        log(`warm-up done (block ${first}); measuring ${measured} blocks`);
      }
      if (n === last) {
        cpu = process.cpuUsage(cpuAtFirst);
        reachedLast();
      }
    });
    const watchdog = new Promise<never>((_, reject) => {
      const timer = setInterval(() => {
        if (performance.now() - lastBlockAt > stall) reject(new Error(`no block for ${stall / 1000} s (last seen: ${Math.max(...committedAt.keys(), start - 1)})`));
      }, 1000);
      void watching.finally(() => clearInterval(timer));
    });

    // Every submit is timed from the call to its commit; a failed walk is counted and its client starts a new project.
    const latencies = timeSubmits(h);
    const errors = new Map<string, number>();
    let stop = false;
    const unit = await actor(h, 'unit');
    const countError = (err: Error) => {
      const message = err.message.split('\n')[0].slice(0, 160);
      errors.set(message, (errors.get(message) ?? 0) + 1);
    };
    const clients = Array.from({ length: params.clients }, () => walkProjects(harness, unit, () => stop, countError));
    await Promise.race([watching, watchdog]);
    stop = true;
    stopWatching();
    await Promise.all(clients);

    const { txs, invalidTxs, seconds, tps } = thesisThroughput(committedAt, first, last);
    const invalidCodes: Record<string, number> = {};
    for (let n = first; n <= last; n++) {
      for (const [code, count] of Object.entries(committedAt.get(n)!.codes)) if (code !== 'VALID') invalidCodes[code] = (invalidCodes[code] ?? 0) + count;
    }
    const row = {
      scenario: 'workflow',
      backend: 'fabric',
      orderer: 'etcdraft (1 node)',
      sets: 1,
      clients: params.clients,
      maxMessageCount: params.maxMessageCount,
      batchTimeoutMs: params.batchTimeoutMs,
      txs,
      invalidTxs,
      ...(invalidTxs > 0 ? { invalidCodes } : {}),
      blocks: measured,
      seconds: Math.round(seconds * 10) / 10,
      tps,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      /** This process: the app side (adapter, SDK, clients). */
      peakRssMb: Math.round(peakRss / 1024 / 1024),
      /** Orderer, three peers and the chaincode server, summed. */
      networkPeakRssMb: Math.round(peakNetworkRss / 1024 / 1024),
      /** Share of one core this process used while the measured blocks were committed. */
      cpuPercent: cpuPercent(cpu!, seconds),
      failedWorkflows: [...errors.values()].reduce((a, b) => a + b, 0),
      ...(errors.size ? { errors: Object.fromEntries(errors) } : {}),
      networkSetupSeconds: Math.round(networkSeconds * 10) / 10,
    };
    console.log(JSON.stringify(row));
  } finally {
    clearInterval(sampler);
    if (ticker) clearInterval(ticker);
    await h?.close().catch(() => {});
    if (!h) await ledger?.close().catch(() => {});
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
