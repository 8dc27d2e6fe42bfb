/**
 * The embedded peer driving a real fabric-contract-api contract through fabric-shim's own
 * ChaincodeMessageHandler / ChaincodeStub / ChaincodeFromContract, with signed proposals
 * from enrolled X.509 identities and a MemoryState world state.
 */
import './support/quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { peer } from '@hyperledger/fabric-protos';
import { Context, Contract, Transaction } from 'fabric-contract-api';
import {
  CertificateAuthority,
  ChaincodeConnection,
  MemoryState,
  RICH_QUERY_UNSUPPORTED,
  TxSimulator,
  buildProposal,
  loadContractChaincode,
  type ChaincodeResult,
  type Identity,
  type SimulationResults,
} from '@fund/app/dist/blockchain/embedded';

const CHANNEL = 'business';
const CC = 'kvtest';

class KvContract extends Contract {
  constructor() {
    super('Kv');
  }

  @Transaction()
  async put(ctx: Context, key: string, value: string): Promise<void> {
    await ctx.stub.putState(key, Buffer.from(value));
  }

  @Transaction(false)
  async get(ctx: Context, key: string): Promise<string> {
    const value = await ctx.stub.getState(key);
    return value.length > 0 ? value.toString() : '<absent>';
  }

  /** Writes, then reads the same key back: Fabric returns the committed value, not the write. */
  @Transaction()
  async putThenGet(ctx: Context, key: string, value: string): Promise<string> {
    await ctx.stub.putState(key, Buffer.from(value));
    const seen = await ctx.stub.getState(key);
    return seen.length > 0 ? seen.toString() : '<absent>';
  }

  @Transaction()
  async remove(ctx: Context, key: string): Promise<void> {
    await ctx.stub.deleteState(key);
  }

  @Transaction(false)
  async range(ctx: Context, start: string, end: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const kv of ctx.stub.getStateByRange(start, end)) keys.push(`${kv.key}=${kv.value.toString()}`);
    return keys;
  }

  /** Stops after `count` results: the iterator is closed early (QUERY_STATE_CLOSE). */
  @Transaction(false)
  async rangeFirst(ctx: Context, start: string, end: string, count: number): Promise<string[]> {
    const keys: string[] = [];
    for await (const kv of ctx.stub.getStateByRange(start, end)) {
      keys.push(kv.key);
      if (keys.length >= count) break;
    }
    return keys;
  }

  @Transaction()
  async putComposite(ctx: Context, type: string, a: string, b: string, value: string): Promise<void> {
    await ctx.stub.putState(ctx.stub.createCompositeKey(type, [a, b]), Buffer.from(value));
  }

  @Transaction(false)
  async byPartialKey(ctx: Context, type: string, a: string): Promise<string[]> {
    const out: string[] = [];
    for await (const kv of ctx.stub.getStateByPartialCompositeKey(type, a ? [a] : [])) {
      out.push(ctx.stub.splitCompositeKey(kv.key).attributes.join('/') + '=' + kv.value.toString());
    }
    return out;
  }

  @Transaction(false)
  async page(ctx: Context, start: string, end: string, pageSize: number, bookmark: string): Promise<object> {
    const { iterator, metadata } = await ctx.stub.getStateByRangeWithPagination(start, end, pageSize, bookmark);
    const keys: string[] = [];
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) keys.push(r.value.key);
    await iterator.close();
    return { keys, bookmark: metadata.bookmark, fetched: metadata.fetchedRecordsCount };
  }

  @Transaction(false)
  async history(ctx: Context, key: string): Promise<object[]> {
    const out: object[] = [];
    for await (const mod of ctx.stub.getHistoryForKey(key)) {
      out.push({ txId: mod.txId, value: Buffer.from(mod.value).toString(), isDelete: mod.isDelete });
    }
    return out;
  }

  @Transaction(false)
  async whoami(ctx: Context): Promise<object> {
    const secret = ctx.stub.getTransient().get('secret');
    return {
      mspId: ctx.clientIdentity.getMSPID(),
      role: ctx.clientIdentity.getAttributeValue('role'),
      org: ctx.clientIdentity.getAttributeValue('org'),
      enrollmentId: ctx.clientIdentity.getAttributeValue('hf.EnrollmentID'),
      id: ctx.clientIdentity.getID(),
      txId: ctx.stub.getTxID(),
      channel: ctx.stub.getChannelID(),
      timestamp: ctx.stub.getDateTimestamp().toISOString(),
      secret: secret ? Buffer.from(secret).toString() : null,
    };
  }

  @Transaction()
  async emit(ctx: Context, name: string, payload: string): Promise<void> {
    ctx.stub.setEvent(name, Buffer.from(payload));
  }

  @Transaction(false)
  async obj(): Promise<object> {
    return { a: 1 };
  }

  @Transaction()
  async fail(ctx: Context, message: string): Promise<void> {
    await ctx.stub.putState('never', Buffer.from('written'));
    throw new Error(message);
  }

  @Transaction()
  async privateData(ctx: Context, op: string): Promise<void> {
    if (op === 'get') await ctx.stub.getPrivateData('secrets', 'k');
    else if (op === 'put') await ctx.stub.putPrivateData('secrets', 'k', Buffer.from('v'));
    else await ctx.stub.deletePrivateData('secrets', 'k');
  }

  @Transaction(false)
  async rich(ctx: Context): Promise<number> {
    let n = 0;
    for await (const _ of ctx.stub.getQueryResult('{"selector":{}}')) n++;
    return n;
  }
}

