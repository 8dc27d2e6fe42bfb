/**
 * One run of the embedded ledger benchmark (spawned once per run by scripts/bench.mjs, so
 * each run's peak RSS is its own). Clients each walk projects through the whole workflow —
 * file, approve (signed drafts), register serial + bank record for every hop, accept ×3,
 * progress to 100 % — through the LedgerGateway, as fast as their commits come back.
 *
 * Throughput is measured the thesis's way: valid transactions in 100 consecutive blocks ÷ time
 * between the commit of the first and of the last of them, taken after a warm-up.
 *
 * Usage: node ledger-bench.js '{"clients":64,"maxMessageCount":10,"batchTimeoutMs":2000}'
 * Prints one JSON row on its last line of output.
 */
process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'ERROR';
import { performance } from 'node:perf_hooks';
import { ChaincodeHarness, CHANNEL } from '../chaincode/support/harness';
import { actor, setUpProvince } from '../chaincode/support/fixture';
import { removeDir, tempDir } from '../ledger/support/ledger';
import { cpuPercent, percentile, thesisThroughput, timeSubmits, walkProjects, type BlockSeen, type WorkflowBenchParams } from './workload';

async function main(): Promise<void> {
  const params = JSON.parse(process.argv[2] ?? '{}') as WorkflowBenchParams;
  const warmup = params.warmupBlocks ?? 20;
  const measured = params.blocks ?? 100;
  const dataDir = tempDir();
  // Set-up runs with quick blocks; the ledger is then reopened with the settings under test.
  const setup = await ChaincodeHarness.onLedger({ dataDir, batch: { batchTimeoutMs: 5 }, orderer: 'solo' });
  await setUpProvince(setup);
  await setup.close();
  const orderer = params.orderer ?? 'solo';
  const h = await ChaincodeHarness.onLedger({
    dataDir,
    batch: { maxMessageCount: params.maxMessageCount, batchTimeoutMs: params.batchTimeoutMs },
    orderer,
    cbft: { replicas: 4, protocol: { rule: params.rule ?? 'credit' } },
  });
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 50);
  try {
    const start = (await h.ledger.chainInfo(CHANNEL)).height;
    const first = start + warmup;
    const last = first + measured - 1;

    // Commit time and valid transaction count of every block, from the block event stream.
    const committedAt = new Map<number, BlockSeen>();
    let cpuAtFirst: NodeJS.CpuUsage | undefined;
    let cpu: NodeJS.CpuUsage | undefined;
    // Raw blocks rather than gateway block events, so the measurement adds no decoding work.
    const blockStream = h.ledger.ledger(CHANNEL).blocks(start);
    const watching = (async () => {
      for await (const b of blockStream) {
        const valid = b.transactions.filter((t) => t.validationCode === 'VALID').length;
        committedAt.set(b.number, { at: performance.now(), valid, invalid: b.transactions.length - valid });
        if (b.number === first) cpuAtFirst = process.cpuUsage();
        if (b.number === last) cpu = process.cpuUsage(cpuAtFirst);
        if (b.number >= last) break;
      }
    })();

    // Every submit is timed from the call to its commit.
    const latencies = timeSubmits(h);
    let stop = false;
    const unit = await actor(h, 'unit');
    const clients = Array.from({ length: params.clients }, () => walkProjects(h, unit, () => stop));
    await watching;
    stop = true;
    await Promise.all(clients);
    clearInterval(sampler);

    const { txs, invalidTxs, seconds, tps } = thesisThroughput(committedAt, first, last);
    const row = {
      scenario: 'workflow',
      backend: 'embedded',
      orderer: orderer === 'solo' ? 'solo (in-process block cutter)' : `cbft, 4 replicas, ${params.rule ?? 'credit'} primary`,
      sets: 1,
      clients: params.clients,
      maxMessageCount: params.maxMessageCount,
      batchTimeoutMs: params.batchTimeoutMs,
      txs,
      invalidTxs,
      blocks: measured,
      tps,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      peakRssMb: Math.round(peakRss / 1024 / 1024),
      /** Share of one core this process used while the measured blocks were committed. */
      cpuPercent: cpuPercent(cpu!, seconds),
      /** CPU time of every thread of the process (peer, endorsers, replicas) per committed transaction. */
      cpuMsPerTx: Math.round(((cpu!.user + cpu!.system) / 1000 / (txs + invalidTxs)) * 100) / 100,
    };
    console.log(JSON.stringify(row));
  } finally {
    clearInterval(sampler);
    await h.close();
    removeDir(dataDir);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
