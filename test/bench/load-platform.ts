/**
 * The platform under load, in a process of its own (spawned by load-run.ts with --expose-gc and an IPC channel), so
 * that its memory and CPU are the platform's alone and not the simulated users': the platform as `npm start` runs
 * it (embedded ledger, bundled MongoDB-protocol server, demo data) plus three things over IPC:
 *  - a memory sample every `sampleMs`: RSS, and the heap after a full garbage collection (the live set: what a leak
 *    would grow: V8's heap and the Buffers outside it), with the process's CPU time;
 *  - `mark`: the CPU time and the chains' heights now (when the users start, and when measuring starts);
 *  - `audit`: given every action the users saw acknowledged, whether each is on the chain and in the projections,
 *    and whether every action the platform's own audit log records as done is a valid transaction on the chain.
 *
 * Usage (by load-run.ts only): node --expose-gc load-platform.js '{"sampleMs":5000,"mongoHeap":"1g"}'
 */
process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'ERROR';
import * as http from 'node:http';
import * as v8 from 'node:v8';
import { AuditEntry } from '@fund/app/dist/models/activity';
import { DraftView, ProjectView, TransferView } from '@fund/app/dist/models/projections';
import { demoActors } from '@fund/app/dist/services/demo';
import { projectionsSettled, startTestPlatform, type TestPlatform } from '../support/platform';
import type { Ack } from './web-users';

export interface LoadPlatformParams {
  sampleMs: number;
  mongoHeap?: string;
  env?: Record<string, string>;
  /** Bytes the process keeps for every HTTP request it serves: a leak put in on purpose, to show the memory check finds one. */
  leakBytesPerRequest?: number;
}

export interface MemorySample {
  /** ms since the epoch */
  at: number;
  rss: number;
  /** memory in use right after a full collection: the V8 heap plus memory outside it that JS objects hold (Buffers) */
  liveHeap: number;
  /** of liveHeap: V8's heap, of which compiled code, and Buffers outside it */
  heapUsed: number;
  code: number;
  external: number;
  /** process CPU time so far, µs (user + system, every thread) */
  cpuUs: number;
}

export interface Mark {
  at: number;
  cpuUs: number;
  heights: Record<string, number>;
}

export interface AuditResult {
  /** Platform CPU time and chain heights when the audit began (before its own reads). */
  end: Mark;
  /** Valid transactions committed in the measured window, invalid ones since the start, on every channel. */
  validTxs: number;
  /** Valid transactions since the start (warm-up included). */
  validTxsSinceStart: number;
  invalidTxs: number;
  invalidReasons: string[];
  /** Acknowledged actions checked, and those not found as they should be (each with what is missing). */
  acksChecked: number;
  lost: string[];
  /** The platform's audit log since the mark: actions done with a transaction id, by action; those not on the chain; refusals. */
  auditLogDone: Record<string, number>;
  auditLogNotOnChain: string[];
  auditLogRefused: string[];
}

/**
 * `audit`: `start` is the mark taken when the users began (acknowledged actions and the audit log are looked for in
 * the blocks since), `measured` the one where the measured window begins (after a warm-up, if any).
 */
type Message = { type: 'mark' } | { type: 'audit'; acks: Ack[]; start: Mark; measured: Mark } | { type: 'stop' };

const send = (message: object) => process.send!(message);

async function main(): Promise<void> {
  const params = JSON.parse(process.argv[2] ?? '{}') as LoadPlatformParams;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('load-platform needs --expose-gc');
  const leak: Buffer[] = [];
  if (params.leakBytesPerRequest) {
    // Every request the platform's HTTP server is handed keeps a buffer for good (kept out of the app's code).
    const emit = http.Server.prototype.emit;
    http.Server.prototype.emit = function (this: http.Server, event: string | symbol, ...args: unknown[]) {
      if (event === 'request') leak.push(Buffer.alloc(params.leakBytesPerRequest!, 1));
      return (emit as (this: http.Server, event: string | symbol, ...rest: unknown[]) => boolean).call(this, event, ...args);
    } as typeof emit;
  }
  const platform = await startTestPlatform({ demo: true, mongoHeap: params.mongoHeap, env: params.env });
  const cpuUs = () => {
    const { user, system } = process.cpuUsage();
    return user + system;
  };
  const sample = () => {
    gc();
    const m = process.memoryUsage();
    const code = v8.getHeapSpaceStatistics().filter((x) => x.space_name.startsWith('code')).reduce((sum, x) => sum + x.space_used_size, 0);
    send({ type: 'sample', sample: { at: Date.now(), rss: m.rss, liveHeap: m.heapUsed + m.external, heapUsed: m.heapUsed, code, external: m.external, cpuUs: cpuUs() } satisfies MemorySample });
  };
  const sampler = setInterval(sample, params.sampleMs);
  const channels = [...new Set([...platform.config.businessChannels, platform.config.routingChannel])];
  const heights = async () => Object.fromEntries(await Promise.all(channels.map(async (c) => [c, (await platform.running.gateway.chainInfo(c)).height] as const)));
  process.on('message', (message: Message) => {
    void (async () => {
      try {
        if (message.type === 'mark') {
          send({ type: 'marked', mark: { at: Date.now(), cpuUs: cpuUs(), heights: await heights() } satisfies Mark });
        } else if (message.type === 'audit') {
          send({ type: 'audited', result: await audit(platform, message.start, message.measured, { at: Date.now(), cpuUs: cpuUs(), heights: await heights() }, message.acks) });
        } else if (message.type === 'stop') {
          clearInterval(sampler);
          leak.length = 0;
          await platform.stop();
          process.exit(0);
        }
      } catch (err) {
        send({ type: 'failed', message: (err as Error).stack ?? String(err) });
      }
    })();
  });
  sample();
  send({ type: 'ready', url: platform.url, mongoPid: platform.mongo.pid });
}

