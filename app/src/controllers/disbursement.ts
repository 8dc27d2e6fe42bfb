/**
 * Fund disbursement (资金拨付, thesis 6.6): each paying unit sees the draft hops it must pay and
 * registers the bank serial of its transfer; each bank records the transfers it executed from the
 * accounts it holds. The chain's reconciliation matches the two and moves the drafts.
 */
import type { Request, Response, Router } from 'express';
import type { Draft, Party, PlannedHop, Stage } from '@fund/chaincode/dist/draft/draft';
import type { CheckResult, Problem, TransferClaim, TransferRecord } from '@fund/chaincode/dist/reconciliation/reconciliation';
import { DraftView, OrganisationView, ProjectView, TransferView } from '../models/projections';
import { formatYuan, parseYuan } from '../services/money';
import type { Translate } from '../i18n';
import type { TimeZone } from '../services/time';
import { platformOf, zoneOf } from '../platform';
import { act, flash, FormError, formText, refusal } from './act';
import { PAYERS, route } from './route';
import { translateRefusal } from '../i18n/refusals';

/** Draft statuses with a hop still to pay: a draft paid in tranches has one while it awaits or has partly had acceptance. */
const OPEN = ['ISSUED', 'IN_TRANSIT', 'AWAITING_ACCEPTANCE', 'PARTLY_ACCEPTED'];
/** A serial registered for a hop and awaiting the bank's record. */
const PENDING = 'REGISTERED';
/** Attempts that did not pay the hop, so it is still due. */
const FAILED = ['MISMATCH', 'UNMATCHED'];
/** The chaincode's serial rule (ledger/validation.ts serialNo), checked here for a message per fault. */
const SERIAL_CHARS = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const ACCOUNT = /^[0-9]{6,32}$/;
/** The chain allows this much clock skew for paidAt; refusing later times here gives a clearer message. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const PROJECT_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

/** `?project=` (or the posted `project`) narrows the page to one project's hops and transfers. */
function projectFilter(req: Request): string | undefined {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const value = req.method === 'POST' ? body.project : req.query.project;
  return typeof value === 'string' && PROJECT_ID.test(value) ? value : undefined;
}

/** Where to go after a form: back to the same, possibly narrowed, page. */
function pageUrl(req: Request): string {
  const project = projectFilter(req);
  return project ? `/disbursement?project=${encodeURIComponent(project)}` : '/disbursement';
}

type DraftRow = {
  _id?: string | null;
  projectId?: string | null;
  source?: string | null;
  amount?: string | null;
  nextAmount?: string | null;
  heldBack?: string | null;
  nextStage?: string | null;
  nextDeadline?: Date | null;
  doc?: unknown;
};
type TransferRow = { _id?: string | null; status?: string | null; stage?: string | null; claim?: unknown; record?: unknown; updatedAt?: Date | null };

export interface HopGroup {
  key: string;
  projectId: string;
  stage: Stage;
  from: Party;
  to: Party;
  deadline: Date;
  overdue: boolean;
  /** fen */
  amount: string;
  drafts: Array<{ id: string; source: string; amount: string; pendingSerial?: string; heldBack?: string; tranche?: { n: number; of: number; percent: number; milestone?: string } }>;
  /** Serials registered for this hop and still awaiting the bank (the chain allows one per draft hop). */
  pendingSerials: string[];
  /** The latest failed attempt on this hop (mismatch or left unmatched), so the payer sees why it is still due. */
  lastAttempt?: { serial: string; status: string; problems: string[] };
}

function hopOf(d: DraftRow): PlannedHop | undefined {
  const draft = d.doc as Draft | undefined;
  return draft?.plannedPath[draft.nextHop];
}

