/**
 * The projections can be rebuilt from the ledger: with the demo data in place, note what the pages
 * show (project lists for an overseer and for a county, every project's detail page, the home
 * figures, the organisation registry), stop the platform, drop every projection collection, start
 * again on the same ledger and database, let the projector replay the chain from block 0, and the
 * pages show the same again. Notifications, written by upsert, are not sent twice.
 */
import './quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import { Checkpoint, PROJECTIONS, ProjectView } from '@fund/app/dist/models/projections';
import { Notification } from '@fund/app/dist/models/activity';
import { WebClient, startTestPlatform, tableRows, textOf, waitFor, type TestPlatform } from '../support/platform';

interface Snapshot {
  overseerList: string[][];
  countyList: string[][];
  details: Record<string, string>;
  organisations: string[][];
  home: Record<string, string>;
  counts: Record<string, number>;
}

/** The visible text of a page's main element: what a person reads, without navigation or hidden form fields. */
function mainText(html: string): string {
  return textOf(/<main[^>]*>([\s\S]*)<\/main>/.exec(html)?.[1] ?? '');
}

/** Home figures that come from the projections (the block height and days of running come from the ledger and the clock). */
function homeFigures(html: string): Record<string, string> {
  const figures = Object.fromEntries([...html.matchAll(/data-figure="([^"]+)">([^<]*)</g)].map((m) => [m[1], m[2].trim()]));
  delete figures.height;
  delete figures['safe-days'];
  const charts = Object.fromEntries([...html.matchAll(/const (byStatus|byCounty) = (.*);/g)].map((m) => [m[1], m[2]]));
  return { ...figures, ...charts };
}

describe('projections rebuilt from the ledger', () => {
  let p: TestPlatform;

  before(async () => {
    p = await startTestPlatform({ demo: true });
    await p.settled();
  });

  after(async () => {
    await p?.stop();
  });

  async function snapshot(): Promise<Snapshot> {
    const auditor = await WebClient.loggedIn(p.url, 'auditor');
    const county = await WebClient.loggedIn(p.url, 'county');
    const admin = await WebClient.loggedIn(p.url, 'admin');
    const list = await auditor.get('/projects');
    assert.equal(list.status, 200);
    const overseerList = tableRows(list.text, 'project-list');
    const details: Record<string, string> = {};
    for (const row of overseerList) {
      const page = await auditor.get(`/projects/${row[0]}`);
      assert.equal(page.status, 200, `detail of ${row[0]}`);
      details[row[0]] = mainText(page.text);
    }
    const home = await auditor.get('/');
    const counts: Record<string, number> = {};
    for (const model of PROJECTIONS) counts[model.collection.collectionName] = await (model as typeof ProjectView).countDocuments();
    return {
      overseerList,
      countyList: tableRows((await county.get('/projects')).text, 'project-list'),
      details,
      organisations: tableRows((await admin.get('/admin/organisations')).text, 'organisation-list'),
      home: homeFigures(home.text),
      counts,
    };
  }

  test('drop every projection, restart, replay: the pages show the same', async (t) => {
    const before = await snapshot();
    assert.equal(before.overseerList.length, 20, 'the first page lists 20 of the demo projects');
    assert.ok(before.countyList.length >= 1 && before.countyList.length < 20, 'the county sees its own projects only');
    assert.ok(Object.values(before.details).some((d) => d.includes('GZB') || d.includes('DEMO')), 'some detail page shows transfers');
    // The demo's 20 towns and 雷山县's second project, paid in tranches.
    assert.ok(Number(before.home.projects) === 21 && before.home.released !== '0.00 元', `home figures: ${JSON.stringify(before.home)}`);
    const checkpoint = await Checkpoint.findById(p.config.businessChannel).lean();
    assert.ok(checkpoint, 'the projector keeps a checkpoint');
    const notifications = await Notification.countDocuments();

    await p.stopPlatform();
    const client = new mongoose.mongo.MongoClient(p.mongoUri);
    try {
      await client.connect();
      const db = client.db();
      for (const model of PROJECTIONS) await db.collection(model.collection.collectionName).drop().catch(() => undefined);
      const left = await Promise.all(PROJECTIONS.map((m) => db.collection(m.collection.collectionName).countDocuments()));
      assert.deepEqual(left, PROJECTIONS.map(() => 0), 'every projection collection is empty');
    } finally {
      await client.close();
    }

    const started = Date.now();
    await p.startPlatform();
    // Caught up when the checkpoint is back where it was before the projections were dropped.
    await waitFor(
      'the projector to replay the chain',
      async () => {
        const now = await Checkpoint.findById(p.config.businessChannel).lean();
        return now?.blockNumber === checkpoint!.blockNumber && now?.txId === checkpoint!.txId;
      },
      120_000,
      200,
    );
    const replayMs = Date.now() - started;
    t.diagnostic(`restart and replay of ${Number(checkpoint!.blockNumber) + 1} blocks took ${replayMs} ms`);

    // The home page caches its figures per scope until the projector moves on, in a module that
    // outlives the restart in this process: one unrelated transaction (the configuration saved
    // unchanged) moves the projector, so the figures below are computed from the rebuilt data.
    const { chain, system } = p.running.platform;
    const config = await chain.evaluate<Record<string, unknown>>(system, 'Config:get');
    const { roleMsps, unmatchedThresholdHours, limitedPartnershipId } = config;
    const done = await chain.submit(system, 'Config:update', JSON.stringify({ roleMsps, unmatchedThresholdHours, limitedPartnershipId }));
    await p.running.platform.projector.settled(done.txId, done.blockNumber);

    const after = await snapshot();
    assert.deepEqual(after.overseerList, before.overseerList, 'project list (overseer)');
    assert.deepEqual(after.countyList, before.countyList, 'project list (county)');
    for (const id of Object.keys(before.details)) assert.equal(after.details[id], before.details[id], `detail page of ${id}`);
    assert.deepEqual(after.organisations, before.organisations, 'organisation registry');
    assert.deepEqual(after.home, before.home, 'home figures');
    const { ledgerEvents: eventsAfter, ...countsAfter } = after.counts;
    const { ledgerEvents: eventsBefore, ...countsBefore } = before.counts;
    assert.deepEqual(countsAfter, countsBefore, 'the same number of projected records');
    assert.equal(eventsAfter, eventsBefore + 1, 'every ledger event again, plus the configuration update');
    assert.equal(await Notification.countDocuments(), notifications, 'nobody is notified twice');
    assert.ok(replayMs < 120_000, `replay took ${replayMs} ms`);
  });
});
