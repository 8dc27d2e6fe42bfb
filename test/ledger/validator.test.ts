import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryState, TxSimulator } from '@fund/app/dist/blockchain/embedded';
import { CandidateTx, validateBlock } from '@fund/app/dist/blockchain/embedded/ledger/validator';
import { SortedKeys } from '@fund/app/dist/blockchain/embedded/ledger/sorted-keys';

const NS = 'fund';
const v = (s: string) => Buffer.from(s);
const none = async () => false;

/** Simulate a small transaction against the current state. */
async function simulate(state: MemoryState, txId: string, body: (sim: TxSimulator) => Promise<void>, status = 200): Promise<CandidateTx> {
  const sim = new TxSimulator(state, NS);
  await body(sim);
  return { txId, responseStatus: status, results: await sim.results() };
}

function seeded(): MemoryState {
  const state = new MemoryState();
  state.apply(NS, [{ key: 'draft1', isDelete: false, value: v('hop0') }, { key: 'idx~a', isDelete: false, value: v('1') }, { key: 'idx~c', isDelete: false, value: v('1') }], { blockNum: 1, txNum: 0 }, 'seed', new Date());
  return state;
}

describe('block validation (MVCC, phantoms, signatures, duplicates)', () => {
  it('of two transactions moving the same draft in one block, exactly one is valid', async () => {
    const state = seeded();
    const move = (id: string) => simulate(state, id, async (sim) => {
      await sim.getState('draft1');
      sim.putState('draft1', v(`hop1 by ${id}`));
    });
    const txs = await Promise.all(['t1', 't2', 't3'].map(move));
    const codes = await validateBlock(state, txs, none);
    assert.deepEqual(codes.map((c) => c.code), ['VALID', 'MVCC_READ_CONFLICT', 'MVCC_READ_CONFLICT']);
    assert.match(codes[1].message!, /written by an earlier transaction of this block/);
  });

  it('a read of a key committed since is a conflict; an untouched read is not', async () => {
    const state = seeded();
    const stale = await simulate(state, 't1', async (sim) => void (await sim.getState('draft1')));
    const fresh = await simulate(state, 't2', async (sim) => void (await sim.getState('idx~a')));
    state.apply(NS, [{ key: 'draft1', isDelete: false, value: v('hop1') }], { blockNum: 2, txNum: 0 }, 'other', new Date());
    assert.deepEqual((await validateBlock(state, [stale, fresh], none)).map((c) => c.code), ['MVCC_READ_CONFLICT', 'VALID']);
  });

  it('a key that appeared inside a scanned range is a phantom', async () => {
    const state = seeded();
    const scan = await simulate(state, 't1', async (sim) => {
      const it = sim.getStateByRange('idx~', 'idx~~');
      while (await it.next());
      await it.close();
      sim.putState('summary', v('2'));
    });
    const insert = await simulate(state, 't0', async (sim) => sim.putState('idx~b', v('1')));
    const codes = await validateBlock(state, [insert, scan], none);
    assert.deepEqual(codes.map((c) => c.code), ['VALID', 'PHANTOM_READ_CONFLICT']);
    state.apply(NS, insert.results.writes, { blockNum: 2, txNum: 0 }, 't0', new Date());
    assert.equal((await validateBlock(state, [scan], none))[0].code, 'PHANTOM_READ_CONFLICT', 'also once committed');
  });

  it('bad signatures, failed endorsements and replayed transaction ids are invalid', async () => {
    const state = seeded();
    const ok = await simulate(state, 'same', async (sim) => sim.putState('x', v('1')));
    const bad = { ...(await simulate(state, 'forged', async (sim) => sim.putState('y', v('1')))), signatureError: 'signature does not verify' };
    const failed = await simulate(state, 'failed', async (sim) => sim.putState('z', v('1')), 500);
    const codes = await validateBlock(state, [ok, { ...ok }, bad, failed], async (id) => id === 'committed-before');
    assert.deepEqual(codes.map((c) => c.code), ['VALID', 'DUPLICATE_TXID', 'BAD_PROPOSAL_SIGNATURE', 'ENDORSEMENT_POLICY_FAILURE']);
    const replay = await validateBlock(state, [{ ...ok, txId: 'committed-before' }], async (id) => id === 'committed-before');
    assert.equal(replay[0].code, 'DUPLICATE_TXID');
  });

  it('a key written by an earlier block not yet committed conflicts, as a read or inside a range', async () => {
    const state = seeded();
    const read = await simulate(state, 't1', async (sim) => void (await sim.getState('draft1')));
    const scan = await simulate(state, 't2', async (sim) => {
      const it = sim.getStateByRange('idx~', 'idx~~');
      while (await it.next());
      await it.close();
    });
    const other = await simulate(state, 't3', async (sim) => void (await sim.getState('idx~a')));
    // The block before this one writes draft1 and idx~b; the state database does not have them yet.
    const uncommitted = (ns: string) => (ns === NS ? [SortedKeys.of(['draft1']), SortedKeys.of(['idx~b'])] : []);
    const codes = await validateBlock(state, [read, scan, other], none, undefined, uncommitted);
    assert.deepEqual(codes.map((c) => c.code), ['MVCC_READ_CONFLICT', 'PHANTOM_READ_CONFLICT', 'VALID']);
    assert.match(codes[0].message!, /key "draft1" changed since it was read/);
    assert.deepEqual((await validateBlock(state, [read, scan, other], none)).map((c) => c.code), ['VALID', 'VALID', 'VALID'], 'without them all three are valid');
  });
});
