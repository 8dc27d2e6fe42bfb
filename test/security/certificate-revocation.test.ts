/**
 * Revoking and rotating users' certificates from the administration pages: deactivating an account revokes its
 * certificate on the chain (its key can sign nothing any more, even outside the platform), reactivating issues a new
 * one, and "renew certificate" rotates it; the chain refuses the old certificate on every call.
 */
import '../web/quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { User } from '@fund/app/dist/models/user';
import { WebClient, formError, startTestPlatform, type TestPlatform } from '../support/platform';

describe('certificate revocation and rotation from the admin pages', () => {
  let p: TestPlatform;
  let admin: WebClient;

  before(async () => {
    p = await startTestPlatform({ demo: true });
    await p.settled();
    admin = await WebClient.loggedIn(p.url, 'admin');
  });
  after(async () => {
    await p?.stop();
  });

  /** The identity the user's wallet holds now, as anyone holding the decrypted key could use it. */
  async function keyOf(username: string) {
    return p.running.platform.chain.identityOf((await User.findOne({ username }))!);
  }
  const call = (identity: Awaited<ReturnType<typeof keyOf>>) => p.running.gateway.evaluate(identity, { channel: p.config.businessChannel, fcn: 'Project:list', args: ['{}'] });

  test('deactivating revokes the certificate on the chain; reactivating issues a new one', async () => {
    const old = await keyOf('auditor');
    await call(old);
    const user = await User.findOne({ username: 'auditor' }).lean();
    await admin.get(`/admin/users/${user!._id}`);
    const off = await admin.post(`/admin/users/${user!._id}/active`, { active: 'false', back: 'detail' });
    assert.equal(off.status, 302, formError(off.text));
    await assert.rejects(call(old), /AUTHORISATION: the caller's certificate .* was revoked .*account deactivated by admin/);
    const on = await admin.post(`/admin/users/${user!._id}/active`, { active: 'true', back: 'detail' });
    assert.equal(on.status, 302, formError(on.text));
    const renewed = await keyOf('auditor');
    assert.notEqual(renewed.certificate, old.certificate);
    await call(renewed);
    await assert.rejects(call(old), /revoked/, 'the old certificate stays revoked');
    const auditor = await WebClient.loggedIn(p.url, 'auditor');
    assert.equal((await auditor.get('/projects')).status, 200, 'the person works as before with the new certificate');
  });

  test('renew certificate: the old key is refused, the new one works, the audit log and the chain keep the reason', async () => {
    const user = await User.findOne({ username: 'unit' }).lean();
    const old = await keyOf('unit');
    await admin.get(`/admin/users/${user!._id}`);
    const renewed = await admin.post(`/admin/users/${user!._id}/certificate`, { reason: '私钥疑似泄露，换发证书' });
    assert.equal(renewed.status, 302, formError(renewed.text));
    await assert.rejects(call(old), /revoked .*私钥疑似泄露，换发证书/);
    await call(await keyOf('unit'));
    const unit = await WebClient.loggedIn(p.url, 'unit');
    assert.equal((await unit.get('/acceptance')).status, 200);
    const list = JSON.parse((await p.running.gateway.evaluate(await keyOf('auditor'), { channel: p.config.businessChannel, fcn: 'Identity:listRevoked', args: [] })).toString()) as Array<{ reason: string }>;
    assert.ok(list.some((r) => r.reason === '私钥疑似泄露，换发证书'));
    const county = await WebClient.loggedIn(p.url, 'county');
    assert.equal((await county.post(`/admin/users/${user!._id}/certificate`, { reason: '越权换发证书' })).status, 403);
  });
});
