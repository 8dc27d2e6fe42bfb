/**
 * Chaincode-as-a-service: a real `fabric-chaincode-node server` process, dialled by the
 * embedded peer over gRPC (protos.Chaincode/Connect), REGISTER → REGISTERED → READY, then a
 * TRANSACTION that does GET_STATE and PUT_STATE.
 */
import './support/quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  CertificateAuthority,
  ChaincodeConnection,
  MemoryState,
  TxSimulator,
  buildProposal,
} from '@fund/app/dist/blockchain/embedded';

const CCID = 'test:1';

/** The fixture lives in the source tree (plain JS + package.json), wherever this file was compiled to. */
function fixtureDir(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'test', 'embedded', 'fixtures', 'kv-chaincode');
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
  }
  throw new Error('test/embedded/fixtures/kv-chaincode not found above ' + __dirname);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

describe('embedded peer: chaincode-as-a-service over gRPC', () => {
  let child: ChildProcess | undefined;
  let output = '';
  let address = '';
  let exited: Promise<number | null>;

  before(async () => {
    const port = await freePort();
    address = `127.0.0.1:${port}`;
    const cli = path.join(path.dirname(require.resolve('fabric-shim/package.json')), 'cli.js');
    child = spawn(
      process.execPath,
      [cli, 'server', '--chaincode-address', address, '--chaincode-id', CCID, '--module-path', fixtureDir()],
      { env: { ...process.env, CORE_CHAINCODE_LOGGING_LEVEL: 'WARNING' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    exited = new Promise((resolve) => child?.once('exit', (code) => resolve(code)));
  });

  after(async () => {
    // Always stop the server, even when a test failed.
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child?.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
  });

  /** Connects, failing fast with the server's output if the process dies first. */
  async function connect(ccid: string): Promise<ChaincodeConnection> {
    const died = exited.then((code) => {
      throw new Error(`chaincode server exited (${code}) before accepting a connection:\n${output}`);
    });
    return Promise.race([ChaincodeConnection.grpc(address, { ccid, connectTimeoutMs: 20_000 }), died]);
  }

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
