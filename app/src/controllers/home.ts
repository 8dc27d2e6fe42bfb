/**
 * Home dashboard (首页): chain status and fund status at a glance (thesis 6.6), scoped to what the
 * user may see. Figures are recomputed only when the projections have moved on (cached per user
 * scope and projected block), so a busy dashboard does not re-aggregate on every request.
 */
import type { Router } from 'express';
import { contracts } from '@fund/chaincode';
import { DiscrepancyView, DraftView, LedgerEvent, ProjectView } from '../models/projections';
import { projectScope } from '../services/scope';
import { platformOf } from '../platform';
import { ANY_USER, route } from './route';

const cache = new Map<string, { block: number; at: number; figures: Awaited<ReturnType<typeof figures>> }>();

/** Blocks searched first for the latest events; only a quiet scope needs the whole history. */
const RECENT_BLOCKS = 50;

/** The ten latest events of the scope, looked for in the last blocks first: sorting every event costs far more. */
async function recentEvents(filter: Record<string, unknown>, lastBlock: number) {
  const latest = (extra: Record<string, unknown>) => LedgerEvent.find({ ...filter, ...extra }).select('-data').sort({ blockNumber: -1, _id: -1 }).limit(10).lean();
  const recent = await latest({ blockNumber: { $gte: lastBlock - RECENT_BLOCKS } });
  return recent.length === 10 ? recent : latest({});
}

async function figures(filter: Record<string, unknown>, lastBlock: number) {
  const [byStatus, byCounty, towns, openDiscrepancies, overdueDrafts, recent] = await Promise.all([
    ProjectView.aggregate([{ $match: filter }, { $group: { _id: '$status', n: { $sum: 1 }, budget: { $sum: '$budgetFen' } } }]),
    ProjectView.aggregate([{ $match: filter }, { $group: { _id: '$county', released: { $sum: '$releasedFen' }, budget: { $sum: '$budgetFen' } } }]),
    ProjectView.distinct('town', { ...filter, status: { $in: ['FUNDED', 'COMPLETED'] } }),
    DiscrepancyView.countDocuments({ ...filter, status: 'OPEN' }),
    DraftView.countDocuments({ ...filter, status: { $in: ['ISSUED', 'IN_TRANSIT'] }, nextDeadline: { $lt: new Date() } }),
    recentEvents(filter, lastBlock),
  ]);
  const released = byCounty.reduce((sum: number, c: { released: number }) => sum + c.released, 0);
  return {
    projects: byStatus.reduce((sum: number, s: { n: number }) => sum + s.n, 0),
    byStatus: Object.fromEntries(byStatus.map((s: { _id: string; n: number }) => [s._id, s.n])),
    byCounty: byCounty.sort((a: { _id: string }, b: { _id: string }) => a._id.localeCompare(b._id, 'zh-CN')),
    released,
    towns: towns.length,
    openAlerts: openDiscrepancies + overdueDrafts,
    recent,
  };
}

export function register(router: Router): void {
  route(router, 'GET', '/', ANY_USER, async (req, res) => {
    const { chain, projector } = platformOf(req);
    const filter = await projectScope(req.user!);
    const key = JSON.stringify(filter);
    let cached = cache.get(key);
    if (!cached || cached.block !== projector.lastBlock || Date.now() - cached.at > 60_000) {
      cached = { block: projector.lastBlock, at: Date.now(), figures: await figures(filter, projector.lastBlock) };
      cache.set(key, cached);
    }
    const info = await chain.gateway.chainInfo(chain.channel);
    const genesis = info.height > 0 ? await chain.gateway.getBlock(chain.channel, 0) : undefined;
    const safeDays = genesis ? Math.max(1, Math.ceil((Date.now() - Date.parse(genesis.cutAt)) / 86400_000)) : 0;
    res.render('home', { title: 'nav.home', height: info.height, contracts: contracts.length, safeDays, figures: cached.figures, recent: cached.figures.recent });
  });
}
