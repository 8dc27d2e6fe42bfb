/**
 * Security headers, session cookie flags and HTTPS served directly (security.ts): the platform started with a
 * self-signed certificate made here (@peculiar/x509) answers over https with Strict-Transport-Security, a
 * Content-Security-Policy, X-Frame-Options, nosniff and a Secure, HttpOnly, SameSite=Lax session cookie; over plain
 * HTTP the same headers but no HSTS and no Secure flag. A certificate that cannot be used stops the start with a clear
 * error. In Chromium over https, the pages (charts, inline scripts with the nonce, the confirmation of a form) run
 * without one violation of the policy (the browser workflow test checks every page it opens too).
 */
import '../web/quiet';
// @peculiar/x509 (through tsyringe) needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import * as x509 from '@peculiar/x509';
import { chromium, type Browser } from 'playwright-core';
import { appConfig } from '@fund/app/dist/config';
import { readTls } from '@fund/app/dist/security';
import { DEMO_PASSWORD } from '@fund/app/dist/services/demo';
import { startTestPlatform, type TestPlatform } from '../support/platform';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const webcrypto = crypto.webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];

/** A self-signed certificate for localhost and 127.0.0.1, and its key, as PEM files in `dir`. */
async function selfSigned(dir: string, name = 'server'): Promise<{ certFile: string; keyFile: string; certPem: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = await crypto.webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: 'CN=localhost',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86400_000),
      signingAlgorithm: alg,
      keys: keys as never,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }, { type: 'ip', value: '127.0.0.1' }])],
    },
    webcrypto,
  );
  const certPem = cert.toString('pem');
  const keyPem = crypto.KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string;
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  fs.writeFileSync(certFile, certPem);
  fs.writeFileSync(keyFile, keyPem);
  return { certFile, keyFile, certPem };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

/** A GET over https trusting only `ca`. */
function httpsGet(url: string, ca: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, headers: { accept: 'text/html' } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      })
      .on('error', reject);
  });
}

function sessionCookie(setCookie: string | string[] | null | undefined): string {
  const all = ([] as string[]).concat(setCookie ?? []);
  const cookie = all.find((c) => c.startsWith('fund.sid='));
  assert.ok(cookie, `a session cookie in ${JSON.stringify(all)}`);
  return cookie;
}

function checkCommonHeaders(get: (name: string) => string | undefined): void {
  const csp = get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self' 'nonce-[A-Za-z0-9+/=]{24}'/);
  assert.match(csp, /script-src-attr 'none'/);
  assert.match(csp, /object-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(get('x-frame-options'), 'DENY');
  assert.equal(get('x-content-type-options'), 'nosniff');
  assert.equal(get('referrer-policy'), 'no-referrer');
  assert.equal(get('x-powered-by'), undefined);
}

describe('TLS configuration', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-test-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('TLS_CERT_FILE and TLS_KEY_FILE go together', () => {
    assert.equal(appConfig({}).security.tls, undefined);
    assert.deepEqual(appConfig({ TLS_CERT_FILE: '/a.crt', TLS_KEY_FILE: '/a.key' }).security.tls, { certFile: '/a.crt', keyFile: '/a.key' });
    assert.throws(() => appConfig({ TLS_CERT_FILE: '/a.crt' }), /TLS_CERT_FILE and TLS_KEY_FILE go together: set both \(PEM files\) or neither, not only TLS_CERT_FILE/);
    assert.throws(() => appConfig({ TLS_KEY_FILE: '/a.key' }), /not only TLS_KEY_FILE/);
  });

  test('a certificate that cannot be used is refused with the variable and the file named', async () => {
    const a = await selfSigned(dir, 'a');
    const b = await selfSigned(dir, 'b');
    assert.doesNotThrow(() => readTls(a));
    assert.throws(() => readTls({ certFile: path.join(dir, 'missing.crt'), keyFile: a.keyFile }), /^Error: TLS_CERT_FILE: cannot read .*missing\.crt: ENOENT/);
    assert.throws(() => readTls({ certFile: a.keyFile, keyFile: a.keyFile }), /TLS_CERT_FILE: .*a\.key is not a PEM certificate/);
    assert.throws(() => readTls({ certFile: a.certFile, keyFile: a.certFile }), /TLS_KEY_FILE: .*a\.crt is not a PEM private key/);
    assert.throws(() => readTls({ certFile: a.certFile, keyFile: b.keyFile }), /TLS_KEY_FILE: .*b\.key is not the private key of the certificate in .*a\.crt/);
  });
});

