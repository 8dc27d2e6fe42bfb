/**
 * The web platform under test: a real MongoDB-protocol server (scripts/mongo.mjs, mongo-java-server)
 * per test file, the platform started in this process on a temporary data folder with fast blocks,
 * and a small HTTP client with a cookie jar that logs in like a browser (CSRF token included).
 * Mongoose keeps one global connection, so a process runs one platform at a time: stopPlatform()
 * closes it completely before another may start.
 */
import '../embedded/support/quiet';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { appConfig, type AppConfig } from '@fund/app/dist/config';
import { startPlatform, type RunningPlatform } from '@fund/app/dist/server';
import { DEMO_PASSWORD } from '@fund/app/dist/services/demo';

const ROOT = path.resolve(__dirname, '..', '..');

export interface MongoServer {
  uri: string;
  pid: number;
  stop(): Promise<void>;
}

// scripts/mongo.mjs is an ES module with top-level await: a real import(), which TypeScript's CommonJS output would turn into require().
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;

/** mongo-java-server with its store under `dataDir` (or in memory); it exits with this process (it watches its stdin). Port 0: a free one. */
export async function startMongoServer(dataDir: string, heap = '512m', memory = false, port = 0): Promise<MongoServer> {
  const { startMongo } = (await importModule(pathToFileURL(path.join(ROOT, 'scripts', 'mongo.mjs')).href)) as {
    startMongo(options: { port: number; dataDir: string; quiet: boolean; heap: string; memory: boolean }): Promise<MongoServer>;
  };
  return startMongo({ port, dataDir, quiet: true, heap, memory });
}

export interface TestPlatformOptions {
  /** Seed the demo organisations, users and the 20 towns' projects (once, on the first start). */
  demo?: boolean;
  /** Extra environment for appConfig, e.g. { MAX_UPLOAD_MB: '1' }. */
  env?: Record<string, string>;
  /** Database name inside the file's MongoDB server. */
  db?: string;
  /** Java heap of the MongoDB server. */
  mongoHeap?: string;
}

export interface TestPlatform {
  readonly url: string;
  readonly running: RunningPlatform;
  readonly config: AppConfig;
  readonly mongo: MongoServer;
  /** The MongoDB URI of this platform's database. */
  readonly mongoUri: string;
  /** Closes the platform (HTTP server, projector, mongoose, ledger); the data stays. */
  stopPlatform(): Promise<void>;
  /** Starts the platform again on the same data folder and database. */
  startPlatform(): Promise<void>;
  /** Everything: platform, MongoDB server, temporary folder. */
  stop(): Promise<void>;
  /** Resolves once the projector has projected everything committed on the business channel so far. */
  settled(): Promise<void>;
}

