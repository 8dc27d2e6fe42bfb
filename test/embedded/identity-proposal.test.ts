/**
 * Embedded CA, signatures, signed proposals and the simulator's Fabric semantics, checked
 * without a chaincode in the loop.
 */
import './support/quiet';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { common, peer } from '@hyperledger/fabric-protos';
import {
  CertificateAuthority,
  FABRIC_ATTR_OID,
  MemoryState,
  TxSimulator,
  buildProposal,
  compareKeys,
  computeTxId,
  exportIdentity,
  importIdentity,
  isIssuedBy,
  signBytes,
  verifyProposal,
  verifySignature,
} from '@fund/app/dist/blockchain/embedded';

// fabric-shim's own ClientIdentity is what the contract sees; test the certificate with it.
const { ClientIdentity } = require('fabric-shim') as { ClientIdentity: new (stub: unknown) => { getAttributeValue(n: string): string | null; getMSPID(): string; getID(): string } };

const P256_N = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');

function derS(sig: Buffer): bigint {
  const rLen = sig[3];
  const sLen = sig[5 + rLen];
  return BigInt('0x' + sig.subarray(6 + rLen, 6 + rLen + sLen).toString('hex'));
}

describe('embedded CA and signatures', () => {
  test('enrolment certificates carry fabric-ca’s attribute extension and subject', async () => {
    const ca = await CertificateAuthority.create('BankMSP', 'ca.bank');
    const id = await ca.enrol({ enrollmentId: 'teller1', role: 'bank', org: 'icbc', affiliation: 'bank.branch1' });
    const cert = new crypto.X509Certificate(id.certificate);
    assert.match(cert.subject, /CN=teller1/);
    assert.match(cert.subject, /O=icbc/);
    assert.match(cert.subject, /OU=bank/);
    assert.ok(isIssuedBy(id.certificate, ca.certificate));
    assert.equal(cert.ca, false);

    const stub = { getChannelID: () => 'ch', getTxID: () => 'tx00000000', getCreator: () => ({ mspid: id.mspId, idBytes: Buffer.from(id.certificate) }) };
    const ci = new ClientIdentity(stub);
    assert.equal(ci.getMSPID(), 'BankMSP');
    assert.equal(ci.getAttributeValue('role'), 'bank');
    assert.equal(ci.getAttributeValue('org'), 'icbc');
    assert.equal(ci.getAttributeValue('hf.EnrollmentID'), 'teller1');
    assert.equal(ci.getAttributeValue('hf.Affiliation'), 'bank.branch1');

    // The extension value is the raw JSON, exactly as fabric-ca writes it.
    const der = cert.raw;
    const oidDer = Buffer.from('06082a03040506070801', 'hex'); // DER of OID 1.2.3.4.5.6.7.8.1
    assert.ok(der.includes(oidDer), `certificate contains ${FABRIC_ATTR_OID}`);
    // Followed by OCTET STRING { raw JSON }: no inner ASN.1 wrapping of the value.
    const json = JSON.stringify({ attrs: { 'hf.Affiliation': 'bank.branch1', 'hf.EnrollmentID': 'teller1', 'hf.Type': 'client', role: 'bank', org: 'icbc' } });
    const at = der.indexOf(oidDer) + oidDer.length;
    assert.equal(der[at], 0x04, 'extnValue OCTET STRING follows the OID (non-critical: no BOOLEAN)');
    const lenBytes = der[at + 1] & 0x80 ? der[at + 1] & 0x7f : 0; // long-form length past 127 bytes
    const start = at + 2 + lenBytes;
    assert.equal(der.subarray(start, start + json.length).toString(), json);
  });

  test('a CA survives save/load and keeps issuing under the same root', async () => {
    const ca = await CertificateAuthority.create('CountyMSP', 'ca.county');
    const json = JSON.parse(JSON.stringify(ca.save()));
    const again = await CertificateAuthority.load(json);
    assert.equal(again.certificate, ca.certificate);
    assert.equal(again.mspId, 'CountyMSP');
    const id = await again.enrol({ enrollmentId: 'u', role: 'countyOffice', org: 'c1' });
    assert.ok(isIssuedBy(id.certificate, ca.certificate));
    const other = await CertificateAuthority.create('CountyMSP', 'ca.county');
    assert.equal(isIssuedBy(id.certificate, other.certificate), false);
  });

  test('signatures are DER, low-S, verify, and high-S twins are rejected', async () => {
    const ca = await CertificateAuthority.create('Org1MSP', 'ca.org1');
    const id = importIdentity(JSON.parse(JSON.stringify(exportIdentity(await ca.enrol({ enrollmentId: 'a', role: 'r', org: 'o' })))));
    const msg = Buffer.from('hello fabric');
    for (let i = 0; i < 20; i++) {
      const sig = signBytes(id, msg);
      assert.equal(sig[0], 0x30);
      const s = derS(sig);
      assert.ok(s <= P256_N >> 1n, 'S is in the lower half');
      assert.ok(verifySignature(id.certificate, msg, sig));
      assert.equal(verifySignature(id.certificate, Buffer.from('hello fabric!'), sig), false);

      // Same signature with S' = n - S: mathematically valid, but Fabric refuses it.
      const raw = crypto.createPublicKey(id.certificate);
      const rLen = sig[3];
      const r = sig.subarray(4, 4 + rLen);
      let hi = (P256_N - s).toString(16);
      if (hi.length % 2) hi = '0' + hi;
      let sBytes = Buffer.from(hi, 'hex');
      if (sBytes[0] & 0x80) sBytes = Buffer.concat([Buffer.from([0]), sBytes]);
      const body = Buffer.concat([Buffer.from([0x02, r.length]), r, Buffer.from([0x02, sBytes.length]), sBytes]);
      const high = Buffer.concat([Buffer.from([0x30, body.length]), body]);
      assert.ok(crypto.verify('sha256', msg, { key: raw, dsaEncoding: 'der' }, high), 'the twin is valid ECDSA');
      assert.equal(verifySignature(id.certificate, msg, high), false);
    }
  });
});

