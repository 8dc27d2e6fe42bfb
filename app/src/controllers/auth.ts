/** Login (throttled: services/login-guard.ts), logout, language. */
import type { Request, Response, Router } from 'express';
import { User } from '../models/user';
import { checkPassword } from '../services/secrets';
import type { Lockout } from '../services/login-guard';
import { isLang, type Translate } from '../i18n';
import { platformOf } from '../platform';
import type { TimeZone } from '../services/time';
import { ANY_USER, route } from './route';
import { audit } from './act';

/** Only same-site paths may be a post-login destination. */
function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/(?!\/)[\w\-/?=&.%]*$/.test(next) ? next : '/';
}

/** A locked account or address: 429, Retry-After, and the page saying so and for how long. */
function refuseLocked(req: Request, res: Response, username: string, lockout: Lockout) {
  const t = res.locals.t as Translate;
  const ms = Math.max(0, lockout.until.getTime() - Date.now());
  const until = (res.locals.zone as TimeZone).time(lockout.until);
  const error = t(lockout.scope === 'account' ? 'login.lockedAccount' : 'login.lockedAddress', { n: lockout.failures, minutes: Math.max(1, Math.ceil(ms / 60_000)), until });
  res.set('Retry-After', String(Math.ceil(ms / 1000)));
  return res.status(429).render('login', { next: safeNext(req.body.next), username, error });
}

export function register(router: Router): void {
  route(router, 'GET', '/login', 'public', (req, res) => {
    if (req.user) return res.redirect('/');
    res.render('login', { next: safeNext(req.query.next), username: '' });
  });

  route(router, 'POST', '/login', 'public', async (req, res) => {
    const username = typeof req.body.username === 'string' ? req.body.username.trim().slice(0, 64) : '';
    const password = typeof req.body.password === 'string' ? req.body.password.slice(0, 256) : '';
    const guard = platformOf(req).loginGuard;
    const address = req.ip ?? '';
    // A locked account or address is refused before its password is looked at: the right one does not open it either.
    const locked = await guard.lockoutOf(username, address);
    if (locked) {
      await audit(req, 'login', username, false, `refused: ${locked.scope} locked until ${locked.until.toISOString()}`);
      return refuseLocked(req, res, username, locked);
    }
    const user = username ? await User.findOne({ username, active: true }) : null;
    if (!user || !checkPassword(password, user.passwordHash)) {
      await audit(req, 'login', username, false, 'wrong username or password');
      const started = await guard.failed(username, address);
      for (const l of started) {
        const minutes = guard.limits.lockoutMinutes;
        const window = guard.limits.windowMinutes;
        await audit(req, 'login-lockout', l.key, false, `${l.scope} ${l.key} locked for ${minutes} min after ${l.failures} failed logins within ${window} min (last from ${address}, account ${username || '—'})`);
      }
      if (started.length > 0) return refuseLocked(req, res, username, started[0]);
      return res.status(401).render('login', { next: safeNext(req.body.next), username, error: res.locals.t('login.failed') });
    }
    await guard.succeeded(username);
    // A new session id at login: a session fixed before login is worthless after it.
    await new Promise<void>((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
    req.session.userId = user.id;
    req.user = user;
    user.lastLoginAt = new Date();
    await user.save();
    await audit(req, 'login', username);
    res.redirect(safeNext(req.body.next));
  });

  route(router, 'POST', '/logout', ANY_USER, async (req, res) => {
    await audit(req, 'logout', req.user!.username);
    await new Promise<void>((resolve) => req.session.destroy(() => resolve()));
    res.redirect('/login');
  });

  route(router, 'POST', '/lang', 'public', (req, res) => {
    if (isLang(req.body.lang)) req.session.lang = req.body.lang;
    res.redirect(safeNext(req.body.next));
  });
}