interface DraftOnChain {
  draftId: string;
  status: string;
  nextHop: number;
  plannedPath: unknown[];
}

async function audit(platform: TestPlatform, start: Mark, measured: Mark, end: Mark, acks: Ack[]): Promise<AuditResult> {
  const { gateway, platform: running } = platform.running;
  // Blocks committed during the run: which transactions are on the chain, how many in the measured window, and
  // which were refused at validation.
  const onChain = new Set<string>();
  let validTxs = 0;
  let validTxsSinceStart = 0;
  let invalidTxs = 0;
  const invalidReasons: string[] = [];
  for (const [channel, to] of Object.entries(end.heights)) {
    for (let n = start.heights[channel] ?? 0; n < to; n++) {
      for (const tx of (await gateway.getBlock(channel, n)).transactions) {
        if (tx.validationCode === 'VALID') {
          if (n >= (measured.heights[channel] ?? 0)) validTxs += 1;
          validTxsSinceStart += 1;
          onChain.add(tx.txId);
        } else {
          invalidTxs += 1;
          if (invalidReasons.length < 10) invalidReasons.push(`${channel} block ${n}: ${tx.txId} ${tx.validationCode}`);
        }
      }
    }
  }
  await projectionsSettled(platform.running, 120_000);

  // Every action the users saw acknowledged, on the chain (as the auditor reads it) and in the projections.
  const auditor = await demoActors(running.chain)('AUDIT', 'auditor');
  const ask = <T>(fcn: string, ...args: string[]) => running.chain.evaluateAs<T>(auditor, fcn, args);
  const lost: string[] = [];
  const byProject = new Map<string, Ack[]>();
  for (const ack of acks) byProject.set(ack.project, [...(byProject.get(ack.project) ?? []), ack]);
  for (const [id, list] of byProject) {
    const kinds = new Set(list.map((a) => a.kind));
    const project = await ask<{ status: string; percentComplete?: number } | null>('Project:get', id).catch(() => null);
    const view = await ProjectView.findById(id).lean();
    if (!project) lost.push(`${id}: filed (acknowledged) but not on the chain`);
    if (!view) lost.push(`${id}: filed (acknowledged) but not in the projections`);
    if (!project || !view) continue;
    if (kinds.has('approve') && ['SUBMITTED', 'REJECTED'].includes(project.status)) lost.push(`${id}: approved (acknowledged) but ${project.status} on the chain`);
    if (kinds.has('approve') && ['SUBMITTED', 'REJECTED'].includes(view.status)) lost.push(`${id}: approved (acknowledged) but ${view.status} in the projections`);
    if (kinds.has('progress') && project.percentComplete !== 40) lost.push(`${id}: progress 40 % acknowledged, chain says ${project.percentComplete}`);
    if (kinds.has('progress') && view.percentComplete !== 40) lost.push(`${id}: progress 40 % acknowledged, projection says ${view.percentComplete}`);
    const accepted = list.filter((a) => a.kind === 'accept').map((a) => a.key);
    if (accepted.length > 0) {
      const drafts = await ask<DraftOnChain[]>('Draft:listByProject', id);
      const views = new Map((await DraftView.find({ projectId: id }).lean()).map((d) => [d._id, d]));
      for (const draftId of accepted) {
        const d = drafts.find((x) => x.draftId === draftId);
        if (d?.status !== 'ACCEPTED') lost.push(`${draftId}: accepted (acknowledged) but ${d?.status ?? 'absent'} on the chain`);
        if (views.get(draftId)?.status !== 'ACCEPTED') lost.push(`${draftId}: accepted (acknowledged) but ${views.get(draftId)?.status ?? 'absent'} in the projections`);
      }
    }
    for (const ack of list.filter((a) => a.kind === 'register' || a.kind === 'record')) {
      const side = ack.kind === 'register' ? 'claim' : 'record';
      const serial = await ask<{ claim?: unknown; record?: unknown }>('Reconciliation:getSerial', ack.key).catch(() => undefined);
      if (!serial?.[side]) lost.push(`${ack.key}: ${ack.kind} acknowledged but no ${side} on the chain`);
      const transfer = await TransferView.findById(ack.key).lean();
      const projected = ack.kind === 'register' ? transfer?.claim : transfer?.record;
      if (!projected) lost.push(`${ack.key}: ${ack.kind} acknowledged but no ${side} in the projections (${transfer?.status ?? 'absent'})`);
      if (ack.txId && !onChain.has(ack.txId)) lost.push(`${ack.key}: the bank API answered tx ${ack.txId}, not a valid transaction of the run`);
    }
  }

  // The platform's own audit log: every action it reports done names a valid transaction of the run.
  const entries = await AuditEntry.find({ at: { $gte: new Date(start.at) } }).select('action target ok txId message').lean();
  const auditLogDone: Record<string, number> = {};
  const auditLogNotOnChain: string[] = [];
  const auditLogRefused: string[] = [];
  for (const e of entries) {
    if (e.ok === false) auditLogRefused.push(`${e.action} ${e.target}: ${e.message}`);
    else if (e.txId) {
      auditLogDone[e.action] = (auditLogDone[e.action] ?? 0) + 1;
      if (!onChain.has(e.txId)) auditLogNotOnChain.push(`${e.action} ${e.target}: tx ${e.txId}`);
    }
  }
  return { end, validTxs, validTxsSinceStart, invalidTxs, invalidReasons, acksChecked: acks.length, lost, auditLogDone, auditLogNotOnChain, auditLogRefused };
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
