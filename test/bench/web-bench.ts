/**
 * One run of the web platform benchmark (spawned by scripts/bench.mjs): the platform on the embedded
 * ledger and the bundled MongoDB-protocol server, as `npm start` runs it, with
 *  1. `projects` projects put on the ledger through the chain (the demo's 20 towns, mixed stages:
 *     60 % awaiting approval, 10 % rejected, 15 % approved, 10 % part paid, 5 % funded or completed),
 *     then projected;
 *  2. the dashboard and list pages timed, each requested `samples` times in a row per role; the
 *     dashboard also right after each of 20 new blocks (its figures recomputed, not cached);
 *  3. `users` simulated users walking the whole workflow through the pages for `seconds`, pausing
 *     about `thinkMs` between clicks (web-users.ts); a walk under way when time is up is finished.
 *
 * Usage: node web-bench.js '{"projects":10000,"users":50,"seconds":180}'
 * Prints a JSON array of rows on its last line of output; progress goes to stderr.
 */
process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'ERROR';
import { performance } from 'node:perf_hooks';
import { User } from '@fund/app/dist/models/user';
import { ProjectView } from '@fund/app/dist/models/projections';
import { advanceProject, demoActors, demoProject, DEMO_TOWNS, type DemoStage } from '@fund/app/dist/services/demo';
import { byId, projectionsSettled, startTestPlatform, textOf, WebClient, type TestPlatform } from '../support/platform';
import { SimulatedUser, Stats } from './web-users';
import { percentile, processMemory } from './workload';

interface Params {
  projects: number;
  users: number;
  seconds: number;
  /** Requests per page and role. */
  samples: number;
  /** Average pause of a simulated user between two clicks. */
  thinkMs: number;
  batchTimeoutMs: number;
  maxMessageCount: number;
}

/** Stages of the loaded projects, in 20ths. */
const STAGE_MIX: DemoStage[] = [...Array<DemoStage>(12).fill('SUBMITTED'), 'REJECTED', 'REJECTED', 'APPROVED', 'APPROVED', 'APPROVED', 'IN_TRANSIT', 'IN_TRANSIT', 'FUNDED'];
const TARGET_P95_MS = 150;

const log = (line: string) => process.stderr.write(`  [web-bench] ${line}\n`);

async function main(): Promise<void> {
  const params: Params = { projects: 10_000, users: 50, seconds: 180, samples: 100, thinkMs: 2000, batchTimeoutMs: 200, maxMessageCount: 500, ...(JSON.parse(process.argv[2] ?? '{}') as Partial<Params>) };
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
  const platform = await startTestPlatform({
    demo: true,
    mongoHeap: '2g',
    env: { BATCH_TIMEOUT_MS: String(params.batchTimeoutMs), BATCH_MAX_MESSAGE_COUNT: String(params.maxMessageCount) },
  });
  const common = {
    backend: 'embedded',
    orderer: 'solo (in-process block cutter)',
    sets: 1,
    maxMessageCount: params.maxMessageCount,
    batchTimeoutMs: params.batchTimeoutMs,
    projectsOnLedger: params.projects,
  };
  try {
    const rows: object[] = [];
    const loaded = await load(platform, params.projects);
    const pages = await timePages(platform, params.samples);
    rows.push(...pages.map((p) => ({ scenario: 'web page', ...common, ...p, loadSeconds: loaded.seconds })));
    const users = await simulateUsers(platform, params.users, params.seconds, params.thinkMs);
    clearInterval(sampler);
    rows.push({ scenario: 'web users', ...common, ...users, peakRssMb: Math.round(peakRss / 1024 / 1024), mongoPeakRssMb: Math.round(processMemory(platform.mongo.pid, 'VmHWM') / 1024 / 1024) });
    console.log(JSON.stringify(rows));
  } finally {
    clearInterval(sampler);
    await platform.stop();
  }
}

