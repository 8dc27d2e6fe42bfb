/**
 * The home dashboard's figures (thesis 6.6: projects by status and county, money released, towns
 * helped, latest events), kept in memory and brought up to date by every projector
 * batch. Aggregated on the bundled MongoDB-protocol server instead, which has no secondary indexes,
 * the first dashboard after each new block scanned every project three times and every ledger event
 * once: about 150 ms with 10,000 projects, and over 500 ms when a collector pause landed in it.
 */
import { LedgerEvent, ProjectView } from '../models/projections';
import { inScope, type ProjectFilter, type ScopeFields } from './scope';

/** What the figures need of a project's projection. */
export interface ProjectFigures extends ScopeFields {
  town: string;
  status: string;
  budgetFen: number;
  releasedFen: number;
}

/** A ledger event as the dashboard lists it (its projection without the data). */
export interface RecentEvent extends ScopeFields {
  _id: string;
  type: string;
  projectId?: string;
  blockNumber: number;
  txId: string;
  at: Date;
}

/** Latest events kept in memory; a scope with fewer than ten among them is looked up in MongoDB. */
const RECENT_KEPT = 2000;
const RECENT_SHOWN = 10;

export class HomeFigures {
  private readonly projects = new Map<string, ProjectFigures>();
  /** Oldest first, in ledger order. */
  private recent: RecentEvent[] = [];
  /** Whether `recent` holds every event projected so far (then a quiet scope needs no query). */
  private recentComplete = false;
  private loading?: Promise<void>;

  /** A projector batch, after its writes: the projects as written and the events, in ledger order. */
  projected(projects: Iterable<[string, ProjectFigures]>, events: readonly RecentEvent[]): void {
    for (const [id, figures] of projects) this.projects.set(id, figures);
    this.recent.push(...events);
    if (this.recent.length > RECENT_KEPT) {
      this.recent.splice(0, this.recent.length - RECENT_KEPT);
      this.recentComplete = false;
    }
  }

  async of(filter: ProjectFilter) {
    await (this.loading ??= this.load().catch((err: Error) => {
      this.loading = undefined; // try again on the next request
      throw err;
    }));
    const byStatus = new Map<string, number>();
    const byCounty = new Map<string, { _id: string; released: number; budget: number }>();
    const towns = new Set<string>();
    let projects = 0;
    let released = 0;
    for (const p of this.projects.values()) {
      if (!inScope(p, filter)) continue;
      projects++;
      released += p.releasedFen;
      byStatus.set(p.status, (byStatus.get(p.status) ?? 0) + 1);
      const county = byCounty.get(p.county!) ?? { _id: p.county!, released: 0, budget: 0 };
      county.released += p.releasedFen;
      county.budget += p.budgetFen;
      byCounty.set(p.county!, county);
      if (p.status === 'FUNDED' || p.status === 'COMPLETED') towns.add(p.town);
    }
    // Open alerts are not counted here: the dashboard takes them from the monitoring centre's collectAlerts.
    const recent = await this.latestEvents(filter);
    return {
      projects,
      byStatus: Object.fromEntries(byStatus),
      byCounty: [...byCounty.values()].sort((a, b) => a._id.localeCompare(b._id, 'zh-CN')),
      released,
      towns: towns.size,
      recent,
    };
  }

  /** The scope's ten latest events, newest first. */
  private async latestEvents(filter: ProjectFilter): Promise<RecentEvent[]> {
    const found: RecentEvent[] = [];
    for (let i = this.recent.length - 1; i >= 0 && found.length < RECENT_SHOWN; i--) if (inScope(this.recent[i], filter)) found.push(this.recent[i]);
    if (found.length === RECENT_SHOWN || this.recentComplete) return found;
    return LedgerEvent.find(filter).select('-data').sort({ blockNumber: -1, _id: -1 }).limit(RECENT_SHOWN).lean<RecentEvent[]>();
  }

  /**
   * Reads what is projected already. Batches projected meanwhile are newer than what the reads
   * return, so a project already held is kept and events already held are not added twice.
   */
  private async load(): Promise<void> {
    const [projects, events] = await Promise.all([
      ProjectView.find({}).select('county town status budgetFen releasedFen implementingUnitId payerIds').lean(),
      LedgerEvent.find({}).select('-data').sort({ blockNumber: -1, _id: -1 }).limit(RECENT_KEPT).lean<RecentEvent[]>(),
    ]);
    for (const { _id, ...p } of projects) if (!this.projects.has(String(_id))) this.projects.set(String(_id), p as ProjectFigures);
    const held = new Set(this.recent.map((e) => e._id));
    const all = [...events.filter((e) => !held.has(e._id)).reverse(), ...this.recent];
    this.recent = all.slice(-RECENT_KEPT);
    this.recentComplete = events.length < RECENT_KEPT && all.length <= RECENT_KEPT;
  }
}
