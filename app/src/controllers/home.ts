/**
 * Home dashboard (首页): chain status and fund status at a glance (thesis 6.6), scoped to what the
 * user may see. The figures come from memory (services/home-figures.ts), the open alerts from the
 * monitoring centre's collectAlerts; both are cached per user scope and projected block, and for a
 * minute at most because "overdue" moves with the clock.
 */
import type { Request, Router } from 'express';
import { contracts } from '@fund/chaincode';
import type { HomeFigures } from '../services/home-figures';
import { projectScope } from '../services/scope';
import { platformOf } from '../platform';
import type { Translate } from '../i18n';
import { acknowledgements, collectAlerts, openAlerts } from './monitoring';
import { ANY_USER, route } from './route';

const cache = new Map<string, { block: number; at: number; figures: Awaited<ReturnType<HomeFigures['of']>> }>();

const alertCache = new Map<string, { block: number; at: number; generation: number; n: number }>();

/**
 * The open alerts the monitoring centre lists for this user, counted by the monitoring centre's own collectAlerts (a
 * separate count here once missed late hops). Kept like the figures: per scope and role, until a new block, an
 * acknowledgement or a minute passes.
 */
async function openAlertCount(req: Request, t: Translate, scopeKey: string): Promise<number> {
  const { projector } = platformOf(req);
  const key = `${req.user!.role}|${scopeKey}`;
  const hit = alertCache.get(key);
  if (hit && hit.block === projector.lastBlock && hit.generation === acknowledgements.generation && Date.now() - hit.at <= 60_000) return hit.n;
  const n = openAlerts((await collectAlerts(req, t)).alerts).length;
  alertCache.set(key, { block: projector.lastBlock, at: Date.now(), generation: acknowledgements.generation, n });
  return n;
}

export function register(router: Router): void {
  route(router, 'GET', '/', ANY_USER, async (req, res) => {
    const { chain, projector } = platformOf(req);
    const filter = await projectScope(req.user!);
    const key = JSON.stringify(filter);
    let cached = cache.get(key);
    if (!cached || cached.block !== projector.lastBlock || Date.now() - cached.at > 60_000) {
      cached = { block: projector.lastBlock, at: Date.now(), figures: await projector.figures.of(filter) };
      cache.set(key, cached);
    }
    const info = await chain.gateway.chainInfo(chain.channel);
    const genesis = info.height > 0 ? await chain.gateway.getBlock(chain.channel, 0) : undefined;
    const safeDays = genesis ? Math.max(1, Math.ceil((Date.now() - Date.parse(genesis.cutAt)) / 86400_000)) : 0;
    const open = await openAlertCount(req, res.locals.t as Translate, key);
    res.render('home', { title: 'nav.home', height: info.height, contracts: contracts.length, safeDays, figures: cached.figures, openAlerts: open, recent: cached.figures.recent });
  });
}
