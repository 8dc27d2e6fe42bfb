/**
 * SIGKILL under workflow traffic (issue 19, "Faults"). The web platform runs as a child process (the embedded ledger
 * runs inside it: there is no separate ledger process to kill), the MongoDB-protocol server as another; four clients
 * file, approve, register serials and record bank transfers through the forms and the bank API.
 *  - the web platform killed mid-burst, started again: every acknowledged action is on the chain, nothing is
 *    half-done, the projections catch up and equal the chain, the platform takes new work, verify is clean;
 *  - the MongoDB-protocol server killed mid-burst and started again on its folder while the platform runs: the
 *    platform answers errors while it is gone, then serves again without a restart, and the same holds.
 */
import '../web/quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { appConfig } from '@fund/app/dist/config';
import { startPlatform } from '@fund/app/dist/server';
import { startMongoServer, type MongoServer } from '../support/platform';
import { Burst, PlatformChild, checkRecovered, countBy, issueBankToken, readProjections, verifyLedger, type Ack } from './support/faults';

const CLIENTS = 4;

describe('faults: SIGKILL of the web platform and of the MongoDB server during a burst', { timeout: 300_000 }, () => {
  let tmp: string;
  let mongo: MongoServer | undefined;
  let child: PlatformChild | undefined;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-'));
  });

  after(async () => {
    await child?.kill().catch(() => undefined);
    await mongo?.stop().catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Fresh data and database for one test; the platform seeded with the demo. */
  async function fresh(name: string) {
    const dataDir = path.join(tmp, name);
    mongo = await startMongoServer(path.join(dataDir, 'mongo'));
    const mongoUri = `${mongo.uri}/fund`;
    const env = { DATA_DIR: path.join(dataDir, 'platform'), MONGODB_URI: mongoUri, DEMO: '1' };
    child = await PlatformChild.start(env);
    const token = await issueBankToken(child.url, mongoUri);
    return { dataDir, mongoUri, env, token };
  }

  /** The platform started in this process on the same data, after the child stopped: the checks, then verify. */
  async function check(env: Record<string, string>, mongoUri: string, acks: Ack[], committed: Array<{ label: string; txId: string; blockNumber: number }> = []) {
    const projections = await readProjections(mongoUri);
    const config = appConfig({ ...process.env, ...env, PORT: '0' });
    const running = await startPlatform({ config, log: () => {} });
    let figures;
    try {
      figures = await checkRecovered(running, acks, projections);
      for (const c of committed) {
        const tx = await running.gateway.getTransaction(config.businessChannel, c.txId);
        assert.equal(tx?.validationCode, 'VALID', `${c.label}: the error page named transaction ${c.txId}, and it is on the chain`);
        assert.equal(tx?.blockNumber, c.blockNumber);
      }
    } finally {
      await running.close();
    }
    const verified = verifyLedger(config.ledger.dataDir);
    assert.equal(verified.status, 0, verified.output);
    return figures;
  }

  test('web platform (with its embedded ledger) SIGKILLed mid-burst: nothing acknowledged lost, nothing half-done, projections catch up', async (t) => {
    const { env, mongoUri, token } = await fresh('web');
    const burst = new Burst(child!.url, token, 'W');
    burst.start(CLIENTS);
    // Killed at a moment of the burst that is not chosen by the workflow: after some acknowledgements, plus a little.
    await burst.untilAcks(25, 90_000);
    await new Promise((resolve) => setTimeout(resolve, 150 + Math.floor(Math.random() * 300)));
    const killedAt = Date.now();
    await child!.kill();
    await burst.stop();
    const acked = burst.acks.length;
    t.diagnostic(`acknowledged before the kill: ${acked} ${JSON.stringify(countBy(burst.acks, (a) => a.kind))}; failed requests at the kill: ${burst.failures.length}`);

    child = await PlatformChild.start(env);
    const readyMs = Date.now() - killedAt;
    const settleMs = await child.settle();
    t.diagnostic(`restart to serving: ${readyMs} ms; projections caught up ${settleMs} ms later`);

    // It takes new work: the same clients go on.
    burst.retarget(child.url);
    burst.start(CLIENTS);
    await burst.untilAcks(acked + 8, 60_000);
    await burst.stop();
    await child.settle();
    await child.stop();
    child = undefined;

    const figures = await check(env, mongoUri, burst.acks);
    t.diagnostic(`after recovery: ${figures.found} of ${figures.acknowledged} acknowledged actions found (${acked} of them before the kill); ${figures.projects} projects, ${figures.drafts} drafts, ${figures.serials} serials equal in the projections; verify clean`);
    assert.equal(figures.found, figures.acknowledged);
    await mongo!.stop();
    mongo = undefined;
  });

  test('MongoDB-protocol server SIGKILLed mid-burst and started again: the platform carries on, nothing acknowledged lost', async (t) => {
    const { env, mongoUri, dataDir, token } = await fresh('mongo');
    const port = Number(new URL(mongo!.uri).port);
    const burst = new Burst(child!.url, token, 'M');
    burst.start(CLIENTS);
    await burst.untilAcks(25, 90_000);
    await new Promise((resolve) => setTimeout(resolve, 150 + Math.floor(Math.random() * 300)));
    process.kill(mongo!.pid, 'SIGKILL');
    const killedAt = Date.now();
    const atKill = burst.acks.length;
    const failuresAtKill = burst.failures.length;
    // Gone for two seconds while the clients keep working.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const duringOutage = burst.acks.length - atKill;
    mongo = await startMongoServer(path.join(dataDir, 'mongo'), undefined, false, port);
    const restartedAt = Date.now();
    // Work is acknowledged again without restarting the platform.
    await burst.untilAcks(burst.acks.length + 8, 90_000);
    const firstAckMs = Date.now() - restartedAt;
    await burst.stop();
    t.diagnostic(`acknowledged before the kill: ${atKill}; while the server was down (2 s): ${duringOutage}; failed requests from the kill on: ${burst.failures.length - failuresAtKill} (e.g. ${burst.failures.slice(failuresAtKill, failuresAtKill + 2).join(' | ')})`);
    // An error page that names a committed transaction tells the truth.
    for (const c of burst.committedDespiteError) {
      t.diagnostic(`${c.label} answered 500 naming block ${c.blockNumber}, transaction ${c.txId}`);
    }
    const settleMs = await child!.settle();
    t.diagnostic(`the platform's log: ${child!.errorOutput.split('\n').filter((l) => /^projector/.test(l)).join(' | ')}`);
    t.diagnostic(`server restarted ${restartedAt - killedAt} ms after the kill; first acknowledgements again within ${firstAckMs} ms; projections caught up ${settleMs} ms after the burst`);
    await child!.stop();
    child = undefined;

    const figures = await check(env, mongoUri, burst.acks, burst.committedDespiteError);
    t.diagnostic(`after recovery: ${figures.found} of ${figures.acknowledged} acknowledged actions found; ${figures.projects} projects, ${figures.drafts} drafts, ${figures.serials} serials equal in the projections; verify clean`);
    assert.equal(figures.found, figures.acknowledged);
  });
});
