/**
 * Bank integration API (machine to machine, README "Bank API"): a bank pushes its own record of each
 * transfer; the chain reconciles it at once. Authenticated per bank by a bearer token the
 * administrator issues; idempotent on the serial (the same record sent twice is accepted once, a
 * different record under a used serial is a conflict); every error is JSON with a code and a message. With more
 * than one set, a record whose serial no set holds yet is parked until the paying unit registers it (202 PARKED).
 */
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import type { CheckResult } from '@fund/chaincode/dist/reconciliation/reconciliation';
import { ApiClient, RelayRequest } from '../models/activity';
import { User } from '../models/user';
import { tokenHash } from '../services/secrets';
import { ChainError } from '../services/chain';
import { platformOf } from '../platform';
import { isLang, translator } from '../i18n';
import type { RouteSpec } from './route';
import { act, audit } from './act';

/** Documented for the route × role test: token-authenticated, not a session route. */
export const API_ROUTES: RouteSpec[] = [
  { method: 'POST', path: '/api/bank/transfers', access: ['bank'] },
  { method: 'GET', path: '/api/bank/transfers/:serial', access: ['bank'] },
  { method: 'POST', path: '/api/bank/callback', access: ['bank'] },
  { method: 'GET', path: '/api/bank/requests/:digest', access: ['bank'] },
];

const callbackSchema = z.strictObject({
  url: z
    .string('url must be a string')
    .max(500, 'url must be at most 500 characters')
    .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), 'url must be an http:// or https:// address')
    .nullable(),
});

const recordSchema = z.strictObject({
  serial: z.string('serial must be a string').regex(/^[A-Za-z0-9-]{6,40}$/, 'serial must be 6–40 letters, digits or "-"'),
  payerAccount: z.string('payerAccount must be a string').regex(/^[0-9]{6,32}$/, 'payerAccount must be 6–32 digits'),
  payeeAccount: z.string('payeeAccount must be a string').regex(/^[0-9]{6,32}$/, 'payeeAccount must be 6–32 digits'),
  amount: z.string('amount must be a string of whole fen, e.g. "1250000" for 12,500.00 yuan').regex(/^[1-9][0-9]{0,17}$/, 'amount must be a positive whole number of fen, as a string'),
  paidAt: z.iso.datetime({ offset: true, message: 'paidAt must be an ISO-8601 time, e.g. 2026-11-20T10:15:00+08:00' }),
});

const ACTION = 'api:recordBankTransfer';
const STATUS_OF: Record<string, number> = { VALIDATION: 400, AUTHORISATION: 403, NOT_FOUND: 404, CONFLICT: 409, STATE: 409, MVCC: 409, LEDGER: 503 };

function fail(res: Response, status: number, code: string, message: string) {
  res.status(status).json({ error: { code, message } });
}

/**
 * 接入准入 (thesis 4.3.3.2 (1)): a caller's address must be on the routing chain's whitelist, checked by the relay
 * before the token; a refusal is answered 403 and written to the audit log.
 */
async function admission(req: Request, res: Response, next: NextFunction) {
  const address = req.socket.remoteAddress ?? '';
  try {
    platformOf(req).chain.relay.admit(address);
  } catch (err) {
    await audit(req, 'relay:refused', `${req.method} ${req.path}`, false, (err as Error).message);
    return fail(res, 403, 'NOT_ADMITTED', (err as Error).message);
  }
  next();
}

async function authenticate(req: Request, res: Response, next: NextFunction) {
  const header = req.get('authorization') ?? '';
  const token = /^Bearer ([A-Za-z0-9_-]{20,200})$/.exec(header)?.[1];
  const client = token ? await ApiClient.findOne({ tokenHash: tokenHash(token), active: true }).lean() : null;
  const user = client ? await User.findById(client.userId) : null;
  if (!client || !user?.active || user.role !== 'bank' || user.orgId !== client.bankId) {
    return fail(res, 401, 'UNAUTHENTICATED', 'send "Authorization: Bearer <token>" with a token the platform administrator issued to your bank');
  }
  req.user = user;
  res.locals.apiClient = client;
  next();
}

/** "Prefer: respond-async" (RFC 7240): answer 202 with the digest, and the result by callback. */
const wantsAsync = (req: Request) => /(^|[,\s])respond-async([,;\s]|$)/i.test(req.get('prefer') ?? '');

