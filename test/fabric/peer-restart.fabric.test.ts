/**
 * Issue 5: "A peer stopped and restarted during the run catches up; the app reconnects; no transaction is lost."
 * On the native Fabric network (npm run network -- up, createChannel with 200 ms blocks, deployCC), with the
 * app's adapter acting for the province (FABRIC_ORG=province) submitting all along:
 *
 * - the county's peer is stopped and started again (npm run network -- stopPeer/startPeer county) while projects are
 *   filed: the business policy AND(Province, Bank) does not need it, so every submit goes on; restarted, it pulls the
 *   blocks it missed and ends on the same chain; an adapter acting for the county (whose peer it reads from) keeps
 *   its block stream: it reconnects and delivers every block once, hash-linked, up to the province's last;
 * - the bank's peer is stopped: business submits need its endorsement, so they fail within seconds (fabric-network's
 *   "No valid responses from any peers … Endorsement has failed", which does not name the peer),
 *   nothing is ordered on the business channel, the routing channel (policy OR(Province)) goes on; restarted, it
 *   catches up on both channels, submits succeed again, and the bank-side adapter's chaincode event stream has an
 *   event for every transaction reported committed.
 *
 * - the province's peer, which the app's adapter uses for endorsement, commit waits and queries, is SIGKILLed in the
 *   middle of a burst (npm run network -- stopPeer province --kill) and started again: every submit acknowledged
 *   before, during and after is VALID on every peer, and submits commit again after the restart.
 *
 * Every submit reported committed is checked on the chain (VALID, in the block it was reported in) on every peer.
 * Skipped when a network is already running or with FABRIC_TEST=skip.
 */
import '../embedded/support/quiet';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CommitError, EndorsementError, type BlockEvent, type ChaincodeEventRecord, type LedgerGateway } from '@fund/app/dist/blockchain';
import type { FabricLedger } from '@fund/app/dist/blockchain/fabric';
import type { Identity } from '@fund/app/dist/blockchain/embedded';
import { blockHeaderHash } from '@fund/app/dist/blockchain/embedded/ledger/block';
import { ChaincodeHarness } from '../chaincode/support/harness';
import { CONFIG, actor, leishanProject, setUpProvince } from '../chaincode/support/fixture';
import { CHANNELS, SuiteNetwork, Timings, openFabric, script, skipReason, sleep, until } from './support';

interface Committed {
  txId: string;
  blockNumber: number;
  at: number;
}
interface Failure {
  at: number;
  ms: number;
  /** The first line of the error's message. */
  message: string;
  error: Error;
}

/** `clients` loops submitting one transaction after another until stopped; what committed and what failed, when. */
function startLoad(clients: number, submit: () => Promise<{ txId: string; blockNumber: number }>) {
  let stopping = false;
  const committed: Committed[] = [];
  const failures: Failure[] = [];
  const loops = Array.from({ length: clients }, async () => {
    while (!stopping) {
      const t0 = Date.now();
      try {
        const r = await submit();
        committed.push({ txId: r.txId, blockNumber: r.blockNumber, at: Date.now() });
      } catch (error) {
        failures.push({ at: Date.now(), ms: Date.now() - t0, message: (error as Error).message.split('\n')[0], error: error as Error });
        await sleep(250);
      }
    }
  });
  return {
    committed,
    failures,
    async stop() {
      stopping = true;
      await Promise.all(loops);
    },
  };
}

const reason = skipReason();

