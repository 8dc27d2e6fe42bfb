/**
 * Simulated users of the web platform for `npm run bench`: each walks its own projects through the
 * whole workflow over HTTP the way the pages lead a person — file with a document, review and
 * approve, every paying unit registers its serials from its disbursement page, the banks record
 * the transfers (贵州银行 with the record form, the rural credit union through the bank API), the
 * unit accepts the drafts and reports progress with evidence, an auditor reads the result, pausing
 * between clicks as a person does. Every request is timed; any answer other than the one a person
 * would get is an error.
 */
import { performance } from 'node:perf_hooks';
import { parseYuan } from '@fund/app/dist/services/money';
import { WebClient, decodeEntities, errorText, formError, formValues, leishanProjectForm, type Page } from '../support/platform';

/**
 * An action the platform acknowledged (a redirect after the form, 201 from the bank API): after a run it must be on
 * the chain and in the projections. `key` names what it wrote: the project, the serial or the draft.
 */
export interface Ack {
  kind: 'file' | 'approve' | 'register' | 'record' | 'accept' | 'progress';
  project: string;
  key: string;
  /** Known when the answer says it (the bank API). */
  txId?: string;
}

/** Latencies per request kind, every error seen, and every acknowledged action. */
export class Stats {
  readonly latencies = new Map<string, number[]>();
  readonly errors: string[] = [];
  readonly acks: Ack[] = [];
  workflows = 0;
  /** Walks whose bank hop the disbursement page showed held back until the fiscal money had moved (fund policy). */
  heldBackSeen = 0;
  /** Rounds of reading dashboards, lists and exports by auditors. */
  auditorRounds = 0;

  record(label: string, ms: number): void {
    const list = this.latencies.get(label) ?? [];
    list.push(ms);
    this.latencies.set(label, list);
  }

  all(): number[] {
    return [...this.latencies.values()].flat();
  }
}

/** The demo logins a workflow passes through (one browser session each). */
const LOGINS = ['county', 'lgo', 'bank', 'bank2', 'provfin', 'lp', 'countyfin', 'countyfund', 'unit', 'auditor'] as const;
type Login = (typeof LOGINS)[number];
/** Paying units of a 雷山县 project's hops, in the order of the path. */
const PAYERS: Login[] = ['bank', 'provfin', 'lp', 'countyfin', 'countyfund'];

const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(20_000, 0x20), Buffer.from('\n%%EOF\n')]);
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');

class StepError extends Error {}

/** One click: a pause as a person makes (about `thinkMs`), then the request, timed under `label`; any other status than `expected` is an error. */
async function timedStep(stats: Stats, thinkMs: number, label: string, who: string, client: WebClient, request: (c: WebClient) => Promise<Page>, expected: number): Promise<Page> {
  if (thinkMs > 0) await new Promise((resolve) => setTimeout(resolve, thinkMs * (0.5 + Math.random())));
  const t0 = performance.now();
  let page: Page;
  try {
    page = await request(client);
  } catch (err) {
    // fetch says only "fetch failed": the cause (a reset or closed connection, a timeout) is what tells.
    const cause = (err as Error & { cause?: Error & { code?: string } }).cause;
    throw new StepError(`${label} as ${who}: ${(err as Error).message} after ${Math.round(performance.now() - t0)} ms${cause ? ` (${[cause.code, cause.message].filter(Boolean).join(' ')})` : ''}`);
  }
  stats.record(label, performance.now() - t0);
  if (page.status !== expected) {
    const why = formError(page.text) || errorText(page.text) || page.text.slice(0, 200);
    throw new StepError(`${label} as ${who}: ${page.status} (expected ${expected}) ${why}`);
  }
  return page;
}

export class SimulatedUser {
  private readonly clients = new Map<Login, WebClient>();

  constructor(
    readonly n: number,
    private readonly base: string,
    private readonly stats: Stats,
    /** Bank API token of the rural credit union's clerk. */
    private readonly bank2Token: string,
    /** A person's pause between two clicks, on average (0: none, machine speed). */
    private readonly thinkMs: number,
  ) {}

  async logIn(): Promise<void> {
    for (const login of LOGINS) this.clients.set(login, await WebClient.loggedIn(this.base, login));
  }

