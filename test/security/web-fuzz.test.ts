/**
 * Fuzzing the web platform and the bank API (fast-check, support/hostile.ts): every POST route of ROUTES gets
 * generated bad forms (a valid form with one field made hostile, dropped, sent twice or joined by an unexpected one,
 * or a pile of hostile fields; hostile ids in the path; file names that climb out of folders), every GET route hostile
 * ids and query strings, the bank API hostile JSON, wrong content types and huge bodies. Properties: never a server
 * error, a refusal changes nothing (both channels' heights, the off-chain records, the upload folder), and no page
 * echoes a script or an attribute breaker unescaped. Then: payloads stored through legitimate text fields (a
 * project's description, a progress note, a problem report, an opinion, names) never appear unescaped on any page any
 * role can open; a session id from before the login is not the one after it; every POST without a valid CSRF token
 * (none, or another session's) is refused and changes nothing.
 *
 * Authorisation per route and role is test/web/route-role.test.ts's; the one-fault-at-a-time messages are
 * test/web/bad-input.test.ts's. `npm test` sends WEB_RUNS inputs per route; `npm run soak` (FUZZ_RUNS) more.
 */
import '../web/quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import type { Role } from '@fund/chaincode/dist/access/roles';
import { ROUTES, type RouteSpec } from '@fund/app/dist/controllers/route';
import { API_ROUTES } from '@fund/app/dist/controllers/bank-api';
import { DEMO_PASSWORD, DEMO_USERS } from '@fund/app/dist/services/demo';
import { User } from '@fund/app/dist/models/user';
import { ApiClient, ProblemReport, StoredFile, Subscription } from '@fund/app/dist/models/activity';
import { DiscrepancyView, DraftView, OrganisationView, ProjectView, TransferView } from '@fund/app/dist/models/projections';
import { WebClient, byId, formError, leishanProjectForm, textOf, type FormFields, type Page, type TestPlatform, startTestPlatform } from '../support/platform';
import { FUZZ, NASTY_STRINGS, XSS, fuzz, hostileString, mutatedJson } from './support/hostile';

/** Inputs per route in `npm test`. */
const WEB_RUNS = 8;
const MB = 1024 * 1024;

/** Routes whose forms are multipart (they take files). */
const MULTIPART = new Set(['POST /projects', 'POST /projects/:id/revise', 'POST /progress/:projectId']);
/** POSTs whose normal use changes something with any input or none: their successes are not refusals to check. */
const NO_INPUT_NEEDED = new Set(['POST /logout', 'POST /lang', 'POST /monitoring/sweep', 'POST /notifications/read', 'POST /monitoring/alerts/acknowledge']);

/** Percent-encodes like a browser, even a lone surrogate (encodeURIComponent throws on one). */
function encodeSegment(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/** Hostile ids for path parameters: traversal, NUL, markup, injection, huge. */
const hostileId = fc.oneof(
  fc.constantFrom('..', '../../../../etc/passwd', '..\\..\\windows\\win.ini', '%00', 'a\u0000b', '<script>alert(1)</script>', '"onmouseover="alert(1)', '$where', '{"$gt":""}', '__proto__', 'constructor', '000000000000000000000000', 'ffffffffffffffffffffffff'),
  // Short enough for the request line: a longer one is refused by Node's HTTP parser (431) before the app sees it.
  hostileString.map((s) => s.slice(0, 400)),
);

/** Every text one could send: the valid forms' values made hostile here and there. */
const hostileValue: fc.Arbitrary<string | string[]> = fc.oneof(
  { weight: 6, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.array(hostileString, { minLength: 2, maxLength: 4 }) },
);

/** Mostly null (the route's real ids, no file), now and then the hostile value. */
const sometimes = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });

/** File names that try to leave the upload folder or fool a type check. */
const hostileFileName = fc.constantFrom('../../../../tmp/fuzz-escape.pdf', '..\\..\\fuzz-escape.pdf', '/etc/passwd.pdf', 'a\u0000.exe.pdf', '\u202Efdp.exe', 'CON.pdf', `${'长'.repeat(300)}.pdf`, '<script>alert(1)</script>.pdf', '.pdf', 'evidence.PDF');

