/** The blockchain layer's configuration from the environment, and enrolment's input checks. */
import '../embedded/support/quiet';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ledgerConfig, openLedger } from '@fund/app/dist/blockchain';
import { removeDir, tempDir } from '../ledger/support/ledger';

describe('ledgerConfig', () => {
  test('defaults: embedded, data/ledger, business and routing channels, the thesis batch settings', () => {
    assert.deepEqual(ledgerConfig({}), {
      backend: 'embedded',
      dataDir: path.resolve('data', 'ledger'),
      channels: ['business', 'routing'],
      sets: ['business'],
      routingChannel: 'routing',
      batch: { maxMessageCount: 10, batchTimeoutMs: 2000, preferredMaxBytes: 2 * 1024 * 1024 },
      endorsers: undefined,
      routingBatchTimeoutMs: 100,
      channelThreads: 'none',
      orderer: 'solo',
      cbft: { replicas: 4, f: 1, protocol: { rule: 'credit', viewTimeoutMs: 1000 } },
    });
  });

  test('LEDGER_SETS: business, business2, … beside routing, each set on a thread of its own', () => {
    const c = ledgerConfig({ LEDGER_SETS: '3' });
    assert.deepEqual([c.channels, c.sets, c.routingChannel, c.channelThreads], [['business', 'business2', 'business3', 'routing'], ['business', 'business2', 'business3'], 'routing', ['business', 'business2', 'business3']]);
    assert.equal(ledgerConfig({ LEDGER_SETS: '2', LEDGER_CHANNEL_THREADS: 'none' }).channelThreads, 'none');
    assert.throws(() => ledgerConfig({ LEDGER_SETS: '0' }), /LEDGER_SETS must be a positive integer/);
  });

  test('reads every variable', () => {
    const c = ledgerConfig({
      LEDGER_DATA_DIR: '/tmp/x',
      LEDGER_CHANNELS: ' set1, set2 ,routing',
      BATCH_MAX_MESSAGE_COUNT: '500',
      BATCH_TIMEOUT_MS: '250',
      BATCH_PREFERRED_MAX_BYTES: '1048576',
      LEDGER_ENDORSERS: '0',
      ORDERER: 'cbft',
      CBFT_REPLICAS: '7',
      CBFT_F: '2',
      CBFT_PRIMARY: 'rotate',
      CBFT_VIEW_TIMEOUT_MS: '400',
    });
    assert.deepEqual(c, {
      backend: 'embedded',
      dataDir: '/tmp/x',
      channels: ['set1', 'set2', 'routing'],
      sets: ['set1', 'set2'],
      routingChannel: 'routing',
      batch: { maxMessageCount: 500, batchTimeoutMs: 250, preferredMaxBytes: 1048576 },
      endorsers: 0,
      routingBatchTimeoutMs: 100,
      channelThreads: ['set1', 'set2'],
      orderer: 'cbft',
      cbft: { replicas: 7, f: 2, protocol: { rule: 'rotate', viewTimeoutMs: 400 } },
    });
  });

  test('bad values are refused with the variable named', () => {
    assert.throws(() => ledgerConfig({ LEDGER: 'hyperledger' }), /LEDGER must be "embedded" or "fabric", not "hyperledger"/);
    assert.throws(() => ledgerConfig({ LEDGER_CHANNELS: ' , ' }), /LEDGER_CHANNELS must name at least one channel/);
    for (const bad of ['0', '-1', '1.5', 'ten', '1e3']) assert.throws(() => ledgerConfig({ BATCH_MAX_MESSAGE_COUNT: bad }), /BATCH_MAX_MESSAGE_COUNT must be a positive whole number/);
    assert.throws(() => ledgerConfig({ LEDGER_ENDORSERS: 'two' }), /LEDGER_ENDORSERS must be a whole number/);
    assert.throws(() => ledgerConfig({ ORDERER: 'raft' }), /ORDERER must be "solo" or "cbft", not "raft"/);
    assert.throws(() => ledgerConfig({ CBFT_REPLICAS: '4', CBFT_F: '2' }), /CBFT_REPLICAS=4 cannot tolerate CBFT_F=2 faulty replicas: N must be at least 3f\+1 = 7/);
    assert.throws(() => ledgerConfig({ CBFT_REPLICAS: '0' }), /CBFT_REPLICAS must be a whole number from 1 to 64/);
    assert.throws(() => ledgerConfig({ CBFT_PRIMARY: 'random' }), /CBFT_PRIMARY must be "credit" or "rotate", not "random"/);
    assert.throws(() => ledgerConfig({ CBFT_VIEW_TIMEOUT_MS: '5' }), /CBFT_VIEW_TIMEOUT_MS must be a whole number from 50 to 600000/);
  });

  test('the embedded ledger opens from a configuration; enrolment refuses bad input', async () => {
    const dir = tempDir();
    const ledger = await openLedger({ ...ledgerConfig({ LEDGER_DATA_DIR: dir, LEDGER_CHANNELS: 'set1,set2', LEDGER_ENDORSERS: '0' }) });
    try {
      assert.equal(ledger.backend, 'embedded');
      assert.deepEqual(ledger.channels(), ['set1', 'set2']);
      assert.deepEqual(await ledger.chainInfo('set2'), { channel: 'set2', height: 0, currentBlockHash: '', previousBlockHash: '' });
      await assert.rejects(ledger.enrol({ enrollmentId: 'u1', mspId: '../etc', role: 'admin', org: 'X' }), /invalid MSP id "..\/etc"/);
      await assert.rejects(ledger.enrol({ enrollmentId: ' ', mspId: 'ProvinceMSP', role: 'admin', org: 'X' }), /enrollmentId must be a non-empty string/);
      const user = await ledger.enrol({ enrollmentId: 'u1', mspId: 'ProvinceMSP', role: 'admin', org: 'X' });
      assert.deepEqual([user.mspId, user.role, user.org], ['ProvinceMSP', 'admin', 'X']);
    } finally {
      await ledger.close();
      removeDir(dir);
    }
  });

  test('LEDGER=fabric: network folder, organisation, chaincode and timeout; a missing network is named', async () => {
    assert.deepEqual(ledgerConfig({ LEDGER: 'fabric' }).fabric, { dir: path.resolve('data', 'fabric'), org: 'province', chaincode: 'fund', timeoutSeconds: 60 });
    assert.deepEqual(ledgerConfig({ LEDGER: 'fabric', FABRIC_DIR: '/tmp/net', FABRIC_ORG: 'BankMSP', CHAINCODE_NAME: 'fund2', FABRIC_TIMEOUT_S: '5' }).fabric, {
      dir: '/tmp/net',
      org: 'BankMSP',
      chaincode: 'fund2',
      timeoutSeconds: 5,
    });
    assert.equal(ledgerConfig({ FABRIC_DIR: '/tmp/net' }).fabric, undefined, 'the embedded ledger carries no Fabric settings');
    assert.throws(() => ledgerConfig({ LEDGER: 'fabric', FABRIC_TIMEOUT_S: '0' }), /FABRIC_TIMEOUT_S must be a positive whole number/);
    const empty = tempDir();
    try {
      await assert.rejects(openLedger(ledgerConfig({ LEDGER: 'fabric', FABRIC_DIR: empty })), /no connection profile in .*connection-<org>\.json.*npm run network -- up/);
    } finally {
      removeDir(empty);
    }
  });
});
