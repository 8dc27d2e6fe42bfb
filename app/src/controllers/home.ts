/**
 * Home dashboard (首页): chain status and fund status at a glance (thesis 6.6), scoped to what the
 * user may see. The figures come from memory (services/home-figures.ts) plus two counts from
 * MongoDB; they are cached per user scope and projected block, and for a minute at most because
 * "overdue" moves with the clock.
 */
import type { Router } from 'express';
import { contracts } from '@fund/chaincode';
import type { HomeFigures } from '../services/home-figures';
import { projectScope } from '../services/scope';
import { platformOf } from '../platform';
import { ANY_USER, route } from './route';

const cache = new Map<string, { block: number; at: number; figures: Awaited<ReturnType<HomeFigures['of']>> }>();

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
    res.render('home', { title: 'nav.home', height: info.height, contracts: contracts.length, safeDays, figures: cached.figures, recent: cached.figures.recent });
  });
}
