/**
 * The administrator's pages doing their work: a user created on the page gets a certificate from the
 * ledger CA with the role and organisation in it and can log in; deactivating ends the user's session
 * and login, reactivating restores it; a password reset takes effect; an organisation registered on
 * the page is on the chain with its MSP, takes a bank account, leaves and rejoins; the routing chain's
 * set, node, route and whitelist are written on the routing channel only.
 */
import './quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Organisation } from '@fund/chaincode/dist/organisation/organisation';
import { OrganisationView } from '@fund/app/dist/models/projections';
import { AuditEntry } from '@fund/app/dist/models/activity';
import { User } from '@fund/app/dist/models/user';
import { WebClient, byId, formError, startTestPlatform, tableRows, textOf, type TestPlatform } from '../support/platform';

describe('administration pages', () => {
  let p: TestPlatform;
  let admin: WebClient;
  const heights = async () => {
    const { gateway } = p.running;
    return { business: (await gateway.chainInfo(p.config.businessChannel)).height, routing: (await gateway.chainInfo(p.config.routingChannel)).height };
  };

  before(async () => {
    p = await startTestPlatform({ demo: true });
    await p.settled();
    admin = await WebClient.loggedIn(p.url, 'admin');
  });

  after(async () => {
    await p?.stop();
  });

  test('the overview links every section; other roles are refused', async () => {
    const page = await admin.get('/admin');
    assert.equal(page.status, 200);
    for (const href of ['/admin/users', '/admin/organisations', '/admin/routing', '/admin/api-clients']) assert.ok(page.text.includes(`href="${href}"`), href);
    const lgo = await WebClient.loggedIn(p.url, 'lgo');
    assert.equal((await lgo.get('/admin')).status, 403);
  });

  test('a new user: certificate with role and organisation, login, deactivation ends the session, reactivation, password reset', async () => {
    const created = await admin.post('/admin/users', { username: 'clerk2', displayName: '雷山县财政局二号', role: 'countyFinance', orgId: 'LS-FIN', password: 'first-pass-1' });
    assert.equal(created.status, 302, formError(created.text));
    const user = (await User.findOne({ username: 'clerk2' }).lean())!;
    assert.equal(created.location, `/admin/users/${user._id}`);
    assert.equal(user.wallet?.mspId, 'CountyMSP');
    const detail = await admin.get(created.location);
    assert.match(textOf(byId(detail.text, 'cert-subject')), /O=LS-FIN, OU=countyFinance, CN=clerk2/);
    assert.match(textOf(byId(detail.text, 'cert-attrs')), /role=countyFinance.*org=LS-FIN|org=LS-FIN.*role=countyFinance/);
    assert.equal(await AuditEntry.countDocuments({ action: 'admin:createUser', ok: true }), 1, 'creation is in the audit log');
    const listed = tableRows((await admin.get('/admin/users?q=clerk2')).text, 'user-list');
    assert.equal(listed.length, 1);
    assert.match(listed[0].join(' '), /clerk2.*LS-FIN.*CountyMSP/);

    // The new user works, and the chain accepts the certificate (the disbursement page reads the chain's drafts).
    const clerk = await WebClient.loggedIn(p.url, 'clerk2', 'first-pass-1');
    assert.equal((await clerk.get('/disbursement')).status, 200);

    // Deactivated: the open session ends at once and logging in fails.
    const off = await admin.post(`/admin/users/${user._id}/active`, { active: 'false', back: 'detail' });
    assert.equal(off.status, 302, formError(off.text));
    const after = await clerk.get('/disbursement');
    assert.equal(after.status, 302);
    assert.match(after.location, /^\/login/);
    await assert.rejects(WebClient.loggedIn(p.url, 'clerk2', 'first-pass-1'), /login as clerk2 failed/);
    assert.match(tableRows((await admin.get('/admin/users?q=clerk2')).text, 'user-list')[0].join(' '), /No|否/);

    // Reactivated, then a new password: the session opened with the old one ends.
    assert.equal((await admin.post(`/admin/users/${user._id}/active`, { active: 'true' })).status, 302);
    const back = await WebClient.loggedIn(p.url, 'clerk2', 'first-pass-1');
    assert.equal((await back.get('/disbursement')).status, 200);
    const reset = await admin.post(`/admin/users/${user._id}/password`, { password: 'second-pass-2', confirm: 'second-pass-2' });
    assert.equal(reset.status, 302, formError(reset.text));
    assert.match((await back.get('/disbursement')).location, /^\/login/);
    await assert.rejects(WebClient.loggedIn(p.url, 'clerk2', 'first-pass-1'));
    await WebClient.loggedIn(p.url, 'clerk2', 'second-pass-2');
    assert.equal((await admin.get('/admin')).status, 200, "the administrator's own session is untouched");
  });

  test('an organisation: registered on the chain with its MSP, an account added, leaving and rejoining', async () => {
    const before = await heights();
    const registered = await admin.post('/admin/organisations', { id: 'LS-UNIT2', name: '雷山县大塘镇第二实施单位', type: 'implementingUnit', county: '雷山县' });
    assert.equal(registered.status, 302, formError(registered.text));
    assert.equal(registered.location, '/admin/organisations/LS-UNIT2');
    const { chain, system } = p.running.platform;
    const onChain = await chain.evaluate<Organisation>(system, 'Organisation:get', 'LS-UNIT2');
    assert.deepEqual([onChain.type, onChain.mspId, onChain.county, onChain.accounts, onChain.active], ['implementingUnit', 'CountyMSP', '雷山县', [], true]);
    assert.equal((await OrganisationView.findById('LS-UNIT2').lean())?.mspId, 'CountyMSP', 'projected before the page is shown');

    const added = await admin.post('/admin/organisations/LS-UNIT2/accounts', { accountNo: '600000880001', bankId: 'BANK-GZ', name: '第二实施单位项目资金户' });
    assert.equal(added.status, 302, formError(added.text));
    const page = await admin.get('/admin/organisations/LS-UNIT2');
    assert.deepEqual(tableRows(page.text, 'account-list'), [['600000880001', 'BANK-GZ', '第二实施单位项目资金户']]);

    // A user of the organisation, then the organisation leaves: the chain refuses its users, the login stays.
    assert.equal((await admin.post('/admin/users', { username: 'unit2', displayName: '二号单位', role: 'implementingUnit', orgId: 'LS-UNIT2', password: 'unit2-pass' })).status, 302);
    const left = await admin.post('/admin/organisations/LS-UNIT2/active', { active: 'false' });
    assert.equal(left.status, 302, formError(left.text));
    assert.equal((await OrganisationView.findById('LS-UNIT2').lean())?.active, false);
    const unit2 = (await User.findOne({ username: 'unit2' }))!;
    await assert.rejects(chain.evaluate(unit2, 'Organisation:get', 'LS-UNIT2'), /left the platform/);
    const refused = await admin.post('/admin/users', { username: 'unit3', displayName: '三号', role: 'implementingUnit', orgId: 'LS-UNIT2', password: 'unit3-pass' });
    assert.equal(refused.status, 400);
    assert.match(formError(refused.text), /left the platform/);
    assert.equal((await admin.post('/admin/organisations/LS-UNIT2/active', { active: 'true' })).status, 302);
    assert.equal((await chain.evaluate<Organisation>(unit2, 'Organisation:get', 'LS-UNIT2')).active, true);

    const afterwards = await heights();
    assert.equal(afterwards.business, before.business + 4, 'register, account, leave, rejoin: four blocks');
    assert.equal(afterwards.routing, before.routing, 'nothing on the routing channel');
  });

  test('routing chain: set, node, route, look-up, whitelist, node removal — on the routing channel only', async () => {
    const before = await heights();
    const ok = async (path: string, fields: Record<string, string>) => {
      const res = await admin.post(path, fields);
      assert.equal(res.status, 302, `${path}: ${formError(res.text)}`);
      return res;
    };
    // SET-1 (the business channel) was registered by the platform's first start; the operator adds a second set.
    await ok('/admin/routing/sets', { setId: 'set-2', channel: 'business2', maxNum: '2', warnNum: '1' });
    await ok('/admin/routing/sets/set-2/nodes', { nodeId: 'peer0.province', listenIp: '10.0.0.11', p2pPort: '7051', rpcPort: '7052', nodeType: 'peer', caHash: 'AB'.repeat(32), agencyInfo: '省财政厅', desc: '省级节点' });
    const routed = await ok('/admin/routing/routes', { businessId: 'PRJ-2026-0001' });
    assert.equal(routed.location, '/admin/routing?businessId=PRJ-2026-0001#lookup');
    await ok('/admin/routing/whitelist', { address: '10.1.0.0/16', description: '中继服务器' });

    const page = await admin.get('/admin/routing?businessId=PRJ-2026-0001&address=10.1.2.3');
    assert.equal(page.status, 200);
    assert.match(textOf(byId(page.text, 'route-result')), /PRJ-2026-0001 → .*SET-1.*business/);
    assert.match(textOf(byId(page.text, 'check-result')), /10\.1\.2\.3.*10\.1\.0\.0\/16/);
    assert.equal(textOf(byId(page.text, 'set-count')), '2');
    // The embedded ledger opened the new set's channel at once: initialised, the registry copied, in service.
    assert.match(textOf(byId(page.text, 'set-set-2-health')), /height \d+|区块高度 \d+/);
    assert.ok(p.running.gateway.channels().includes('business2'));
    assert.ok(p.running.platform.chain.relay.setChannels.includes('business2'));
    const { chain } = p.running.platform;
    const orgsOn = async (channel: string) => (await chain.evaluateAs<Array<{ id: string }>>(await chain.identityOf(p.running.platform.system), 'Organisation:list', [''], channel)).map((o) => o.id).sort();
    assert.deepEqual(await orgsOn('business2'), await orgsOn('business'));
    assert.equal(textOf(byId(page.text, 'route-count')), '22', "the demo's 21 projects were routed when filed, then this id");
    assert.ok(page.text.includes('data-node="peer0.province"'));
    assert.ok(page.text.includes('abababab'), 'the CA hash is stored in lower case');
    // Registering the same id again changes nothing and says so.
    const again = await admin.post('/admin/routing/routes', { businessId: 'PRJ-2026-0001' });
    assert.equal(again.status, 302);

    await ok('/admin/routing/sets/set-2/nodes/peer0.province/remove', { confirm: 'peer0.province' });
    await ok('/admin/routing/whitelist/remove', { address: '10.1.0.0/16' });
    const emptied = await admin.get('/admin/routing?address=10.1.2.3');
    assert.ok(!emptied.text.includes('data-node="peer0.province"'));
    assert.match(textOf(byId(emptied.text, 'check-result')), /not on the whitelist|不在白名单内/);

    const afterwards = await heights();
    assert.equal(afterwards.business, before.business, 'nothing on the business channel');
    assert.ok(afterwards.routing >= before.routing + 6, `six routing transactions (${before.routing} → ${afterwards.routing})`);
    assert.equal(await AuditEntry.countDocuments({ action: /^(RouteManager|RouteSet|Whitelist):/, ok: true }), 7, 'each one in the audit log');
  });
});