/** Group open drafts the way the chain accepts one transfer: one project, one leg, one pair of accounts. */
function groupHops(t: Translate, drafts: DraftRow[], transfers: TransferRow[]): HopGroup[] {
  const groups = new Map<string, HopGroup>();
  const now = Date.now();
  for (const d of drafts) {
    const hop = hopOf(d);
    if (!hop || !d.projectId) continue;
    const seq = (d.doc as Draft).nextHop;
    const key = [d.projectId, hop.stage, hop.from.orgId, hop.from.accountNo, hop.to.orgId, hop.to.accountNo].join('|');
    let g = groups.get(key);
    if (!g) {
      g = { key, projectId: d.projectId, stage: hop.stage, from: hop.from, to: hop.to, deadline: new Date(hop.deadline), overdue: false, amount: '0', drafts: [], pendingSerials: [] };
      groups.set(key, g);
    }
    const onThisHop = transfers.filter((tr) => ((tr.claim as TransferClaim | undefined)?.hops ?? []).some((h) => h.draftId === String(d._id) && h.seq === seq));
    const pending = onThisHop.find((tr) => tr.status === PENDING);
    const failed = onThisHop.filter((tr) => FAILED.includes(tr.status ?? '')).sort((a, b) => +(b.updatedAt ?? 0) - +(a.updatedAt ?? 0))[0];
    // The hop's own amount: a tranche of the draft, or all of it. A hop held back by the chain's rules is shown with the reason.
    const amount = d.nextAmount ?? d.amount ?? '0';
    const heldBack = d.heldBack ? translateRefusal(t, d.heldBack) : undefined;
    g.drafts.push({ id: String(d._id), source: d.source ?? '', amount, pendingSerial: pending?._id ?? undefined, heldBack, tranche: hop.tranche });
    if (!heldBack) g.amount = (BigInt(g.amount) + BigInt(amount)).toString();
    if (new Date(hop.deadline) < g.deadline) g.deadline = new Date(hop.deadline);
    if (pending?._id && !g.pendingSerials.includes(pending._id)) g.pendingSerials.push(pending._id);
    if (failed && !g.lastAttempt) g.lastAttempt = { serial: String(failed._id), status: failed.status!, problems: attemptProblems(t, failed) };
  }
  for (const g of groups.values()) g.overdue = g.deadline.getTime() < now;
  return [...groups.values()].sort((a, b) => +a.deadline - +b.deadline || a.key.localeCompare(b.key));
}

/** Why a registered transfer did not match: its claim against the bank's record, as the chain compares them. */
function attemptProblems(t: Translate, tr: TransferRow): string[] {
  const claim = tr.claim as TransferClaim | undefined;
  const record = tr.record as TransferRecord | undefined;
  if (!claim || !record) return [];
  const problems: Problem[] = [];
  if (record.amount !== claim.expectedAmount) problems.push({ field: 'amount', expected: claim.expectedAmount, actual: record.amount });
  if (record.payerAccount !== claim.from.accountNo) problems.push({ field: 'payerAccount', expected: claim.from.accountNo, actual: record.payerAccount });
  if (record.payeeAccount !== claim.to.accountNo) problems.push({ field: 'payeeAccount', expected: claim.to.accountNo, actual: record.payeeAccount });
  return problems.map((p) => problemText(t, p));
}

/** fen → what a person types in the amount field ("1234.50"). */
function yuanInput(fen: string | null | undefined): string {
  if (!fen || !/^[0-9]+$/.test(fen)) return '';
  const v = BigInt(fen);
  return `${v / 100n}.${(v % 100n).toString().padStart(2, '0')}`;
}


function list(body: Record<string, unknown>, key: string): string[] {
  const v = body[key];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string').map((x) => x.trim());
  return typeof v === 'string' ? [v.trim()] : [];
}

export function parseSerial(t: Translate, input: string): string {
  if (!input) throw new FormError(t('disb.err.serialEmpty'));
  if (input.length > 40) throw new FormError(t('disb.err.serialLong', { n: input.length }));
  if (!SERIAL_CHARS.test(input)) throw new FormError(t('disb.err.serialChars'));
  if (input.length < 6) throw new FormError(t('disb.err.serialShort', { n: input.length }));
  return input;
}

