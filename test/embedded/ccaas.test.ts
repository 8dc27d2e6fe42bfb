/**
 * Chaincode-as-a-service: a real `fabric-chaincode-node server` process, dialled by the
 * embedded peer over gRPC (protos.Chaincode/Connect), REGISTER → REGISTERED → READY, then a
 * TRANSACTION that does GET_STATE and PUT_STATE.
 */
import './support/quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CertificateAuthority,
  MemoryState,
  TxSimulator,
  buildProposal,
} from '@fund/app/dist/blockchain/embedded';
import { ChaincodeServerProcess } from '../support/chaincode-server';

const CCID = 'test:1';

/** The fixture lives in the source tree (plain JS + package.json), wherever this file was compiled to. */
function fixtureDir(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'test', 'embedded', 'fixtures', 'kv-chaincode');
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
  }
  throw new Error('test/embedded/fixtures/kv-chaincode not found above ' + __dirname);
}

describe('embedded peer: chaincode-as-a-service over gRPC', () => {
  let server: ChaincodeServerProcess;
  before(async () => {
    server = await ChaincodeServerProcess.start(fixtureDir(), CCID);
  });
  after(() => server.stop());
  const connect = (ccid: string) => server.connect(ccid);

  // First, so the next test also proves the server survived a refused handshake.
  test('a chaincode registering under another id is refused', async () => {
    await assert.rejects(connect('other:9'), /registered as "test:1", expected "other:9"/);
  });

  test('handshake, then a TRANSACTION doing GET_STATE and PUT_STATE', async () => {
    const ca = await CertificateAuthority.create('Org1MSP', 'ca.org1');
    const alice = await ca.enrol({ enrollmentId: 'alice', role: 'auditor', org: 'org1' });
    const conn = await connect(CCID);
    try {
      assert.equal(conn.chaincodeId, CCID);

      const state = new MemoryState();
      state.apply('counter', [{ key: 'visits', isDelete: false, value: Buffer.from('41') }], { blockNum: 7, txNum: 3 }, 'seed', new Date());
      const p = buildProposal({ channel: 'business', chaincode: 'counter', args: ['Counter:increment', 'visits'], identity: alice });
      const sim = new TxSimulator(state, 'counter');
      const result = await conn.execute({ channel: 'business', txId: p.txId, signedProposal: p.signedProposal, input: p.input }, sim);

      assert.equal(result.status, 200, result.message);
      assert.equal(result.payload.toString(), '42');
      const sets = await sim.results();
      assert.deepEqual(sets.reads, [{ key: 'visits', version: { blockNum: 7, txNum: 3 } }]);
      assert.deepEqual(sets.writes, [{ key: 'visits', isDelete: false, value: Buffer.from('42') }]);

      // The creator certificate crossed the wire intact: the out-of-process ClientIdentity reads it.
      const who = buildProposal({ channel: 'business', chaincode: 'counter', args: ['Counter:whoami'], identity: alice });
      const r2 = await conn.execute({ channel: 'business', txId: who.txId, signedProposal: who.signedProposal, input: who.input }, new TxSimulator(state, 'counter'));
      assert.equal(r2.status, 200, r2.message);
      assert.deepEqual(JSON.parse(r2.payload.toString()), { mspId: 'Org1MSP', role: 'auditor' });
    } finally {
      await conn.close();
    }
  });
});
