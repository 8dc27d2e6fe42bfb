import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { contracts, pressureContracts } from '@fund/chaincode';
import { ChaincodeConnection, EmbeddedLedger, chaincodeIdOf, loadChaincodeModule, type ChaincodeModule } from '@fund/app/dist/blockchain/embedded';
import { MSP_OF_ROLE } from '@fund/app/dist/blockchain/msp';
import { ChaincodeHarness } from './support/harness';
import { actor } from './support/fixture';
import { removeDir, tempDir } from '../ledger/support/ledger';

/** The pressure chaincode, deployed alone as the chapter 5 benchmark deploys it. */
const PRESSURE: ChaincodeModule = { name: 'pressure', version: '0.1.0', module: '@fund/chaincode', exportName: 'pressureContracts' };

describe('pressure contract (thesis 5.1.1: account A starts at 100, add adds 1)', () => {
  let h: ChaincodeHarness;
  before(async () => {
    // Through fabric-shim's contract dispatch in this process.
    h = await ChaincodeHarness.start(await ChaincodeConnection.inProcess(loadChaincodeModule(PRESSURE), chaincodeIdOf(PRESSURE)));
  });
  after(() => h.close());

  it('refuses reads before init, opens A at 100 once, and counts every add', async () => {
    const caller = await actor(h, 'bank');
    assert.match((await h.evaluate(caller, 'PressureMeasure:get')).message, /^NOT_INITIALISED: account A is not opened/);
    assert.equal(await h.ok(caller, 'PressureMeasure:init'), 100);
    assert.equal(await h.ok(await actor(h, 'auditor'), 'PressureMeasure:init'), 100, 'init again changes nothing');
    for (let i = 0; i < 5; i++) {
      const r = await h.submit(caller, 'PressureMeasure:add');
      assert.equal(r.ok, true, r.message);
      assert.equal(r.writes, 1, 'an add writes one key: its own delta');
    }
    assert.equal(await h.query(caller, 'PressureMeasure:get'), 105);
  });

  it("is a chaincode of its own, not one of the fund chaincode's contracts", () => {
    assert.ok(pressureContracts.every((c) => !contracts.includes(c)));
  });

  it('refuses bad arguments and unknown transactions, writing nothing', async () => {
    const caller = await actor(h, 'bank');
    const before = await h.snapshot();
    assert.match((await h.submit(caller, 'PressureMeasure:add', '5')).message, /Expected 0 parameters, but 1 have been supplied/);
    assert.match((await h.submit(caller, 'PressureMeasure:init', 'B')).message, /Expected 0 parameters, but 1 have been supplied/);
    assert.match((await h.evaluate(caller, 'PressureMeasure:get', 'A')).message, /Expected 0 parameters, but 1 have been supplied/);
    assert.match((await h.submit(caller, 'PressureMeasure:subtract')).message, /^NOT_FOUND: transaction PressureMeasure:subtract does not exist/);
    assert.deepEqual(await h.snapshot(), before);
  });
});

describe('pressure contract on the embedded ledger: concurrent adds in one block', () => {
  let dataDir: string;
  let ledger: EmbeddedLedger;
  before(async () => {
    dataDir = tempDir();
    ledger = await EmbeddedLedger.open({ dataDir, channels: ['business'], batch: { maxMessageCount: 10, batchTimeoutMs: 50 }, chaincodeModule: PRESSURE });
  });
  after(async () => {
    await ledger.close();
    removeDir(dataDir);
  });

  it('commits all ten adds of a block: none reads a key another writes, so MVCC invalidates none', async () => {
    const caller = await ledger.enrol({ enrollmentId: 'client@BANK-GZ', mspId: MSP_OF_ROLE.bank, role: 'bank', org: 'BANK-GZ' });
    const req = (fcn: string) => ({ channel: 'business', fcn: `PressureMeasure:${fcn}` });
    await ledger.submit(caller, req('init'));
    // Ten at once: the block cutter cuts them together at MaxMessageCount 10.
    const results = await Promise.all(Array.from({ length: 10 }, () => ledger.submit(caller, req('add'))));
    const blockNumbers = new Set(results.map((r) => r.blockNumber));
    assert.equal(blockNumbers.size, 1, 'all ten adds are in one block');
    const block = await ledger.ledger('business').getBlock([...blockNumbers][0]);
    assert.deepEqual(block.transactions.map((t) => t.validationCode), Array(10).fill('VALID'));
    assert.deepEqual(block.transactions.map((t) => t.results.reads.length), Array(10).fill(0), 'an add reads nothing');
    assert.equal(new Set(block.transactions.map((t) => t.results.writes[0].key)).size, 10, 'each add writes a key of its own');
    assert.equal(JSON.parse((await ledger.evaluate(caller, req('get'))).toString('utf8')), 110);
  });
});