/** A datetime-local value is wall-clock time in the platform's zone; a value with its own zone (Z, +hh:mm) keeps it. */
export function parsePaidAt(t: Translate, zone: TimeZone, input: string): string {
  const at = zone.parse(input);
  if (!at) throw new FormError(t('disb.err.paidAt'));
  if (at.getTime() > Date.now() + CLOCK_SKEW_MS) throw new FormError(t('disb.err.future'));
  return at.toISOString();
}

function problemText(t: Translate, p: Problem): string {
  if (p.field === 'amount') return t('disb.problem.amount', { expected: formatYuan(p.expected), actual: formatYuan(p.actual) });
  if (p.field === 'payerAccount' || p.field === 'payeeAccount') return t(`disb.problem.${p.field}`, { expected: p.expected, actual: p.actual });
  return t('disb.problem.other', { field: p.field, expected: p.expected, actual: p.actual });
}

/** The chain's CheckResult as a flash message in the user's language. */
function flashOutcome(req: Request, res: Response, r: CheckResult): void {
  const t = res.locals.t as Translate;
  const sep = res.locals.lang === 'zh-CN' ? '；' : '; ';
  const text = t(`disb.outcome.${r.outcome}`, {
    serial: r.serial,
    drafts: r.draftIds.join(', '),
    discrepancy: r.discrepancyId ?? '—',
    problems: (r.problems ?? []).map((p) => problemText(t, p)).join(sep),
  });
  const kind = ({ MATCHED: 'success', MATCHED_LATE: 'warning', MISMATCH: 'danger', DUPLICATE_PAYMENT: 'danger' } as const)[r.outcome as string] ?? 'info';
  flash(req, kind, text);
}

/** Drafts listed at most per list, the most urgent first; the rest are reached by narrowing to a project. */
const DRAFTS_SHOWN = 40;

async function mostUrgent(filter: Record<string, unknown>): Promise<{ drafts: DraftRow[]; total: number }> {
  const found = await DraftView.find(filter).sort({ nextDeadline: 1, projectId: 1, _id: 1 }).limit(DRAFTS_SHOWN + 1).lean();
  if (found.length <= DRAFTS_SHOWN) return { drafts: found, total: found.length };
  // Counted only when the list is cut: every query scans the collection on the bundled server.
  const total = await DraftView.countDocuments(filter);
  // The project that runs past the limit is left out whole, so no hop is shown with only some of its drafts.
  const cut = found[DRAFTS_SHOWN].projectId;
  return { drafts: found.slice(0, DRAFTS_SHOWN).filter((d) => d.projectId !== cut), total };
}

interface Posted {
  form?: 'register' | 'record';
  key?: string;
  serial?: string;
  draftIds?: string[];
  record?: Record<string, string>;
}

