/**
 * Parked bank records over two sets: a bank record whose serial no set holds yet is answered 202 PARKED (not 404) and
 * written on no chain; when the paying unit registers the serial — through the platform, or on the set behind the
 * relay's back — the record is sent to that set once and reconciled there, and the bank's webhook gets the result
 * once, under the digest it was given; a parked record survives a restart and is sent by the start-up look at the
 * sets; one parked too long is an alert in the monitoring centre; a bad record is still refused at once.
 */
import './quiet';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Draft } from '@fund/chaincode/dist/draft/draft';
import { ApiClient, AuditEntry, RelayRequest } from '@fund/app/dist/models/activity';
import { User } from '@fund/app/dist/models/user';
import { tokenHash } from '@fund/app/dist/services/secrets';
import { DEMO_TOWNS, demoProject } from '@fund/app/dist/services/demo';
import { WebClient, formError, startTestPlatform, waitFor, type TestPlatform } from '../support/platform';

interface Answer {
  serial: string;
  digest: string;
  state: string;
  reason?: string;
  statusUrl: string;
  idempotent?: boolean;
  error?: { code: string; message: string };
}

interface RequestState {
  digest: string;
  state: string;
  channel?: string;
  txId?: string;
  parkedAt?: string;
  result?: { outcome: string; draftIds: string[] };
}


