/**
 * The platform on the CBFT ordering service (ORDERER=cbft): the demo seed goes through it, the
 * operator page shows the four replicas with their height, primary and credit score, says when the
 * quorum is gone, and the solo platform's page says what solo ordering does not protect against.
 */
import './quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import type { EmbeddedLedger } from '@fund/app/dist/blockchain/embedded';
import { DEMO_PASSWORD } from '@fund/app/dist/services/demo';
import { WebClient, byId, startTestPlatform, textOf, waitFor, type TestPlatform } from '../support/platform';

const ROOT = path.resolve(__dirname, '..', '..');
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(ROOT, 'docs', 'screenshots') : path.join(ROOT, 'dist-test', 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
fs.mkdirSync(SHOTS, { recursive: true });

describe('the ordering page on a CBFT platform', () => {
  let p: TestPlatform;
  let admin: WebClient;
  before(async () => {
    p = await startTestPlatform({ demo: true, env: { ORDERER: 'cbft', CBFT_VIEW_TIMEOUT_MS: '300' } });
    await p.settled();
    admin = await WebClient.loggedIn(p.url, 'admin');
  });
  after(async () => {
    await p?.stop();
  });

  test('four replicas up, each with its height, primary and score; every channel ordered by them', async () => {
    const page = await admin.get('/admin/ordering');
    assert.equal(page.status, 200);
    assert.equal(textOf(byId(page.text, 'ordering-n')), '4');
    assert.equal(textOf(byId(page.text, 'ordering-up')), '4 / 4');
    for (const channel of [p.config.businessChannel, p.config.routingChannel]) {
      const row = textOf(byId(page.text, `replica-0-${channel}`));
      assert.match(row, /replica0/);
      const height = Number(row.split(/\s+/).find((x) => /^\d+$/.test(x)));
      assert.ok(height > 0, `${channel} decided blocks: ${row}`);
    }
    const block = await p.running.gateway.getBlock(p.config.businessChannel, 1);
    assert.ok(block.cutAt);
  });

  test('two replicas down: the page says ordering stopped safely; back up, it says all four again', async () => {
    const service = (p.running.gateway as EmbeddedLedger).orderingService!;
    await service.kill(2);
    await service.kill(3);
    const page = await admin.get('/admin/ordering');
    assert.equal(textOf(byId(page.text, 'ordering-up')), '2 / 4');
    assert.ok(page.text.includes('id="ordering-stalled"'));
    await service.revive(2);
    await service.revive(3);
    await waitFor('all four up', async () => textOf(byId((await admin.get('/admin/ordering')).text, 'ordering-up')) === '4 / 4');
  });

  test('in Chromium: the administrator reads the page (and it is the README screenshot with UPDATE_SCREENSHOTS=1)', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
    try {
      const page = await (await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: 'zh-CN' })).newPage();
      await page.goto(`${p.url}/login`);
      await page.fill('#username', 'admin');
      await page.fill('#password', DEMO_PASSWORD);
      await page.click('form[action="/login"] button');
      await page.waitForURL(`${p.url}/`);
      await page.click('a[href="/admin"]');
      await page.click('#admin-tabs a[href="/admin/ordering"]');
      assert.equal(await page.textContent('#ordering-up'), '4 / 4');
      assert.equal(await page.locator('.ordering-channel').count(), 2);
      await page.screenshot({ path: path.join(SHOTS, 'admin-ordering.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });

  test('other roles are refused the page', async () => {
    const auditor = await WebClient.loggedIn(p.url, 'auditor');
    const page = await auditor.get('/admin/ordering');
    assert.equal(page.status, 403);
  });
});
