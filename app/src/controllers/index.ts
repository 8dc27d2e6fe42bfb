/** All routes: the people's pages (session, CSRF) and the banks' API (token). */
import { Router } from 'express';
import * as auth from './auth';
import * as home from './home';
import * as projects from './projects';
import * as disbursement from './disbursement';
import * as acceptance from './acceptance';
import * as progress from './progress';
import * as release from './release';
import * as rules from './rules';
import * as admin from './admin';
import * as approvals from './approvals';
import * as monitoring from './monitoring';
import * as exporting from './export';
import * as dossier from './dossier';
import * as notifications from './notifications';
import * as reports from './reports';
import * as bankApi from './bank-api';
import * as relayEvents from './relay-events';

const web = Router();
for (const c of [auth, home, projects, disbursement, acceptance, progress, release, rules, admin, approvals, monitoring, exporting, dossier, notifications, reports, relayEvents]) c.register(web);

const api = Router();
bankApi.register(api);

export const controllers = { web, api };
