/**
 * The relay over two sets (thesis 4.3): the demo's 21 projects filed through the platform land on set 1 until it is
 * full (maxNum 15, a warning from the 12th) and then on set 2, each project's whole life on its own set; the
 * province-wide projections equal the sum of the sets; when every set is full a filing is refused and nothing
 * changes; the whitelist admits or refuses the bank API's callers and the platform itself, and the relay's caches
 * follow changes made on the routing chain behind its back.
 */
import './quiet';
import * as http from 'node:http';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Project } from '@fund/chaincode/dist/project/project';
import { ProjectView } from '@fund/app/dist/models/projections';
import { AuditEntry } from '@fund/app/dist/models/activity';
import { User } from '@fund/app/dist/models/user';
import { appConfig } from '@fund/app/dist/config';
import { WebClient, byId, formError, startTestPlatform, textOf, type TestPlatform } from '../support/platform';

/** A request from another loopback address (the whole 127.0.0.0/8 is local on Linux). */
function requestFrom(localAddress: string, url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers, localAddress }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('relay over two sets', () => {
  let p: TestPlatform;
  let admin: WebClient;
  const sets = () => p.config.businessChannels;
  const relay = () => p.running.platform.chain.relay;
  const system = async () => p.running.platform.chain.identityOf(p.running.platform.system);
  const heights = async () => Promise.all(p.running.gateway.channels().map(async (c) => (await p.running.gateway.chainInfo(c)).height));

  before(async () => {
    p = await startTestPlatform({ demo: true, env: { LEDGER_SETS: '2', SET_MAX_NUM: '15', SET_WARN_NUM: '12' } });
    await p.settled();
    admin = await WebClient.loggedIn(p.url, 'admin');
  });

  after(async () => {
    await p?.stop();
  });

  test('the sets are registered on the routing chain; projects fill set 1, then set 2; each project lives on its set only', async () => {
    assert.deepEqual(sets(), ['business', 'business2']);
    const status = await relay().setStatus();
    assert.deepEqual(
      status.map((s) => [s.setId, s.channel, s.memberCount, s.maxNum, s.warnNum]),
      [
        ['SET-1', 'business', 15, 15, 12],
        ['SET-2', 'business2', 6, 15, 12],
      ],
    );
    const identity = await system();
    for (const [i, channel] of sets().entries()) {
      const onChain = JSON.parse((await p.running.gateway.evaluate(identity, { channel, fcn: 'Project:list', args: ['{}'] })).toString()) as Project[];
      assert.equal(onChain.length, i === 0 ? 15 : 6, `projects on ${channel}`);
      const projected = await ProjectView.find({ channel }).lean();
      assert.deepEqual(projected.map((v) => v._id).sort(), onChain.map((x) => x.id).sort(), `the projection knows which projects are on ${channel}`);
      for (const project of onChain) {
        const other = sets().find((c) => c !== channel)!;
        await assert.rejects(p.running.gateway.evaluate(identity, { channel: other, fcn: 'Project:get', args: [project.id] }), /NOT_FOUND/, `${project.id} is not on ${other}`);
      }
    }
    // The demo walks projects through the whole workflow: some on set 2 went all the way, transfers reconciled there.
    const lateOnes = await ProjectView.find({ channel: 'business2', status: { $in: ['FUNDED', 'COMPLETED'] } }).lean();
    assert.ok(lateOnes.length > 0, 'a project on set 2 was approved, paid through every hop, accepted');
  });

  test("each set lists its node on the routing chain from the start: the embedded ledger's peer of its channel", async () => {
    const status = await relay().setStatus();
    assert.deepEqual(
      status.map((s) => [s.setId, s.nodes.filter((n) => n.nodeType === 'peer').map((n) => [n.nodeId, n.listenIp, n.p2pPort, n.rpcPort, n.agencyInfo])]),
      [
        ['SET-1', [['embedded-business', '127.0.0.1', 0, 0, 'PeerMSP']]],
        ['SET-2', [['embedded-business2', '127.0.0.1', 0, 0, 'PeerMSP']]],
      ],
      'registered at start because the sets listed none',
    );
    for (const node of status.flatMap((s) => s.nodes)) {
      assert.match(node.caHash, /^[0-9a-f]{64}$/);
      assert.match(node.desc, node.nodeType === 'peer' ? /the set's peer: channel business2? of the embedded ledger/ : /CBFT replica/);
    }
    const page = await admin.get('/admin/routing');
    for (const nodeId of ['embedded-business', 'embedded-business2']) assert.ok(page.text.includes(`data-node="${nodeId}"`), `${nodeId} in the routing page's node table`);
  });

  test('the province-wide summary equals the sum of the sets', async () => {
    const identity = await system();
    const perSet = await Promise.all(sets().map(async (channel) => JSON.parse((await p.running.gateway.evaluate(identity, { channel, fcn: 'Project:list', args: ['{}'] })).toString()) as Project[]));
    const all = perSet.flat();
    const projected = await ProjectView.find().lean();
    assert.equal(projected.length, all.length);
    const budget = (xs: Array<{ budget?: string | null }>) => xs.reduce((sum, x) => sum + BigInt(x.budget ?? '0'), 0n);
    assert.equal(budget(projected), budget(all));
    const byStatus = (xs: Array<{ status?: string | null }>) => JSON.stringify([...new Set(xs.map((x) => x.status))].sort().map((s) => [s, xs.filter((x) => x.status === s).length]));
    assert.equal(byStatus(projected), byStatus(all));
    const figures = await p.running.platform.projector.figures.of({});
    assert.equal(JSON.stringify(figures).includes(String(all.length)), true, 'the dashboard counts every set');
  });

  test('set 1 full is an alert in the monitoring centre', async () => {
    const page = await admin.get('/monitoring?kind=capacity');
    assert.equal(page.status, 200);
    assert.match(page.text, /SET-1/);
    assert.doesNotMatch(page.text, /SET-2/, 'set 2 (6 of 15) is below its warning level');
  });

  test('a route registered on the routing chain behind the relay reaches its cache through the events', async () => {
    const identity = await system();
    const id = 'PRJ-0000000000AA';
    assert.equal(await relay().locate(identity, id), undefined);
    const misses = relay().stats.routeMisses;
    await p.running.gateway.submit(identity, { channel: p.config.routingChannel, fcn: 'RouteManager:registerRoute', args: [id] });
    await until('the route in the cache', async () => (await relay().locate(identity, id)) === 'business2');
    assert.equal(relay().stats.routeMisses, misses + 1, 'found in the cache, not asked of the routing chain again');
  });

  test('every set full: filing is refused with a clear error and no chain changes', async () => {
    const identity = await system();
    // Fill set 2 through the routing chain directly (it holds 7 of 15 after the previous test).
    const ids = Array.from({ length: 8 }, (_, i) => `PRJ-00000000F${String(i).padStart(3, '0')}`);
    await p.running.gateway.submit(identity, { channel: p.config.routingChannel, fcn: 'RouteManager:registerRoutes', args: [JSON.stringify(ids)] });
    const county = await WebClient.loggedIn(p.url, 'county');
    const form = await county.get('/projects/new');
    assert.equal(form.status, 200);
    const before = await heights();
    const res = await fileSmallProject(county);
    assert.equal(res.status, 400, 'refused');
    assert.match(formError(res.text), /all 2 sets are full/);
    assert.deepEqual(await heights(), before, 'no block on any channel');
    const audit = await AuditEntry.findOne({ action: 'Project:file', ok: false }).sort({ _id: -1 }).lean();
    assert.match(audit?.message ?? '', /full/);
  });

  async function fileSmallProject(county: WebClient) {
    const unit = await User.findOne({ username: 'unit' }).lean();
    return county.postMultipart('/projects', {
      name: '满员测试项目',
      town: '大塘镇',
      department: '县农业农村局',
      budget: '100.00',
      implementingUnitId: unit!.orgId,
      startDate: '2027-01-01',
      endDate: '2027-06-30',
      milestoneName: '开工',
      milestoneDate: '2027-02-01',
      amount_countyFinance: '100.00',
      payer_countyFinance: 'LS-FIN',
      // All county money is off the fund policy's shares: filed with the county's reason for an exception.
      exceptionRequest: '小额试点项目，县级财政全额配套',
    });
  }

  test('admission: a bank API caller off the whitelist gets 403 and an audit entry; listed, it gets through', async () => {
    const url = `${p.url.replace('localhost', '127.0.0.1')}/api/bank/transfers/GZB-NONE-01`;
    const refused = await requestFrom('127.0.0.2', url);
    assert.equal(refused.status, 403, refused.body);
    assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'NOT_ADMITTED');
    const entry = await AuditEntry.findOne({ action: 'relay:refused' }).sort({ _id: -1 }).lean();
    assert.equal(entry?.ok, false);
    assert.match(entry?.message ?? '', /127\.0\.0\.2/);

    // The operator adds the address on the admin page (a transaction on the routing chain); the relay follows.
    const page = await admin.get('/admin/routing');
    assert.equal(page.status, 200);
    const added = await admin.post('/admin/routing/whitelist', { address: '127.0.0.2', description: '测试银行前置机' });
    assert.equal(added.status, 302, formError(added.text));
    await until('the whitelist change to reach the relay', () => relay().admitted('127.0.0.2') !== undefined);
    const admitted = await requestFrom('127.0.0.2', url);
    assert.equal(admitted.status, 401, 'past admission, now asked for its token');
  });

  test('admission: the platform itself is refused once its address leaves the whitelist, and admitted again', async () => {
    const identity = await system();
    await p.running.gateway.submit(identity, { channel: p.config.routingChannel, fcn: 'Whitelist:remove', args: ['127.0.0.1'] });
    await until('the removal to reach the relay', () => relay().admitted('127.0.0.1') === undefined);
    const before = await heights();
    const lgo = await WebClient.loggedIn(p.url, 'lgo');
    const sweep = await lgo.post('/monitoring/sweep', {});
    assert.equal(sweep.status, 400);
    assert.match(formError(sweep.text), /does not admit 127\.0\.0\.1/);
    assert.deepEqual(await heights(), before);
    // The routing chain's management is never refused: the operator can put the platform back.
    const back = await admin.post('/admin/routing/whitelist', { address: '127.0.0.1', description: '本平台' });
    assert.equal(back.status, 302, formError(back.text));
    await until('the platform to be admitted again', () => relay().admitted('127.0.0.1') !== undefined);
    const again = await lgo.post('/monitoring/sweep', {});
    assert.equal(again.status, 302, formError(again.text));
  });

  test('the routing page shows each set with its fill level and health', async () => {
    const page = await admin.get('/admin/routing');
    assert.equal(page.status, 200);
    assert.match(textOf(byId(page.text, 'set-SET-1-fill')), /15/);
    for (const setId of ['SET-1', 'SET-2']) assert.match(textOf(byId(page.text, `set-${setId}-health`)), /height \d+|区块高度 \d+/);
  });

  test('a third set added to the configuration: registered on the routing chain with its node, its registry levelled, new projects land there; an operator\'s node list is left alone', async () => {
    // The operator replaces set 2's node with one of their own on the routing page.
    const ok = async (path: string, fields: Record<string, string>) => {
      const res = await admin.post(path, fields);
      assert.equal(res.status, 302, `${path}: ${formError(res.text)}`);
    };
    await ok('/admin/routing/sets/SET-2/nodes', { nodeId: 'gw.set2', listenIp: '10.0.0.12', p2pPort: '7051', rpcPort: '7051', nodeType: 'peer', caHash: 'c'.repeat(64), agencyInfo: '省财政厅', desc: '' });
    await ok('/admin/routing/sets/SET-2/nodes/embedded-business2/remove', { confirm: 'embedded-business2' });
    await p.stopPlatform();
    Object.assign(p.config, appConfig({ DATA_DIR: p.config.dataDir, PORT: '0', MONGODB_URI: p.mongoUri, BATCH_TIMEOUT_MS: '200', LEDGER_SETS: '3', SET_MAX_NUM: '15', SET_WARN_NUM: '12' }));
    await p.startPlatform();
    assert.deepEqual(sets(), ['business', 'business2', 'business3']);
    const identity = await system();
    const orgs = async (channel: string) => (JSON.parse((await p.running.gateway.evaluate(identity, { channel, fcn: 'Organisation:list', args: [''] })).toString()) as Array<{ id: string; accounts: unknown[]; active: boolean }>).map((o) => JSON.stringify([o.id, o.accounts, o.active])).sort();
    assert.deepEqual(await orgs('business3'), await orgs('business'), 'every organisation, account and standing of set 1 is on set 3');
    assert.deepEqual(
      (await relay().setStatus()).map((s) => [s.setId, s.nodes.filter((n) => n.nodeType === 'peer').map((n) => n.nodeId)]),
      [
        ['SET-1', ['embedded-business']],
        ['SET-2', ['gw.set2']],
        ['SET-3', ['embedded-business3']],
      ],
      "set 3's node registered at start; set 1's not registered twice; the operator's list for set 2 left as it was",
    );
    const county = await WebClient.loggedIn(p.url, 'county');
    await county.get('/projects/new');
    const res = await fileSmallProject(county);
    assert.equal(res.status, 302, formError(res.text));
    const projectId = res.location.split('/').pop()!;
    assert.equal((await ProjectView.findById(projectId).lean())?.channel, 'business3');
    assert.equal(await relay().locate(identity, projectId), 'business3');
  });
});
