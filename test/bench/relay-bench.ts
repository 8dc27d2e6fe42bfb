/**
 * What the relay costs (thesis 4.3): the full workflow on the embedded ledger's business channel, measured in one
 * process straight through the LedgerGateway and through the relay (whitelist admission, route look-up in the
 * cache, a new project's route registered on the routing chain before its filing, the call forwarded to the set),
 * in alternation so that both see the same minutes of the machine. Each phase measures `blocks` consecutive blocks
 * of the business channel after `warmupBlocks`: throughput by the thesis's formula, p50/p99 submit→commit and CPU
 * per committed transaction (the whole process, every thread, over the measured blocks; the routing channel's own
 * blocks count as the relay's cost).
 *
 * Usage: node relay-bench.js '{"clients":64,"maxMessageCount":10,"batchTimeoutMs":2000,"blocks":600,"pairs":2}'
 * Prints one JSON array of rows (direct, relay, and their ratio) on its last line of output.
 */
process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'ERROR';
import { performance } from 'node:perf_hooks';
import type { Identity, LedgerGateway } from '@fund/app/dist/blockchain';
import { EmbeddedLedger } from '@fund/app/dist/blockchain/embedded/embedded-ledger';
import { Relay } from '@fund/app/dist/blockchain/relay';
import { ChaincodeHarness } from '../chaincode/support/harness';
import { CONFIG, ORGS, actor, setUpProvince } from '../chaincode/support/fixture';
import { removeDir, tempDir } from '../ledger/support/ledger';
import { percentile, thesisThroughput, timeSubmits, walkProjects, type BlockSeen } from './workload';

interface Params {
  clients: number;
  maxMessageCount: number;
  batchTimeoutMs: number;
  warmupBlocks?: number;
  blocks?: number;
  pairs?: number;
}

const SET = 'business';
const ROUTING = 'routing';
const ADDRESS = '127.0.0.1';