export async function startTestPlatform({ demo = false, env = {}, db = 'fund', mongoHeap }: TestPlatformOptions = {}): Promise<TestPlatform> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'web-test-'));
  const mongo = await startMongoServer(path.join(tmp, 'mongo'), mongoHeap);
  const mongoUri = `${mongo.uri}/${db}`;
  // Folders and ports of a developer's own instance must not leak in from the environment.
  const inherited = { ...process.env };
  for (const key of ['LEDGER_DATA_DIR', 'UPLOAD_DIR', 'LEDGER_CHANNELS', 'LEDGER', 'DEFAULT_LANG', 'TIME_ZONE']) delete inherited[key];
  // TEST_LEDGER=fabric (test/fabric/browser.fabric.test.ts): the platform on the running native Fabric network instead of an
  // embedded ledger of its own (FABRIC_DIR, FABRIC_ORG as for the app; channels business and routing).
  const ledger = process.env.TEST_LEDGER === 'fabric' ? { LEDGER: 'fabric', FABRIC_DIR: process.env.FABRIC_DIR ?? path.join(ROOT, 'data', 'fabric') } : {};
  const config = appConfig({ ...inherited, DATA_DIR: path.join(tmp, 'platform'), PORT: '0', MONGODB_URI: mongoUri, BATCH_TIMEOUT_MS: '200', ...ledger, ...env });
  let running: RunningPlatform | undefined;
  const start = async () => {
    if (running) throw new Error('the platform is already running');
    running = await startPlatform({ config, demo, log: () => {} });
  };
  const stopPlatform = async () => {
    const r = running;
    running = undefined;
    await r?.close();
  };
  try {
    await start();
  } catch (err) {
    await stopPlatform().catch(() => {});
    await mongo.stop().catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return {
    get url() {
      if (!running) throw new Error('the platform is stopped');
      return running.url;
    },
    get running() {
      if (!running) throw new Error('the platform is stopped');
      return running;
    },
    config,
    mongo,
    mongoUri,
    stopPlatform,
    startPlatform: start,
    async settled() {
      if (!running) throw new Error('the platform is stopped');
      await projectionsSettled(running);
    },
    async stop() {
      try {
        await stopPlatform();
      } finally {
        await mongo.stop().catch(() => {});
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    },
  };
}

/** Waits for the projector to reach the last valid transaction committed on the business channel. */
export async function projectionsSettled(running: RunningPlatform, timeoutMs = 30_000): Promise<void> {
  const { gateway, platform } = running;
  const channel = platform.config.businessChannel;
  const height = (await gateway.chainInfo(channel)).height;
  for (let n = height - 1; n >= 0; n--) {
    const last = (await gateway.getBlock(channel, n)).transactions.filter((tx) => tx.validationCode === 'VALID').at(-1);
    if (!last) continue;
    await platform.projector.settled(last.txId, n, timeoutMs);
    if (platform.projector.error) throw platform.projector.error;
    return;
  }
}

// -------------------------------------------------------------------------------------------------
// HTTP

export interface Page {
  status: number;
  headers: Headers;
  text: string;
  /** Location of a redirect, '' otherwise. */
  location: string;
  json<T = unknown>(): T;
}

export interface UploadFile {
  name: string;
  type: string;
  content: Buffer;
}

export type FormFields = Record<string, string | string[] | undefined>;

/** A browser in miniature: cookies, the session's CSRF token, no redirects followed. */
export class WebClient {
  private readonly cookies = new Map<string, string>();
  /** The session's CSRF token, read from the last page that had a form. */
  csrf = '';
  username?: string;

  constructor(readonly base: string) {}

  /** The session's cookies as a Cookie header, for a request of the test's own (a server-sent event stream). */
  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  static async loggedIn(base: string, username: string, password = DEMO_PASSWORD): Promise<WebClient> {
    const client = new WebClient(base);
    await client.login(username, password);
    return client;
  }

  /** An anonymous visitor who has opened the login page, so it holds a session and a CSRF token. */
  static async anonymous(base: string): Promise<WebClient> {
    const client = new WebClient(base);
    const page = await client.get('/login');
    if (page.status !== 200 || !client.csrf) throw new Error(`GET /login answered ${page.status} without a CSRF token`);
    return client;
  }

  async login(username: string, password = DEMO_PASSWORD): Promise<void> {
    await this.get('/login');
    const res = await this.post('/login', { username, password });
    if (res.status !== 302) throw new Error(`login as ${username} failed: ${res.status} ${errorText(res.text) || formError(res.text)}`);
    this.username = username;
    // A new session at login: its token is on the next page.
    const home = await this.get(res.location || '/');
    if (!this.csrf || home.status >= 400) throw new Error(`after login as ${username}, GET ${res.location} answered ${home.status}`);
  }

  async request(method: string, urlPath: string, init: { body?: string | FormData; headers?: Record<string, string> } = {}): Promise<Page> {
    const headers: Record<string, string> = { accept: 'text/html,application/xhtml+xml', ...init.headers };
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(new URL(urlPath, this.base), { method, headers, body: init.body, redirect: 'manual' });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    const text = await res.text();
    const token = csrfTokenOf(text);
    if (token) this.csrf = token;
    return { status: res.status, headers: res.headers, text, location: res.headers.get('location') ?? '', json: <T>() => JSON.parse(text) as T };
  }

  get(urlPath: string): Promise<Page> {
    return this.request('GET', urlPath);
  }

  /** An urlencoded form post carrying the session's CSRF token unless `csrf: false` (or the fields have one). */
  post(urlPath: string, fields: FormFields = {}, { csrf = true }: { csrf?: boolean } = {}): Promise<Page> {
    const body = new URLSearchParams();
    // A form read from a page (formValues) carries its own token.
    if (csrf && !('_csrf' in fields)) body.append('_csrf', this.csrf);
    for (const [k, v] of Object.entries(fields)) for (const item of v === undefined ? [] : ([] as string[]).concat(v)) body.append(k, item);
    return this.request('POST', urlPath, { body: body.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }

  /** A multipart form post; like the app's own forms, the CSRF token rides in the query string. */
  postMultipart(urlPath: string, fields: FormFields, files: Array<UploadFile & { field: string }> = [], { csrf = true }: { csrf?: boolean } = {}): Promise<Page> {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) for (const item of v === undefined ? [] : ([] as string[]).concat(v)) form.append(k, item);
    for (const f of files) form.append(f.field, new Blob([f.content], { type: f.type }), f.name);
    const url = csrf ? `${urlPath}${urlPath.includes('?') ? '&' : '?'}_csrf=${encodeURIComponent(this.csrf)}` : urlPath;
    return this.request('POST', url, { body: form });
  }

  /** A JSON request to the bank API (no cookies needed, but harmless). */
  api(method: string, urlPath: string, body?: unknown, token?: string, raw?: string): Promise<Page> {
    const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/json' };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    return this.request(method, urlPath, { body: raw ?? (body === undefined ? undefined : JSON.stringify(body)), headers });
  }
}

// -------------------------------------------------------------------------------------------------
// Reading pages

/** The CSRF token of the first form on a page, if it has one. */
export function csrfTokenOf(html: string): string | undefined {
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  return token === undefined ? undefined : decodeEntities(token);
}

export function decodeEntities(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#(\d+);/g, (_m, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, '&');
}

/** Visible text of an HTML fragment: tags dropped, entities decoded, white space collapsed. */
export function textOf(html: string): string {
  return decodeEntities(html.replace(/<script[\s\S]*?<\/script>/g, '').replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim();
}

/** The text of the element with this id ('' if absent); enough for the flat elements our pages mark with ids. */
export function byId(html: string, id: string): string {
  const m = new RegExp(`<(\\w+)[^>]*\\bid="${id}"[^>]*>`).exec(html);
  if (!m) return '';
  const start = m.index + m[0].length;
  const tag = m[1];
  // Count nested elements of the same tag to find the matching close.
  const re = new RegExp(`<${tag}\\b[^>]*>|</${tag}>`, 'g');
  re.lastIndex = start;
  let depth = 1;
  for (let hit = re.exec(html); hit; hit = re.exec(html)) {
    depth += hit[0].startsWith('</') ? -1 : 1;
    if (depth === 0) return html.slice(start, hit.index);
  }
  return html.slice(start);
}

/** The form error message (`.alert-danger#form-error`) of a page, '' if none. */
export function formError(html: string): string {
  return textOf(byId(html, 'form-error'));
}

/** The message of the error page ('' if the page is not one). */
export function errorText(html: string): string {
  const m = /<p class="card-text error-message">([\s\S]*?)<\/p>/.exec(html);
  return m ? textOf(m[1]) : '';
}

/** The rows of a table body as arrays of cell texts. */
export function tableRows(html: string, tableId: string): string[][] {
  const table = byId(html, tableId);
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(table)?.[1] ?? '';
  return [...body.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((row) => [...row[1].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((cell) => textOf(cell[1])));
}

/** Polls `check` until it is truthy or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** The values a browser would submit from the form with this id: inputs (checked boxes only), selected options, text areas. */
export function formValues(html: string, formId: string): Record<string, string[]> {
  const form = byId(html, formId);
  const values: Record<string, string[]> = {};
  const add = (name: string, value: string) => (values[name] ??= []).push(decodeEntities(value));
  const attr = (tag: string, name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1];
  for (const [tag] of form.matchAll(/<input\b[^>]*>/g)) {
    const name = attr(tag, 'name');
    const type = attr(tag, 'type') ?? 'text';
    if (!name || / disabled/.test(tag) || type === 'file' || ((type === 'checkbox' || type === 'radio') && !/ checked/.test(tag))) continue;
    add(name, attr(tag, 'value') ?? (type === 'checkbox' ? 'on' : ''));
  }
  for (const [, open, options] of form.matchAll(/<select\b([^>]*)>([\s\S]*?)<\/select>/g)) {
    const name = attr(open, 'name');
    const chosen = /<option\b[^>]*\bselected[^>]*>/.exec(options)?.[0] ?? /<option\b[^>]*>/.exec(options)?.[0];
    if (name && chosen) add(name, attr(chosen, 'value') ?? '');
  }
  for (const [, open, text] of form.matchAll(/<textarea\b([^>]*)>([\s\S]*?)<\/textarea>/g)) {
    const name = attr(open, 'name');
    if (name) add(name, text);
  }
  return values;
}

/** The project filing form as a 雷山县 clerk fills it in: 300,000 yuan, 90 % bank-financed, two milestones. */
export function leishanProjectForm(overrides: FormFields = {}): FormFields {
  return {
    name: '大塘镇人居环境整治项目',
    town: '大塘镇',
    department: '雷山县住建局',
    description: '测试',
    budget: '300000',
    implementingUnitId: 'LS-UNIT',
    startDate: '2027-01-01',
    endDate: '2027-12-31',
    milestoneName: ['开工', '完工'],
    milestoneDate: ['2027-02-01', '2027-12-01'],
    payer_bank: 'BANK-GZ',
    amount_bank: '270000',
    payer_provincialFinance: 'PROV-FIN',
    amount_provincialFinance: '12000',
    payer_countyFinance: 'LS-FIN',
    amount_countyFinance: '18000',
    ...overrides,
  };
}
