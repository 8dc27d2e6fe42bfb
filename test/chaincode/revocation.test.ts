/** Certificate revocation through the real dispatch: a revoked certificate is refused everywhere, a rotated one works. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import type { Identity } from '@fund/app/dist/blockchain/embedded';
import { MSP_OF_ROLE } from '@fund/app/dist/blockchain/msp';
import { ChaincodeHarness } from './support/harness';
import { actor, approvedProject, leishanProject, setUpProvince } from './support/fixture';

describe('certificate revocation', () => {
  let h: ChaincodeHarness;
  before(async () => {
    h = await ChaincodeHarness.start();
    await setUpProvince(h);
  });
  after(() => h.close());

  /** A new certificate for the same person's organisation and role: what rotation issues. */
  const rotated = (role: string, org: string): Promise<Identity> => (h['backend'] as { enrol(m: string, r: string, o: string): Promise<Identity> }).enrol(MSP_OF_ROLE[role], role, org);

  it('a revoked implementing unit cannot accept the draft waiting for it', async () => {
    const { drafts } = await approvedProject(h);
    const unit = await actor(h, 'unit');
    await h.ok(await actor(h, 'platform'), 'Identity:revoke', JSON.stringify({ certificate: unit.certificate, reason: '私钥疑似泄露' }));
    const r = await h.submit(unit, 'Draft:accept', drafts[0].draftId);
    assert.match(r.message, /^AUTHORISATION: the caller's certificate .* was revoked .*私钥疑似泄露/);
  });

  it('refuses every call with a revoked certificate, on reads and writes, and keeps who revoked it and why', async () => {
    const admin = await actor(h, 'platform');
    const office = await actor(h, 'countyOffice');
    const fingerprint = createHash('sha256').update(new X509Certificate(office.certificate).raw).digest('hex');
    assert.equal(new X509Certificate(office.certificate).fingerprint256.replace(/:/g, '').toLowerCase(), fingerprint);

    const revoked = await h.ok<{ fingerprint: string; revokedBy: string }>(admin, 'Identity:revoke', JSON.stringify({ certificate: office.certificate, reason: '经办人离职，证书吊销' }));
    assert.equal(revoked.fingerprint, fingerprint, 'the fingerprint is the SHA-256 of the DER, as openssl shows it');
    const before = await h.snapshot();
    for (const [fcn, args] of [
      ['Project:file', [JSON.stringify(leishanProject())]],
      ['Project:list', ['{}']],
      ['Organisation:get', ['LS-OFFICE']],
    ] as const) {
      const r = await h.submit(office, fcn, ...args);
      assert.equal(r.ok, false, fcn);
      assert.match(r.message, new RegExp(`^AUTHORISATION: the caller's certificate ${fingerprint.slice(0, 16)}… was revoked at .* by PLATFORM: 经办人离职，证书吊销$`));
    }
    assert.deepEqual(await h.snapshot(), before, 'a revoked certificate writes nothing');
    const listed = await h.query<Array<{ fingerprint: string; reason: string }>>(await actor(h, 'auditor'), 'Identity:listRevoked');
    assert.equal(listed.find((r) => r.fingerprint === fingerprint)?.reason, '经办人离职，证书吊销');
    assert.equal((await h.query<{ fingerprint: string } | null>(await actor(h, 'leadingGroup'), 'Identity:isRevoked', fingerprint))?.fingerprint, fingerprint);
  });

  it('rotation: the same person with a new certificate works; revoking again, an unknown format or the caller\'s own certificate is refused', async () => {
    const admin = await actor(h, 'platform');
    const renewed = await rotated('countyOffice', 'LS-OFFICE');
    const filed = await h.submit<{ id: string }>(renewed, 'Project:file', JSON.stringify(leishanProject()));
    assert.equal(filed.ok, true, filed.message);
    const office = await actor(h, 'countyOffice');
    const before = await h.snapshot();
    assert.match((await h.submit(admin, 'Identity:revoke', JSON.stringify({ certificate: office.certificate, reason: '再次吊销同一证书' }))).message, /^CONFLICT: certificate .* was already revoked/);
    assert.match((await h.submit(admin, 'Identity:revoke', JSON.stringify({ certificate: admin.certificate, reason: '误操作测试' }))).message, /^VALIDATION: certificate: the administrator cannot revoke the certificate it is calling with/);
    assert.match((await h.submit(admin, 'Identity:revoke', JSON.stringify({ certificate: 'not a certificate', reason: '格式错误测试' }))).message, /^VALIDATION: certificate: not a PEM-encoded X\.509 certificate/);
    assert.match((await h.submit(admin, 'Identity:revoke', JSON.stringify({ reason: '缺少证书测试' }))).message, /^VALIDATION: revocation\.certificate: give either the certificate or its fingerprint/);
    assert.match((await h.submit(renewed, 'Identity:revoke', JSON.stringify({ fingerprint: 'a'.repeat(64), reason: '越权吊销' }))).message, /^AUTHORISATION: role countyOffice may not call Identity:revoke/);
    assert.deepEqual(await h.snapshot(), before);
  });
});