export function register(router: Router): void {
  // Parsed here, so a malformed or oversized body reaches this router's JSON error handler below.
  router.use(express.json({ limit: '256kb' }));
  router.use('/bank', admission, authenticate);

  router.post('/bank/transfers', async (req, res) => {
    const parsed = recordSchema.safeParse(req.body);
    if (!parsed.success) return fail(res, 400, 'VALIDATION', parsed.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ` : '') + i.message).join('; '));
    const record = { ...parsed.data, paidAt: new Date(parsed.data.paidAt).toISOString() };
    const { chain } = platformOf(req);
    try {
      // The chain decides whether this is a repeat (ALREADY_RECORDED) or a conflicting record (CONFLICT);
      // a dry run first means a repeat is answered without ordering a transaction.
      const verdict = await chain.evaluate<CheckResult>(req.user!, 'Reconciliation:recordBankTransfer', JSON.stringify(record)).catch(async (err: unknown) => {
        await audit(req, ACTION, record.serial, false, ChainError.from(err).message);
        throw err;
      });
      if (verdict.outcome === 'ALREADY_RECORDED') return res.status(200).json({ serial: record.serial, idempotent: true, outcome: verdict.outcome });
      const client = res.locals.apiClient as { _id: unknown; callbackUrl?: string | null };
      const call = {
        user: req.user!,
        ip: req.ip,
        clientId: String(client._id),
        callbackUrl: client.callbackUrl ?? undefined,
        fcn: 'Reconciliation:recordBankTransfer',
        args: [JSON.stringify(record)],
        target: record.serial,
      };
      // No set can take it before the serial is registered (more than one set): kept, and answered asynchronously.
      const parked = await platformOf(req).parked.parkIfUnrouted(call);
      if (parked) {
        const lang = isLang(req.user!.lang) ? req.user!.lang : platformOf(req).config.defaultLang;
        if (wantsAsync(req)) res.setHeader('Preference-Applied', 'respond-async');
        return res.status(202).json({
          serial: record.serial,
          digest: parked.digest,
          state: parked.state,
          ...(parked.repeated ? { idempotent: true } : {}),
          parkedAt: parked.parkedAt,
          reason: translator(lang)('api.parked', { serial: record.serial, sets: platformOf(req).chain.relay.setChannels.length }),
          statusUrl: `/api/bank/requests/${parked.digest}`,
          callback: client.callbackUrl ?? null,
        });
      }
      if (wantsAsync(req)) {
        const digest = await platformOf(req).requests.submit(call);
        res.setHeader('Preference-Applied', 'respond-async');
        return res.status(202).json({ serial: record.serial, digest, state: 'PENDING', statusUrl: `/api/bank/requests/${digest}`, callback: client.callbackUrl ?? null });
      }
      const done = await act(req, ACTION, record.serial, () => chain.submit<CheckResult>(req.user!, 'Reconciliation:recordBankTransfer', JSON.stringify(record)));
      res.status(201).json({ serial: record.serial, outcome: done.result.outcome, draftIds: done.result.draftIds, problems: done.result.problems ?? [], txId: done.txId, blockNumber: done.blockNumber });
    } catch (err) {
      const e = ChainError.from(err);
      // Committed, then the platform's own database failed (controllers/act.ts): the record stands, and the bank is told so.
      const committed = res.locals.committed as { block: number; txId: string } | undefined;
      if (committed) return fail(res, 500, 'INTERNAL', `recorded in block ${committed.block} (transaction ${committed.txId}), but the platform failed afterwards (${e.message}); the same record sent again is answered as already recorded`);
      fail(res, STATUS_OF[e.code] ?? 500, e.code, e.message);
    }
  });

  router.get('/bank/transfers/:serial', async (req, res) => {
    const serial = String(req.params.serial);
    if (!/^[A-Za-z0-9-]{6,40}$/.test(serial)) return fail(res, 400, 'VALIDATION', 'serial must be 6–40 letters, digits or "-"');
    try {
      res.json(await platformOf(req).chain.evaluate(req.user!, 'Reconciliation:getSerial', serial));
    } catch (err) {
      const e = ChainError.from(err);
      // On no chain, but this client's record of it is parked: say where to follow it.
      const parked = e.code === 'NOT_FOUND' ? await RelayRequest.findOne({ target: serial, state: 'PARKED', clientId: String((res.locals.apiClient as { _id: unknown })._id) }).select('_id').lean() : null;
      if (parked) return fail(res, 404, 'NOT_FOUND', `serial ${serial} is on no chain yet: your record of it is parked as request ${parked._id} (/api/bank/requests/${parked._id}) until the paying unit registers the serial`);
      fail(res, STATUS_OF[e.code] ?? 500, e.code, e.message);
    }
  });

  // The webhook the relay posts asynchronous results to (null removes it).
  router.post('/bank/callback', async (req, res) => {
    const parsed = callbackSchema.safeParse(req.body);
    if (!parsed.success) return fail(res, 400, 'VALIDATION', parsed.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ` : '') + i.message).join('; '));
    const client = res.locals.apiClient as { _id: unknown };
    await ApiClient.updateOne({ _id: client._id }, parsed.data.url ? { $set: { callbackUrl: parsed.data.url } } : { $unset: { callbackUrl: 1 } });
    await audit(req, 'api:callback', parsed.data.url ?? '(removed)');
    res.json({ callback: parsed.data.url });
  });

  router.get('/bank/requests/:digest', async (req, res) => {
    const digest = String(req.params.digest);
    if (!/^[0-9a-f]{64}$/.test(digest)) return fail(res, 400, 'VALIDATION', 'digest must be the 64 hexadecimal digits the relay answered with');
    const found = await platformOf(req).requests.get(digest, String((res.locals.apiClient as { _id: unknown })._id));
    if (!found) return fail(res, 404, 'NOT_FOUND', `no request ${digest} of this client`);
    res.json(found);
  });

  router.use((req, res) => fail(res, 404, 'NOT_FOUND', `no API route ${req.method} ${req.path}`));
  // Malformed JSON and other errors stay JSON.
  router.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    void _next;
    if (err.type === 'entity.parse.failed') return fail(res, 400, 'VALIDATION', 'the body is not valid JSON');
    if (err.type === 'entity.too.large') return fail(res, 413, 'TOO_LARGE', 'the body is larger than 256 kB');
    console.error(err);
    fail(res, 500, 'INTERNAL', 'internal error; nothing was recorded');
  });
}
