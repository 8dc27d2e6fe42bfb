/**
 * Login rate limiting and lockout (services/login-guard.ts) with the default limits: five wrong passwords lock the
 * account for 15 minutes, even against the right password, with a message in the interface language; a successful
 * login clears the account's count; 20 failures from one address lock that address, whatever account it tries. Each
 * lockout is an audit entry and a 'login-lockout' alert in the monitoring centre. Client addresses come from
 * X-Forwarded-For, which the platform trusts from a proxy on this machine (as the test's requests are).
 */
import '../web/quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appConfig } from '@fund/app/dist/config';
import { AuditEntry, LoginFailure } from '@fund/app/dist/models/activity';
import { DEMO_PASSWORD } from '@fund/app/dist/services/demo';
import { startTestPlatform, tableRows, textOf, WebClient, type Page, type TestPlatform } from '../support/platform';

/** The login form posted from `address`. */
async function login(client: WebClient, username: string, password: string, address: string): Promise<Page> {
  if (!client.csrf) await client.get('/login');
  const body = new URLSearchParams({ _csrf: client.csrf, username, password }).toString();
  return client.request('POST', '/login', { body, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': address } });
}

/** The login page's error message. */
function loginError(page: Page): string {
  return textOf(/<div class="alert alert-danger">([\s\S]*?)<\/div>/.exec(page.text)?.[1] ?? '');
}

describe('login limits in configuration', () => {
  test('defaults: 5 per account, 20 per address, a 15-minute window, 15-minute lockouts', () => {
    assert.deepEqual(appConfig({}).security.login, { maxFailures: 5, maxFailuresPerAddress: 20, windowMinutes: 15, lockoutMinutes: 15 });
    assert.deepEqual(appConfig({ LOGIN_MAX_FAILURES: '3', LOGIN_MAX_FAILURES_PER_ADDRESS: '50', LOGIN_FAILURE_WINDOW_MINUTES: '60', LOGIN_LOCKOUT_MINUTES: '120' }).security.login, {
      maxFailures: 3,
      maxFailuresPerAddress: 50,
      windowMinutes: 60,
      lockoutMinutes: 120,
    });
  });

  test('a bad value is refused naming the variable', () => {
    assert.throws(() => appConfig({ LOGIN_MAX_FAILURES: '0' }), /LOGIN_MAX_FAILURES must be a whole number from 1 to 1000, not "0"/);
    assert.throws(() => appConfig({ LOGIN_LOCKOUT_MINUTES: '15m' }), /LOGIN_LOCKOUT_MINUTES must be a whole number from 1 to 10080, not "15m"/);
    assert.throws(() => appConfig({ LOGIN_MAX_FAILURES_PER_ADDRESS: '-1' }), /LOGIN_MAX_FAILURES_PER_ADDRESS must be/);
  });
});

describe('login lockout', { timeout: 300_000 }, () => {
  let p: TestPlatform;
  let admin: WebClient;

  before(async () => {
    p = await startTestPlatform({ demo: true });
    admin = await WebClient.loggedIn(p.url, 'admin');
  });
  after(async () => {
    await p?.stop();
  });

  test('five wrong passwords lock the account: the right one is refused too, with how long, in Chinese and in English', async () => {
    const c = await WebClient.anonymous(p.url);
    for (let i = 1; i <= 4; i++) {
      const page = await login(c, 'lgo', `wrong-${i}`, '10.0.1.1');
      assert.equal(page.status, 401, `attempt ${i}`);
      assert.equal(loginError(page), '用户名或密码错误');
    }
    const fifth = await login(c, 'lgo', 'wrong-5', '10.0.1.1');
    assert.equal(fifth.status, 429);
    assert.match(loginError(fifth), /^该账户连续 5 次密码错误，已被临时锁定：请 15 分钟后（\d{4}-\d\d-\d\d \d\d:\d\d \(UTC\+08:00\) 之后）再试；正确的密码在此之前也无法登录。/);

    // The right password, even from another address, does not open it.
    const right = await login(c, 'lgo', DEMO_PASSWORD, '10.0.1.2');
    assert.equal(right.status, 429, 'not logged in');
    assert.match(loginError(right), /已被临时锁定：请 1[45] 分钟后/);
    const retryAfter = Number(right.headers.get('retry-after'));
    assert.ok(retryAfter > 800 && retryAfter <= 900, `Retry-After ${retryAfter}`);
    assert.equal((await c.get('/')).status, 302, 'still logged out');

    await c.post('/lang', { lang: 'en', next: '/login' });
    const english = await login(c, 'lgo', DEMO_PASSWORD, '10.0.1.2');
    assert.equal(english.status, 429);
    assert.match(loginError(english), /^This account is locked after 5 wrong passwords: try again in 1[45] minutes \(after \d{4}-\d\d-\d\d \d\d:\d\d \(UTC\+08:00\)\); until then even the right password is refused\./);
  });

  test('the lockout is in the audit log and is an alert in the monitoring centre', async () => {
    const entries = await AuditEntry.find({ action: 'login-lockout', target: 'lgo' }).lean();
    assert.equal(entries.length, 1);
    assert.equal(entries[0].ok, false);
    assert.match(entries[0].message ?? '', /^account lgo locked for 15 min after 5 failed logins within 15 min \(last from 10\.0\.1\.1, account lgo\)$/);
    const refused = await AuditEntry.find({ action: 'login', target: 'lgo', ok: false, message: /^refused: account locked until/ }).lean();
    assert.equal(refused.length, 2, 'the refused right passwords are logged too');

    const page = await admin.get('/monitoring?kind=login-lockout');
    assert.equal(page.status, 200);
    assert.match(page.text, /<tr data-kind="login-lockout" data-ref="account:lgo"/);
    const rows = tableRows(page.text, 'alerts');
    assert.equal(rows.length, 1, JSON.stringify(rows));
    assert.equal(rows[0][0], '登录锁定');
    assert.match(rows[0][2], /^账户 lgo 在 15 分钟内连续 5 次密码错误（最后一次来自 10\.0\.1\.1），锁定至 \d{4}-\d\d-\d\d \d\d:\d\d \(UTC\+08:00\)$/);
    assert.match(page.text, /id="kind-login-lockout"[^>]*>登录锁定 \(1\)/);
  });

  test('once the lockout is over, the right password logs in', async () => {
    // Fifteen minutes later, as the store sees it.
    await LoginFailure.updateOne({ key: 'login-account:lgo' }, { $set: { expire: new Date(Date.now() - 1000) } });
    const c = await WebClient.anonymous(p.url);
    const page = await login(c, 'lgo', DEMO_PASSWORD, '10.0.1.3');
    assert.equal(page.status, 302, loginError(page));
  });

  test('a successful login clears the account\'s count', async () => {
    const c = await WebClient.anonymous(p.url);
    for (let i = 0; i < 4; i++) assert.equal((await login(c, 'county', 'nope', '10.0.2.1')).status, 401);
    assert.equal((await login(c, 'county', DEMO_PASSWORD, '10.0.2.1')).status, 302);
    const again = await WebClient.anonymous(p.url);
    for (let i = 0; i < 4; i++) assert.equal((await login(again, 'county', 'nope', '10.0.2.1')).status, 401, `attempt ${i + 1} after the good login`);
    assert.equal((await login(again, 'county', 'nope', '10.0.2.1')).status, 429, 'the fifth in a row locks');
  });

  test('twenty failures from one address lock the address, whichever account it tries; other addresses are not affected', async () => {
    const c = await WebClient.anonymous(p.url);
    // One failure each for 19 accounts that do not exist: no account reaches its limit.
    for (let i = 1; i <= 19; i++) assert.equal((await login(c, `guess${i}`, 'x', '10.0.3.1')).status, 401, `attempt ${i}`);
    const twentieth = await login(c, 'guess20', 'x', '10.0.3.1');
    assert.equal(twentieth.status, 429);
    assert.match(loginError(twentieth), /^来自您所在地址的登录失败次数过多（20 次），该地址已被临时锁定：请 15 分钟后（\d{4}-\d\d-\d\d \d\d:\d\d \(UTC\+08:00\) 之后）再试。$/);
    const right = await login(c, 'auditor', DEMO_PASSWORD, '10.0.3.1');
    assert.equal(right.status, 429, 'a right password from the locked address');
    const elsewhere = await WebClient.anonymous(p.url);
    assert.equal((await login(elsewhere, 'auditor', DEMO_PASSWORD, '10.0.3.2')).status, 302, 'the same account from another address');

    const page = await admin.get('/monitoring?kind=login-lockout');
    const rows = tableRows(page.text, 'alerts');
    assert.ok(rows.some((r) => /^地址 10\.0\.3\.1 在 15 分钟内登录失败 20 次（最后尝试的账户 guess20），该地址锁定至 /.test(r[2])), JSON.stringify(rows));
    assert.equal(await AuditEntry.countDocuments({ action: 'login-lockout', target: '10.0.3.1' }), 1);
  });
});