/** A bank's webhook receiver that takes every post. */
function receiver() {
  const posts: Array<{ digest: string; body: RequestState }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      posts.push({ digest: String(req.headers['x-relay-digest']), body: JSON.parse(body) as RequestState });
      res.writeHead(200).end();
    });
  });
  return {
    posts,
    listen: () => new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/fund-callback`))),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('relay over two sets: bank records parked until their serial is registered', () => {
  let p: TestPlatform;
  const hook = receiver();
  const tokens = { bank: 'P'.repeat(40), bank2: 'Q'.repeat(40) };
  let projectId = '';
  const heights = async () => Promise.all(p.running.gateway.channels().map(async (c) => (await p.running.gateway.chainInfo(c)).height));
  const relay = () => p.running.platform.chain.relay;

  const api = async (bank: keyof typeof tokens, method: string, path: string, body?: unknown) => {
    const res = await fetch(new URL(path, p.url), { method, headers: { authorization: `Bearer ${tokens[bank]}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Answer & RequestState };
  };

  /** The next hop of the test project's draft from `source`, as the bank records it. */
  async function dueHop(source: string) {
    const drafts = await p.running.platform.chain.evaluate<Array<Draft & { heldBack: string | null }>>(p.running.platform.system, 'Draft:listByProject', projectId);
    const draft = drafts.find((d) => d.source === source)!;
    assert.equal(draft.heldBack, null, `the ${source} draft's next hop is due`);
    const hop = draft.plannedPath[draft.nextHop];
    const record = (serial: string) => ({ serial, payerAccount: hop.from.accountNo, payeeAccount: hop.to.accountNo, amount: hop.amount ?? draft.amount, paidAt: new Date(Date.now() - 60_000).toISOString() });
    return { draft, hop, record };
  }

  async function register(username: string, serial: string, draftId: string, stage: string) {
    const payer = await WebClient.loggedIn(p.url, username);
    await payer.get('/disbursement');
    const res = await payer.post('/disbursement/register', { serial, draftIds: draftId, stage });
    assert.equal(res.status, 302, `registering ${serial} as ${username}: ${formError(res.text)}`);
  }

  const callbacksOf = (digest: string) => hook.posts.filter((x) => x.digest === digest);

  before(async () => {
    // Set 1 takes 15 of the demo's 21 projects; set 2 the rest and the one filed here.
    p = await startTestPlatform({ demo: true, env: { LEDGER_SETS: '2', SET_MAX_NUM: '15', SET_WARN_NUM: '12', RELAY_CALLBACK_RETRY_MS: '100' } });
    await p.settled();
    const callbackUrl = await hook.listen();
    for (const username of ['bank', 'bank2'] as const) {
      const user = (await User.findOne({ username }).lean())!;
      await ApiClient.create({ bankId: user.orgId, tokenHash: tokenHash(tokens[username]), userId: String(user._id), label: `${username} 暂存测试`, callbackUrl });
    }
    // A 雷山县 project on set 2, approved: its fiscal drafts' first hops are due.
    const { chain } = p.running.platform;
    const ls = DEMO_TOWNS.findIndex((t) => t.code === 'LS');
    const filed = await chain.submit<{ id: string }>((await User.findOne({ username: 'county' }))!, 'Project:file', JSON.stringify(demoProject(ls + 2 * DEMO_TOWNS.length)));
    projectId = filed.result.id;
    assert.equal(filed.channel, 'business2');
    const day = 86400_000;
    const deadlines = { toPartnership: new Date(Date.now() + 10 * day).toISOString(), toCountyFund: new Date(Date.now() + 20 * day).toISOString(), toUnit: new Date(Date.now() + 30 * day).toISOString() };
    await chain.approve((await User.findOne({ username: 'lgo' }))!, projectId, '同意立项，按计划拨付。', { deadlines });
  });

  after(async () => {
    await p?.stop();
    await hook.close();
  });

  test('a record for a serial no set holds is answered 202 PARKED with its reason; nothing is written on any chain', async () => {
    const record = (await dueHop('provincialFinance')).record('GZB-PARK-0001');
    const before = await heights();
    const sent = await api('bank', 'POST', '/api/bank/transfers', record);
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    assert.equal(sent.body.state, 'PARKED');
    assert.match(sent.body.digest, /^[0-9a-f]{64}$/);
    assert.match(sent.body.reason ?? '', /GZB-PARK-0001.*2/, 'the reason names the serial and the sets');
    assert.equal(sent.body.statusUrl, `/api/bank/requests/${sent.body.digest}`);
    assert.deepEqual(await heights(), before, 'no block on any channel');

    const state = await api('bank', 'GET', sent.body.statusUrl);
    assert.equal(state.status, 200);
    assert.equal(state.body.state, 'PARKED');
    assert.ok(state.body.parkedAt);
    assert.ok(await AuditEntry.exists({ action: 'parked:Reconciliation:recordBankTransfer', target: 'GZB-PARK-0001', ok: true }));
    const onChain = await api('bank', 'GET', '/api/bank/transfers/GZB-PARK-0001');
    assert.equal(onChain.status, 404);
    assert.match(onChain.body.error?.message ?? '', new RegExp(`parked as request ${sent.body.digest}`));

    // The same record again: the same parked request, not a second one.
    const again = await api('bank', 'POST', '/api/bank/transfers', record);
    assert.equal(again.status, 202);
    assert.equal(again.body.digest, sent.body.digest);
    assert.equal(again.body.idempotent, true);
    assert.equal(await RelayRequest.countDocuments({ target: 'GZB-PARK-0001' }), 1);
    assert.deepEqual(await heights(), before);
  });

  test("the bank clerk's form parks a record the same way, says so on the page, and a bad one is refused there at once", async () => {
    const { hop, draft } = await dueHop('provincialFinance');
    const before = await heights();
    const clerk = await WebClient.loggedIn(p.url, 'bank');
    await clerk.get('/disbursement');
    const paidAt = '2026-01-01T10:00';
    const yuan = (fen: string) => `${BigInt(fen) / 100n}.${String(BigInt(fen) % 100n).padStart(2, '0')}`;
    const form = { serial: 'GZB-PARK-FORM-1', payerAccount: hop.from.accountNo, payeeAccount: hop.to.accountNo, amount: yuan(hop.amount ?? draft.amount), paidAt };
    const sent = await clerk.post('/disbursement/record', form);
    assert.equal(sent.status, 302, formError(sent.text));
    const page = await clerk.get('/disbursement');
    assert.match(page.text, /GZB-PARK-FORM-1[^<]*(暂存|parked)/, 'the page says the record is parked');
    const parked = await RelayRequest.findOne({ target: 'GZB-PARK-FORM-1' }).lean();
    assert.equal(parked?.state, 'PARKED');
    assert.ok(await AuditEntry.exists({ action: 'parked:Reconciliation:recordBankTransfer', target: 'GZB-PARK-FORM-1' }));
    const refused = await clerk.post('/disbursement/record', { ...form, serial: 'GZB-PARK-FORM-2', payerAccount: '699999999999' });
    assert.equal(refused.status, 400);
    assert.match(formError(refused.text), /699999999999/);
    assert.equal(await RelayRequest.countDocuments({ target: 'GZB-PARK-FORM-2' }), 0);
    assert.deepEqual(await heights(), before, 'no block on any channel');
  });

  test('a bad record is still refused at once with a clear error, and nothing is parked', async () => {
    const { record } = await dueHop('provincialFinance');
    const before = await heights();
    const badAmount = await api('bank', 'POST', '/api/bank/transfers', { ...record('GZB-BAD-0001'), amount: '12.50' });
    assert.equal(badAmount.status, 400);
    assert.equal(badAmount.body.error?.code, 'VALIDATION');
    assert.match(badAmount.body.error?.message ?? '', /amount/);
    // The chain's own checks, on set 1's registry: an account nobody holds, an account held at another bank.
    const unknownAccount = await api('bank', 'POST', '/api/bank/transfers', { ...record('GZB-BAD-0002'), payerAccount: '699999999999' });
    assert.equal(unknownAccount.status, 400, JSON.stringify(unknownAccount.body));
    assert.match(unknownAccount.body.error?.message ?? '', /payerAccount: 699999999999 is not a registered account/);
    const otherBank = await api('bank2', 'POST', '/api/bank/transfers', record('GZB-BAD-0003'));
    assert.equal(otherBank.status, 403, JSON.stringify(otherBank.body));
    assert.match(otherBank.body.error?.message ?? '', /held at BANK-GZ/);
    assert.equal(await RelayRequest.countDocuments({ target: /^GZB-BAD-/ }), 0);
    assert.deepEqual(await heights(), before);
  });

  test('the paying unit registers the serial on its project set: the parked record is reconciled there, MATCHED, called back once', async () => {
    const parked = (await RelayRequest.findOne({ target: 'GZB-PARK-0001' }).lean())!;
    const { draft, hop } = await dueHop('provincialFinance');
    assert.equal(hop.from.orgId, 'PROV-FIN');
    await register('provfin', 'GZB-PARK-0001', draft.draftId, hop.stage);

    const settled = await waitFor('the parked record to be reconciled', async () => {
      const r = await api('bank', 'GET', `/api/bank/requests/${parked._id}`);
      return r.body.state === 'COMMITTED' || r.body.state === 'FAILED' ? r.body : undefined;
    });
    assert.equal(settled.state, 'COMMITTED', JSON.stringify(settled));
    assert.equal(settled.result?.outcome, 'MATCHED');
    assert.deepEqual(settled.result?.draftIds, [draft.draftId]);
    assert.equal(settled.channel, 'business2');
    assert.match(settled.txId ?? '', /^[0-9a-f]{64}$/);
    assert.notEqual(settled.txId, parked._id, 'the bank keeps its digest; the transaction has its own id');
    assert.equal((await p.running.gateway.getTransaction('business2', settled.txId!))?.validationCode, 'VALID');
    assert.equal(await p.running.gateway.getTransaction('business', settled.txId!), undefined, 'not on set 1');
    const onSet = await p.running.gateway.evaluate(await p.running.platform.chain.identityOf(p.running.platform.system), { channel: 'business2', fcn: 'Reconciliation:getSerial', args: ['GZB-PARK-0001'] });
    assert.equal((JSON.parse(onSet.toString()) as { record: { status: string } }).record.status, 'MATCHED');

    await waitFor('the callback', () => callbacksOf(parked._id).length > 0);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(callbacksOf(parked._id).length, 1, 'called back once');
    assert.equal(callbacksOf(parked._id)[0].body.state, 'COMMITTED');
    assert.equal(callbacksOf(parked._id)[0].body.result?.outcome, 'MATCHED');
    assert.ok(await AuditEntry.exists({ action: 'async:Reconciliation:recordBankTransfer', target: 'GZB-PARK-0001', ok: true, txId: settled.txId }));
  });

  test('a serial registered on its set behind the relay (a set event) sends the parked record there', async () => {
    // The provincial draft's next hop: the partnership pays, from an account at 贵州银行.
    const { draft, hop, record } = await dueHop('provincialFinance');
    assert.equal(hop.from.orgId, 'LP-FUND');
    const sent = await api('bank', 'POST', '/api/bank/transfers', record('GZB-PARK-0002'));
    assert.equal(sent.status, 202);
    assert.equal(sent.body.state, 'PARKED');
    const lp = await p.running.platform.chain.identityOf((await User.findOne({ username: 'lp' }))!);
    await p.running.gateway.submit(lp, { channel: 'business2', fcn: 'Reconciliation:registerSerial', args: [JSON.stringify({ serial: 'GZB-PARK-0002', draftIds: [draft.draftId], stage: hop.stage })] });
    const settled = await waitFor('the parked record to be reconciled', async () => {
      const r = await api('bank', 'GET', sent.body.statusUrl);
      return r.body.state !== 'PARKED' && r.body.state !== 'PENDING' ? r.body : undefined;
    });
    assert.equal(settled.state, 'COMMITTED');
    assert.equal(settled.result?.outcome, 'MATCHED');
    assert.equal(settled.channel, 'business2');
    await waitFor('the callback', () => callbacksOf(sent.body.digest).length > 0);
  });

  test('a record parked longer than the unmatched threshold is an alert in the monitoring centre', async () => {
    const { record } = await dueHop('countyFinance');
    const sent = await api('bank2', 'POST', '/api/bank/transfers', record('RCC-PARK-0009'));
    assert.equal(sent.status, 202);
    const admin = await WebClient.loggedIn(p.url, 'admin');
    const fresh = await admin.get('/monitoring?kind=parked');
    assert.equal(fresh.status, 200);
    assert.doesNotMatch(fresh.text, /RCC-PARK-0009/, 'not yet past the threshold (48 hours)');
    const old = new Date(Date.now() - 49 * 3600_000);
    await RelayRequest.updateOne({ _id: sent.body.digest }, { $set: { 'parked.at': old, createdAt: old } });
    const page = await admin.get('/monitoring?kind=parked');
    assert.match(page.text, /data-kind="parked" data-ref="RCC-PARK-0009"/);
    assert.match(page.text, /贵州省农村信用社 推送的流水 RCC-PARK-0009/, 'names the bank');
    const lgo = await WebClient.loggedIn(p.url, 'lgo');
    assert.match((await lgo.get('/monitoring?kind=parked')).text, /RCC-PARK-0009/);
  });

  test('a parked record survives a restart and is sent by the start-up look at the sets', async () => {
    const parked = (await RelayRequest.findOne({ target: 'RCC-PARK-0009' }).lean())!;
    const { draft, hop } = await dueHop('countyFinance');
    assert.equal(hop.from.orgId, 'LS-FIN');
    // As if the platform had been down when the serial was registered: it does not hear of the registration.
    relay().onSerialLocated = undefined;
    await register('countyfin', 'RCC-PARK-0009', draft.draftId, hop.stage);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await RelayRequest.findById(parked._id).lean())?.state, 'PARKED');

    await p.stopPlatform();
    await p.startPlatform();
    const settled = await waitFor('the parked record to be sent after the restart', async () => {
      const r = await api('bank2', 'GET', `/api/bank/requests/${parked._id}`);
      return r.body.state !== 'PARKED' && r.body.state !== 'PENDING' ? r.body : undefined;
    });
    assert.equal(settled.state, 'COMMITTED', JSON.stringify(settled));
    assert.equal(settled.result?.outcome, 'MATCHED');
    assert.equal(settled.channel, 'business2');
    await waitFor('the callback', () => callbacksOf(parked._id).length > 0);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(callbacksOf(parked._id).length, 1, 'called back once');
    const admin = await WebClient.loggedIn(p.url, 'admin');
    assert.doesNotMatch((await admin.get('/monitoring?kind=parked')).text, /RCC-PARK-0009/, 'no longer parked, no longer an alert');
  });
});
