/** Express wiring: security headers, sessions in MongoDB, CSRF on every form, language, the logged-in user, the routes. */
import * as path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import { MongoStore } from 'connect-mongo';
import { csrfSync } from 'csrf-sync';
import mongoose from 'mongoose';
import { isLang, translator, type Lang } from './i18n';
import { User } from './models/user';
import type { Platform } from './platform';
import { formatYuan } from './services/money';
import { timeZone } from './services/time';
import { controllers } from './controllers';
import { menuFor } from './controllers/menu';
import { securityHeaders } from './security';

const ROOT = path.resolve(__dirname, '..');

export function createApp(platform: Platform, sessionSecret: string): express.Express {
  const app = express();
  app.locals.platform = platform;
  app.set('views', path.join(ROOT, 'src', 'views'));
  app.set('view engine', 'pug');
  // Express caches compiled templates only when NODE_ENV=production; otherwise Pug reads and compiles the page,
  // its layout and includes on every request (60–70 ms for the disbursement page). The templates ship with the code.
  app.set('view cache', true);
  app.set('trust proxy', 'loopback');
  app.disable('x-powered-by');
  app.use(securityHeaders());

  app.use('/static/bootstrap', express.static(path.dirname(require.resolve('bootstrap/dist/css/bootstrap.min.css')).replace(/css$/, ''), { maxAge: '7d' }));
  app.use('/static/chart.js', express.static(path.dirname(require.resolve('chart.js')), { maxAge: '7d' }));
  app.use('/static', express.static(path.join(ROOT, 'src', 'public'), { maxAge: '1h' }));
  // Browsers ask for /favicon.ico whatever the page links: send them to the icon the layout links.
  app.get('/favicon.ico', (_req: Request, res: Response) => res.redirect(301, '/static/favicon.svg'));

  // Machine-to-machine bank API: JSON, token-authenticated, no cookies, so no session and no CSRF.
  app.use('/api', controllers.api);

  app.use(
    session({
      secret: sessionSecret,
      name: 'fund.sid',
      resave: false,
      saveUninitialized: false,
      rolling: true,
      // Secure whenever the request came over HTTPS (served directly, or by a proxy on this machine that says so).
      // Lax, not Strict: a link to the platform from elsewhere (a notification e-mail) must open it logged in.
      cookie: { httpOnly: true, sameSite: 'lax', secure: 'auto', maxAge: 8 * 3600 * 1000 },
      // Expired sessions are removed by the store's own sweep: TTL indexes are not on every MongoDB-protocol server.
      store: MongoStore.create({ client: mongoose.connection.getClient() as never, collectionName: 'sessions', autoRemove: 'interval', autoRemoveInterval: 10 }),
    }),
  );
  app.use(storeSessionBeforeRedirect);
  app.use(express.urlencoded({ extended: true, limit: '256kb' }));

  const zone = timeZone(platform.config.timeZone);
  const { csrfSynchronisedProtection, generateToken } = csrfSync({
    // Multipart forms carry the token in the query string: the body is read only after the check.
    getTokenFromRequest: (req) => (req.body as Record<string, string> | undefined)?._csrf ?? (req.query._csrf as string | undefined),
  });

  app.use(async (req: Request, res: Response, next: NextFunction) => {
    if (req.session.userId) {
      const user = await User.findById(req.session.userId);
      if (user?.active) req.user = user;
      else delete req.session.userId;
    }
    const lang: Lang = req.session.lang ?? (isLang(req.user?.lang) ? req.user.lang : platform.config.defaultLang);
    const t = translator(lang);
    Object.assign(res.locals, {
      t,
      lang,
      user: req.user,
      menu: menuFor(req.user?.role),
      path: req.path,
      csrfToken: generateToken(req),
      flash: req.session.flash ?? [],
      // Times in the platform's zone, labelled with it (services/time.ts): time(d), time(d, { seconds: true }), day(d), ago(d).
      zone,
      time: (d: Date | string | null | undefined, opts?: { seconds?: boolean }) => zone.time(d, opts),
      day: (d: Date | string | null | undefined, format?: string) => zone.date(d, format),
      ago: (d: Date | string | null | undefined) => zone.ago(d, lang),
      age: (d: Date | string | null | undefined) => zone.duration(d, lang),
      yuan: formatYuan,
      // JSON for inline scripts: '<' escaped so data can never close the script element.
      json: (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c'),
      unread: req.user?.unread ?? 0,
    });
    delete req.session.flash;
    next();
  });
  app.use(csrfSynchronisedProtection);

  app.use(controllers.web);

  app.use((req: Request, res: Response) => {
    res.status(404).render('error', { status: 404, message: res.locals.t('error.notFound') });
  });
  app.use((err: Error & { code?: string; status?: number; type?: string }, req: Request, res: Response, _next: NextFunction) => {
    void _next;
    // Errors raised before the locals middleware ran (a body the parser refused) still get a proper page.
    if (!res.locals.t) Object.assign(res.locals, { t: translator(platform.config.defaultLang), lang: platform.config.defaultLang, menu: [], path: req.path, flash: [], csrfToken: '' });
    const t = res.locals.t as ReturnType<typeof translator>;
    if (err.code === 'EBADCSRFTOKEN') return res.status(403).render('error', { status: 403, message: t('error.csrf') });
    if (err.type === 'entity.too.large') return res.status(413).render('error', { status: 413, message: t('error.tooLarge') });
    if (err.type === 'entity.parse.failed') return res.status(400).render('error', { status: 400, message: t('error.badRequest') });
    console.error(err);
    // A transaction this request committed stands (controllers/act.ts): the page names it instead of "not completed".
    const committed = res.locals.committed as { block: number; txId: string } | undefined;
    res.status(500).render('error', { status: 500, message: committed ? t('error.serverAfterCommit', committed) : t('error.server') });
  });
  return app;
}

/**
 * express-session stores a changed session only as the response ends, after it has sent the headers; a browser
 * follows a redirect on its headers, so the next page could be read with the session as it was (seen: a login
 * answered 302 to /, and / found no logged-in user and sent the browser back to the login page). So a redirect
 * waits until the session is stored. An empty session (an anonymous visitor) is not stored, as saveUninitialized
 * says; a destroyed one (logout) has nothing to store.
 */
function storeSessionBeforeRedirect(req: Request, res: Response, next: NextFunction): void {
  const redirect = res.redirect.bind(res) as (...args: unknown[]) => void;
  res.redirect = ((...args: unknown[]) => {
    const s = req.session as (typeof req.session & Record<string, unknown>) | undefined;
    if (!s || !Object.keys(s).some((key) => key !== 'cookie')) return redirect(...args);
    s.save((err) => (err ? next(err) : redirect(...args)));
  }) as Response['redirect'];
  next();
}
