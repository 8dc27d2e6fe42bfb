/**
 * The CBFT ordering service for real: four replicas on worker threads over loopback sockets with
 * ECDSA keys, the embedded ledger ordering through them. The fund's workflow runs on it; a crashed
 * replica (f = 1) does not stop it and comes back from its log; with two down (f+1) ordering stops
 * without a fork and goes on when one returns; a censoring and an equivocating replica do not stop
 * it; a peer restart catches up from the replicas; garbage on a replica's port is shrugged off.
 * (The protocol's many schedules are the simulator's, test/cbft.)
 */
import '../embedded/support/quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { EmbeddedLedger } from '@fund/app/dist/blockchain/embedded';
import type { CbftSettings } from '@fund/app/dist/blockchain/embedded/cbft/ordering-service';
import { CHANNEL, ChaincodeHarness } from '../chaincode/support/harness';
import { actor, fundedProject, setUpProvince } from '../chaincode/support/fixture';
import { removeDir, tempDir } from '../ledger/support/ledger';

const BATCH = { batchTimeoutMs: 20, maxMessageCount: 50 };
const CBFT: CbftSettings = { replicas: 4, protocol: { viewTimeoutMs: 300 } };

async function open(dataDir: string, cbft: CbftSettings = CBFT): Promise<ChaincodeHarness> {
  const h = await ChaincodeHarness.onLedger({ dataDir, batch: BATCH, orderer: 'cbft', cbft });
  h.clock = new Date();
  return h;
}

function service(h: ChaincodeHarness) {
  return (h.ledger as EmbeddedLedger).orderingService!;
}

/** Each replica's next height on the business channel (undefined when it is down). */
async function heights(h: ChaincodeHarness): Promise<Array<number | undefined>> {
  return (await service(h).status()).map((r) => (r.up ? (r.channels[CHANNEL]?.height ?? 0) : undefined));
}