async function renderPage(req: Request, res: Response, status: number, posted: Posted = {}, error?: string) {
  const user = req.user!;
  const org = user.orgId;
  const project = projectFilter(req);
  const only = project ? { projectId: project } : {};
  const bank = user.role === 'bank';
  // The bundled server scans a collection per query and serialises the queries on one collection, so the
  // queries on drafts, transfers and organisations are started together and only the hop look-up waits.
  const [toPay, toExecute, awaiting, recent, orgs] = await Promise.all([
    mostUrgent({ ...only, nextPayerId: org, status: { $in: OPEN } }),
    // Drafts the user's bank will execute: the paying account of their next hop is held here.
    bank ? mostUrgent({ ...only, nextBankId: org, status: { $in: OPEN } }) : { drafts: [], total: 0 },
    bank ? TransferView.find({ ...only, bankId: org, status: PENDING }).sort({ updatedAt: -1 }).limit(50).lean() : [],
    TransferView.find({ ...only, $or: [{ payerId: org }, { bankId: org }] }).sort({ updatedAt: -1 }).limit(30).lean(),
    OrganisationView.find().select('name').lean(),
  ]);
  const payable = toPay.drafts;
  const held = toExecute.drafts;
  const draftIds = [...new Set([...payable, ...held].map((d) => String(d._id)))];
  // Only a serial awaiting the bank or a failed attempt says anything about a hop still due (groupHops).
  const hopTransfers = draftIds.length ? await TransferView.find({ status: { $in: [PENDING, ...FAILED] }, draftIds: { $in: draftIds } }).select('status stage claim record updatedAt').lean() : [];
  const t = res.locals.t as Translate;
  const groups = groupHops(t, payable, hopTransfers);
  const bankHops = groupHops(t, held, hopTransfers);
  const projectIds = [...new Set([...groups, ...bankHops].map((g) => g.projectId).concat([...awaiting, ...recent].map((tr) => tr.projectId ?? '')))].filter(Boolean);
  const projects = await ProjectView.find({ _id: { $in: projectIds } }).select('name').lean();
  const projectNames = Object.fromEntries(projects.map((p) => [p._id, p.name]));
  const orgNames = Object.fromEntries(orgs.map((o) => [o._id, o.name]));

  // The record form: what was posted, else a prefill from the query (one-click "fill in"), else empty.
  const q = req.query as Record<string, unknown>;
  const fromQuery = (k: string, max: number) => (typeof q[k] === 'string' ? (q[k] as string).slice(0, max) : '');
  const record = posted.record ?? {
    serial: fromQuery('serial', 40),
    payerAccount: fromQuery('payerAccount', 32),
    payeeAccount: fromQuery('payeeAccount', 32),
    amount: fromQuery('amount', 20),
    paidAt: (res.locals.zone as TimeZone).inputValue(new Date()),
  };
  res.status(status).render('disbursement', {
    title: 'nav.disbursement',
    project,
    shown: { toPay: payable.length, toPayTotal: toPay.total, toExecute: held.length, toExecuteTotal: toExecute.total },
    groups,
    bankHops,
    awaiting,
    recent,
    projectNames,
    orgNames,
    posted,
    record,
    error,
    now: new Date(),
    yuanInput,
  });
}

/** Registration input checked against the projections: the drafts exist, are this payer's, travel one hop together. */
async function registration(req: Request, t: Translate, body: Record<string, unknown>) {
  const org = req.user!.orgId;
  const serial = parseSerial(t, formText(body, 'serial'));
  const draftIds = [...new Set(list(body, 'draftIds'))];
  if (draftIds.length === 0) throw new FormError(t('disb.err.noDrafts'));
  if (draftIds.length > 10) throw new FormError(t('disb.err.tooManyDrafts'));
  const stage = formText(body, 'stage');
  const found = await DraftView.find({ _id: { $in: draftIds.filter((id) => /^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$/.test(id)) } }).lean();
  const byId = new Map(found.map((d) => [d._id, d]));
  let first: PlannedHop | undefined;
  let project: string | undefined;
  for (const id of draftIds) {
    const d = byId.get(id);
    if (!d) throw new FormError(t('disb.err.unknownDraft', { draft: id.slice(0, 64) }));
    const hop = hopOf(d);
    if (!hop || d.nextPayerId !== org || !OPEN.includes(d.status ?? '')) throw new FormError(t('disb.err.notYourDraft', { draft: id }));
    if (hop.stage !== stage) throw new FormError(t('disb.err.stage', { draft: id, expected: t(`stage.${hop.stage}`) }));
    if (d.heldBack) throw new FormError(translateRefusal(t, d.heldBack));
    const same = (a: Party, b: Party) => a.orgId === b.orgId && a.accountNo === b.accountNo;
    if (first && (project !== d.projectId || !same(first.from, hop.from) || !same(first.to, hop.to))) throw new FormError(t('disb.err.sameHop'));
    first ??= hop;
    project ??= d.projectId ?? undefined;
    const seq = (d.doc as Draft).nextHop;
    const pending = await TransferView.findOne({ status: PENDING, draftIds: id, 'claim.hops': { $elemMatch: { draftId: id, seq } } }).select('_id').lean();
    if (pending) throw new FormError(t('disb.err.pending', { draft: id, serial: String(pending._id) }));
  }
  // Every hop matched the posted stage, so it is one of STAGES.
  return { serial, draftIds, stage: first!.stage };
}

