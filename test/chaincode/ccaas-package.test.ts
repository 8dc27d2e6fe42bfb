import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ChaincodeServerProcess } from '../support/chaincode-server';
import { ChaincodeHarness } from './support/harness';
import { actor, approvedProject, payAllHops, setUpProvince } from './support/fixture';

/**
 * The chaincode package itself, started as Fabric's external builder starts it
 * (`fabric-chaincode-node server`), answering a peer that speaks the chaincode protocol over gRPC:
 * REGISTER → REGISTERED → READY, then TRANSACTIONs with GET_STATE / PUT_STATE / range queries.
 */
describe('the chaincode package as a service (fabric-chaincode-node server)', () => {
  let server: ChaincodeServerProcess;
  let h: ChaincodeHarness;
  before(async () => {
    server = await ChaincodeServerProcess.start(path.dirname(require.resolve('@fund/chaincode/package.json')), 'fund:0.1.0');
    h = await ChaincodeHarness.start(await server.connect());
  });
  after(async () => {
    await h?.close();
    await server.stop();
  });

  it('initialises the channel: the transaction reads and writes state through the peer', async () => {
    const before = await h.snapshot();
    assert.equal(before.size, 0);
    await setUpProvince(h);
    const after = await h.snapshot();
    assert.ok(after.size > 15, `state written over gRPC (${after.size} keys)`);
    const org = await h.query<{ id: string; type: string }>(await actor(h, 'auditor'), 'Organisation:get', 'LS-UNIT');
    assert.deepEqual([org.id, org.type], ['LS-UNIT', 'implementingUnit']);
  });

  it('runs approval with signed drafts and reconciliation over gRPC, and refuses an unauthorised call', async () => {
    const { projectId, drafts } = await approvedProject(h);
    assert.equal(drafts.length, 3);
    const denied = await h.submit(await actor(h, 'bank'), 'Project:reject', projectId, '越权');
    assert.match(denied.message, /^AUTHORISATION: role bank may not call Project:reject/);
    const arrived = await payAllHops(h, projectId);
    assert.ok(arrived.every((d) => d.status === 'AWAITING_ACCEPTANCE' && d.holderId === 'LS-UNIT'));
  });
});