describe('signed proposals', () => {
  test('verifyProposal accepts a well-formed proposal and returns its contents', async () => {
    const ca = await CertificateAuthority.create('Org1MSP', 'ca.org1');
    const id = await ca.enrol({ enrollmentId: 'alice', role: 'auditor', org: 'org1' });
    const at = new Date('2026-03-01T08:00:00.123Z');
    const p = buildProposal({ channel: 'business', chaincode: 'fund', args: ['Project:get', 'P-1'], identity: id, timestamp: at, transient: { k: Buffer.from('v') } });
    assert.match(p.txId, /^[0-9a-f]{64}$/);

    const v = verifyProposal(p.signedProposal, { msps: { Org1MSP: ca.certificate } });
    assert.equal(v.txId, p.txId);
    assert.equal(v.channel, 'business');
    assert.equal(v.chaincode, 'fund');
    assert.deepEqual(v.creator, { mspId: 'Org1MSP', certificate: id.certificate });
    assert.equal(v.timestamp.toISOString(), at.toISOString());
    assert.deepEqual(v.args, [Buffer.from('Project:get'), Buffer.from('P-1')]);
    assert.deepEqual(v.transient, { k: Buffer.from('v') });

    // Survives a real wire round trip too.
    const wire = peer.SignedProposal.deserializeBinary(p.signedProposal.serializeBinary());
    assert.equal(verifyProposal(wire).txId, p.txId);
  });

  test('verifyProposal rejects tampering, a forged txId and an untrusted MSP', async () => {
    const ca = await CertificateAuthority.create('Org1MSP', 'ca.org1');
    const id = await ca.enrol({ enrollmentId: 'alice', role: 'auditor', org: 'org1' });
    const p = buildProposal({ channel: 'business', chaincode: 'fund', args: ['Draft:pay', '100'], identity: id });

    // Flip the last byte of the proposal (inside the args): the signature no longer matches.
    const bytes = Buffer.from(p.signedProposal.getProposalBytes_asU8());
    bytes[bytes.length - 1] ^= 0x01;
    const tampered = new peer.SignedProposal();
    tampered.setProposalBytes(bytes);
    tampered.setSignature(p.signedProposal.getSignature_asU8());
    assert.throws(() => verifyProposal(tampered), /signature does not verify/);

    // Re-signed by the creator but with a txId not derived from nonce + creator.
    const proposal = peer.Proposal.deserializeBinary(p.signedProposal.getProposalBytes_asU8());
    const header = common.Header.deserializeBinary(proposal.getHeader_asU8());
    const ch = common.ChannelHeader.deserializeBinary(header.getChannelHeader_asU8());
    ch.setTxId('f'.repeat(64));
    header.setChannelHeader(ch.serializeBinary());
    proposal.setHeader(header.serializeBinary());
    const forgedBytes = proposal.serializeBinary();
    const forged = new peer.SignedProposal();
    forged.setProposalBytes(forgedBytes);
    forged.setSignature(signBytes(id, forgedBytes));
    assert.throws(() => verifyProposal(forged), /txId .* does not match/);

    // Signature by someone else.
    const mallory = await ca.enrol({ enrollmentId: 'mallory', role: 'auditor', org: 'org1' });
    const stolen = new peer.SignedProposal();
    stolen.setProposalBytes(p.signedProposal.getProposalBytes_asU8());
    stolen.setSignature(signBytes(mallory, p.signedProposal.getProposalBytes_asU8()));
    assert.throws(() => verifyProposal(stolen), /signature does not verify/);

    // MSP checks.
    const rogue = await CertificateAuthority.create('Org1MSP', 'rogue');
    assert.throws(() => verifyProposal(p.signedProposal, { msps: { Org1MSP: rogue.certificate } }), /not a valid identity of MSP/);
    assert.throws(() => verifyProposal(p.signedProposal, { msps: { Org2MSP: ca.certificate } }), /not trusted/);
    assert.throws(() => verifyProposal(new peer.SignedProposal()), /empty proposal bytes/);
  });

  test('txId is hex(sha256(nonce || creator))', () => {
    const nonce = Buffer.from('nonce');
    const creator = Buffer.from('creator');
    assert.equal(computeTxId(nonce, creator), crypto.createHash('sha256').update('noncecreator').digest('hex'));
  });
});

