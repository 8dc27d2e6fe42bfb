/**
 * One load run (issue 19, "Load"), shared by `npm run bench -- load` (load-bench.ts: 100 users, 10 minutes) and
 * test/reliability/load.test.ts (scaled down): the platform in a process of its own (load-platform.ts), simulated
 * users in this one (web-users.ts) — walkers, each carrying a project through the whole workflow by the pages of
 * every role in turn, and auditors reading dashboards, lists and exports — for `seconds`, pausing about `thinkMs`
 * between clicks. Then:
 *  - errors: any answer other than the one a person would get, and any refusal in the platform's audit log;
 *  - lost: every acknowledged action is looked for on the chain and in the projections, and every action the audit
 *    log records as done must be a valid transaction committed during the run;
 *  - memory: RSS and the live heap (after a full collection) sampled every `sampleMs`, a least-squares slope fitted
 *    over the second half of the run, in MB per minute and in bytes per request served;
 *  - p50/p95 per page (route), actions and requests per second, committed transactions per second, and the
 *    platform process's CPU time per committed transaction (the MongoDB server's beside it).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { byId, textOf, WebClient } from '../support/platform';
import type { AuditResult, LoadPlatformParams, Mark, MemorySample } from './load-platform';
import { Auditor, SimulatedUser, Stats } from './web-users';
import { percentile } from './workload';

export interface LoadParams {
  /** Simulated users in all: `auditors` of them read, the others walk the workflow. */
  users: number;
  auditors: number;
  /** The measured window; the users work `warmupSeconds` before it. */
  seconds: number;
  warmupSeconds?: number;
  thinkMs: number;
  sampleMs: number;
  mongoHeap?: string;
  batchTimeoutMs?: number;
  maxMessageCount?: number;
  /** See LoadPlatformParams: a leak put in on purpose. */
  leakBytesPerRequest?: number;
  log?: (line: string) => void;
}

export interface RouteFigures {
  route: string;
  n: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** A least-squares line through (minutes, MB) points. */
export interface Trend {
  mbPerMinute: number;
  /** The standard error of that slope: how far noise alone moves it. */
  stdErrMbPerMinute: number;
  samples: number;
  firstMb: number;
  lastMb: number;
}

export interface LoadFigures {
  users: number;
  walkers: number;
  auditors: number;
  thinkMs: number;
  /** The measured window, from the end of the warm-up to the last walk's end. */
  seconds: number;
  warmupSeconds: number;
  workflows: number;
  auditorRounds: number;
  heldBackSeen: number;
  /** Requests in the measured window; actions acknowledged in the whole run (all of them are checked). */
  requests: number;
  actions: number;
  errors: number;
  firstErrors: string[];
  lost: number;
  firstLost: string[];
  acksChecked: number;
  auditLogDone: Record<string, number>;
  /** Valid transactions in the measured window, and since the users started. */
  validTxs: number;
  validTxsSinceStart: number;
  invalidTxs: number;
  invalidReasons: string[];
  requestsPerSecond: number;
  actionsPerSecond: number;
  tps: number;
  cpuMsPerTx: number;
  cpuPercent: number;
  mongoCpuMsPerTx: number;
  mongoCpuPercent: number;
  loadGeneratorCpuPercent: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  perRoute: RouteFigures[];
  rss: Trend;
  liveHeap: Trend;
  /** The live heap's slope over the second half ÷ the requests served per minute then: what each request would keep. */
  liveHeapBytesPerRequest: number;
  peakRssMb: number;
  mongoPeakRssMb: number;
  memorySamples: Array<{ s: number; rssMb: number; liveHeapMb: number; heapMb: number; codeMb: number; externalMb: number }>;
}

const MB = 1024 * 1024;
const round1 = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;

/** Least squares over (minutes since the first point, MB). */
export function trend(points: Array<{ at: number; bytes: number }>): Trend {
  const n = points.length;
  if (n < 3) throw new Error(`a trend needs at least 3 samples, got ${n}`);
  const xs = points.map((p) => (p.at - points[0].at) / 60_000);
  const ys = points.map((p) => p.bytes / MB);
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i] - mx) ** 2;
    sxy += (xs[i] - mx) * (ys[i] - my);
  }
  const slope = sxy / sxx;
  const residual = ys.reduce((s, y, i) => s + (y - (my + slope * (xs[i] - mx))) ** 2, 0);
  const stdErr = Math.sqrt(residual / (n - 2) / sxx);
  return { mbPerMinute: round2(slope), stdErrMbPerMinute: round2(stdErr), samples: n, firstMb: round1(ys[0]), lastMb: round1(ys[n - 1]) };
}

