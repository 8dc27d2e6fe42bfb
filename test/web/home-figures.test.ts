/**
 * The home dashboard's figures kept in memory (services/home-figures.ts) equal what MongoDB's
 * aggregation over the projections gives, for every kind of scope: after the demo data is loaded
 * from the projections, after a new project and a funded one arrive through the projector, and
 * for a fresh instance that loads everything from MongoDB again.
 */
import './quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LedgerEvent, ProjectView } from '@fund/app/dist/models/projections';
import { advanceProject, demoActors, demoProject } from '@fund/app/dist/services/demo';
import { HomeFigures } from '@fund/app/dist/services/home-figures';
import type { ProjectFilter } from '@fund/app/dist/services/scope';
import { startTestPlatform, type TestPlatform } from '../support/platform';

/** The figures as MongoDB aggregates them (how the dashboard computed them before they were kept in memory). */
async function aggregated(filter: ProjectFilter) {
  const [byStatus, byCounty, towns, recent] = await Promise.all([
    ProjectView.aggregate([{ $match: filter }, { $group: { _id: '$status', n: { $sum: 1 } } }]),
    ProjectView.aggregate([{ $match: filter }, { $group: { _id: '$county', released: { $sum: '$releasedFen' }, budget: { $sum: '$budgetFen' } } }]),
    ProjectView.distinct('town', { ...filter, status: { $in: ['FUNDED', 'COMPLETED'] } }),
    LedgerEvent.find(filter).select('blockNumber').sort({ blockNumber: -1 }).limit(10).lean(),
  ]);
  return {
    projects: byStatus.reduce((sum: number, s: { n: number }) => sum + s.n, 0),
    byStatus: Object.fromEntries(byStatus.map((s: { _id: string; n: number }) => [s._id, s.n])),
    byCounty: byCounty.sort((a: { _id: string }, b: { _id: string }) => a._id.localeCompare(b._id, 'zh-CN')),
    released: byCounty.reduce((sum: number, c: { released: number }) => sum + c.released, 0),
    towns: towns.length,
    // Events of one block may be listed in another order; the blocks they come from may not differ.
    recentBlocks: recent.map((e) => e.blockNumber),
  };
}

async function inMemory(figures: HomeFigures, filter: ProjectFilter) {
  const { recent, ...rest } = await figures.of(filter);
  return { ...rest, recentBlocks: recent.map((e) => e.blockNumber) };
}

describe('home figures kept in memory', () => {
  let p: TestPlatform;
  let scopes: Array<[string, ProjectFilter]>;

  before(async () => {
    p = await startTestPlatform({ demo: true });
    await p.settled();
    const funded = await ProjectView.findOne({ status: 'FUNDED' }).lean();
    assert.ok(funded, 'the demo has a funded project');
    scopes = [
      ['everything (provincial command, auditors)', {}],
      ['a county', { county: funded.county }],
      ['an implementing unit', { implementingUnitId: funded.implementingUnitId }],
      ['a paying bank', { payerIds: funded.payerIds[0] }],
      ['nothing (no organisation)', { _id: null }],
    ];
  });

  after(async () => {
    await p?.stop();
  });

  async function assertSame(figures: HomeFigures, when: string) {
    for (const [name, filter] of scopes) assert.deepEqual(await inMemory(figures, filter), await aggregated(filter), `${name}, ${when}`);
  }

  test('equal MongoDB’s aggregation for every scope, loaded, then fed by the projector, then loaded afresh', async () => {
    const { projector, chain } = p.running.platform;
    await assertSame(projector.figures, 'loaded from the projections');
    const everything = await projector.figures.of({});
    assert.ok(everything.projects > 0 && everything.released > 0 && everything.towns > 0, 'the demo shows projects, money released and towns helped');

    // A new project filed, and another taken all the way to its implementing unit, through the chain.
    const as = demoActors(chain);
    const office = await as('LS-OFFICE', 'countyOffice');
    await chain.submitAs<{ id: string }>(office, 'Project:file', [JSON.stringify(demoProject(14 + 20 * 500))]);
    const second = await chain.submitAs<{ id: string }>(office, 'Project:file', [JSON.stringify(demoProject(14 + 20 * 501))]);
    await advanceProject(chain, as, await as('LGO', 'leadingGroup'), second.result.id, 'LS-UNIT', 'FUNDED');
    await p.settled();
    const after = await projector.figures.of({});
    assert.equal(after.projects, everything.projects + 2);
    assert.ok(after.released > everything.released, 'the funded project adds to the money released');
    assert.equal(after.recent[0].projectId, second.result.id, 'the latest event is the funded project’s progress report');
    assert.equal(after.recent[0].type, 'ProgressReported');
    await assertSame(projector.figures, 'after the projector fed it two projects');

    await assertSame(new HomeFigures(), 'loaded afresh');
  });
});