/** The gateway as the platform sees it through the relay: every submit and query admitted, routed and forwarded. */
function throughRelay(relay: Relay): LedgerGateway {
  const gateway = relay.gateway;
  return new Proxy(gateway, {
    get(target, key) {
      if (key === 'submit')
        return async (identity: Identity, req: { fcn: string; args?: string[] }) => {
          relay.admit(ADDRESS);
          return relay.submit(identity, { fcn: req.fcn, args: req.args ?? [] });
        };
      if (key === 'evaluate')
        return async (identity: Identity, req: { fcn: string; args?: string[] }) => {
          relay.admit(ADDRESS);
          return relay.evaluate(identity, { fcn: req.fcn, args: req.args ?? [] });
        };
      const value = Reflect.get(target, key) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** One measured phase: clients walk projects through `h` until `blocks` blocks of the set are committed after the warm-up. */
async function phase(ledger: EmbeddedLedger, h: ChaincodeHarness, via: 'gateway' | 'relay', p: Params) {
  const start = (await ledger.chainInfo(SET)).height;
  const first = start + (p.warmupBlocks ?? 50);
  const last = first + (p.blocks ?? 600) - 1;
  const seen = new Map<number, BlockSeen>();
  let cpuAtFirst: NodeJS.CpuUsage | undefined;
  let cpu: NodeJS.CpuUsage | undefined;
  let latencyFrom = 0;
  const stream = ledger.ledger(SET).blocks(start);
  const latencies = timeSubmits(h);
  const watching = (async () => {
    for await (const b of stream) {
      const valid = b.transactions.filter((t) => t.validationCode === 'VALID').length;
      seen.set(b.number, { at: performance.now(), valid, invalid: b.transactions.length - valid });
      if (b.number === first) {
        cpuAtFirst = process.cpuUsage();
        latencyFrom = latencies.length;
      }
      if (b.number === last) cpu = process.cpuUsage(cpuAtFirst);
      if (b.number >= last) break;
    }
  })();
  let stop = false;
  const unit = await actor(h, 'unit');
  const clients = Array.from({ length: p.clients }, () => walkProjects(h, unit, () => stop));
  await watching;
  const measured = latencies.slice(latencyFrom);
  stop = true;
  await Promise.all(clients);
  const { txs, invalidTxs, seconds, tps } = thesisThroughput(seen, first, last);
  const cpuMs = (cpu!.user + cpu!.system) / 1000;
  return { via, txs, invalidTxs, seconds, tps, p50Ms: percentile(measured, 0.5), p99Ms: percentile(measured, 0.99), cpuMsPerTx: Math.round((cpuMs / txs) * 1000) / 1000 };
}

async function main(): Promise<void> {
  const p = JSON.parse(process.argv[2] ?? '{}') as Params;
  const dataDir = tempDir();
  const channels = [SET, ROUTING];
  try {
    // Set-up with quick blocks: the registry on the set (through the relay, which writes it to every set), the
    // routing chain's configuration, the set and the platform's address on the whitelist.
    {
      const ledger = await EmbeddedLedger.open({ dataDir, channels, batch: { batchTimeoutMs: 5 } });
      const routing = ChaincodeHarness.onGateway(ledger, async () => [], ROUTING);
      const admin = await actor(routing, 'platform');
      await routing.ok(admin, 'Config:initialise', JSON.stringify(CONFIG), JSON.stringify({ id: ORGS.platform.id, name: ORGS.platform.name }));
      await routing.ok(admin, 'RouteManager:registerSet', JSON.stringify({ setId: 'SET-1', channel: SET, maxNum: 10_000_000, warnNum: 9_000_000 }));
      await routing.ok(admin, 'Whitelist:add', JSON.stringify({ address: ADDRESS, description: 'the platform' }));
      await setUpProvince(ChaincodeHarness.onGateway(ledger, async () => [], SET));
      await ledger.close();
    }
    // As the platform opens it (blockchain/index.ts): the routing channel cuts its blocks after 100 ms.
    const ledger = await EmbeddedLedger.open({ dataDir, channels, batch: { maxMessageCount: p.maxMessageCount, batchTimeoutMs: p.batchTimeoutMs }, channelBatch: { [ROUTING]: { batchTimeoutMs: Math.min(100, p.batchTimeoutMs) } } });
    const direct = ChaincodeHarness.onGateway(ledger, async () => [], SET);
    const relay = new Relay(ledger, { routingChannel: ROUTING, sets: [SET], platformAddress: ADDRESS });
    await relay.start(await actor(direct, 'platform'));
    const relayed = ChaincodeHarness.onGateway(throughRelay(relay), async () => [], SET);
    const runs: Array<Awaited<ReturnType<typeof phase>>> = [];
    for (let i = 0; i < (p.pairs ?? 2); i++) {
      // Alternate which goes first, so neither always runs on the warmer process.
      const order: Array<['gateway' | 'relay', ChaincodeHarness]> = i % 2 === 0 ? [['gateway', direct], ['relay', relayed]] : [['relay', relayed], ['gateway', direct]];
      for (const [via, h] of order) {
        const r = await phase(ledger, h, via, p);
        console.error(`  ${via}: ${r.tps} tx/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${r.cpuMsPerTx} ms CPU per tx`);
        runs.push(r);
      }
    }
    // The relay's own cost per request, without the blocks: the same query, one at a time, each way in turn.
    const reader = await actor(direct, 'leadingGroup');
    const projectId = JSON.parse((await ledger.evaluate(reader, { channel: SET, fcn: 'Project:list', args: ['{}'] })).toString())[0].id as string;
    const queryMs: Record<'gateway' | 'relay', number[]> = { gateway: [], relay: [] };
    const viaGateway = () => ledger.evaluate(reader, { channel: SET, fcn: 'Project:get', args: [projectId] });
    const viaRelay = () => {
      relay.admit(ADDRESS);
      return relay.evaluate(reader, { fcn: 'Project:get', args: [projectId] });
    };
    for (let i = 0; i < 4000; i++) {
      const [via, run] = i % 2 === 0 ? (['gateway', viaGateway] as const) : (['relay', viaRelay] as const);
      const t0 = performance.now();
      await run();
      queryMs[via].push(performance.now() - t0);
    }
    await relay.stop();
    await ledger.close();
    const median = (via: string, field: 'tps' | 'p50Ms' | 'p99Ms' | 'cpuMsPerTx') => {
      const values = runs.filter((r) => r.via === via).map((r) => r[field]).sort((a, b) => a - b);
      return values[Math.floor(values.length / 2)];
    };
    const base = { scenario: 'relay overhead', backend: 'embedded', sets: 1, clients: p.clients, maxMessageCount: p.maxMessageCount, batchTimeoutMs: p.batchTimeoutMs, blocks: p.blocks ?? 600 };
    const rows = (['gateway', 'relay'] as const).map((via) => ({
      ...base,
      via,
      tps: median(via, 'tps'),
      p50Ms: median(via, 'p50Ms'),
      p99Ms: median(via, 'p99Ms'),
      cpuMsPerTx: median(via, 'cpuMsPerTx'),
      ofRuns: runs.filter((r) => r.via === via).map((r) => ({ tps: r.tps, p50Ms: r.p50Ms, cpuMsPerTx: r.cpuMsPerTx })),
    }));
    const [g, r] = rows;
    const extra = {
      ...base,
      via: 'relay − gateway',
      p50AddedMs: Math.round((r.p50Ms - g.p50Ms) * 10) / 10,
      cpuAddedPercent: Math.round(((r.cpuMsPerTx - g.cpuMsPerTx) / g.cpuMsPerTx) * 1000) / 10,
      tpsRatio: Math.round((r.tps / g.tps) * 100) / 100,
      queryP50Ms: { gateway: round3(median3(queryMs.gateway)), relay: round3(median3(queryMs.relay)) },
      queryP50AddedMs: round3(median3(queryMs.relay) - median3(queryMs.gateway)),
    };
    console.log(JSON.stringify([...rows, extra]));
  } finally {
    removeDir(dataDir);
  }
}

/** Percentile rounds to 0.1 ms; a query's cost needs microseconds. */
const median3 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const round3 = (x: number) => Math.round(x * 1000) / 1000;

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