/** CPU time of another process so far, in µs, from /proc (utime + stime, clock ticks of 10 ms). */
function processCpuUs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return 0;
  }
}

function processPeakRss(pid: number): number {
  try {
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** The platform process, spoken to over IPC. */
class PlatformProcess {
  readonly samples: MemorySample[] = [];
  private readonly waiting = new Map<string, { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private exited?: Error;

  constructor(private readonly child: ChildProcess) {
    child.on('message', (m: Record<string, unknown>) => {
      if (m.type === 'sample') this.samples.push(m.sample as MemorySample);
      else if (m.type === 'failed') for (const w of this.drain()) w.reject(new Error(`platform process: ${String(m.message)}`));
      else this.waiting.get(m.type as string)?.resolve(m);
    });
    child.on('exit', (code, signal) => {
      this.exited = new Error(`the platform process exited (${code ?? signal})`);
      for (const w of this.drain()) w.reject(this.exited);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  private drain() {
    const all = [...this.waiting.values()];
    this.waiting.clear();
    return all;
  }

  /** Sends `message` (if any) and resolves with the next message of type `answer`. */
  ask(answer: string, message?: object, timeoutMs = 600_000): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no '${answer}' from the platform process after ${timeoutMs} ms`)), timeoutMs);
      this.waiting.set(answer, {
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      if (message) this.child.send(message);
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 60_000);
    await gone;
    clearTimeout(timer);
  }
}

export async function runLoad(params: LoadParams): Promise<LoadFigures> {
  const log = params.log ?? (() => {});
  const platformParams: LoadPlatformParams = {
    sampleMs: params.sampleMs,
    mongoHeap: params.mongoHeap,
    leakBytesPerRequest: params.leakBytesPerRequest,
    env: { BATCH_TIMEOUT_MS: String(params.batchTimeoutMs ?? 200), BATCH_MAX_MESSAGE_COUNT: String(params.maxMessageCount ?? 500) },
  };
  const child = fork(path.join(__dirname, 'load-platform.js'), [JSON.stringify(platformParams)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const platform = new PlatformProcess(child);
  try {
    log('starting the platform (demo data)…');
    const ready = await platform.ask('ready');
    const url = ready.url as string;
    const mongoPid = ready.mongoPid as number;

    // The rural credit union's core system gets its API token from the admin page, as a bank would.
    const admin = await WebClient.loggedIn(url, 'admin');
    const form = await admin.get('/admin/api-clients');
    const bank2Id = /<option value="([^"]+)"[^>]*>[^<]*\(bank2 /.exec(form.text)?.[1];
    if (!bank2Id) throw new Error('the admin page offers no bank2 user for an API token');
    const issued = await admin.post('/admin/api-clients', { userId: bank2Id, label: '农信社核心系统（负载）' });
    const token = textOf(byId(issued.text, 'api-token'));
    if (issued.status !== 201 || !token) throw new Error(`no API token: ${issued.status}`);

    const stats = new Stats();
    const walkers = params.users - params.auditors;
    const users = [
      ...Array.from({ length: walkers }, (_, i) => new SimulatedUser(i + 1, url, stats, token, params.thinkMs)),
      ...Array.from({ length: params.auditors }, (_, i) => new Auditor(i + 1, url, stats, params.thinkMs)),
    ];
    log(`${params.users} users logging in (${walkers} walking the workflow, ${params.auditors} auditors)…`);
    // People arrive over a while, not all in the same second: ten log in at a time.
    for (let i = 0; i < users.length; i += 10) await Promise.all(users.slice(i, i + 10).map((u) => u.logIn()));

    const start = (await platform.ask('marked', { type: 'mark' })).mark as Mark;
    const warmup = params.warmupSeconds ?? 0;
    const until = Date.now() + (warmup + params.seconds) * 1000;
    log(`${params.users} users at work for ${warmup ? `${warmup} s of warm-up and ` : ''}${params.seconds} s…`);
    const t00 = performance.now();
    // People start over a while, not all in the same second: each user's first click comes up to a minute (a
    // quarter of the run, if shorter) after the start, so the walks do not move through the pages in step.
    const spreadMs = Math.min(60_000, ((warmup + params.seconds) * 1000) / 4);
    const running = Promise.all(users.map((u) => u.run(until, Math.random() * spreadMs)));
    if (warmup) await new Promise((resolve) => setTimeout(resolve, warmup * 1000));
    // The measured window: requests, CPU, transactions and memory from here.
    const mark = warmup ? ((await platform.ask('marked', { type: 'mark' })).mark as Mark) : start;
    const mongoCpu0 = processCpuUs(mongoPid);
    const ownCpu0 = process.cpuUsage();
    const t0 = performance.now();
    stats.latencies.clear();
    const acksBefore = stats.acks.length;
    const progress = setInterval(() => {
      const last = platform.samples.at(-1);
      log(`${Math.round((performance.now() - t00) / 1000)} s: ${stats.workflows} walks, ${stats.all().length} requests measured, ${stats.errors.length} errors; RSS ${Math.round((last?.rss ?? 0) / MB)} MB, live heap ${Math.round((last?.liveHeap ?? 0) / MB)} MB`);
    }, 30_000);
    await running;
    clearInterval(progress);
    const elapsed = (performance.now() - t0) / 1000;
    const mongoCpu = processCpuUs(mongoPid) - mongoCpu0;
    const ownCpu = process.cpuUsage(ownCpu0);
    const samplesOfRun = platform.samples.filter((s) => s.at >= mark.at && s.at <= mark.at + elapsed * 1000);
    log(`done after ${Math.round((performance.now() - t00) / 1000)} s (walks under way finished); checking every acknowledged action…`);

    const audit = (await platform.ask('audited', { type: 'audit', acks: stats.acks, start, measured: mark })).result as AuditResult;
    const cpuUs = audit.end.cpuUs - mark.cpuUs;
    // Walks finish after `until`: the measured window is from the mark to the last answer, which the audit's end mark follows.
    const window = (audit.end.at - mark.at) / 1000;

    // The memory trend over the second half of the run.
    const half = samplesOfRun.filter((s) => s.at >= mark.at + (elapsed * 1000) / 2);
    const rss = trend(half.map((s) => ({ at: s.at, bytes: s.rss })));
    const liveHeap = trend(half.map((s) => ({ at: s.at, bytes: s.liveHeap })));
    const all = stats.all();
    const requestsPerMinute = (all.length / elapsed) * 60;
    const perRoute = [...stats.latencies]
      .map(([route, times]) => ({ route, n: times.length, p50Ms: percentile(times, 0.5), p95Ms: percentile(times, 0.95), p99Ms: percentile(times, 0.99), maxMs: percentile(times, 1) }))
      .sort((a, b) => a.route.localeCompare(b.route));
    const errors = [...stats.errors, ...audit.auditLogRefused.map((r) => `refused (audit log): ${r}`)];
    const lost = [...audit.lost, ...audit.auditLogNotOnChain.map((r) => `audit log says done, not on the chain: ${r}`)];
    return {
      users: params.users,
      walkers,
      auditors: params.auditors,
      thinkMs: params.thinkMs,
      seconds: Math.round(elapsed),
      warmupSeconds: warmup,
      workflows: stats.workflows,
      auditorRounds: stats.auditorRounds,
      heldBackSeen: stats.heldBackSeen,
      requests: all.length,
      actions: stats.acks.length,
      errors: errors.length,
      firstErrors: errors.slice(0, 10),
      lost: lost.length,
      firstLost: lost.slice(0, 10),
      acksChecked: audit.acksChecked,
      auditLogDone: audit.auditLogDone,
      validTxs: audit.validTxs,
      validTxsSinceStart: audit.validTxsSinceStart,
      invalidTxs: audit.invalidTxs,
      invalidReasons: audit.invalidReasons,
      requestsPerSecond: round1(all.length / elapsed),
      actionsPerSecond: round2((stats.acks.length - acksBefore) / elapsed),
      tps: round2(audit.validTxs / window),
      cpuMsPerTx: round1(cpuUs / 1000 / audit.validTxs),
      cpuPercent: Math.round((cpuUs / 1e6 / window) * 100),
      mongoCpuMsPerTx: round1(mongoCpu / 1000 / audit.validTxs),
      mongoCpuPercent: Math.round((mongoCpu / 1e6 / elapsed) * 100),
      loadGeneratorCpuPercent: Math.round(((ownCpu.user + ownCpu.system) / 1e6 / elapsed) * 100),
      p50Ms: percentile(all, 0.5),
      p95Ms: percentile(all, 0.95),
      p99Ms: percentile(all, 0.99),
      perRoute,
      rss,
      liveHeap,
      liveHeapBytesPerRequest: Math.round((liveHeap.mbPerMinute * MB) / requestsPerMinute),
      peakRssMb: Math.round(processPeakRss(platform.pid) / MB),
      mongoPeakRssMb: Math.round(processPeakRss(mongoPid) / MB),
      memorySamples: samplesOfRun.map((s) => ({ s: Math.round((s.at - mark.at) / 1000), rssMb: round1(s.rss / MB), liveHeapMb: round1(s.liveHeap / MB), heapMb: round1(s.heapUsed / MB), codeMb: round1(s.code / MB), externalMb: round1(s.external / MB) })),
    };
  } finally {
    await platform.stop().catch(() => child.kill('SIGKILL'));
  }
}
