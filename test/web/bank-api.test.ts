/**
 * The bank API end to end: the administrator issues a token on the admin page, a paying unit
 * registers its serial on the disbursement page, and the bank pushes its record of the transfer.
 * A matching record moves the draft (201, MATCHED); the same record again is accepted once
 * (200, no new block); a different record under the same serial is a conflict (409); malformed JSON
 * is a JSON 400; a wrong amount is recorded and reported as MISMATCH; with one set a record before its serial's
 * registration is recorded as waiting (not parked) and matched by it; a revoked token is refused.
 */
import './quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Draft } from '@fund/chaincode/dist/draft/draft';
import { DiscrepancyView, DraftView, ProjectView, TransferView } from '@fund/app/dist/models/projections';
import { ApiClient, RelayRequest } from '@fund/app/dist/models/activity';
import { User } from '@fund/app/dist/models/user';
import { tokenHash } from '@fund/app/dist/services/secrets';
import { WebClient, byId, formError, startTestPlatform, textOf, type TestPlatform } from '../support/platform';

interface ApiError {
  error: { code: string; message: string };
}

describe('bank API with a token from the admin page', () => {
  let p: TestPlatform;
  let admin: WebClient;
  let token = '';
  const api = () => new WebClient(p.url);
  const height = async () => (await p.running.gateway.chainInfo(p.config.businessChannel)).height;

  /** The next hop of a demo draft of the 雷山县 project, by funding source. */
  async function draftOf(source: string) {
    const project = await ProjectView.findOne({ county: '雷山县' }).sort({ filedAt: 1 }).lean();
    const view = await DraftView.findOne({ projectId: project!._id, source }).lean();
    const draft = view!.doc as Draft;
    return { id: draft.draftId, hop: draft.plannedPath[draft.nextHop], amount: draft.amount, projectId: project!._id };
  }

  /** The paying unit registers the serial of its transfer on the disbursement page. */
  async function register(username: string, serial: string, draftId: string, stage: string) {
    const payer = await WebClient.loggedIn(p.url, username);
    await payer.get('/disbursement');
    const res = await payer.post('/disbursement/register', { serial, draftIds: draftId, stage });
    assert.equal(res.status, 302, `registering ${serial} as ${username}: ${res.status} ${formError(res.text)}`);
  }

  before(async () => {
    p = await startTestPlatform({ demo: true });
    await p.settled();
    admin = await WebClient.loggedIn(p.url, 'admin');
  });

  after(async () => {
    await p?.stop();
  });

  test('the administrator issues a token for a bank user; only its hash is stored and it is shown once', async () => {
    const page = await admin.get('/admin/api-clients');
    assert.equal(page.status, 200);
    const bankUser = await User.findOne({ username: 'bank' }).lean();
    assert.ok(page.text.includes(`value="${bankUser!._id}"`), 'the bank user is offered');
    const issued = await admin.post('/admin/api-clients', { userId: String(bankUser!._id), label: '贵州银行核心系统' });
    assert.equal(issued.status, 201, formError(issued.text));
    token = textOf(byId(issued.text, 'api-token'));
    assert.match(token, /^[A-Za-z0-9_-]{32}$/);
    assert.match(textOf(byId(issued.text, 'curl-example')), new RegExp(`Authorization: Bearer ${token}.*/api/bank/transfers|/api/bank/transfers.*Authorization: Bearer ${token}`));
    const stored = await ApiClient.findOne({ label: '贵州银行核心系统' }).lean();
    assert.equal(stored?.bankId, 'BANK-GZ');
    assert.equal(stored?.userId, String(bankUser!._id));
    assert.equal(stored?.tokenHash, tokenHash(token));
    assert.ok(!JSON.stringify(stored).includes(token), 'the token itself is not stored');
    const list = await admin.get('/admin/api-clients');
    assert.ok(!list.text.includes(token), 'the list does not show the token again');
  });

  test('a correct record for a registered serial → 201 MATCHED; the draft moves on', async () => {
    const d = await draftOf('provincialFinance');
    assert.equal(d.hop.from.orgId, 'PROV-FIN');
    const serial = 'GZB-API-0001';
    await register('provfin', serial, d.id, d.hop.stage);
    const before = await height();
    const record = { serial, payerAccount: d.hop.from.accountNo, payeeAccount: d.hop.to.accountNo, amount: d.amount, paidAt: new Date(Date.now() - 60_000).toISOString() };
    const res = await api().api('POST', '/api/bank/transfers', record, token);
    assert.equal(res.status, 201, res.text);
    const body = res.json<{ outcome: string; draftIds: string[]; txId: string; blockNumber: number }>();
    assert.equal(body.outcome, 'MATCHED');
    assert.deepEqual(body.draftIds, [d.id]);
    assert.ok(body.blockNumber >= before, 'written in a new block');
    const transfer = await TransferView.findById(serial).lean();
    assert.equal(transfer?.status, 'MATCHED');
    const moved = (await DraftView.findById(d.id).lean())!.doc as Draft;
    assert.equal(moved.actualPath.at(-1)?.serial, serial);

    // The same record again: accepted once, nothing new on the chain.
    const heightAfter = await height();
    const again = await api().api('POST', '/api/bank/transfers', record, token);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json<{ idempotent: boolean }>().idempotent, true);
    assert.equal(await height(), heightAfter, 'no new block for a repeated record');

    // A different record under the same serial: a conflict, nothing written.
    const changed = await api().api('POST', '/api/bank/transfers', { ...record, amount: String(BigInt(d.amount) + 1n) }, token);
    assert.equal(changed.status, 409, changed.text);
    assert.equal(changed.json<ApiError>().error.code, 'CONFLICT');
    assert.equal(await height(), heightAfter);

    // The bank can read back what the chain holds for the serial.
    const read = await api().api('GET', `/api/bank/transfers/${serial}`, undefined, token);
    assert.equal(read.status, 200, read.text);
    assert.equal(read.json<{ record: { amount: string } }>().record.amount, d.amount);
  });

  test('malformed JSON and invalid fields are JSON 400s that name the problem; nothing is written', async () => {
    const before = await height();
    const broken = await api().api('POST', '/api/bank/transfers', undefined, token, '{"serial": "GZB-API-0002", ');
    assert.equal(broken.status, 400);
    assert.match(broken.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(broken.json<ApiError>().error.code, 'VALIDATION');
    assert.match(broken.json<ApiError>().error.message, /JSON/);
    const wrong = await api().api('POST', '/api/bank/transfers', { serial: 'x', payerAccount: 12, payeeAccount: '600000000004', amount: '-5', paidAt: 'yesterday', extra: 1 }, token);
    assert.equal(wrong.status, 400);
    const message = wrong.json<ApiError>().error.message;
    for (const field of ['serial', 'payerAccount', 'amount', 'paidAt']) assert.match(message, new RegExp(field), `the message names ${field}: ${message}`);
    assert.equal(await height(), before);
  });

  test('a record with the wrong amount is recorded as MISMATCH and raises a discrepancy; the draft stays', async () => {
    // The provincial draft's second hop (the partnership pays, from an account at this bank): the bank's own draft
    // waits for the county's fiscal share under the fund policy.
    const d = await draftOf('provincialFinance');
    assert.equal(d.hop.from.orgId, 'LP-FUND');
    const serial = 'GZB-API-0003';
    await register('lp', serial, d.id, d.hop.stage);
    const wrongAmount = String(BigInt(d.amount) - 100n);
    const res = await api().api('POST', '/api/bank/transfers', { serial, payerAccount: d.hop.from.accountNo, payeeAccount: d.hop.to.accountNo, amount: wrongAmount, paidAt: new Date(Date.now() - 60_000).toISOString() }, token);
    assert.equal(res.status, 201, res.text);
    const body = res.json<{ outcome: string; problems: Array<{ field: string; expected: string; actual: string }> }>();
    assert.equal(body.outcome, 'MISMATCH');
    assert.deepEqual(
      body.problems.map((pr) => [pr.field, pr.expected, pr.actual]),
      [['amount', d.amount, wrongAmount]],
    );
    assert.equal((await TransferView.findById(serial).lean())?.status, 'MISMATCH');
    assert.equal(await DiscrepancyView.countDocuments({ serial, status: 'OPEN' }), 1);
    const still = (await DraftView.findById(d.id).lean())!.doc as Draft;
    assert.ok(!still.actualPath.some((h) => h.serial === serial), 'the draft did not move');
  });

  test('with one set, a record sent before the serial is registered is recorded on the chain as waiting, not parked; the registration matches it', async () => {
    // The same hop again (its last attempt was the mismatch above): this time the bank's record comes first.
    const d = await draftOf('provincialFinance');
    assert.equal(d.hop.from.orgId, 'LP-FUND');
    const serial = 'GZB-API-0004';
    const before = await height();
    const res = await api().api('POST', '/api/bank/transfers', { serial, payerAccount: d.hop.from.accountNo, payeeAccount: d.hop.to.accountNo, amount: d.amount, paidAt: new Date(Date.now() - 60_000).toISOString() }, token);
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json<{ outcome: string }>().outcome, 'PENDING_REGISTRATION');
    assert.ok((await height()) > before, 'written on the chain');
    assert.equal(await RelayRequest.countDocuments({ state: 'PARKED' }), 0, 'nothing parked');
    await register('lp', serial, d.id, d.hop.stage);
    assert.equal((await TransferView.findById(serial).lean())?.status, 'MATCHED');
  });

  test('a revoked token, or a token of a deactivated user, is refused', async () => {
    const client = await ApiClient.findOne({ tokenHash: tokenHash(token) }).lean();
    const revoke = await admin.post(`/admin/api-clients/${client!._id}/revoke`, { confirm: String(client!._id) });
    assert.equal(revoke.status, 302, formError(revoke.text));
    const refused = await api().api('GET', '/api/bank/transfers/GZB-API-0001', undefined, token);
    assert.equal(refused.status, 401);
    assert.equal(refused.json<ApiError>().error.code, 'UNAUTHENTICATED');

    // A fresh token for bank2, whose user is then deactivated.
    const bank2 = await User.findOne({ username: 'bank2' }).lean();
    const issued = await admin.post('/admin/api-clients', { userId: String(bank2!._id), label: '农信社系统' });
    const second = textOf(byId(issued.text, 'api-token'));
    assert.equal((await api().api('GET', '/api/bank/transfers/GZB-API-0001', undefined, second)).status !== 401, true, 'the new token works');
    const off = await admin.post(`/admin/users/${bank2!._id}/active`, { active: 'false' });
    assert.equal(off.status, 302, formError(off.text));
    assert.equal((await api().api('GET', '/api/bank/transfers/GZB-API-0001', undefined, second)).status, 401);
  });
});
