/**
 * chaincode/src/certificates.ts: fabric-shim's ClientIdentity parses each creator certificate once, not once per
 * transaction, and still sees every certificate's own id and attributes.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { ClientIdentity } from 'fabric-shim';
import '@fund/chaincode';
import { CertificateAuthority } from '@fund/app/dist/blockchain/embedded/identity';

// The @fidm/x509 instance fabric-shim loads; fromPEMs does the actual parsing.
const { Certificate } = createRequire(require.resolve('fabric-shim'))('@fidm/x509') as { Certificate: { fromPEMs(pem: unknown): unknown[] } };

function identityOf(mspid: string, certificate: string, txId: string): ClientIdentity {
  const stub = { getChannelID: () => 'ch', getTxID: () => txId, getCreator: () => ({ mspid, idBytes: Buffer.from(certificate) }) };
  return new ClientIdentity(stub as never);
}

describe('creator certificates in the chaincode', () => {
  test('each certificate is parsed once; every transaction sees its own creator', async (t) => {
    const ca = await CertificateAuthority.create('Org1MSP', 'ca.org1');
    const alice = await ca.enrol({ enrollmentId: 'alice', role: 'countyfin', org: 'org1' });
    const bob = await ca.enrol({ enrollmentId: 'bob', role: 'auditor', org: 'org1' });
    const parses = t.mock.method(Certificate, 'fromPEMs');
    const ids = [alice, bob, alice, alice, bob].map((user, i) => identityOf('Org1MSP', user.certificate, `tx${i}`));
    assert.equal(parses.mock.callCount(), 2, 'two certificates, five transactions');
    assert.deepEqual(
      ids.map((id) => [id.getID().match(/CN=(\w+)/)?.[1], id.getAttributeValue('role')]),
      [['alice', 'countyfin'], ['bob', 'auditor'], ['alice', 'countyfin'], ['alice', 'countyfin'], ['bob', 'auditor']],
    );
  });
});