/** Files `count` projects through the chain and moves them to their stages, then waits for the projections. */
async function load(platform: TestPlatform, count: number): Promise<{ seconds: number }> {
  const { chain } = platform.running.platform;
  const as = demoActors(chain);
  const lgo = await as('LGO', 'leadingGroup');
  const t0 = performance.now();
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (let n = next++; n < count; n = next++) {
      const town = DEMO_TOWNS[n % DEMO_TOWNS.length];
      const office = await as(`${town.code}-OFFICE`, 'countyOffice');
      const filed = await chain.submitAs<{ id: string }>(office, 'Project:file', [JSON.stringify(demoProject(n))]);
      await advanceProject(chain, as, lgo, filed.result.id, `${town.code}-UNIT`, STAGE_MIX[Math.floor(n / DEMO_TOWNS.length) % STAGE_MIX.length]);
      if (++done % 1000 === 0) log(`${done}/${count} projects on the ledger (${Math.round((performance.now() - t0) / 1000)} s)`);
    }
  };
  await Promise.all(Array.from({ length: 300 }, worker));
  log(`all submitted after ${Math.round((performance.now() - t0) / 100) / 10} s; projecting…`);
  await projectionsSettled(platform.running, 600_000);
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  const projected = await ProjectView.countDocuments();
  log(`${projected} projects projected after ${seconds} s`);
  if (projected < count) throw new Error(`only ${projected} of ${count} projects were projected`);
  return { seconds };
}

interface PageFigures {
  page: string;
  path: string;
  role: string;
  samples: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  targetP95Ms: number;
  met: boolean;
}

async function timePages(platform: TestPlatform, samples: number): Promise<PageFigures[]> {
  const funded = await ProjectView.findOne({ status: 'FUNDED' }).select('_id').lean();
  if (!funded) throw new Error('no funded project to time the detail page on: load at least 400 projects (one stage per 20)');
  const pages: Array<[string, string, string]> = [
    ['dashboard', 'lgo', '/'],
    ['dashboard', 'county', '/'],
    ['dashboard', 'auditor', '/'],
    ['project list', 'lgo', '/projects'],
    ['project list', 'county', '/projects'],
    ['project list, filtered', 'auditor', `/projects?status=APPROVED&county=${encodeURIComponent('雷山县')}`],
    ['project list, search', 'auditor', `/projects?q=${encodeURIComponent('茶叶')}`],
    ['project list, page 400', 'auditor', '/projects?page=400'],
    ['approvals list', 'lgo', '/approvals'],
    ['disbursement', 'bank', '/disbursement'],
    ['disbursement', 'provfin', '/disbursement'],
    ['acceptance', 'unit', '/acceptance'],
    ['monitoring', 'lgo', '/monitoring'],
    ['notifications', 'lgo', '/notifications'],
    ['project detail', 'auditor', `/projects/${funded?._id}`],
  ];
  const clients = new Map<string, WebClient>();
  const figures: PageFigures[] = [];
  for (const [page, role, path] of pages) {
    if (!clients.has(role)) clients.set(role, await WebClient.loggedIn(platform.url, role));
    const client = clients.get(role)!;
    const times: number[] = [];
    for (let i = -5; i < samples; i++) {
      const t0 = performance.now();
      const res = await client.get(path);
      if (res.status !== 200) throw new Error(`GET ${path} as ${role} answered ${res.status}`);
      if (i >= 0) times.push(performance.now() - t0);
    }
    figures.push(pageFigures(page, path, role, times));
    log(`${page} (${role}): p50 ${figures.at(-1)!.p50Ms} ms, p95 ${figures.at(-1)!.p95Ms} ms`);
  }

  // The dashboard right after a new block: its figures are aggregated afresh, not served from the cache.
  const lgo = clients.get('lgo')!;
  const { chain } = platform.running.platform;
  const office = await demoActors(chain)('LS-OFFICE', 'countyOffice');
  const fresh: number[] = [];
  for (let i = 0; i < 20; i++) {
    const filed = await chain.submitAs(office, 'Project:file', [JSON.stringify(demoProject(14 + 20 * (1000 + i)))]);
    await platform.running.platform.projector.settled(filed.txId, filed.blockNumber);
    const t0 = performance.now();
    const res = await lgo.get('/');
    if (res.status !== 200) throw new Error(`GET / answered ${res.status}`);
    fresh.push(performance.now() - t0);
  }
  figures.push(pageFigures('dashboard, figures recomputed after a new block', '/', 'lgo', fresh));
  log(`dashboard after a new block: p50 ${figures.at(-1)!.p50Ms} ms, p95 ${figures.at(-1)!.p95Ms} ms`);
  return figures;
}

