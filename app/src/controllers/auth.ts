/** Login, logout, language. */
import type { Router } from 'express';
import { User } from '../models/user';
import { checkPassword } from '../services/secrets';
import { isLang } from '../i18n';
import { ANY_USER, route } from './route';
import { audit } from './act';

/** Only same-site paths may be a post-login destination. */
function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/(?!\/)[\w\-/?=&.%]*$/.test(next) ? next : '/';
}

export function register(router: Router): void {
  route(router, 'GET', '/login', 'public', (req, res) => {
    if (req.user) return res.redirect('/');
    res.render('login', { next: safeNext(req.query.next), username: '' });
  });

  route(router, 'POST', '/login', 'public', async (req, res) => {
    const username = typeof req.body.username === 'string' ? req.body.username.trim().slice(0, 64) : '';
    const password = typeof req.body.password === 'string' ? req.body.password.slice(0, 256) : '';
    const user = username ? await User.findOne({ username, active: true }) : null;
    if (!user || !checkPassword(password, user.passwordHash)) {
      await audit(req, 'login', username, false, 'wrong username or password');
      return res.status(401).render('login', { next: safeNext(req.body.next), username, error: res.locals.t('login.failed') });
    }
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
