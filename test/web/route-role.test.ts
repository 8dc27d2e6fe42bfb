/**
 * Route × role: every route the web platform declares (ROUTES, filled by route()) requested by each
 * role's demo user and by an anonymous visitor. A role the route admits is never refused (401/403)
 * and never meets a server error; any other role gets 403; an anonymous GET is sent to the login
 * page and an anonymous POST gets 401. POSTs carry a valid CSRF token and an empty body, and must
 * change nothing: no block on either channel, no off-chain record created or altered.
 * The bank API (API_ROUTES) refuses a request without a token or with a wrong one, in JSON.
 */
import './quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ROLES, type Role } from '@fund/chaincode/dist/access/roles';
import { ROUTES, type RouteSpec } from '@fund/app/dist/controllers/route';
import { API_ROUTES } from '@fund/app/dist/controllers/bank-api';
import { DEMO_USERS } from '@fund/app/dist/services/demo';
import { translator } from '@fund/app/dist/i18n';
import { User } from '@fund/app/dist/models/user';
import { ApiClient, Notification, ProblemReport, StoredFile, Subscription } from '@fund/app/dist/models/activity';
import { DiscrepancyView, DraftView, OrganisationView, ProjectView, TransferView } from '@fund/app/dist/models/projections';
import { tokenHash } from '@fund/app/dist/services/secrets';
import { WebClient, errorText, startTestPlatform, type Page, type TestPlatform } from '../support/platform';

const zh = translator('zh-CN');
const NO_ID = '000000000000000000000000';

/**
 * POSTs that are an action with no input at all, so an empty form is their normal use: the
 * reconciliation sweep flags what has waited too long (idempotent housekeeping on the chain).
 */
const ACTIONS_WITHOUT_INPUT = new Set(['POST /monitoring/sweep']);

