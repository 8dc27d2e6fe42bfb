/**
 * Every route is declared through route(), which records it in ROUTES with the roles that may use
 * it and puts the role check in front of its handler: no route can forget its check, and the route ×
 * role test walks ROUTES.
 */
import type { NextFunction, Request, Response, Router } from 'express';
import type { Role } from '@fund/chaincode/dist/access/roles';
import { ROLES } from '@fund/chaincode/dist/access/roles';

export type Access = 'public' | readonly Role[];
export type Method = 'GET' | 'POST';

export interface RouteSpec {
  method: Method;
  path: string;
  access: Access;
}

export const ROUTES: RouteSpec[] = [];

export const ANY_USER: readonly Role[] = ROLES;
/** Everyone but the read-only auditor and the administrator: the people who act on the workflow. */
export const PAYERS: readonly Role[] = ['provincialFinance', 'countyFinance', 'bank', 'limitedPartnership', 'countyFundCompany'];
export const OVERSIGHT: readonly Role[] = ['admin', 'leadingGroup', 'provincialFinance', 'auditor'];
/**
 * Who may download a project's audit dossier: the roles that may read every project. A dossier carries whole blocks
 * (a block's data hash covers all of its transactions), so it shows the other projects' transactions that share
 * those blocks, which a county, a bank or an implementing unit may not read.
 */
export const DOSSIER_READERS: readonly Role[] = ['admin', 'leadingGroup', 'provincialFinance', 'auditor', 'limitedPartnership'];

type Handler = (req: Request, res: Response, next: NextFunction) => unknown;

export function route(router: Router, method: Method, path: string, access: Access, ...handlers: Handler[]): void {
  ROUTES.push({ method, path, access });
  const check: Handler = (req, res, next) => {
    if (access === 'public') return next();
    if (!req.user) {
      if (method === 'GET' && req.accepts(['html', 'json']) === 'html') return res.redirect(`/login?next=${encodeURIComponent(req.originalUrl)}`);
      return res.status(401).render('error', { status: 401, message: res.locals.t('login.required') });
    }
    if (!access.includes(req.user.role as Role)) return res.status(403).render('error', { status: 403, message: res.locals.t('error.forbidden') });
    next();
  };
  if (method === 'GET') router.get(path, check, ...handlers);
  else router.post(path, check, ...handlers);
}
