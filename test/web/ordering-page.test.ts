/**
 * The platform on the CBFT ordering service (ORDERER=cbft): the demo seed goes through it, the
 * operator page shows the four replicas with their height, primary and credit score, says when the
 * quorum is gone, and the solo platform's page says what solo ordering does not protect against.
 */
import './quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { EmbeddedLedger } from '@fund/app/dist/blockchain/embedded';
import { WebClient, byId, startTestPlatform, textOf, waitFor, type TestPlatform } from '../support/platform';

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

  test('other roles are refused the page', async () => {
    const auditor = await WebClient.loggedIn(p.url, 'auditor');
    const page = await auditor.get('/admin/ordering');
    assert.equal(page.status, 403);
  });
});