describe('a peer stopped and restarted during a run', { skip: reason, timeout: 900_000 }, () => {
  const timings = new Timings();
  let province: FabricLedger;
  let county: FabricLedger;
  let bank: FabricLedger;
  let h: ChaincodeHarness;
  const network = new SuiteNetwork(timings);

  before(async () => {
    await network.up();
    province = (await openFabric('province')) as FabricLedger;
    county = (await openFabric('county')) as FabricLedger;
    bank = (await openFabric('bank')) as FabricLedger;
    h = ChaincodeHarness.onGateway(province, async (n) => (await province.block('business', n)).chaincodeEvents);
    await timings.time('set up the province (15 submits)', () => setUpProvince(h));
  });

  after(async () => {
    await county?.close();
    await bank?.close();
    await h?.close();
    await network.down();
    console.log(timings.report('Fabric peer restart timings'));
  });

  const fileProject = (office: Identity) => province.submit(office, { channel: 'business', fcn: 'Project:file', args: [JSON.stringify(leishanProject())] });

  /** Waits until `ledger`'s peer has the province peer's height on `channel`; then their chains must be the same. */
  async function caughtUp(ledger: LedgerGateway, channel: string, who: string): Promise<number> {
    const started = Date.now();
    const target = await province.chainInfo(channel);
    await until(`${who}'s peer reaching height ${target.height} on ${channel}`, async () => (await ledger.chainInfo(channel)).height >= target.height, 90_000);
    const expected = await province.chainInfo(channel); // no more submits by now: nothing moved meanwhile
    assert.deepEqual(await ledger.chainInfo(channel), expected, `${who}'s peer on ${channel}: same height, same last block hash`);
    return Date.now() - started;
  }

  /** Every transaction reported committed is in the block it was reported in, VALID, as each ledger's peer sees it. */
  async function allOnChain(committed: Committed[], ledgers: Array<[string, LedgerGateway]>): Promise<void> {
    for (const [who, ledger] of ledgers) {
      for (const c of committed) {
        const tx = await ledger.getTransaction('business', c.txId);
        assert.ok(tx, `${c.txId} (reported committed in block ${c.blockNumber}) is on ${who}'s peer`);
        assert.deepEqual([tx.blockNumber, tx.validationCode], [c.blockNumber, 'VALID'], `${c.txId} on ${who}'s peer`);
      }
    }
  }

  it("the county's peer: submits go on while it is down; restarted, it catches up; the county-side app's block stream reconnects without a gap", async () => {
    const office = await actor(h, 'countyOffice');
    // The county-side adapter (FABRIC_ORG=county) follows the business channel from block 0 on its own peer.
    const seen: BlockEvent[] = [];
    const stream = county.blockEvents('business', 0);
    const following = (async () => {
      for await (const b of stream) seen.push(b);
    })();

    const load = startLoad(4, () => fileProject(office));
    await sleep(3000);
    const stopAt = Date.now();
    await timings.time('stopPeer county', () => script('network.mjs', ['stopPeer', 'county']));
    await sleep(6000);
    const restartAt = Date.now();
    await timings.time('startPeer county', () => script('network.mjs', ['startPeer', 'county']));
    await sleep(3000);
    await load.stop();
    const whileDown = load.committed.filter((c) => c.at > stopAt && c.at < restartAt).length;
    console.log(`county peer: ${load.committed.length} submits committed, ${whileDown} of them while it was down; ${load.failures.length} failed`);
    for (const f of load.failures.slice(0, 3)) console.log(`  failed after ${f.ms} ms: ${f.message}`);

    assert.deepEqual(load.failures.map((f) => f.message), [], 'the business policy does not need the county peer: no submit fails');
    assert.ok(whileDown > 0, 'submits committed while the county peer was down');
    timings.add("county's peer catching up (after the load)", await caughtUp(county, 'business', 'county'));
    assert.deepEqual(await county.chainInfo('routing'), await province.chainInfo('routing'), 'routing channel too');
    await allOnChain(load.committed, [['province', province], ['county', county], ['bank', bank]]);

    // The county-side stream: every block once, in order, hash-linked, ending at the province's last block.
    const last = (await province.chainInfo('business')).height - 1;
    await until('the county-side block stream reaching the last block', async () => seen.at(-1)?.number === last, 60_000);
    stream.close();
    await following;
    assert.deepEqual(seen.map((b) => b.number), Array.from({ length: last + 1 }, (_, i) => i), 'every block once, in order');
    for (let i = 1; i < seen.length; i++) assert.equal(seen[i].previousHash, blockHeaderHash(seen[i - 1]), `block ${i} links to block ${i - 1}`);
    assert.equal(blockHeaderHash(seen[last]), (await province.chainInfo('business')).currentBlockHash, "the stream ends at the province peer's current block");
  });

  it("the bank's peer: business submits fail while it is down (the policy needs its endorsement) and nothing is ordered; restarted, it catches up and submits succeed again", async () => {
    const office = await actor(h, 'countyOffice');
    const from = (await province.chainInfo('business')).height;
    // The bank-side adapter (FABRIC_ORG=bank) follows the chaincode events of the business channel on its own peer.
    const events: ChaincodeEventRecord[] = [];
    const stream = bank.chaincodeEvents('business', { blockNumber: from });
    const following = (async () => {
      for await (const e of stream) events.push(e);
    })();

    const load = startLoad(2, () => fileProject(office));
    await sleep(2000);
    const stopAt = Date.now();
    await timings.time('stopPeer bank', () => script('network.mjs', ['stopPeer', 'bank']));
    // Transactions endorsed just before the stop may still commit; after that the business channel stands still.
    await sleep(3000);
    const frozen = await province.chainInfo('business');
    // The routing channel's policy needs only the province: it goes on, and the bank's peer has to catch up there too.
    const r = ChaincodeHarness.onGateway(province, async (n) => (await province.block('routing', n)).chaincodeEvents, 'routing');
    const admin = await actor(r, 'platform');
    await r.ok(admin, 'Config:initialise', JSON.stringify(CONFIG), JSON.stringify({ id: 'PLATFORM', name: '运营中心' }));
    await r.ok(admin, 'RouteManager:registerSet', JSON.stringify({ setId: 'set1', channel: 'business', maxNum: 100, warnNum: 80 }));
    await sleep(3000);
    assert.deepEqual(await province.chainInfo('business'), frozen, 'nothing was ordered on the business channel while the bank peer was down');
    const failuresWhileDown = load.failures.filter((f) => f.at > stopAt).length;

    const restartAt = Date.now();
    await timings.time('startPeer bank', () => script('network.mjs', ['startPeer', 'bank']));
    const firstAgain = await until('a business submit committing after the restart', async () => load.committed.find((c) => c.at > restartAt), 120_000);
    timings.add('restart → first business commit', firstAgain.at - restartAt);
    await sleep(2000);
    await load.stop();
    const afterRestart = load.failures.filter((f) => f.at > restartAt);
    console.log(`bank peer: ${load.committed.length} submits committed; ${failuresWhileDown} failed while it was down, ${afterRestart.length} after the restart; first commit ${firstAgain.at - restartAt} ms after the restart`);
    const kinds = new Map<string, number>();
    for (const f of load.failures) kinds.set(f.message, (kinds.get(f.message) ?? 0) + 1);
    for (const [message, n] of kinds) console.log(`  ${n} × ${message}`);
    if (load.failures.length) console.log(`  the first in full: ${load.failures[0].error.message}`);
    const durations = load.failures.map((f) => f.ms).sort((a, b) => a - b);
    if (durations.length) console.log(`  a failing submit took ${durations[0]}–${durations.at(-1)} ms (median ${durations[Math.floor(durations.length / 2)]})`);

    assert.ok(failuresWhileDown > 0, 'submits failed while the bank peer was down');
    for (const f of load.failures) {
      // Not the chaincode's refusal and not an invalidated transaction: the endorsement could not be gathered.
      assert.ok(!(f.error instanceof EndorsementError) && !(f.error instanceof CommitError), `${f.message}`);
      // fabric-network's words; they do not name the peer (discovery's endorsement plan failed on the bank's group).
      assert.match(f.error.message, /^No valid responses from any peers\. Errors:\s+peer=undefined, status=grpc, message=Endorsement has failed/);
    }
    timings.add("bank's peer catching up on business", await caughtUp(bank, 'business', 'bank'));
    timings.add("bank's peer catching up on routing", await caughtUp(bank, 'routing', 'bank'));
    await allOnChain(load.committed, [['province', province], ['bank', bank], ['county', county]]);

    // The bank-side event stream reconnected: an event for every transaction committed since it started.
    const wanted = load.committed.filter((c) => c.blockNumber >= from).map((c) => c.txId);
    await until('the bank-side event stream delivering every committed filing', async () => wanted.every((txId) => events.some((e) => e.txId === txId)), 60_000);
    stream.close();
    await following;
    assert.ok(events.every((e) => e.name === 'ProjectFiled'));
    assert.equal(new Set(events.map((e) => e.txId)).size, events.length, 'each event once');
  });

  it("the province's peer SIGKILLed mid-burst (the app's own peer: endorser, commit waits, queries): restarted, every acknowledged submit is VALID on every peer and submits commit again", async () => {
    const office = await actor(h, 'countyOffice');
    const load = startLoad(4, () => fileProject(office));
    await sleep(3000);
    const killAt = Date.now();
    const beforeKill = load.committed.length;
    await timings.time('stopPeer province --kill', () => script('network.mjs', ['stopPeer', 'province', '--kill']));
    await sleep(4000);
    const restartAt = Date.now();
    await timings.time('startPeer province', () => script('network.mjs', ['startPeer', 'province']));
    const firstAgain = await until('a submit committing after the restart', async () => load.committed.find((c) => c.at > restartAt), 120_000);
    timings.add('province peer restart → first commit', firstAgain.at - restartAt);
    await sleep(2000);
    await load.stop();
    const whileDown = load.committed.filter((c) => c.at > killAt && c.at < restartAt).length;
    const kinds = new Map<string, number>();
    for (const f of load.failures) kinds.set(f.message, (kinds.get(f.message) ?? 0) + 1);
    console.log(`province peer killed: ${beforeKill} submits acknowledged before the kill, ${whileDown} while it was down, ${load.committed.length} in all; ${load.failures.length} failed; first commit ${firstAgain.at - restartAt} ms after the restart`);
    for (const [message, n] of kinds) console.log(`  ${n} × ${message.slice(0, 200)}`);

    assert.ok(beforeKill > 0, 'submits were acknowledged before the kill');
    // The province's peer is restarted with its ledger; the others must agree with it block for block.
    timings.add('county and bank peers agreeing with the province peer', (await caughtUp(county, 'business', 'county')) + (await caughtUp(bank, 'business', 'bank')));
    await allOnChain(load.committed, [['province', province], ['county', county], ['bank', bank]]);
  });

  it('every peer ends on the same chain on both channels', async () => {
    for (const channel of CHANNELS) {
      const expected = await province.chainInfo(channel);
      for (const [who, ledger] of [['county', county], ['bank', bank]] as const) assert.deepEqual(await ledger.chainInfo(channel), expected, `${who}'s peer on ${channel}`);
    }
  });
});
