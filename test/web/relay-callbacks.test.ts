/**
 * The relay's asynchronous answers (thesis 4.3.2): a bank sends its record with "Prefer: respond-async" and gets the
 * digest at once; the commit settles the request, its result is posted to the bank's webhook, retried with back-off
 * while the receiver is down and delivered once when it is up; the pages' event stream carries the same; requests a
 * stopped platform left pending are settled from the chain at the next start.
 */
import './quiet';
import * as http from 'node:http';
import mongoose from 'mongoose';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Draft } from '@fund/chaincode/dist/draft/draft';
import { DraftView, ProjectView } from '@fund/app/dist/models/projections';
import { ApiClient, AuditEntry, RelayRequest } from '@fund/app/dist/models/activity';
import { User } from '@fund/app/dist/models/user';
import { tokenHash } from '@fund/app/dist/services/secrets';
import { WebClient, formError, startTestPlatform, waitFor, type TestPlatform } from '../support/platform';


/** A bank's webhook receiver that can be "down" (503) or "up" (200), recording every post. */
function receiver() {
  const posts: Array<{ digest: string; body: { digest: string; state: string; blockNumber?: number }; answered: number }> = [];
  let up = false;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const answered = up ? 200 : 503;
      posts.push({ digest: String(req.headers['x-relay-digest']), body: JSON.parse(body), answered });
      res.writeHead(answered).end();
    });
  });
  return {
    posts,
    setUp: (value: boolean) => (up = value),
    listen: () => new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/fund-callback`))),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('relay: asynchronous answers and callbacks', () => {
  let p: TestPlatform;
  const hook = receiver();
  const token = 'T'.repeat(40);
  let callbackUrl = '';

  before(async () => {
    p = await startTestPlatform({ demo: true, env: { RELAY_CALLBACK_RETRY_MS: '100' } });
    await p.settled();
    callbackUrl = await hook.listen();
    const bank = await User.findOne({ username: 'bank' }).lean();
    await ApiClient.create({ bankId: 'BANK-GZ', tokenHash: tokenHash(token), userId: String(bank!._id), label: '回调测试' });
  });

  after(async () => {
    await p?.stop();
    await hook.close();
  });

  const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(new URL(path, p.url), { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });

  test('the bank registers its webhook; a bad address is refused', async () => {
    const bad = await api('POST', '/api/bank/callback', { url: 'ftp://bank.example/x' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /http/);
    const ok = await api('POST', '/api/bank/callback', { url: callbackUrl });
    assert.equal(ok.status, 200);
    assert.equal((await ApiClient.findOne({ tokenHash: tokenHash(token) }).lean())?.callbackUrl, callbackUrl);
  });

  test('202 with the digest at once; committed later; the callback retried while the receiver is down, then delivered once', async () => {
    const project = await ProjectView.findOne({ county: '雷山县' }).sort({ filedAt: 1 }).lean();
    const draft = (await DraftView.findOne({ projectId: project!._id, source: 'provincialFinance' }).lean())!.doc as Draft;
    const hop = draft.plannedPath[draft.nextHop];
    const serial = 'GZB-ASYNC-0001';
    const payer = await WebClient.loggedIn(p.url, 'provfin');
    await payer.get('/disbursement');
    const registered = await payer.post('/disbursement/register', { serial, draftIds: draft.draftId, stage: hop.stage });
    assert.equal(registered.status, 302, formError(registered.text));

    // The pages' live feed, as the admin's browser would open it.
    const admin = await WebClient.loggedIn(p.url, 'admin');
    const stream = await fetch(new URL('/relay/events', p.url), { headers: { accept: 'text/event-stream', cookie: admin.cookieHeader() } });
    assert.equal(stream.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = stream.body!.getReader();

    const record = { serial, payerAccount: hop.from.accountNo, payeeAccount: hop.to.accountNo, amount: draft.amount, paidAt: new Date(Date.now() - 60_000).toISOString() };
    const sent = await api('POST', '/api/bank/transfers', record, { prefer: 'respond-async' });
    assert.equal(sent.status, 202);
    assert.equal(sent.headers.get('preference-applied'), 'respond-async');
    const accepted = (await sent.json()) as { digest: string; state: string; statusUrl: string };
    assert.match(accepted.digest, /^[0-9a-f]{64}$/);
    assert.equal(accepted.state, 'PENDING');

    const settled = await waitFor('the request to commit', async () => {
      const r = (await (await api('GET', accepted.statusUrl)).json()) as { state: string; blockNumber?: number; result?: { outcome: string } };
      return r.state !== 'PENDING' ? r : undefined;
    });
    assert.equal(settled.state, 'COMMITTED');
    assert.equal(settled.result?.outcome, 'MATCHED');
    assert.equal((await p.running.gateway.getTransaction(p.config.businessChannel, accepted.digest))?.validationCode, 'VALID', 'the digest is the transaction id');

    let seen = '';
    await waitFor('the settled event on the stream', async () => {
      const { value } = await reader.read();
      seen += Buffer.from(value ?? []).toString();
      return seen.includes(`id: ${accepted.digest}`);
    });
    await reader.cancel();

    // Down: refused deliveries, each later than the one before.
    await waitFor('three refused deliveries', () => hook.posts.filter((x) => x.digest === accepted.digest).length >= 3);
    const refused = hook.posts.filter((x) => x.digest === accepted.digest);
    assert.ok(refused.every((x) => x.answered === 503));
    hook.setUp(true);
    await waitFor('the delivery', async () => (await RelayRequest.findById(accepted.digest).lean())?.callback?.state === 'DELIVERED');
    await new Promise((r) => setTimeout(r, 1000));
    const taken = hook.posts.filter((x) => x.digest === accepted.digest && x.answered === 200);
    assert.equal(taken.length, 1, 'delivered once');
    assert.equal(taken[0].body.state, 'COMMITTED');
    assert.equal(taken[0].body.blockNumber, settled.blockNumber);
    const doc = await RelayRequest.findById(accepted.digest).lean();
    assert.equal(doc?.callback?.attempts, refused.length + 1);
    assert.ok(await AuditEntry.exists({ action: 'async:Reconciliation:recordBankTransfer', txId: accepted.digest, ok: true }));
  });

  test('requests left pending by a stopped platform are settled from the chain at the next start, and called back', async () => {
    const committed = (await AuditEntry.findOne({ action: 'Reconciliation:registerSerial', ok: true }).lean())!.txId!;
    const clientId = String((await ApiClient.findOne({ tokenHash: tokenHash(token) }).lean())!._id);
    const old = new Date(Date.now() - 5 * 60_000);
    const lost = 'f'.repeat(64);
    await p.stopPlatform();
    // As a run that stopped between recording the requests and settling them would have left them.
    const direct = await new mongoose.mongo.MongoClient(p.mongoUri).connect();
    try {
      await direct
        .db()
        .collection<{ _id: string }>('relayRequests')
        .insertMany([committed, lost].map((digest) => ({ _id: digest, clientId, fcn: 'Reconciliation:recordBankTransfer', target: 'GZB-CRASH', channel: 'business', state: 'PENDING', createdAt: old, callback: { url: callbackUrl, state: 'NONE', attempts: 0 } })));
    } finally {
      await direct.close();
    }
    await p.startPlatform();
    const byDigest = async (d: string) => RelayRequest.findById(d).lean();
    assert.equal((await byDigest(committed))?.state, 'COMMITTED');
    assert.equal((await byDigest(lost))?.state, 'FAILED');
    assert.equal((await byDigest(lost))?.error?.code, 'LOST');
    await waitFor('both callbacks', () => hook.posts.some((x) => x.digest === lost && x.answered === 200) && hook.posts.some((x) => x.digest === committed && x.answered === 200));
  });
});
