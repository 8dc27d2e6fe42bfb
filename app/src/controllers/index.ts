/** All routes: the people's pages (session, CSRF) and the banks' API (token). */
import { Router } from 'express';
import * as auth from './auth';
import * as home from './home';
import * as projects from './projects';
import * as bankApi from './bank-api';

const web = Router();
for (const c of [auth, home, projects]) c.register(web);

const api = Router();
bankApi.register(api);

export const controllers = { web, api };