/** Waits until `check` holds, polling, or fails after `ms`. */
async function eventually(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what}: not within ${ms} ms`);
}

/** `count` sweeps at once: each is ordered into a block (valid, or invalid as an MVCC conflict). */
async function burst(h: ChaincodeHarness, count: number): Promise<string[]> {
  const lgo = await actor(h, 'leadingGroup');
  const results = await Promise.all(Array.from({ length: count }, () => h.submit(lgo, 'Reconciliation:sweepUnmatched')));
  return results.map((r) => r.txId);
}

async function committedAll(h: ChaincodeHarness, txIds: string[]): Promise<void> {
  for (const txId of txIds) assert.ok(await h.ledger.getTransaction(CHANNEL, txId), `${txId} is in a block`);
}

describe('CBFT ordering service (4 replicas, f = 1, worker threads, loopback TCP)', () => {
  let dir: string;
  let h: ChaincodeHarness;
  before(async () => {
    dir = tempDir();
    h = await open(dir);
  });
  after(async () => {
    await h.close().catch(() => undefined);
    removeDir(dir);
  });

  test('the fund workflow commits through it; every replica decides the same heights', async () => {
    await setUpProvince(h);
    const unit = await actor(h, 'unit');
    const projectId = await fundedProject(h);
    const project = await h.query<{ status: string }>(unit, 'Project:get', projectId);
    assert.equal(project.status, 'FUNDED');
    const block = await h.ledger.getBlock(CHANNEL, (await h.ledger.chainInfo(CHANNEL)).height - 1);
    assert.ok(block.cutAt);
    await eventually('replicas agree on the height', async () => new Set(await heights(h)).size === 1);
    const status = await h.ledger.orderingStatus();
    assert.equal(status.service, 'cbft');
    assert.equal(status.n, 4);
    assert.equal(status.f, 1);
  });

  test('one replica crashed (f = 1): transactions still commit; revived, it catches up from its log and its peers', async () => {
    await service(h).kill(2);
    const txIds = await burst(h, 30);
    await committedAll(h, txIds);
    assert.equal((await heights(h))[2], undefined, 'replica 2 is reported down');
    await service(h).revive(2);
    await eventually('the revived replica reaches the others', async () => {
      const hs = await heights(h);
      return hs.every((x) => x !== undefined) && new Set(hs).size === 1;
    });
  });

  test('two replicas down (f+1): nothing commits and nothing forks; one back, the waiting transaction commits', async () => {
    const before = await heights(h);
    await service(h).kill(0);
    await service(h).kill(1);
    const lgo = await actor(h, 'leadingGroup');
    let settled = false;
    const waiting = h.submit(lgo, 'Reconciliation:sweepUnmatched').finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(settled, false, 'no quorum: the transaction waits');
    const stalled = await heights(h);
    assert.deepEqual(stalled.slice(2), before.slice(2), 'the two live replicas decided nothing');
    await service(h).revive(1);
    const result = await waiting;
    assert.ok(await h.ledger.getTransaction(CHANNEL, result.txId));
    await service(h).revive(0);
    await eventually('all four agree again', async () => {
      const hs = await heights(h);
      return hs.every((x) => x !== undefined) && new Set(hs).size === 1;
    });
  });

  test('garbage and oversized frames on a replica port close that connection; the service goes on', async () => {
    const port = service(h).clientConfig().ports[3];
    for (const bytes of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), Buffer.from([0, 0, 0, 8, 0, 0, 0, 99, 1, 2, 3, 4])]) {
      await new Promise<void>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port }, () => s.write(bytes));
        s.on('close', () => resolve());
        s.on('error', () => resolve());
        setTimeout(() => s.destroy(), 1000);
      });
    }
    await committedAll(h, await burst(h, 5));
  });

  test('a peer restart: the channel reopens at its height and goes on ordering through the same replicas', async () => {
    const info = await h.ledger.chainInfo(CHANNEL);
    await h.close();
    h = await open(dir);
    assert.deepEqual(await h.ledger.chainInfo(CHANNEL), info);
    await committedAll(h, await burst(h, 5));
  });
});

describe('CBFT with a Byzantine replica', () => {
  // What shows the fault: a censor's blocks leave old transactions for the next block (its score falls); an
  // equivocator's rounds fail (view changes). Bursts go on until the faulty replica has led and been caught.
  for (const [name, faults, caught] of [
    ['a replica that, as primary, leaves every transaction out', { 0: { censorShare: 1 } }, (c: Channel) => c.scores[0] < 10],
    ['a replica that, as primary, sends different blocks to different replicas', { 1: { equivocate: true } }, (c: Channel) => c.failedRounds > 0 && c.scores[1] < 10],
  ] as const) {
    test(`${name}: every transaction still commits, and the replica is caught`, async () => {
      const dir = tempDir();
      const h = await open(dir, { ...CBFT, faults });
      try {
        await setUpProvince(h);
        const bad = Number(Object.keys(faults)[0]);
        const txIds: string[] = [];
        let view: Channel | undefined;
        for (let i = 0; i < 30 && !(view && caught(view)); i++) {
          txIds.push(...(await burst(h, 8)));
          view = (await h.ledger.orderingStatus()).replicas!.find((r) => r.id !== bad)!.channels[CHANNEL];
        }
        await committedAll(h, txIds);
        assert.ok(view && caught(view), `caught: scores ${view?.scores.map((s) => s.toFixed(2)).join(' / ')}, failed rounds ${view?.failedRounds}`);
      } finally {
        await h.close();
        removeDir(dir);
      }
    });
  }
});

describe('CBFT with a replica that never answers the clients', () => {
  // Only a block's proposer sends the peer the block; the others send its digest. The mute replica's
  // blocks are vouched for by f+1 others and fetched from them.
  test('the blocks it proposes still reach the peer: every transaction commits', async () => {
    const dir = tempDir();
    const h = await open(dir, { ...CBFT, protocol: { ...CBFT.protocol, rule: 'rotate' }, faults: { 2: { mute: true } } });
    try {
      await setUpProvince(h);
      const txIds: string[] = [];
      let view: Channel | undefined;
      for (let i = 0; i < 30 && !(view && view.proposed[2] >= 2); i++) {
        txIds.push(...(await burst(h, 8)));
        view = (await h.ledger.orderingStatus()).replicas!.find((r) => r.id === 0)!.channels[CHANNEL];
      }
      assert.ok(view && view.proposed[2] >= 2, `replica 2 proposed ${view?.proposed[2]} blocks`);
      await committedAll(h, txIds);
    } finally {
      await h.close();
      removeDir(dir);
    }
  });
});

type Channel = NonNullable<Awaited<ReturnType<EmbeddedLedger['orderingStatus']>>['replicas']>[number]['channels'][string];
