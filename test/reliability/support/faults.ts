/**
 * Fault tests: the web platform as a child process (fixtures/platform-child.ts) that a test can SIGKILL, a burst of
 * workflow traffic through its forms and the bank API that logs every acknowledged action, and the checks after
 * recovery: every acknowledged action on the chain, nothing half-done, the projections equal to the chain state.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import mongoose from 'mongoose';
import type { Draft } from '@fund/chaincode/dist/draft/draft';
import type { Project } from '@fund/chaincode/dist/project/project';
import type { TransferClaim, TransferRecord } from '@fund/chaincode/dist/reconciliation/reconciliation';
import type { RunningPlatform } from '@fund/app/dist/server';
import { parseYuan } from '@fund/app/dist/services/money';
import { WebClient, byId, decodeEntities, errorText, formError, formValues, leishanProjectForm, textOf, type Page } from '../../support/platform';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FIXTURE = path.resolve(__dirname, '..', 'fixtures', 'platform-child.js');

// -------------------------------------------------------------------------------------------------
// The platform as a child process

export class PlatformChild {
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  url = '';
  private readonly waiters: Array<{ match: RegExp; resolve: (line: string) => void }> = [];
  private stderr = '';

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    let pending = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const i = this.waiters.findIndex((w) => w.match.test(line));
        if (i >= 0) this.waiters.splice(i, 1)[0].resolve(line);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-4000)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Starts the platform with `env` over the test's own environment; resolves once it serves. */
  static async start(env: Record<string, string>, timeoutMs = 90_000): Promise<PlatformChild> {
    const inherited = { ...process.env };
    for (const key of ['LEDGER_DATA_DIR', 'UPLOAD_DIR', 'LEDGER_CHANNELS', 'LEDGER', 'DEFAULT_LANG', 'TIME_ZONE', 'LEDGER_SETS', 'ORDERER']) delete inherited[key];
    const child = spawn(process.execPath, [FIXTURE], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...inherited, CORE_CHAINCODE_LOGGING_LEVEL: 'CRITICAL', PORT: '0', BATCH_TIMEOUT_MS: '200', ...env } });
    const p = new PlatformChild(child);
    const line = await p.waitLine(/^(READY|FAILED) /, timeoutMs);
    if (line.startsWith('FAILED')) throw new Error(`the platform did not start: ${line}`);
    p.url = line.slice('READY '.length).trim();
    return p;
  }

  /** The child's next stdout line matching `match` (whole line), or a rejection when it exits first or time runs out. */
  waitLine(match: RegExp, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line ${match} from the platform within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      const waiter = {
        match,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      this.waiters.push(waiter);
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`the platform exited (${code ?? signal}) before printing ${match}; stderr: ${this.stderr}`));
      });
    });
  }

  /** Asks the platform to wait until its projections show the chain's last transaction; resolves with the time it took. */
  async settle(timeoutMs = 70_000): Promise<number> {
    this.child.stdin!.write('SETTLE\n');
    const line = await this.waitLine(/^(UNSETTLED|SETTLED) /, timeoutMs);
    if (line.startsWith('UNSETTLED')) throw new Error(`projections did not catch up: ${line}; the platform's stderr: ${this.stderr}`);
    return Number(line.split(' ')[1]);
  }

  kill(): Promise<unknown> {
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /** SIGTERM: the platform closes (HTTP, projector, database, ledger) and exits 0. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    this.child.kill('SIGTERM');
    const { code, signal } = await this.exited;
    clearTimeout(timer);
    assert.equal(code, 0, `the platform's clean stop ended with ${code ?? signal}; stderr: ${this.stderr}`);
  }

  get errorOutput(): string {
    return this.stderr;
  }
}

// -------------------------------------------------------------------------------------------------
// Workflow traffic

export type Ack =
  | { kind: 'file'; projectId: string; txId?: string }
  | { kind: 'approve'; projectId: string; txId?: string }
  | { kind: 'register'; serial: string; draftIds: string[]; txId?: string }
  | { kind: 'record'; serial: string; txId?: string }
  | { kind: 'api-record'; serial: string; txId: string; blockNumber: number };

const LOGINS = ['county', 'lgo', 'bank', 'bank2', 'provfin', 'lp', 'countyfin', 'countyfund'] as const;
type Login = (typeof LOGINS)[number];
const PAYERS: Login[] = ['bank', 'provfin', 'lp', 'countyfin', 'countyfund'];
const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(4_000, 0x20), Buffer.from('\n%%EOF\n')]);

class Refused extends Error {}

/** The txId of the "written in block N (transaction …)" flash on a page, if it shows one. */
function flashedTxId(html: string): string | undefined {
  return /(?:交易|transaction) ([0-9a-f]{64})/.exec(textOf(html))?.[1];
}

/**
 * Several clients, each walking projects of its own through the workflow the way the pages lead a person: file
 * (with a document), approve, each payer registers its serials, 贵州银行 records its transfers with the form and
 * the rural credit union through the bank API. Every success answer is an Ack; every failure (refused, a
 * connection reset by the kill, a 5xx while the database is down) is counted and the client starts afresh.
 */
export class Burst {
  readonly acks: Ack[] = [];
  readonly failures: string[] = [];
  /** Requests answered with an error page that names the transaction they committed before the platform failed. */
  readonly committedDespiteError: Array<{ label: string; blockNumber: number; txId: string }> = [];
  private stopping = false;
  private running: Promise<void>[] = [];
  private readonly listeners: Array<() => void> = [];
  private seq = 0;

  constructor(
    private base: string,
    private readonly bank2Token: string,
    readonly tag: string,
  ) {}

  /** Another address after a restart (a new port). */
  retarget(base: string): void {
    this.base = base;
  }

  start(clients: number): void {
    this.stopping = false;
    this.running = Array.from({ length: clients }, (_, i) => this.client(i + 1));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  /** Resolves once `count` acknowledgements have been logged in all (or after `timeoutMs`, rejecting). */
  untilAcks(count: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.acks.length} of ${count} acknowledgements within ${timeoutMs} ms; failures: ${this.failures.slice(-5).join(' | ')}`)), timeoutMs);
      const check = () => {
        if (this.acks.length < count) return false;
        clearTimeout(timer);
        resolve();
        return true;
      };
      if (!check()) this.listeners.push(() => void check());
    });
  }

  private ack(a: Ack): void {
    this.acks.push(a);
    for (const l of this.listeners) l();
  }

  private async client(n: number): Promise<void> {
    while (!this.stopping) {
      try {
        const clients = new Map<Login, WebClient>();
        for (const login of LOGINS) clients.set(login, await WebClient.loggedIn(this.base, login));
        while (!this.stopping) await this.workflow(clients, `${this.tag}${n}-${++this.seq}`);
      } catch (err) {
        this.failures.push(`client ${n}: ${(err as Error).message}`.slice(0, 300));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  private async step(c: WebClient, label: string, request: (c: WebClient) => Promise<Page>, expected: number): Promise<Page> {
    const page = await request(c);
    // An error page or API error that says the transaction was committed before the platform failed.
    const committed = /(?:写入区块|block) (\d+) ?[（(](?:交易|transaction) ([0-9a-f]{64})[）)]/.exec(page.status >= 500 ? errorText(page.text) || page.text : '');
    if (committed) this.committedDespiteError.push({ label, blockNumber: Number(committed[1]), txId: committed[2] });
    if (page.status !== expected) throw new Refused(`${label}: ${page.status} ${formError(page.text) || errorText(page.text) || page.text.slice(0, 160)}`);
    return page;
  }

  private async workflow(clients: Map<Login, WebClient>, tag: string): Promise<void> {
    const as = (login: Login) => clients.get(login)!;
    const county = as('county');
    await this.step(county, 'GET /projects/new', (c) => c.get('/projects/new'), 200);
    const filed = await this.step(county, 'POST /projects', (c) => c.postMultipart('/projects', leishanProjectForm({ name: `故障测试项目 ${tag}` }), [{ field: 'documents', name: `报告-${tag}.pdf`, type: 'application/pdf', content: Buffer.concat([PDF, Buffer.from(tag)]) }]), 302);
    const id = /\/projects\/([^/?#]+)$/.exec(filed.location)?.[1];
    if (!id) throw new Refused(`filing redirected to ${filed.location}`);
    this.ack({ kind: 'file', projectId: id });
    const shown = await county.get(filed.location);
    const filedAck = this.acks.at(-1) as { txId?: string };
    filedAck.txId = flashedTxId(shown.text);

    const lgo = as('lgo');
    const review = await this.step(lgo, 'GET /approvals/:id', (c) => c.get(`/approvals/${id}`), 200);
    const approval = { ...formValues(review.text, 'approval-form'), opinion: ['同意。'] };
    const approved = await this.step(lgo, 'POST approve', (c) => c.post(`/approvals/${id}/approve`, approval), 302);
    this.ack({ kind: 'approve', projectId: id });
    const approvedAck = this.acks.at(-1) as { txId?: string };
    approvedAck.txId = flashedTxId((await lgo.get(approved.location)).text);

    let serials = 0;
    for (let round = 1; round <= 4 && !this.stopping; round++) {
      let registered = 0;
      for (const payer of PAYERS) {
        const page = await this.step(as(payer), 'GET /disbursement', (c) => c.get(`/disbursement?project=${id}`), 200);
        for (const [, formId] of page.text.matchAll(/<form class="register-form"[^>]*id="(register-form-\d+)"/g)) {
          const form = formValues(page.text, formId);
          if (!form.serial || !form.draftIds) continue;
          const serial = `F${tag}-${++serials}`;
          form.serial = [serial];
          const done = await this.step(as(payer), 'POST register', (c) => c.post('/disbursement/register', form), 302);
          this.ack({ kind: 'register', serial, draftIds: form.draftIds });
          const ack = this.acks.at(-1) as { txId?: string };
          ack.txId = flashedTxId((await as(payer).get(done.location)).text);
          registered += 1;
        }
      }
      if (registered === 0) break;
      for (const bank of ['bank', 'bank2'] as const) {
        const page = await this.step(as(bank), 'GET /disbursement (bank)', (c) => c.get(`/disbursement?project=${id}`), 200);
        const awaiting = /<div class="card mb-3" id="awaiting-record">([\s\S]*?)<\/table>/.exec(page.text)?.[1] ?? '';
        for (const [, href] of awaiting.matchAll(/<a class="[^"]*fill-in" href="([^"]+)"/g)) {
          const link = decodeEntities(href);
          const q = new URL(link, this.base).searchParams;
          const serial = q.get('serial') ?? '';
          if (bank === 'bank') {
            const filled = await this.step(as(bank), 'GET fill in', (c) => c.get(link), 200);
            const done = await this.step(as(bank), 'POST record', (c) => c.post('/disbursement/record', formValues(filled.text, 'record-form')), 302);
            this.ack({ kind: 'record', serial });
            const ack = this.acks.at(-1) as { txId?: string };
            ack.txId = flashedTxId((await as(bank).get(done.location)).text);
          } else {
            const record = { serial, payerAccount: q.get('payerAccount'), payeeAccount: q.get('payeeAccount'), amount: parseYuan('amount', q.get('amount')), paidAt: new Date(Date.now() - 60_000).toISOString() };
            const res = await this.step(as(bank), 'POST /api/bank/transfers', (c) => c.api('POST', '/api/bank/transfers', record, this.bank2Token), 201);
            const body = res.json<{ txId: string; blockNumber: number }>();
            this.ack({ kind: 'api-record', serial, txId: body.txId, blockNumber: body.blockNumber });
          }
        }
      }
    }
  }
}

/** The rural credit union's API token, issued on the admin page as a bank would get it. */
export async function issueBankToken(base: string, mongoUri: string): Promise<string> {
  const client = new mongoose.mongo.MongoClient(mongoUri);
  let bank2Id: string;
  try {
    await client.connect();
    const user = await client.db().collection('users').findOne({ username: 'bank2' });
    bank2Id = String(user!._id);
  } finally {
    await client.close();
  }
  const admin = await WebClient.loggedIn(base, 'admin');
  await admin.get('/admin/api-clients');
  const issued = await admin.post('/admin/api-clients', { userId: bank2Id, label: '农信社核心系统（故障测试）' });
  const token = textOf(byId(issued.text, 'api-token'));
  assert.equal(issued.status, 201, `no API token: ${issued.status} ${formError(issued.text)}`);
  return token;
}

// -------------------------------------------------------------------------------------------------
// After recovery

export interface ProjectionSnapshot {
  projects: Map<string, Record<string, unknown>>;
  drafts: Map<string, Record<string, unknown>>;
  transfers: Map<string, Record<string, unknown>>;
}

/** The projections as the platform left them, read with a driver of the test's own (no projector running). */
export async function readProjections(mongoUri: string): Promise<ProjectionSnapshot> {
  const client = new mongoose.mongo.MongoClient(mongoUri);
  try {
    await client.connect();
    const db = client.db();
    const all = async (name: string) => new Map((await db.collection<{ _id: string }>(name).find({}).toArray()).map((d) => [d._id, d as Record<string, unknown>]));
    return { projects: await all('projectViews'), drafts: await all('draftViews'), transfers: await all('transferViews') };
  } finally {
    await client.close();
  }
}

type SerialState = { serial: string; claim?: TransferClaim; record?: TransferRecord };

export interface RecoveryFigures {
  acknowledged: number;
  found: number;
  projects: number;
  drafts: number;
  serials: number;
}

/**
 * On the platform started again (in this process) on the same data: every acknowledged action is on the chain;
 * nothing is half-done (each approved project has all its drafts, every hop a draft took is a matched transfer whose
 * registration names that hop, every matched transfer moved its drafts); the projections read before this start
 * equal the chain state (projects, drafts, transfers).
 */
export async function checkRecovered(running: RunningPlatform, acks: Ack[], projections: ProjectionSnapshot): Promise<RecoveryFigures> {
  const { chain, system, config } = running.platform;
  const channel = config.businessChannel;
  const read = <T>(fcn: string, ...args: string[]) => chain.evaluate<T>(system, fcn, ...args);
  const serialCache = new Map<string, SerialState>();
  const serialOf = async (serial: string) => {
    let s = serialCache.get(serial);
    if (!s) serialCache.set(serial, (s = await read<SerialState>('Reconciliation:getSerial', serial)));
    return s;
  };

  const projects = await read<Project[]>('Project:list', '{}');
  const byId = new Map(projects.map((p) => [p.id, p]));
  const drafts = new Map<string, Draft>();
  for (const p of projects) {
    const listed = p.draftIds.length > 0 ? await read<Array<Draft & { heldBack: string | null }>>('Draft:listByProject', p.id) : [];
    assert.equal(listed.length, p.draftIds.length, `project ${p.id} (${p.status}) has all its ${p.draftIds.length} drafts`);
    for (const { heldBack: _derived, ...d } of listed) drafts.set(d.draftId, d);
  }

  // Every acknowledged action.
  let found = 0;
  for (const a of acks) {
    const where = `${a.kind} ${'projectId' in a ? a.projectId : a.serial}`;
    if (a.txId) {
      const tx = await running.gateway.getTransaction(channel, a.txId);
      assert.equal(tx?.validationCode, 'VALID', `${where}: its transaction ${a.txId} is on the chain`);
      if (a.kind === 'api-record') assert.equal(tx?.blockNumber, a.blockNumber, `${where}: in the block the API answered`);
    }
    if (a.kind === 'file') assert.ok(byId.has(a.projectId), `${where}: the project is on the chain`);
    if (a.kind === 'approve') {
      const p = byId.get(a.projectId);
      assert.ok(p && p.approvedAt && p.draftIds.length > 0, `${where}: approved on the chain with its drafts (${p?.status})`);
    }
    if (a.kind === 'register') {
      const s = await serialOf(a.serial);
      assert.deepEqual(s.claim?.hops.map((h) => h.draftId).sort(), [...a.draftIds].sort(), `${where}: the registration is on the chain`);
    }
    if (a.kind === 'record' || a.kind === 'api-record') assert.ok((await serialOf(a.serial)).record, `${where}: the bank record is on the chain`);
    found += 1;
  }

  // Nothing half-done: every hop a draft took is a matched transfer naming it; every matched transfer moved its drafts.
  for (const d of drafts.values()) {
    for (const hop of d.actualPath) {
      const s = await serialOf(hop.serial);
      assert.ok(s.claim && s.record, `draft ${d.draftId} hop ${hop.seq}: serial ${hop.serial} is registered and recorded`);
      assert.match(s.claim.status, /^MATCHED/, `draft ${d.draftId} hop ${hop.seq}: serial ${hop.serial} matched`);
      assert.ok(s.claim.hops.some((h) => h.draftId === d.draftId && h.seq === hop.seq), `draft ${d.draftId} hop ${hop.seq}: the registration of ${hop.serial} names it`);
    }
  }
  const ackedSerials = new Set(acks.flatMap((a) => ('serial' in a ? [a.serial] : [])));
  for (const serial of ackedSerials) {
    const s = await serialOf(serial);
    if (!s.claim || !/^MATCHED/.test(s.claim.status)) continue;
    for (const h of s.claim.hops) {
      const d = drafts.get(h.draftId);
      assert.ok(d?.actualPath.some((hop) => hop.serial === serial && hop.seq === h.seq), `matched transfer ${serial} moved draft ${h.draftId} (hop ${h.seq})`);
    }
  }

  // The projections equal the chain.
  assert.deepEqual([...projections.projects.keys()].sort(), [...byId.keys()].sort(), 'a project projection for every project on the chain, and no other');
  for (const p of projects) assert.deepEqual(projections.projects.get(p.id)?.doc, p, `project ${p.id}: projection equals the chain`);
  assert.deepEqual([...projections.drafts.keys()].sort(), [...drafts.keys()].sort(), 'a draft projection for every draft on the chain');
  for (const d of drafts.values()) assert.deepEqual(projections.drafts.get(d.draftId)?.doc, d, `draft ${d.draftId}: projection equals the chain`);
  const serials = new Set([...ackedSerials, ...[...drafts.values()].flatMap((d) => d.actualPath.map((h) => h.serial))]);
  for (const serial of serials) {
    const s = await serialOf(serial);
    const view = projections.transfers.get(serial);
    if (!s.claim && !s.record) {
      assert.equal(view, undefined, `serial ${serial}: nothing on the chain, no projection`);
      continue;
    }
    assert.deepEqual(view?.claim ?? undefined, s.claim, `transfer ${serial}: projected registration equals the chain`);
    assert.deepEqual(view?.record ?? undefined, s.record, `transfer ${serial}: projected bank record equals the chain`);
  }
  return { acknowledged: acks.length, found, projects: projects.length, drafts: drafts.size, serials: serials.size };
}

/** `npm run verify` on a ledger folder: exit status and output. */
export function verifyLedger(ledgerDir: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'verify.mjs'), ledgerDir], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

export function countBy<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}