describe('simulator and memory state', () => {
  test('keys order by UTF-8 bytes, like LevelDB', () => {
    const keys = ['b', '\u{10ffff}', '\uffff', 'a', '\u0000x', '\ue000', ''];
    const sorted = [...keys].sort(compareKeys);
    const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.deepEqual(sorted, byBytes);
  });

  test('range is start-inclusive, end-exclusive, unbounded on empty keys, and sees composite keys', async () => {
    const s = new MemoryState();
    const put = (key: string) => ({ key, isDelete: false, value: Buffer.from(key) });
    s.apply('ns', ['a', 'b', 'c', '\u0000Obj\u0000k1\u0000', '\uffff'].map(put), { blockNum: 1, txNum: 0 }, 't1', new Date());
    const keys = async (start: string, end: string) => {
      const out: string[] = [];
      for await (const kv of s.range('ns', start, end)) out.push(kv.key);
      return out;
    };
    assert.deepEqual(await keys('a', 'c'), ['a', 'b']);
    assert.deepEqual(await keys('\u0001', ''), ['a', 'b', 'c', '\uffff']);
    assert.deepEqual(await keys('\u0000Obj\u0000', '\u0000Obj\u0000\u{10ffff}'), ['\u0000Obj\u0000k1\u0000']);
    assert.deepEqual(await keys('', ''), ['\u0000Obj\u0000k1\u0000', 'a', 'b', 'c', '\uffff']);
  });

  test('putState with an empty value is a delete; paginated queries forbid writes', async () => {
    const sim = new TxSimulator(new MemoryState(), 'ns');
    sim.putState('k', Buffer.alloc(0));
    assert.deepEqual((await sim.results()).writes, [{ key: 'k', isDelete: true, value: Buffer.alloc(0) }]);
    assert.throws(() => sim.putState('x', Buffer.from('1')), /already completed/);

    const ro = new TxSimulator(new MemoryState(), 'ns');
    ro.getStateByRange('', '', { pageSize: 5 });
    assert.throws(() => ro.putState('x', Buffer.from('1')), /paginated query/);
  });

  test('an unclosed iterator still contributes its reads at results()', async () => {
    const s = new MemoryState();
    s.apply('ns', [{ key: 'a', isDelete: false, value: Buffer.from('1') }], { blockNum: 3, txNum: 2 }, 't', new Date());
    const sim = new TxSimulator(s, 'ns');
    const it = sim.getStateByRange('', '');
    assert.equal((await it.next())?.key, 'a');
    const res = await sim.results();
    assert.deepEqual(res.rangeQueries, [{ startKey: '', endKey: 'a', itrExhausted: false, reads: [{ key: 'a', version: { blockNum: 3, txNum: 2 } }] }]);
  });
});
