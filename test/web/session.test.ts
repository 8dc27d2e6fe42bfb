/**
 * A browser follows a redirect as soon as its headers arrive, before the response body ends; express-session stores
 * a changed session only at that end. So the page after a redirect must still see the session the redirecting
 * request changed: the logged-in user after the login, the language just chosen. The store is slowed down
 * here (its writes wait 400 ms) so that the race the browser test met once in a while happens every time.
 */
import './quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { MongoStore } from 'connect-mongo';
import { DEMO_PASSWORD } from '@fund/app/dist/services/demo';
import { csrfTokenOf, startTestPlatform, type TestPlatform } from '../support/platform';

interface Head {
  status: number;
  location: string;
  cookie?: string;
  body: Promise<string>;
}

/** One request that resolves on the response headers, as a browser acts on a redirect; the body comes later. */
function request(base: string, method: string, urlPath: string, cookie?: string, form?: Record<string, string>): Promise<Head> {
  return new Promise((resolve, reject) => {
    const body = form ? new URLSearchParams(form).toString() : undefined;
    const headers: Record<string, string> = { accept: 'text/html' };
    if (cookie) headers.cookie = cookie;
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const req = http.request(new URL(urlPath, base), { method, headers }, (res) => {
      const setCookie = res.headers['set-cookie']?.[0]?.split(';')[0];
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      const ended = new Promise<string>((ok, fail) => {
        res.on('end', () => ok(text));
        res.on('error', fail);
      });
      resolve({ status: res.statusCode ?? 0, location: res.headers.location ?? '', cookie: setCookie, body: ended });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the session a redirect leads to', () => {
  let p: TestPlatform;
  const set = MongoStore.prototype.set;

  before(async () => {
    p = await startTestPlatform({ demo: true });
    MongoStore.prototype.set = function slowSet(this: MongoStore, ...args: Parameters<MongoStore['set']>) {
      setTimeout(() => void set.apply(this, args), 400);
    } as MongoStore['set'];
  });

  after(async () => {
    MongoStore.prototype.set = set;
    await p?.stop();
  });

  /** The login form posted; resolves on the answer's headers (302 with a new session cookie). */
  async function logIn(username: string): Promise<Head> {
    const loginPage = await request(p.url, 'GET', '/login');
    const csrf = csrfTokenOf(await loginPage.body);
    assert.ok(loginPage.cookie && csrf, 'the login page opens a session with a CSRF token');
    const login = await request(p.url, 'POST', '/login', loginPage.cookie, { _csrf: csrf, username, password: DEMO_PASSWORD });
    assert.equal(login.status, 302);
    assert.ok(login.cookie && login.cookie !== loginPage.cookie, 'a new session id at login');
    return login;
  }

  test('the page after the login redirect sees the logged-in user, even when the store is slow', async () => {
    const login = await logIn('lgo');
    // Straight on, on the redirect's headers, as a browser does.
    const home = await request(p.url, 'GET', login.location, login.cookie);
    assert.equal(home.status, 200, `GET ${login.location} after the login answered ${home.status} → ${home.location}`);
    assert.match(await home.body, /省指挥部审批员/);
    await login.body;
  });

  test('a language chosen before a redirect is the next page\'s language', async () => {
    const login = await logIn('county');
    await login.body;
    const home = await request(p.url, 'GET', '/notifications', login.cookie);
    const token = csrfTokenOf(await home.body);
    assert.ok(token, 'every page has the language form');
    // Switching the language stores it in the session and redirects back.
    const lang = await request(p.url, 'POST', '/lang', login.cookie, { _csrf: token, lang: 'en', next: '/notifications' });
    assert.equal(lang.status, 302);
    const next = await request(p.url, 'GET', lang.location, login.cookie);
    assert.match(await next.body, /<html lang="en"/, 'the next page is in the language just chosen');
    await lang.body;
  });
});