  /** Walks projects through the workflow until `until` (ms since the epoch), after `delayMs`; errors are counted, not thrown. */
  async run(until: number, delayMs = 0): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    for (let seq = 1; Date.now() < until; seq++) {
      try {
        await this.workflow(`${this.n}-${seq}`);
        this.stats.workflows += 1;
      } catch (err) {
        this.stats.errors.push(`user ${this.n}: ${(err as Error).message}`);
        // After an error the next walk starts afresh, so one fault is counted once.
      }
    }
  }

  private step(label: string, login: Login, request: (c: WebClient) => Promise<Page>, expected: number): Promise<Page> {
    return timedStep(this.stats, this.thinkMs, label, login, this.clients.get(login)!, request, expected);
  }

  private async workflow(tag: string): Promise<void> {
    // The county office files a project with its feasibility study.
    await this.step('GET /projects/new', 'county', (c) => c.get('/projects/new'), 200);
    const filed = await this.step('POST /projects', 'county', (c) => c.postMultipart('/projects', leishanProjectForm({ name: `大塘镇产业路硬化项目（压测 ${tag}）`, department: '雷山县农业农村局', description: '修建通往茶园的产业路，附可行性研究报告。' }), [{ field: 'documents', name: '可行性研究报告.pdf', type: 'application/pdf', content: PDF }]), 302);
    const id = /\/projects\/([^/?#]+)$/.exec(filed.location)?.[1];
    if (!id) throw new StepError(`filing redirected to ${filed.location}, not to a project`);
    this.stats.acks.push({ kind: 'file', project: id, key: id });
    await this.step('GET /projects/:id', 'county', (c) => c.get(`/projects/${id}`), 200);

    // The provincial command reviews it and approves with the default deadlines.
    await this.step('GET /approvals', 'lgo', (c) => c.get('/approvals'), 200);
    const review = await this.step('GET /approvals/:id', 'lgo', (c) => c.get(`/approvals/${id}`), 200);
    const approval = { ...formValues(review.text, 'approval-form'), opinion: ['同意立项，按资金计划拨付。'] };
    await this.step('POST /approvals/:id/approve', 'lgo', (c) => c.post(`/approvals/${id}/approve`, approval), 302);
    this.stats.acks.push({ kind: 'approve', project: id, key: id });

    // Hop by hop: each payer registers what it owes, then the banks record what they executed.
    // Under the fund policy the bank's hop waits for the fiscal drafts' first hops, so the three legs take four rounds
    // (fiscal first hops; the bank's first hop with the fiscal second hops; …; the bank draft's last hop) and a fifth
    // that finds nothing left to register.
    let serials = 0;
    for (let round = 1; ; round++) {
      if (round > 5) throw new StepError(`project ${id} still has hops to pay after 4 rounds`);
      let registered = 0;
      for (const payer of PAYERS) {
        const page = await this.step('GET /disbursement?project', payer, (c) => c.get(`/disbursement?project=${id}`), 200);
        // The fund policy moves the bank's money only after the fiscal drafts' first hops: at first the bank's page
        // shows its hop held back, with the reason, and no serial can be registered for it.
        if (round === 1 && payer === 'bank') {
          if (!page.text.includes('held-back')) throw new StepError(`project ${id}: the bank's hop is not held back before the fiscal money moved`);
          this.stats.heldBackSeen += 1;
        }
        for (const [, formId] of page.text.matchAll(/<form class="register-form"[^>]*id="(register-form-\d+)"/g)) {
          const form = formValues(page.text, formId);
          if (!form.serial || !form.draftIds) continue; // every draft of this hop already has a serial
          form.serial = [`SIM${tag}-${++serials}`];
          await this.step('POST /disbursement/register', payer, (c) => c.post('/disbursement/register', form), 302);
          this.stats.acks.push({ kind: 'register', project: id, key: form.serial[0] });
          registered += 1;
        }
      }
      if (registered === 0) break;
      for (const bank of ['bank', 'bank2'] as const) {
        const page = await this.step('GET /disbursement?project', bank, (c) => c.get(`/disbursement?project=${id}`), 200);
        const awaiting = /<div class="card mb-3" id="awaiting-record">([\s\S]*?)<\/table>/.exec(page.text)?.[1] ?? '';
        for (const [, href] of awaiting.matchAll(/<a class="[^"]*fill-in" href="([^"]+)"/g)) {
          const link = decodeEntities(href);
          if (bank === 'bank') {
            const filled = await this.step('GET /disbursement?serial (fill in)', bank, (c) => c.get(link), 200);
            const record = formValues(filled.text, 'record-form');
            await this.step('POST /disbursement/record', bank, (c) => c.post('/disbursement/record', record), 302);
            this.stats.acks.push({ kind: 'record', project: id, key: record.serial?.[0] ?? '' });
          } else {
            const q = new URL(link, this.base).searchParams;
            const record = { serial: q.get('serial'), payerAccount: q.get('payerAccount'), payeeAccount: q.get('payeeAccount'), amount: parseYuan('amount', q.get('amount')), paidAt: new Date(Date.now() - 60_000).toISOString() };
            const answer = await this.step('POST /api/bank/transfers', bank, (c) => c.api('POST', '/api/bank/transfers', record, this.bank2Token), 201);
            this.stats.acks.push({ kind: 'record', project: id, key: record.serial ?? '', txId: answer.json<{ txId: string }>().txId });
          }
        }
      }
    }

    // The implementing unit accepts the three drafts and reports progress with a photo.
    const acceptance = await this.step('GET /acceptance', 'unit', (c) => c.get('/acceptance'), 200);
    const drafts = [...acceptance.text.matchAll(/<tr data-draft="([^"]+)">([\s\S]*?)<\/tr>/g)].filter(([, , row]) => row.includes(`href="/projects/${id}"`) && row.includes('accept-button')).map(([, draft]) => draft);
    if (drafts.length !== 3) throw new StepError(`project ${id}: ${drafts.length} drafts await acceptance, expected 3`);
    for (const draft of drafts) {
      await this.step('POST /acceptance/:draft', 'unit', (c) => c.post(`/acceptance/${encodeURIComponent(draft)}`), 302);
      this.stats.acks.push({ kind: 'accept', project: id, key: draft });
    }
    const progressPage = await this.step('GET /progress/:id', 'unit', (c) => c.get(`/progress/${id}`), 200);
    const progress = { ...formValues(progressPage.text, 'progress-form'), percent: '40', note: '路基完成，附现场照片。' };
    await this.step('POST /progress/:id', 'unit', (c) => c.postMultipart(`/progress/${id}`, progress, [{ field: 'evidence', name: '现场.png', type: 'image/png', content: PNG }]), 302);
    this.stats.acks.push({ kind: 'progress', project: id, key: id });

    // An auditor reads the outcome.
    const detail = await this.step('GET /projects/:id', 'auditor', (c) => c.get(`/projects/${id}`), 200);
    const status = /id="project-status"[^>]*>([^<]*)</.exec(detail.text)?.[1];
    if (status !== '已到位') throw new StepError(`project ${id} ends as "${status}", not 已到位 (funded)`);
    await this.step('GET /', 'auditor', (c) => c.get('/'), 200);
    await this.step('GET /projects', 'auditor', (c) => c.get('/projects'), 200);
  }
}

/**
 * An auditor (省审计厅) at work beside the walks: the dashboard, the project lists (filtered by county and status,
 * searched), a funded project's page, the monitoring centre, notifications, the export page and two of its CSV
 * files, with the same pauses as the walks. Anything but the page a person would get is an error.
 */
export class Auditor {
  private client?: WebClient;

  constructor(
    readonly n: number,
    private readonly base: string,
    private readonly stats: Stats,
    private readonly thinkMs: number,
  ) {}

  async logIn(): Promise<void> {
    this.client = await WebClient.loggedIn(this.base, 'auditor');
  }

  async run(until: number, delayMs = 0): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    while (Date.now() < until) {
      try {
        await this.round();
        this.stats.auditorRounds += 1;
      } catch (err) {
        this.stats.errors.push(`auditor ${this.n}: ${(err as Error).message}`);
      }
    }
  }

  private step(label: string, path: string, expected = 200): Promise<Page> {
    return timedStep(this.stats, this.thinkMs, label, 'auditor', this.client!, (c) => c.get(path), expected);
  }

  private async round(): Promise<void> {
    await this.step('GET /', '/');
    await this.step('GET /projects?county', `/projects?county=${encodeURIComponent('雷山县')}`);
    const funded = await this.step('GET /projects?status', '/projects?status=FUNDED');
    const ids = [...funded.text.matchAll(/href="\/projects\/(PRJ-[^"/?#]+)"/g)].map(([, id]) => id);
    if (ids.length > 0) {
      const id = ids[Math.floor(Math.random() * ids.length)];
      const detail = await this.step('GET /projects/:id (auditor)', `/projects/${id}`);
      if (!detail.text.includes('id="project-status"')) throw new StepError(`project ${id}: the page has no status`);
    }
    await this.step('GET /projects?q', `/projects?q=${encodeURIComponent('产业路')}`);
    await this.step('GET /monitoring', '/monitoring');
    await this.step('GET /notifications', '/notifications');
    await this.step('GET /export', '/export');
    for (const name of ['projects', 'transfers'] as const) {
      const csv = await this.step(`GET /export/${name}.csv`, `/export/${name}.csv`);
      if (!(csv.headers.get('content-type') ?? '').startsWith('text/csv') || csv.text.split('\n').length < 2) throw new StepError(`/export/${name}.csv: not a CSV with rows`);
    }
  }
}