/** The bank's record, checked before the chain: the paying account must be one this bank holds. */
async function bankRecord(req: Request, t: Translate, body: Record<string, unknown>) {
  const serial = parseSerial(t, formText(body, 'serial'));
  const payerAccount = formText(body, 'payerAccount');
  const payeeAccount = formText(body, 'payeeAccount');
  if (!ACCOUNT.test(payerAccount)) throw new FormError(t('disb.err.account', { field: t('disb.payerAccount') }));
  if (!ACCOUNT.test(payeeAccount)) throw new FormError(t('disb.err.account', { field: t('disb.payeeAccount') }));
  let amount: string;
  try {
    amount = parseYuan('amount', formText(body, 'amount'));
  } catch {
    throw new FormError(t('disb.err.amount'));
  }
  const paidAt = parsePaidAt(t, zoneOf(req), formText(body, 'paidAt'));
  const holds = await OrganisationView.exists({ accounts: { $elemMatch: { accountNo: payerAccount, bankId: req.user!.orgId } } });
  if (!holds) throw new FormError(t('disb.err.notHeld', { account: payerAccount }));
  return { serial, payerAccount, payeeAccount, amount, paidAt };
}

export function register(router: Router): void {
  route(router, 'GET', '/disbursement', PAYERS, async (req, res) => {
    await renderPage(req, res, 200);
  });

  route(router, 'POST', '/disbursement/register', PAYERS, async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const t = res.locals.t as Translate;
    try {
      const input = await registration(req, t, body);
      const { chain } = platformOf(req);
      const done = await act(req, 'Reconciliation:registerSerial', input.serial, () => chain.submit<CheckResult>(req.user!, 'Reconciliation:registerSerial', JSON.stringify(input)));
      flashOutcome(req, res, done.result);
      res.redirect(pageUrl(req));
    } catch (err) {
      await renderPage(req, res, 400, { form: 'register', key: formText(body, 'key'), serial: formText(body, 'serial').slice(0, 60), draftIds: list(body, 'draftIds') }, refusal(res, err));
    }
  });

  route(router, 'POST', '/disbursement/record', ['bank'], async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const t = res.locals.t as Translate;
    try {
      const input = await bankRecord(req, t, body);
      const { chain, parked } = platformOf(req);
      // With more than one set, a record whose serial no set holds yet is parked as the bank API parks it, after the
      // chain's dry run so a bad record is still refused here at once. With one set the submit itself checks it.
      let kept: Awaited<ReturnType<typeof parked.parkIfUnrouted>>;
      if (chain.relay.setChannels.length > 1) {
        await chain.evaluate<CheckResult>(req.user!, 'Reconciliation:recordBankTransfer', JSON.stringify(input));
        kept = await parked.parkIfUnrouted({ user: req.user!, ip: req.ip, fcn: 'Reconciliation:recordBankTransfer', args: [JSON.stringify(input)], target: input.serial });
      }
      if (kept) {
        flash(req, 'info', t('disb.parked', { serial: input.serial, sets: chain.relay.setChannels.length, digest: kept.digest.slice(0, 16) }));
        return res.redirect(pageUrl(req));
      }
      const done = await act(req, 'Reconciliation:recordBankTransfer', input.serial, () => chain.submit<CheckResult>(req.user!, 'Reconciliation:recordBankTransfer', JSON.stringify(input)));
      flashOutcome(req, res, done.result);
      res.redirect(pageUrl(req));
    } catch (err) {
      const record = Object.fromEntries(['serial', 'payerAccount', 'payeeAccount', 'amount', 'paidAt'].map((k) => [k, formText(body, k).slice(0, 60)]));
      await renderPage(req, res, 400, { form: 'record', record }, refusal(res, err));
    }
  });
}