describe('plain HTTP', { timeout: 120_000 }, () => {
  let p: TestPlatform;
  before(async () => {
    p = await startTestPlatform();
  });
  after(async () => {
    await p?.stop();
  });

  test('security headers, but no HSTS, no upgrade-insecure-requests and no Secure cookie', async () => {
    assert.match(p.url, /^http:\/\//);
    const res = await fetch(`${p.url}/login`);
    assert.equal(res.status, 200);
    await res.text(); // the session is stored as the answer ends
    checkCommonHeaders((name) => res.headers.get(name) ?? undefined);
    assert.equal(res.headers.get('strict-transport-security'), null);
    assert.doesNotMatch(res.headers.get('content-security-policy') ?? '', /upgrade-insecure-requests/);
    const cookie = sessionCookie(res.headers.getSetCookie());
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Lax/);
    assert.doesNotMatch(cookie, /; Secure/);
  });

  test('a proxy on this machine that says the request came over https gets the https answer', async () => {
    const res = await fetch(`${p.url}/login`, { headers: { 'x-forwarded-proto': 'https' } });
    await res.text();
    assert.match(res.headers.get('strict-transport-security') ?? '', /^max-age=31536000$/);
    assert.match(sessionCookie(res.headers.getSetCookie()), /; Secure/);
  });
});

describe('HTTPS served directly', { timeout: 300_000 }, () => {
  let dir: string;
  let p: TestPlatform;
  let ca: string;
  let browser: Browser;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-test-'));
    const tls = await selfSigned(dir);
    ca = tls.certPem;
    p = await startTestPlatform({ demo: true, env: { TLS_CERT_FILE: tls.certFile, TLS_KEY_FILE: tls.keyFile } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  });
  after(async () => {
    await browser?.close();
    await p?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the login page over https: HSTS, CSP, frame and sniffing headers, a Secure HttpOnly SameSite=Lax session cookie', async () => {
    assert.match(p.url, /^https:\/\/localhost:\d+$/);
    const res = await httpsGet(`${p.url}/login`, ca);
    assert.equal(res.status, 200);
    const get = (name: string) => {
      const v = res.headers[name];
      return Array.isArray(v) ? v.join(', ') : v;
    };
    checkCommonHeaders(get);
    assert.equal(get('strict-transport-security'), 'max-age=31536000');
    assert.match(get('content-security-policy') ?? '', /upgrade-insecure-requests/);
    const cookie = sessionCookie(res.headers['set-cookie']);
    assert.match(cookie, /; Secure/);
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Lax/);
    // Every answer carries a fresh nonce.
    const again = await httpsGet(`${p.url}/login`, ca);
    const nonce = (h: Answer) => /'nonce-([^']+)'/.exec(String(h.headers['content-security-policy']))?.[1];
    assert.notEqual(nonce(res), nonce(again));
    // Static files too.
    const css = await httpsGet(`${p.url}/static/app.css`, ca);
    assert.equal(css.status, 200);
    assert.equal(css.headers['x-content-type-options'], 'nosniff');
  });

  test('plain HTTP to the https port is not served', async () => {
    await assert.rejects(fetch(p.url.replace('https:', 'http:') + '/login').then((r) => r.text()));
  });

  // The confirmation a form with data-confirm asks (once an inline onsubmit) is checked by the browser workflow test.
  test('in the browser, the pages run within the policy: charts drawn, inline scripts run', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'zh-CN' });
    const violations: string[] = [];
    const watch = (page: import('playwright-core').Page) => {
      page.on('console', (m) => {
        if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(`${page.url()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => violations.push(`${page.url()}: ${e.message}`));
    };
    const login = async (username: string) => {
      const page = await context.newPage();
      watch(page);
      await page.goto(`${p.url}/login`);
      await page.fill('#username', username);
      await page.fill('#password', DEMO_PASSWORD);
      await page.click('form[action="/login"] button');
      await page.waitForURL(`${p.url}/`);
      return page;
    };
    const admin = await login('admin');
    // The dashboard's charts: chart.js from /static and the inline script that draws them (nonce).
    await admin.waitForFunction(() => {
      const Chart = (globalThis as unknown as { Chart?: { getChart(id: string): unknown } }).Chart;
      return Boolean(Chart?.getChart('statusChart') && Chart.getChart('countyChart'));
    });
    // The users page's inline script filters the organisations by role.
    await admin.goto(`${p.url}/admin/users`);
    await admin.evaluate(() => {
      const role = (globalThis as unknown as { document: { getElementById(id: string): { value: string; dispatchEvent(e: unknown): void } } }).document.getElementById('role');
      role.value = 'bank';
      role.dispatchEvent(new (globalThis as unknown as { Event: new (type: string) => unknown }).Event('change'));
    });
    const shown = await admin.locator('#orgId option:not([hidden]):not([value=""])').evaluateAll((os) => os.map((o) => (o as unknown as { dataset: { type: string } }).dataset.type));
    assert.ok(shown.length > 0 && shown.every((t) => t === 'bank'), JSON.stringify(shown));
    for (const page of ['/projects', '/monitoring', '/monitoring?tab=audit', '/admin/routing', '/export', '/notifications']) {
      const res = await admin.goto(`${p.url}${page}`);
      assert.equal(res?.status(), 200, page);
    }
    assert.deepEqual(violations, []);
    await context.close();
  });
});