describe('web fuzzing: hostile forms, ids, bodies and sessions', () => {
  let p: TestPlatform;
  const clients = new Map<Role | 'anonymous', WebClient>();
  const ids: Record<string, string> = {};
  const username = (role: Role) => DEMO_USERS.find((u) => u.role === role)!.username;
  let token = '';
  let tried = 0;

  /** What a refusal must leave alone, as route-role and bad-input read it. */
  async function fingerprint(): Promise<string> {
    const { gateway, platform } = p.running;
    const [business, routing] = await Promise.all([gateway.chainInfo(platform.config.businessChannel), gateway.chainInfo(platform.config.routingChannel)]);
    const [people, apiClients, counts, reports] = await Promise.all([
      User.find().select('username active passwordHash role orgId displayName').sort({ username: 1 }).lean(),
      ApiClient.find().select('active tokenHash').sort({ _id: 1 }).lean(),
      Promise.all([ProblemReport, Subscription, StoredFile, ProjectView, DraftView, TransferView, DiscrepancyView, OrganisationView].map((m) => (m as typeof ProjectView).countDocuments())),
      ProblemReport.find().select('status response').sort({ _id: 1 }).lean(),
    ]);
    const uploads = fs.existsSync(platform.config.uploadDir) ? fs.readdirSync(platform.config.uploadDir).sort() : [];
    return JSON.stringify({ business: business.height, routing: routing.height, people, apiClients, counts, reports, uploads });
  }

  /** Every string that went out in a request. */
  function sent(fields: FormFields, extra: string[] = []): string[] {
    return [...Object.entries(fields).flatMap(([k, v]) => [k, ...([] as string[]).concat(v ?? [])]), ...extra];
  }

  /** Why an answer is wrong, or undefined: a server error, or markup we sent shown back unescaped. */
  function problemOf(label: string, res: Page, out: string[]): string | undefined {
    if (res.status >= 500) return `${label}: ${res.status} ${textOf(res.text).slice(0, 200)}`;
    if (res.headers.get('content-type')?.startsWith('text/html')) {
      for (const payload of XSS) if (out.some((s) => s.includes(payload)) && res.text.includes(payload)) return `${label}: ${JSON.stringify(payload)} shown unescaped`;
    }
    return undefined;
  }

  /** The client a route is tried with: the first role it admits (anonymous for the public ones). */
  function clientFor(r: RouteSpec): WebClient {
    if (r.access === 'public') return clients.get('anonymous')!;
    return clients.get(r.access.includes('countyOffice') ? 'countyOffice' : r.access[0])!;
  }

  /** The route's path with real ids where the demo has them. */
  function concrete(routePath: string): string {
    return routePath.replace(/:(\w+)/g, (_m, name: string, offset: number) => {
      const segment = routePath.slice(0, offset).split('/').filter(Boolean).at(-1) ?? '';
      return ids[segment] ?? ids[name] ?? 'none';
    });
  }

  /** A valid form for the routes that have one worth mutating; {} for the rest. */
  function goodForm(r: RouteSpec): FormFields {
    const forms: Record<string, FormFields> = {
      'POST /projects': leishanProjectForm({ description: '模糊测试' }),
      'POST /projects/:id/revise': leishanProjectForm(),
      'POST /progress/:projectId': { milestone: ids.milestone, percent: '70', note: '主体工程完工' },
      'POST /approvals/:id/approve': { opinion: '同意' },
      'POST /approvals/:id/reject': { opinion: '请补充材料' },
      'POST /disbursement/register': { serial: 'FUZZ-SERIAL-1', draftIds: ids.payableDraft, stage: ids.payableStage },
      'POST /disbursement/record': { serial: 'FUZZ-SERIAL-2', payerAccount: '600000000002', payeeAccount: '600000000003', amount: '100.00', paidAt: '2026-01-01T10:00' },
      'POST /reports': { title: '页面显示有误', body: '请核实' },
      'POST /reports/:id/answer': { response: '已核实', status: 'closed' },
      'POST /admin/users': { username: 'fuzzclerk', displayName: '经办', role: 'bank', orgId: 'BANK-GZ', password: 'secret-123' },
      'POST /admin/users/:id/password': { password: 'secret-123', confirm: 'secret-124' },
      'POST /admin/organisations': { id: 'FUZZ-UNIT', name: '模糊测试单位', type: 'implementingUnit', county: '雷山县' },
      'POST /admin/organisations/:id/accounts': { accountNo: '600000777777', bankId: 'BANK-GZ', name: '户' },
      'POST /admin/routing/sets/:id/nodes': { nodeId: 'peer9', listenIp: '10.0.0.11', p2pPort: '7051', rpcPort: '7052', nodeType: 'peer', caHash: 'a'.repeat(64), agencyInfo: '省财政厅', desc: '' },
      'POST /admin/routing/whitelist': { address: '10.7.0.0/16', description: '中继' },
      'POST /admin/routing/routes': { businessId: 'BIZ-FUZZ' },
      'POST /monitoring/discrepancies/:id/resolve': { reason: '已核实，银行补录。' },
      'POST /notifications/subscriptions': { kind: 'project', target_project: ids.projects },
      'POST /projects/:id/payouts': { serial: 'FUZZ-PAY-1', payeeAccount: '620000000101', amount: '100.00', purpose: '工程款' },
      'POST /projects/:id/milestones/confirm': { milestone: ids.milestone, note: '现场核实' },
      'POST /rules/policy': { fiscalSharePercent: '10', provinceSharePercent: '40', tolerancePercent: '0.5', reason: '模糊测试政策' },
    };
    return forms[`${r.method} ${r.path}`] ?? {};
  }

  /** One bad form for a route: the valid form with one thing wrong, or a pile of hostile fields. */
  function badForm(r: RouteSpec): fc.Arbitrary<FormFields> {
    const good = goodForm(r);
    const keys = Object.keys(good);
    const oneWrong = fc
      .record({ key: keys.length ? fc.constantFrom(...keys) : fc.constant('x'), how: fc.constantFrom('replace', 'replace', 'drop', 'twice', 'extra'), value: hostileValue, extra: fc.constantFrom('__proto__', 'constructor', '_csrf', '$where', 'role', 'orgId') })
      .map(({ key, how, value, extra }): FormFields => {
        const form: FormFields = { ...good };
        if (how === 'replace') form[key] = value;
        else if (how === 'drop') delete form[key];
        else if (how === 'twice') form[key] = [...([] as string[]).concat(good[key] ?? ''), ...([] as string[]).concat(value)];
        else Object.defineProperty(form, extra, { value, enumerable: true, configurable: true, writable: true });
        return form;
      });
    const pile = fc.dictionary(fc.oneof(fc.constantFrom(...keys, 'id', 'amount', 'opinion', 'description', 'note'), fc.constantFrom(...NASTY_STRINGS.slice(0, 20))), hostileValue, { maxKeys: 6 });
    return keys.length ? fc.oneof({ weight: 3, arbitrary: oneWrong }, { weight: 1, arbitrary: pile }) : pile;
  }

  before(async () => {
    // Hundreds of hostile logins from one address would lock it (test/security/login-lockout.test.ts tests that).
    p = await startTestPlatform({ demo: true, env: { MAX_UPLOAD_MB: '1', LOGIN_MAX_FAILURES: '1000', LOGIN_MAX_FAILURES_PER_ADDRESS: '1000' } });
    await p.settled();
    for (const role of new Set(DEMO_USERS.map((u) => u.role as Role))) clients.set(role, await WebClient.loggedIn(p.url, username(role)));
    clients.set('anonymous', await WebClient.anonymous(p.url));
    const project = (await ProjectView.findOne({ county: '雷山县' }).sort({ filedAt: 1 }).lean())!;
    const payable = (await DraftView.findOne({ projectId: project._id, source: 'provincialFinance' }).lean())!;
    const bank2 = (await User.findOne({ username: 'bank2' }).lean())!;
    const report = await ProblemReport.create({ userId: String(bank2._id), username: 'bank2', orgId: 'BANK-RC', title: 'fuzz', body: 'fuzz' });
    // A funded project of the demo unit's own organisation, for its progress form.
    const funded = (await ProjectView.findOne({ status: 'FUNDED', implementingUnitId: 'LS-UNIT' }).lean()) ?? (await ProjectView.findOne({ status: 'FUNDED' }).lean()) ?? project;
    Object.assign(ids, {
      projects: String(project._id),
      approvals: String((await ProjectView.findOne({ status: 'SUBMITTED' }).lean())?._id ?? project._id),
      progress: String(funded._id),
      projectId: String(funded._id),
      acceptance: String(payable._id),
      drafts: String(payable._id),
      draftId: String(payable._id),
      payableDraft: String(payable._id),
      payableStage: String(payable.nextStage ?? 'toPartnership'),
      users: String(bank2._id),
      organisations: 'BANK-RC',
      'api-clients': String((await ApiClient.findOne().lean())?._id ?? '000000000000000000000000'),
      reports: String(report._id),
      discrepancies: String((await DiscrepancyView.findOne().lean())?._id ?? 'DSC-NONE-1'),
      notifications: '000000000000000000000000',
      subscriptions: '000000000000000000000000',
      files: 'a'.repeat(64),
      sets: 'SET-1',
      nodes: 'node-none',
      milestone: (funded.doc as { milestones?: Array<{ name: string }> }).milestones?.[1]?.name ?? '开工',
    });
    // The demo unit's login may belong to another unit than the funded project's: a login for that one, made on the
    // admin page, for the progress form.
    const made = await clients.get('admin')!.post('/admin/users', { username: 'fuzzunit', displayName: '实施单位经办', role: 'implementingUnit', orgId: funded.implementingUnitId!, password: 'secret-123' });
    assert.equal(made.status, 302, formError(made.text));
    clients.set('implementingUnit', await WebClient.loggedIn(p.url, 'fuzzunit', 'secret-123'));
    const issued = await clients.get('admin')!.post('/admin/api-clients', { userId: String((await User.findOne({ username: 'bank' }).lean())!._id), label: 'web fuzz' });
    token = textOf(byId(issued.text, 'api-token'));
    assert.match(token, /^[A-Za-z0-9_-]{32}$/, formError(issued.text));
  });

  after(async () => {
    console.log(`# web fuzz: ${tried} requests, seed ${FUZZ.seed}`);
    await p?.stop();
  });

  for (const r of ROUTES.filter((x) => x.method === 'POST')) {
    const key = `${r.method} ${r.path}`;
    test(`${key}: hostile forms and ids`, async (t) => {
      const client = clientFor(r);
      const multipart = MULTIPART.has(key);
      let refused = 0;
      const runs = await fuzz(
        fc.asyncProperty(badForm(r), sometimes(hostileId), sometimes(hostileFileName), async (form, badId, fileName) => {
          const url = badId === null ? concrete(r.path) : r.path.replace(/:(\w+)/g, () => encodeSegment(badId));
          const before = await fingerprint();
          const files = multipart && fileName !== null ? [{ field: r.path.startsWith('/progress') ? 'evidence' : 'documents', name: fileName, type: 'application/pdf', content: Buffer.from('%PDF-1.4 fuzz') }] : [];
          const res = multipart ? await client.postMultipart(url, form, files) : await client.post(url, form);
          tried += 1;
          const problem = problemOf(`${key} ${url.slice(0, 80)} ${JSON.stringify(form).slice(0, 300)}`, res, [...sent(form, [badId ?? '', fileName ?? ''])]);
          if (problem) throw new Error(problem);
          if (res.status >= 400) {
            refused += 1;
            assert.equal(await fingerprint(), before, `${key} refused with ${res.status}, yet something changed`);
          }
          // A successful logout or language change is what those routes are for: be that user again.
          if (r.path === '/logout' && res.status === 302) await client.login(client.username!);
          assert.ok(!fs.existsSync('/tmp/fuzz-escape.pdf') && !fs.existsSync(path.join(p.config.uploadDir, '..', 'fuzz-escape.pdf')), 'an upload left its folder');
        }),
        WEB_RUNS,
      );
      t.diagnostic(`${runs} inputs, ${refused} refused${NO_INPUT_NEEDED.has(key) ? ' (an action that needs no input)' : ''}`);
    });
  }

  test('GET routes: hostile ids and query strings', async (t) => {
    const gets = ROUTES.filter((r) => r.method === 'GET' && r.path !== '/relay/events');
    const runs = await fuzz(
      fc.asyncProperty(fc.constantFrom(...gets), hostileId, fc.dictionary(fc.constantFrom('q', 'status', 'county', 'page', 'lang', 'next', 'sort', '__proto__', 'from', 'to'), hostileValue, { maxKeys: 3 }), async (r, badId, query) => {
        const client = clientFor(r);
        const qs = Object.entries(query)
          .flatMap(([k, v]) => ([] as string[]).concat(v).map((x) => `${encodeSegment(k)}=${encodeSegment(x.slice(0, 1000))}`))
          .join('&');
        const url = `${r.path.replace(/:(\w+)/g, () => encodeSegment(badId))}${qs ? `?${qs}` : ''}`;
        const res = await client.get(url);
        tried += 1;
        const problem = problemOf(`GET ${url.slice(0, 200)}`, res, [badId, ...Object.values(query).flat()]);
        if (problem) throw new Error(problem);
      }),
      WEB_RUNS,
      gets.length / 2,
    );
    t.diagnostic(`${runs} requests over ${gets.length} GET routes`);
  });

  test('bank API: hostile JSON, wrong content types, huge bodies', async (t) => {
    const api = new WebClient(p.url);
    const record = { serial: 'GZB-API-FUZZ-1', payerAccount: '600000000002', payeeAccount: '600000000003', amount: '100', paidAt: new Date(Date.now() - 60_000).toISOString() };
    const body = fc.oneof(
      { weight: 4, arbitrary: mutatedJson(record) },
      { weight: 1, arbitrary: mutatedJson({ url: 'https://bank.example/callback' }) },
      { weight: 1, arbitrary: hostileString },
      { weight: 1, arbitrary: fc.integer({ min: 200, max: 600 }).map((kb) => JSON.stringify({ ...record, serial: 'x'.repeat(kb * 1024) })) },
    );
    const contentType = fc.constantFrom('application/json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'multipart/form-data; boundary=x');
    let refused = 0;
    const runs = await fuzz(
      fc.asyncProperty(fc.constantFrom(...API_ROUTES), body, contentType, hostileId, async (r, raw, type, badId) => {
        const url = r.path.replace(/:(\w+)/g, () => encodeSegment(badId));
        const before = await fingerprint();
        const res = await api.request(r.method, url, {
          body: r.method === 'POST' ? raw : undefined,
          headers: { accept: 'application/json', authorization: `Bearer ${token}`, ...(r.method === 'POST' ? { 'content-type': type } : {}) },
        });
        tried += 1;
        assert.ok(res.status < 500, `${r.method} ${url.slice(0, 80)} ${type} ${raw.slice(0, 200)}: ${res.status} ${res.text.slice(0, 200)}`);
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `${r.method} ${url.slice(0, 80)}: an API answer that is not JSON`);
        if (res.status >= 400) {
          refused += 1;
          assert.equal(await fingerprint(), before, `${r.method} ${url.slice(0, 80)} refused with ${res.status}, yet something changed`);
        }
      }),
      WEB_RUNS,
      10,
    );
    t.diagnostic(`${runs} requests, ${refused} refused`);
  });

  test('stored XSS: payloads kept through text fields are escaped on every page', async (t) => {
    const [script, attr] = ['<script>alert("stored-xss")</script>', '"onmouseover="alert(\'stored-xss\')'];
    const payload = `${script} ${attr}`;
    const county = clients.get('countyOffice')!;
    const filed = await county.postMultipart('/projects', leishanProjectForm({ name: `项目${attr}`.slice(0, 100), description: payload }), [
      { field: 'documents', name: `${script}.pdf`, type: 'application/pdf', content: Buffer.from('%PDF-1.4 stored') },
    ]);
    assert.equal(filed.status, 302, formError(filed.text));
    const projectId = decodeURIComponent(filed.location.split('/').pop()!.split('?')[0]);
    await p.settled();
    // The same project reaches the approver's page, who rejects it with the payload as the opinion.
    const rejected = await clients.get('leadingGroup')!.post(`/approvals/${projectId}/reject`, { opinion: payload });
    assert.ok(rejected.status < 400, formError(rejected.text));
    const note = await clients.get('implementingUnit')!.postMultipart(`/progress/${ids.progress}`, { milestone: ids.milestone, percent: '80', note: payload }, [{ field: 'evidence', name: 'photo.pdf', type: 'application/pdf', content: Buffer.from('%PDF-1.4 note') }]);
    const report = await clients.get('auditor')!.post('/reports', { title: `问题${attr}`.slice(0, 100), body: payload, projectId });
    assert.ok(report.status < 400, formError(report.text));
    const admin = clients.get('admin')!;
    const user = await admin.post('/admin/users', { username: 'xssclerk', displayName: `${script}`.slice(0, 60), role: 'auditor', orgId: 'AUDIT', password: 'secret-123' });
    const org = await admin.post('/admin/organisations', { id: 'XSS-UNIT', name: `单位${attr}`.slice(0, 100), type: 'implementingUnit', county: '雷山县' });
    const white = await admin.post('/admin/routing/whitelist', { address: '10.8.0.0/16', description: payload.slice(0, 100) });
    await p.settled();
    const stored = { filing: filed.status, rejection: rejected.status, note: note.status, report: report.status, user: user.status, organisation: org.status, whitelist: white.status };
    // Every page every role may open, with the new project and report among the ids.
    const reportId = String((await ProblemReport.findOne({ body: payload }).lean())?._id ?? ids.reports);
    const pageIds: Record<string, string> = { ...ids, projects: projectId, approvals: projectId, reports: reportId };
    const problems: string[] = [];
    let pages = 0;
    let shownEscaped = 0;
    for (const [role, client] of clients) {
      if (role === 'anonymous') continue;
      for (const r of ROUTES.filter((x) => x.method === 'GET' && x.path !== '/relay/events' && (x.access === 'public' || x.access.includes(role)))) {
        const url = r.path.replace(/:(\w+)/g, (_m, name: string, offset: number) => pageIds[r.path.slice(0, offset).split('/').filter(Boolean).at(-1) ?? ''] ?? pageIds[name] ?? 'none');
        const res = await client.get(url);
        pages += 1;
        if (res.status >= 500) problems.push(`GET ${url} as ${role}: ${res.status}`);
        if (!res.headers.get('content-type')?.startsWith('text/html')) continue;
        for (const bad of [script, attr, 'alert("stored-xss")</script>']) if (res.text.includes(bad)) problems.push(`GET ${url} as ${role}: ${JSON.stringify(bad)} unescaped`);
        if (res.text.includes('stored-xss')) shownEscaped += 1;
      }
    }
    tried += pages;
    t.diagnostic(`stored through ${JSON.stringify(stored)}; ${pages} pages read, ${shownEscaped} show the payload escaped`);
    assert.deepEqual(problems, []);
    assert.ok(shownEscaped > 0, 'no page showed the stored payload at all: the test proved nothing');
  });

  test('session fixation: the session id from before the login, or one planted by someone else, is not the one after it', async () => {
    const visitor = await WebClient.anonymous(p.url);
    const before = /fund\.sid=([^;]+)/.exec(visitor.cookieHeader())?.[1];
    assert.ok(before, 'the login page gave a session');
    await visitor.login('auditor');
    const afterLogin = /fund\.sid=([^;]+)/.exec(visitor.cookieHeader())?.[1];
    assert.notEqual(afterLogin, before, 'the session id survived the login');
    // The old id is worth nothing now.
    const old = await fetch(new URL('/', p.url), { headers: { cookie: `fund.sid=${before}`, accept: 'text/html' }, redirect: 'manual' });
    assert.equal(old.status, 302);
    assert.match(old.headers.get('location') ?? '', /^\/login/);
    // A planted id (a victim's browser given the attacker's cookie) is replaced at login too.
    const victim = new WebClient(p.url);
    const planted = 's%3Aattacker-chosen-session.invalidsignature';
    const page = await fetch(new URL('/login', p.url), { headers: { cookie: `fund.sid=${planted}` } });
    const setCookie = page.headers.getSetCookie().find((c) => c.startsWith('fund.sid='));
    assert.ok(!setCookie?.includes(planted), 'the planted id was kept');
    await victim.login('auditor');
    assert.ok(!victim.cookieHeader().includes(planted));
  });

  test('open redirect: the page after a login or a language change stays on the platform, whatever `next` says', async () => {
    const origin = new URL(p.url).origin;
    const targets = ['//evil.example/', '/\\evil.example', 'https://evil.example/', '/%5C%5Cevil.example', '\t//evil.example', '/.//evil.example', 'javascript:alert(1)', '/%0d%0aSet-Cookie:x=1'];
    const problems: string[] = [];
    for (const next of targets) {
      const visitor = await WebClient.anonymous(p.url);
      // The language first: the login starts a new session, with a new CSRF token.
      for (const [label, res] of [
        ['lang', await visitor.post('/lang', { lang: 'en', next })],
        ['login', await visitor.post('/login', { username: 'auditor', password: DEMO_PASSWORD, next })],
      ] as const) {
        if (res.status !== 302 || new URL(res.location, p.url).origin !== origin || /[\r\n]/.test(res.location)) problems.push(`${label} with next=${JSON.stringify(next)}: ${res.status} → ${res.location}`);
      }
    }
    tried += targets.length * 2;
    assert.deepEqual(problems, []);
  });

  test('CSRF: every POST without a valid token (none, or another session\'s) is refused and changes nothing', async (t) => {
    const other = await WebClient.loggedIn(p.url, 'auditor');
    const problems: string[] = [];
    let n = 0;
    for (const r of ROUTES.filter((x) => x.method === 'POST')) {
      const client = clientFor(r);
      const form = goodForm(r);
      for (const [label, token] of [['no token', undefined], ["another session's token", other.csrf], ['a forged token', 'x'.repeat(36)]] as const) {
        const before = await fingerprint();
        const fields: FormFields = token === undefined ? form : { ...form, _csrf: token };
        const res = MULTIPART.has(`${r.method} ${r.path}`)
          ? await client.request('POST', `${concrete(r.path)}${token === undefined ? '' : `?_csrf=${encodeURIComponent(token)}`}`, { body: toFormData(fields) })
          : await client.post(concrete(r.path), fields, { csrf: false });
        n += 1;
        if (res.status !== 403) problems.push(`${r.method} ${r.path} with ${label}: ${res.status}`);
        if ((await fingerprint()) !== before) problems.push(`${r.method} ${r.path} with ${label}: something changed`);
      }
    }
    tried += n;
    t.diagnostic(`${n} forged posts`);
    assert.deepEqual(problems, []);
  });

  test('oversized: a multipart body of many files or a huge field is refused cleanly', async () => {
    const county = clients.get('countyOffice')!;
    const before = await fingerprint();
    const many = Array.from({ length: 25 }, (_, i) => ({ field: 'documents', name: `f${i}.pdf`, type: 'application/pdf', content: Buffer.from(`%PDF-1.4 ${i}`) }));
    for (const [label, send] of [
      ['25 files (limit 20)', () => county.postMultipart('/projects', leishanProjectForm(), many)],
      ['a 3 MB text field', () => county.postMultipart('/projects', leishanProjectForm({ description: 'x'.repeat(3 * MB) }))],
      ['a 5 MB file (limit 1 MB)', () => county.postMultipart('/projects', leishanProjectForm(), [{ field: 'documents', name: 'big.pdf', type: 'application/pdf', content: Buffer.alloc(5 * MB, 0x25) }])],
      ['a file under an unexpected field', () => county.postMultipart('/projects', leishanProjectForm(), [{ field: 'evil', name: 'x.pdf', type: 'application/pdf', content: Buffer.from('%PDF') }])],
    ] as const) {
      const res = await send();
      assert.ok(res.status >= 400 && res.status < 500, `${label}: ${res.status} ${formError(res.text) || textOf(res.text).slice(0, 200)}`);
    }
    assert.equal(await fingerprint(), before);
  });
});

/** Form fields as multipart, without the token (the CSRF test places it itself). */
function toFormData(fields: FormFields): FormData {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) for (const item of v === undefined ? [] : ([] as string[]).concat(v)) form.append(k, item);
  return form;
}
