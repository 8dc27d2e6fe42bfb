import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChaincodeHarness } from './support/harness';
import { CONFIG, actor } from './support/fixture';

interface RouteResult {
  businessId: string;
  setId: string;
  channel: string;
  warning: boolean;
  existing: boolean;
}

describe('routing contracts (thesis 4.3.3.1) on a routing channel without an organisation registry', () => {
  let h: ChaincodeHarness;
  before(async () => {
    h = await ChaincodeHarness.start();
    const admin = await actor(h, 'platform');
    await h.ok(admin, 'Config:initialise', JSON.stringify(CONFIG), JSON.stringify({ id: 'PLATFORM', name: '运营中心' }));
  });
  after(() => h.close());

  it('assigns business ids to the free set, warns at warnNum, moves on when full, fails when all are full', async () => {
    const admin = await actor(h, 'platform');
    assert.match((await h.submit(admin, 'RouteManager:registerRoute', 'P-0')).message, /^STATE: no set is registered/);
    await h.ok(admin, 'RouteManager:registerSet', JSON.stringify({ setId: 'set1', channel: 'business1', maxNum: 3, warnNum: 2 }));
    await h.ok(admin, 'RouteManager:registerSet', JSON.stringify({ setId: 'set2', channel: 'business2', maxNum: 2, warnNum: 2 }));
    const county = await actor(h, 'countyOffice'); // routing channel: role and MSP only, no registry binding
    const results: RouteResult[] = [];
    for (let i = 1; i <= 5; i++) results.push(await h.ok<RouteResult>(county, 'RouteManager:registerRoute', `P-${i}`));
    assert.deepEqual(results.map((r) => [r.setId, r.warning]), [
      ['set1', false],
      ['set1', true],
      ['set1', true],
      ['set2', false],
      ['set2', true],
    ]);
    const again = await h.ok<RouteResult>(county, 'RouteManager:registerRoute', 'P-2');
    assert.deepEqual([again.setId, again.existing], ['set1', true]);
    const full = await h.submit(county, 'RouteManager:registerRoute', 'P-6');
    assert.match(full.message, /^STATE: all 2 sets are full; register a new set/);
    assert.equal(await h.query(county, 'RouteSet:isFull', 'set1'), true);
    const route = await h.query<{ setId: string; channel: string }>(await actor(h, 'auditor'), 'RouteManager:getRoute', 'P-4');
    assert.deepEqual([route.setId, route.channel], ['set2', 'business2']);
    assert.match((await h.evaluate(county, 'RouteManager:getRoute', 'P-99')).message, /^NOT_FOUND: route for business id P-99/);
    await h.ok(admin, 'RouteManager:registerSet', JSON.stringify({ setId: 'set3', channel: 'business3', maxNum: 10, warnNum: 8 }));
    assert.equal((await h.ok<RouteResult>(county, 'RouteManager:registerRoute', 'P-6')).setId, 'set3');
    const manager = await h.query<{ sets: string[]; currentFreeSet: number; routeCount: number }>(county, 'RouteManager:getManager');
    assert.deepEqual(manager, { sets: ['set1', 'set2', 'set3'], currentFreeSet: 2, routeCount: 6 });
    assert.match((await h.submit(admin, 'RouteManager:registerSet', JSON.stringify({ setId: 'set4', channel: 'business1', maxNum: 1, warnNum: 1 }))).message, /^CONFLICT: channel business1 already serves set set1/);
    assert.match((await h.submit(admin, 'RouteManager:registerSet', JSON.stringify({ setId: 'set5', channel: 'business5', maxNum: 1, warnNum: 2 }))).message, /^VALIDATION: set\.warnNum: warnNum must not exceed maxNum/);
  });

  it('adds, lists and removes the nodes of a set', async () => {
    const admin = await actor(h, 'platform');
    const node = (nodeId: string, port: number) => JSON.stringify({ nodeId, listenIp: '127.0.0.1', p2pPort: port, rpcPort: port + 1, nodeType: 'peer', desc: `${nodeId} of set1`, caHash: 'a'.repeat(64), agencyInfo: '贵州银行' });
    await h.ok(admin, 'RouteSet:addNode', 'set1', node('peer0', 7051));
    await h.ok(admin, 'RouteSet:addNode', 'set1', node('peer1', 8051));
    assert.match((await h.submit(admin, 'RouteSet:addNode', 'set2', node('peer0', 9051))).message, /^CONFLICT: node peer0 is already registered in set set1/);
    assert.match((await h.submit(admin, 'RouteSet:addNode', 'set1', JSON.stringify({ nodeId: 'p9', listenIp: '999.1.1.1', p2pPort: 1, rpcPort: 2, nodeType: 'peer', caHash: 'a'.repeat(64), agencyInfo: 'x' }))).message, /^VALIDATION: node\.listenIp: listenIp must be an IPv4 or IPv6 address/);
    assert.match((await h.submit(admin, 'RouteSet:addNode', 'set1', JSON.stringify({ nodeId: 'p9', listenIp: '::1', p2pPort: 70000, rpcPort: 2, nodeType: 'peer', caHash: 'a'.repeat(64), agencyInfo: 'x' }))).message, /^VALIDATION: node\.p2pPort: p2pPort must be 0–65535/);
    const bank = await actor(h, 'bank');
    const list = await h.query<Array<{ nodeId: string; rpcPort: number }>>(bank, 'RouteSet:getNodeList', 'set1');
    assert.deepEqual(list.map((n) => [n.nodeId, n.rpcPort]), [['peer0', 7052], ['peer1', 8052]]);
    await h.ok(admin, 'RouteSet:removeNode', 'set1', 'peer0');
    assert.deepEqual((await h.query<Array<{ nodeId: string }>>(bank, 'RouteSet:getNodeList', 'set1')).map((n) => n.nodeId), ['peer1']);
    assert.match((await h.submit(admin, 'RouteSet:removeNode', 'set1', 'peer0')).message, /^NOT_FOUND: node in set set1 peer0/);
  });

  it("keeps the relay's IP whitelist: exact addresses and IPv4 blocks", async () => {
    const admin = await actor(h, 'platform');
    await h.ok(admin, 'Whitelist:add', JSON.stringify({ address: '127.0.0.1', description: '本机中继' }));
    await h.ok(admin, 'Whitelist:add', JSON.stringify({ address: '10.20.0.0/16', description: '省政务外网' }));
    await h.ok(admin, 'Whitelist:add', JSON.stringify({ address: '::1', description: 'IPv6 本机' }));
    const reader = await actor(h, 'auditor');
    const check = (ip: string) => h.query<{ allowed: boolean; matched?: string }>(reader, 'Whitelist:check', ip);
    assert.deepEqual(await check('127.0.0.1'), { address: '127.0.0.1', allowed: true, matched: '127.0.0.1' });
    assert.deepEqual(await check('10.20.255.7'), { address: '10.20.255.7', allowed: true, matched: '10.20.0.0/16' });
    assert.equal((await check('10.21.0.1')).allowed, false);
    assert.equal((await check('::1')).allowed, true);
    assert.match((await h.evaluate(reader, 'Whitelist:check', 'localhost')).message, /^VALIDATION: address must be an IPv4 or IPv6 address/);
    assert.match((await h.submit(admin, 'Whitelist:add', JSON.stringify({ address: '10.0.0.0/33', description: 'x' }))).message, /^VALIDATION: entry\.address: address must be an IP address or an IPv4 CIDR block/);
    assert.match((await h.submit(admin, 'Whitelist:add', JSON.stringify({ address: '127.0.0.1', description: '重复' }))).message, /^CONFLICT: 127\.0\.0\.1 is already on the whitelist/);
    await h.ok(admin, 'Whitelist:remove', '10.20.0.0/16');
    assert.equal((await check('10.20.255.7')).allowed, false);
    assert.deepEqual((await h.query<Array<{ address: string }>>(reader, 'Whitelist:list')).map((e) => e.address).sort(), ['127.0.0.1', '::1']);
  });
});