describe('every route × every role', () => {
  let p: TestPlatform;
  const ids: Record<string, string> = {};
  const users = new Map<Role, string>();

  before(async () => {
    p = await startTestPlatform({ demo: true });
    await p.settled();
    for (const role of ROLES) users.set(role, DEMO_USERS.find((u) => u.role === role)!.username);
    // Real ids from the demo data, chosen to be visible to most roles: the 雷山县 project is paid by
    // BANK-GZ and the province, filed by the county office and carried out by the unit that have logins.
    const project = await ProjectView.findOne({ county: '雷山县' }).sort({ filedAt: 1 }).lean();
    const draft = await DraftView.findOne({ projectId: project!._id }).lean();
    const bank2 = await User.findOne({ username: 'bank2' }).lean();
    const client = await ApiClient.create({ bankId: 'BANK-RC', userId: String(bank2!._id), label: 'route test', tokenHash: tokenHash('not-a-real-token-route-test') });
    const someone = await User.findOne({ username: 'county' }).lean();
    const report = await ProblemReport.create({ userId: String(someone!._id), username: 'county', orgId: 'LS-OFFICE', title: 'route test', body: 'route test' });
    Object.assign(ids, {
      project: project!._id,
      draft: draft!._id,
      user: String(bank2!._id),
      organisation: 'BANK-RC',
      apiClient: String(client._id),
      report: String(report._id),
      discrepancy: (await DiscrepancyView.findOne().lean())?._id ?? 'DSC-NONE-1',
      notification: String((await Notification.findOne().lean())?._id ?? NO_ID),
      subscription: String((await Subscription.findOne().lean())?._id ?? NO_ID),
      serial: (await TransferView.findOne().lean())?._id ?? 'SERIAL-NONE-1',
    });
  });

  after(async () => {
    await p?.stop();
  });

  /** The path with its parameters replaced by real ids where the demo has them, dummies otherwise. */
  function concrete(path: string): string {
    return path.replace(/:(\w+)/g, (_m, name: string, offset: number) => {
      const before = path.slice(0, offset).split('/').filter(Boolean).at(-1);
      switch (before) {
        case 'projects':
        case 'approvals':
        case 'progress':
          return ids.project;
        case 'acceptance':
        case 'drafts':
          return ids.draft;
        case 'users':
          return ids.user;
        case 'organisations':
          return ids.organisation;
        case 'api-clients':
          return ids.apiClient;
        case 'reports':
          return ids.report;
        case 'discrepancies':
          return ids.discrepancy;
        case 'notifications':
          return ids.notification;
        case 'subscriptions':
          return ids.subscription;
        case 'transfers':
          return ids.serial;
        case 'files':
          return 'a'.repeat(64);
        case 'sets':
          return 'set-none';
        case 'nodes':
          return 'node-none';
        default:
          return name.toLowerCase().includes('id') ? NO_ID : 'none';
      }
    });
  }

  /** What an empty form must not change: both chains, and the off-chain records people create or edit. */
  async function fingerprint(): Promise<string> {
    const { gateway, platform } = p.running;
    const [business, routing] = await Promise.all([gateway.chainInfo(platform.config.businessChannel), gateway.chainInfo(platform.config.routingChannel)]);
    const [people, clients, counts] = await Promise.all([
      User.find().select('username active passwordHash role orgId').sort({ username: 1 }).lean(),
      ApiClient.find().select('active tokenHash').sort({ _id: 1 }).lean(),
      Promise.all([ProblemReport, Subscription, StoredFile, ProjectView, DraftView, TransferView, DiscrepancyView, OrganisationView].map((m) => (m as typeof ProjectView).countDocuments())),
    ]);
    const reports = await ProblemReport.find().select('status response').sort({ _id: 1 }).lean();
    return JSON.stringify({ business: business.height, routing: routing.height, people, clients, counts, reports });
  }

  function describeChange(before: string, after: string): string {
    const a = JSON.parse(before) as Record<string, unknown>;
    const b = JSON.parse(after) as Record<string, unknown>;
    return Object.keys(a)
      .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
      .join(', ');
  }

  function judge(role: Role | 'anonymous', r: RouteSpec, res: Page): string | undefined {
    const where = `${r.method} ${r.path} as ${role}: ${res.status}`;
    if (r.method === 'POST' && r.path === '/login') {
      // An empty login is a failed login for anyone: the login page again, with its message.
      return res.status === 401 && res.text.includes(zh('login.failed')) ? undefined : `${where}, expected 401 with the login failure message`;
    }
    const allowed = r.access === 'public' || (role !== 'anonymous' && r.access.includes(role));
    if (allowed) {
      if (res.status === 401 || res.status === 403) return `${where} (${errorText(res.text)}), but the route admits ${role}`;
      if (res.status >= 500) return `${where}: server error ${errorText(res.text)}`;
      return undefined;
    }
    if (role === 'anonymous') {
      if (r.method === 'GET') return res.status === 302 && res.location.startsWith('/login?next=') ? undefined : `${where}, expected a redirect to /login (got ${res.location})`;
      return res.status === 401 ? undefined : `${where}, expected 401`;
    }
    return res.status === 403 && errorText(res.text) === zh('error.forbidden') ? undefined : `${where}, expected 403 with "${zh('error.forbidden')}"`;
  }

  async function walk(role: Role | 'anonymous', client: WebClient, tally: Map<number, number>): Promise<string[]> {
    const problems: string[] = [];
    for (const r of ROUTES) {
      const url = concrete(r.path);
      const before = r.method === 'POST' ? await fingerprint() : '';
      const res = r.method === 'GET' ? await client.get(url) : await client.post(url, {});
      tally.set(res.status, (tally.get(res.status) ?? 0) + 1);
      const problem = judge(role, r, res);
      if (problem) problems.push(problem);
      if (r.method === 'POST') {
        const after = await fingerprint();
        if (after !== before && !ACTIONS_WITHOUT_INPUT.has(`${r.method} ${r.path}`)) problems.push(`${r.method} ${url} as ${role}: an empty form changed ${describeChange(before, after)}`);
        // Logging out is what an empty POST /logout is for: log in again and go on.
        if (r.path === '/logout' && role !== 'anonymous' && res.status === 302) await client.login(users.get(role)!);
      }
    }
    return problems;
  }

  test('the route table is complete enough to be worth walking', () => {
    assert.ok(ROUTES.length >= 10, `only ${ROUTES.length} routes declared`);
    const missing = ROUTES.filter((r) => r.access !== 'public' && r.access.length === 0);
    assert.deepEqual(missing, [], 'a route nobody may use');
  });

  for (const role of ROLES) {
    test(`${role}: admitted where the route says, 403 elsewhere, and empty forms change nothing`, async (t) => {
      const client = await WebClient.loggedIn(p.url, users.get(role)!);
      const tally = new Map<number, number>();
      const problems = await walk(role, client, tally);
      t.diagnostic(`answers by status: ${[...tally].sort().map(([s, n]) => `${s}×${n}`).join(' ')}`);
      assert.deepEqual(problems, []);
    });
  }

  test('anonymous: GET goes to the login page, POST gets 401, public routes answer', async (t) => {
    const client = await WebClient.anonymous(p.url);
    const tally = new Map<number, number>();
    const problems = await walk('anonymous', client, tally);
    t.diagnostic(`answers by status: ${[...tally].sort().map(([s, n]) => `${s}×${n}`).join(' ')}`);
    assert.deepEqual(problems, []);
  });

  test('bank API: no token or a wrong token is 401 in JSON, for every API route', async () => {
    const client = new WebClient(p.url);
    const problems: string[] = [];
    for (const r of API_ROUTES) {
      const url = concrete(r.path);
      const body = r.method === 'POST' ? { serial: 'ROUTE-TEST-1', payerAccount: '600000000003', payeeAccount: '600000000004', amount: '100', paidAt: '2026-01-01T00:00:00+08:00' } : undefined;
      for (const [label, token] of [['no token', undefined], ['a wrong token', 'x'.repeat(32)], ['a malformed header', '']] as const) {
        const res = await client.api(r.method, url, body, token);
        let code: string | undefined;
        try {
          code = res.json<{ error?: { code?: string } }>().error?.code;
        } catch {
          code = undefined;
        }
        if (res.status !== 401 || code !== 'UNAUTHENTICATED' || !res.headers.get('content-type')?.startsWith('application/json')) {
          problems.push(`${r.method} ${url} with ${label}: ${res.status} ${res.text.slice(0, 120)}`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });
});