function pageFigures(page: string, path: string, role: string, times: number[]): PageFigures {
  const p95Ms = percentile(times, 0.95);
  return { page, path, role, samples: times.length, p50Ms: percentile(times, 0.5), p95Ms, p99Ms: percentile(times, 0.99), maxMs: percentile(times, 1), targetP95Ms: TARGET_P95_MS, met: p95Ms < TARGET_P95_MS };
}

async function simulateUsers(platform: TestPlatform, count: number, seconds: number, thinkMs: number) {
  // The rural credit union's core system gets its API token from the admin page, as a bank would.
  const admin = await WebClient.loggedIn(platform.url, 'admin');
  const bank2 = await User.findOne({ username: 'bank2' }).lean();
  const issued = await admin.post('/admin/api-clients', { userId: String(bank2!._id), label: '农信社核心系统（压测）' });
  const token = textOf(byId(issued.text, 'api-token'));
  if (issued.status !== 201 || !token) throw new Error(`no API token: ${issued.status}`);

  const stats = new Stats();
  const users = Array.from({ length: count }, (_, i) => new SimulatedUser(i + 1, platform.url, stats, token, thinkMs));
  log(`${count} users logging in…`);
  // People arrive over a minute, not all in the same second: ten log in at a time.
  for (let i = 0; i < users.length; i += 10) await Promise.all(users.slice(i, i + 10).map((u) => u.logIn()));
  const { gateway, platform: running } = platform.running;
  const channel = running.config.businessChannel;
  const heightBefore = (await gateway.chainInfo(channel)).height;
  log(`${count} users walking the workflow for ${seconds} s…`);
  const t0 = performance.now();
  const until = Date.now() + seconds * 1000;
  const progress = setInterval(() => log(`${stats.workflows} workflows done, ${stats.all().length} requests, ${stats.errors.length} errors`), 30_000);
  await Promise.all(users.map((u) => u.run(until)));
  clearInterval(progress);
  const elapsed = (performance.now() - t0) / 1000;
  const heightAfter = (await gateway.chainInfo(channel)).height;
  let txs = 0;
  for (let n = heightBefore; n < heightAfter; n++) txs += (await gateway.getBlock(channel, n)).transactions.filter((t) => t.validationCode === 'VALID').length;

  // Nothing lost: every walk that finished shows its project funded in the projections.
  await projectionsSettled(platform.running);
  const fundedWalks = await ProjectView.countDocuments({ name: /（压测 /, status: 'FUNDED' });
  const all = stats.all();
  const perKind = Object.fromEntries([...stats.latencies].map(([label, times]) => [label, { n: times.length, p50Ms: percentile(times, 0.5), p95Ms: percentile(times, 0.95) }]));
  for (const e of stats.errors.slice(0, 10)) log(`error: ${e}`);
  return {
    clients: count,
    thinkMs,
    seconds: Math.round(elapsed),
    workflows: stats.workflows,
    fundedProjectsSeen: fundedWalks,
    requests: all.length,
    errors: stats.errors.length,
    firstErrors: stats.errors.slice(0, 5),
    requestsPerSecond: Math.round((all.length / elapsed) * 10) / 10,
    txs,
    blocks: heightAfter - heightBefore,
    tps: Math.round((txs / elapsed) * 10) / 10,
    p50Ms: percentile(all, 0.5),
    p95Ms: percentile(all, 0.95),
    p99Ms: percentile(all, 0.99),
    perRequest: perKind,
  };
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