interface Run {
  result: ChaincodeResult;
  results: SimulationResults;
  txId: string;
  json<T>(): T;
}

describe('embedded peer: in-process chaincode through fabric-shim', () => {
  let ca: CertificateAuthority;
  let alice: Identity;
  let conn: ChaincodeConnection;
  let state: MemoryState;
  let block = 0;

  /** Simulates one proposal; commits its writes as the next block when `commit` and status 200. */
  async function run(identity: Identity, args: string[], opts: { commit?: boolean; transient?: Record<string, Buffer> } = {}): Promise<Run> {
    const p = buildProposal({ channel: CHANNEL, chaincode: CC, args, identity, transient: opts.transient });
    const sim = new TxSimulator(state, CC);
    const result = await conn.execute({ channel: CHANNEL, txId: p.txId, signedProposal: p.signedProposal, input: p.input }, sim);
    const results = await sim.results();
    if (opts.commit && result.status === 200) state.apply(CC, results.writes, { blockNum: ++block, txNum: 0 }, p.txId, p.timestamp);
    return { result, results, txId: p.txId, json: <T>() => JSON.parse(result.payload.toString()) as T };
  }

  before(async () => {
    ca = await CertificateAuthority.create('Org1MSP', 'ca.org1');
    alice = await ca.enrol({ enrollmentId: 'alice', role: 'auditor', org: 'org1' });
    state = new MemoryState();
    conn = await ChaincodeConnection.inProcess(loadContractChaincode([KvContract], 'kvtest', '1.0.0'), `${CC}:1.0.0`);
  });

  after(async () => {
    await conn.close();
  });

  test('handshake completed with the registered chaincode id', () => {
    assert.equal(conn.chaincodeId, `${CC}:1.0.0`);
  });

  test('reads see committed state and record the committed version', async () => {
    await run(alice, ['Kv:put', 'k1', 'v1'], { commit: true });
    const r = await run(alice, ['Kv:get', 'k1']);
    assert.equal(r.result.status, 200);
    assert.equal(r.result.payload.toString(), 'v1');
    assert.deepEqual(r.results.reads, [{ key: 'k1', version: { blockNum: block, txNum: 0 } }]);
    assert.deepEqual(r.results.writes, []);

    const missing = await run(alice, ['Kv:get', 'nope']);
    assert.equal(missing.result.payload.toString(), '<absent>');
    assert.deepEqual(missing.results.reads, [{ key: 'nope', version: null }]);
  });

  test('a transaction does not see its own writes; read and write sets are recorded', async () => {
    await run(alice, ['Kv:put', 'own', 'old'], { commit: true });
    const committedAt = block;
    const r = await run(alice, ['Kv:putThenGet', 'own', 'new']);
    assert.equal(r.result.status, 200);
    assert.equal(r.result.payload.toString(), 'old');
    assert.deepEqual(r.results.reads, [{ key: 'own', version: { blockNum: committedAt, txNum: 0 } }]);
    assert.deepEqual(r.results.writes, [{ key: 'own', isDelete: false, value: Buffer.from('new') }]);

    const fresh = await run(alice, ['Kv:putThenGet', 'fresh', 'x']);
    assert.equal(fresh.result.payload.toString(), '<absent>');
    assert.deepEqual(fresh.results.reads, [{ key: 'fresh', version: null }]);
    assert.equal((await state.get(CC, 'fresh')), undefined, 'nothing commits without apply');
  });

  test('deleteState lands in the write set as a delete', async () => {
    const r = await run(alice, ['Kv:remove', 'own'], { commit: true });
    assert.deepEqual(r.results.writes, [{ key: 'own', isDelete: true, value: Buffer.alloc(0) }]);
    assert.equal(await state.get(CC, 'own'), undefined);
  });

  test('range queries page through >100 keys (QUERY_STATE_NEXT) and record range-query info', async () => {
    const writes = Array.from({ length: 250 }, (_, i) => ({ key: `r${String(i).padStart(3, '0')}`, isDelete: false, value: Buffer.from(String(i)) }));
    state.apply(CC, writes, { blockNum: ++block, txNum: 0 }, 'seed-range', new Date());

    // Record the pages the peer answers with (the first with the range, then one per QUERY_STATE_NEXT) to prove the
    // shim really paged.
    const original = peer.QueryResponse.prototype.setResultsList;
    const pages: number[] = [];
    peer.QueryResponse.prototype.setResultsList = function (this: peer.QueryResponse, list: peer.QueryResultBytes[]) {
      pages.push(list.length);
      return original.call(this, list);
    };
    let r: Run;
    try {
      r = await run(alice, ['Kv:range', 'r', 's']);
    } finally {
      peer.QueryResponse.prototype.setResultsList = original;
    }
    assert.equal(r.result.status, 200, r.result.message);
    const keys = r.json<string[]>();
    assert.equal(keys.length, 250);
    assert.equal(keys[0], 'r000=0');
    assert.equal(keys[249], 'r249=249');
    // The last, empty answer is the one to the shim's QUERY_STATE_CLOSE once the iterator is done.
    assert.deepEqual(pages, [100, 100, 50, 0], '250 results come in batches of 100, 100, 50');

    assert.deepEqual(r.results.reads, [], 'range reads go to range-query info, not the read set');
    assert.equal(r.results.rangeQueries.length, 1);
    const rq = r.results.rangeQueries[0];
    assert.equal(rq.startKey, 'r');
    assert.equal(rq.endKey, 's');
    assert.equal(rq.itrExhausted, true);
    assert.equal(rq.reads.length, 250);
    assert.deepEqual(rq.reads[0], { key: 'r000', version: { blockNum: block, txNum: 0 } });
  });

  test('an iterator closed early records only what the peer fetched, ending at the last key', async () => {
    const r = await run(alice, ['Kv:rangeFirst', 'r', 's', '3']);
    assert.equal(r.result.status, 200, r.result.message);
    assert.deepEqual(r.json<string[]>(), ['r000', 'r001', 'r002']);
    const rq = r.results.rangeQueries[0];
    // The peer fetched a batch of 100 plus one look-ahead to set has_more, as Fabric does.
    assert.equal(rq.itrExhausted, false);
    assert.equal(rq.reads.length, 101);
    assert.equal(rq.endKey, 'r100');
  });

  test('a small page size on the connection still returns every key in order', async () => {
    const small = await ChaincodeConnection.inProcess(loadContractChaincode([KvContract], 'kvtest', '1.0.0'), `${CC}:1.0.0`, { pageSize: 7 });
    try {
      const p = buildProposal({ channel: CHANNEL, chaincode: CC, args: ['Kv:range', 'r0', 'r1'], identity: alice });
      const sim = new TxSimulator(state, CC);
      const result = await small.execute({ channel: CHANNEL, txId: p.txId, signedProposal: p.signedProposal, input: p.input }, sim);
      const keys = JSON.parse(result.payload.toString()) as string[];
      assert.deepEqual(keys, Array.from({ length: 100 }, (_, i) => `r${String(i).padStart(3, '0')}=${i}`));
    } finally {
      await small.close();
    }
  });

  test('paginated range queries return a bookmark and continue from it', async () => {
    const first = await run(alice, ['Kv:page', 'r', 's', '10', '']);
    assert.equal(first.result.status, 200, first.result.message);
    const p1 = first.json<{ keys: string[]; bookmark: string; fetched: number }>();
    assert.equal(p1.keys.length, 10);
    assert.equal(p1.fetched, 10);
    assert.equal(p1.bookmark, 'r010');
    assert.equal(first.results.paginated, true);

    const last = await run(alice, ['Kv:page', 'r', 's', '10', 'r245']);
    const p2 = last.json<{ keys: string[]; bookmark: string }>();
    assert.deepEqual(p2.keys, ['r245', 'r246', 'r247', 'r248', 'r249']);
    assert.equal(p2.bookmark, '');
  });

  test('partial composite-key queries stay within their object type, in UTF-8 byte order', async () => {
    // '\uffff' sorts after U+10FFFF in UTF-16 but before it in UTF-8 (LevelDB) order.
    for (const [type, a, b, v] of [
      ['Draft', 'P1', 'D2', 'x'],
      ['Draft', 'P1', 'D1', 'y'],
      ['Draft', 'P2', '\uffff', 'z'],
      ['Draft', 'P2', '\u{1F600}', 'w'],
      ['Draftx', 'P1', 'D1', 'other type'],
      ['Project', 'P1', 'D1', 'other type'],
    ]) {
      await run(alice, ['Kv:putComposite', type, a, b, v], { commit: true });
    }
    assert.deepEqual((await run(alice, ['Kv:byPartialKey', 'Draft', 'P1'])).json(), ['P1/D1=y', 'P1/D2=x']);
    assert.deepEqual((await run(alice, ['Kv:byPartialKey', 'Draft', ''])).json(), ['P1/D1=y', 'P1/D2=x', 'P2/\uffff=z', 'P2/\u{1F600}=w']);
    // Composite keys never show up in a plain range query (the shim starts those at \x01).
    assert.ok((await run(alice, ['Kv:range', '', ''])).json<string[]>().every((k) => !k.startsWith('\u0000')));
  });

  test('history comes back newest first with tx ids and deletes', async () => {
    const a = await run(alice, ['Kv:put', 'h', 'one'], { commit: true });
    const b = await run(alice, ['Kv:put', 'h', 'two'], { commit: true });
    const c = await run(alice, ['Kv:remove', 'h'], { commit: true });
    const r = await run(alice, ['Kv:history', 'h']);
    assert.equal(r.result.status, 200, r.result.message);
    assert.deepEqual(r.json(), [
      { txId: c.txId, value: '', isDelete: true },
      { txId: b.txId, value: 'two', isDelete: false },
      { txId: a.txId, value: 'one', isDelete: false },
    ]);
    assert.deepEqual(r.results.reads, [], 'history is not part of the read set');
  });

  test('the chaincode event travels in the COMPLETED message', async () => {
    const r = await run(alice, ['Kv:emit', 'Thing.Happened', '{"n":1}']);
    assert.equal(r.result.status, 200);
    assert.deepEqual(r.result.event, { name: 'Thing.Happened', payload: Buffer.from('{"n":1}') });
    const none = await run(alice, ['Kv:obj']);
    assert.equal(none.result.event, undefined);
  });

  test('the JSON serializer encodes object results', async () => {
    const r = await run(alice, ['Kv:obj']);
    assert.equal(r.result.status, 200);
    assert.deepEqual(r.json(), { a: 1 });
  });

  test('a thrown error is status 500 with the contract message (writes are the caller’s to discard)', async () => {
    const r = await run(alice, ['Kv:fail', 'project is not approved'], { commit: true });
    assert.equal(r.result.status, 500);
    assert.equal(r.result.message, 'project is not approved');
    assert.equal(await state.get(CC, 'never'), undefined);
    const unknown = await run(alice, ['Kv:doesNotExist']);
    assert.equal(unknown.result.status, 500);
    assert.match(unknown.result.message, /doesNotExist/);
  });

  test('private data is refused with the error a peer sends, and nothing is written', async () => {
    for (const [op, type] of [['get', 'GET_STATE'], ['put', 'PUT_STATE'], ['delete', 'DEL_STATE']]) {
      const r = await run(alice, ['Kv:privateData', op]);
      assert.equal(r.result.status, 500, op);
      assert.equal(r.result.message, `${type} failed: transaction ID: ${r.txId}: private data collection "secrets" is not supported by the embedded peer`);
      assert.deepEqual([r.results.reads, r.results.writes], [[], []]);
    }
  });

  test('rich queries are refused like a LevelDB peer does', async () => {
    const r = await run(alice, ['Kv:rich']);
    assert.equal(r.result.status, 500);
    assert.ok(r.result.message.includes(RICH_QUERY_UNSUPPORTED), r.result.message);
  });

  test('the caller’s certificate attributes, MSP, txId, timestamp and transient data reach the contract', async () => {
    const bob = await ca.enrol({ enrollmentId: 'bob', role: 'countyFinance', org: 'county-7' });
    const r = await run(bob, ['Kv:whoami'], { transient: { secret: Buffer.from('s3cret') } });
    assert.equal(r.result.status, 200, r.result.message);
    const who = r.json<Record<string, string>>();
    assert.equal(who.mspId, 'Org1MSP');
    assert.equal(who.role, 'countyFinance');
    assert.equal(who.org, 'county-7');
    assert.equal(who.enrollmentId, 'bob');
    assert.equal(who.id, 'x509::/O=county-7/OU=countyFinance/CN=bob::/O=Org1MSP/CN=ca.org1');
    assert.equal(who.txId, r.txId);
    assert.equal(who.channel, CHANNEL);
    assert.ok(Math.abs(Date.parse(who.timestamp) - Date.now()) < 60_000);
    assert.equal(who.secret, 's3cret');
  });

  test('INIT goes through the same dispatch', async () => {
    const p = buildProposal({ channel: CHANNEL, chaincode: CC, args: ['Kv:obj'], identity: alice });
    const sim = new TxSimulator(state, CC);
    const result = await conn.execute({ channel: CHANNEL, txId: p.txId, signedProposal: p.signedProposal, input: p.input }, sim, { isInit: true });
    assert.equal(result.status, 200);
    assert.deepEqual(JSON.parse(result.payload.toString()), { a: 1 });
  });

  test('many transactions run concurrently on one connection, each with its own sets', async () => {
    const runs = await Promise.all(Array.from({ length: 40 }, (_, i) => run(alice, ['Kv:putThenGet', `c${i}`, `v${i}`])));
    runs.forEach((r, i) => {
      assert.equal(r.result.status, 200);
      assert.deepEqual(r.results.writes, [{ key: `c${i}`, isDelete: false, value: Buffer.from(`v${i}`) }]);
      assert.deepEqual(r.results.reads, [{ key: `c${i}`, version: null }]);
    });
  });

  test('a txId already executing is refused, as on a peer', async () => {
    const p = buildProposal({ channel: CHANNEL, chaincode: CC, args: ['Kv:obj'], identity: alice });
    const req = { channel: CHANNEL, txId: p.txId, signedProposal: p.signedProposal, input: p.input };
    const first = conn.execute(req, new TxSimulator(state, CC));
    await assert.rejects(conn.execute(req, new TxSimulator(state, CC)), /exists/);
    assert.equal((await first).status, 200);
  });
});
