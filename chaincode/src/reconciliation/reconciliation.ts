import { z } from 'zod';
import { FundContext } from '../ledger/context';
import { badState, conflict, denied, invalid, notFound } from '../ledger/errors';
import { sumFen } from '../ledger/money';
import { INDEX_VALUE } from '../ledger/state';
import { accountNo, fen, id, instant, serialNo } from '../ledger/validation';
import { Caller } from '../access/caller';
import { accountOwner, getOrganisation } from '../organisation/organisation';
import { Draft, Party, Payee, STAGES, Stage, getDraft, hopAmount, projectDrafts, transferDraft } from '../draft/draft';
import { nextHopHeldBack } from '../draft/release';
import { getProject } from '../project/project';
import { PAYOUT, applyPayout, payoutTally, reservePayout, type PayoutInput } from './payout';

/**
 * Real-time reconciliation (实时对账, thesis 6.3.2). The paying unit registers the bank serial of its
 * transfer for a draft hop; the bank records its own view of the transfer; `checking(serial)` matches
 * the two against the draft. Only a match moves the draft.
 */

export type MatchStatus = 'PENDING' | 'MATCHED' | 'MISMATCHED' | 'UNMATCHED';

/** The paying unit's registration (登记转账流水号) of a transfer for one hop of one or more drafts. */
export interface TransferClaim {
  serial: string;
  projectId: string;
  /** The draft hops the transfer moves; empty for a payout, which moves money out of the unit's account. */
  hops: Array<{ draftId: string; seq: number }>;
  stage: Stage | typeof PAYOUT;
  from: Party;
  to: Party;
  expectedAmount: string;
  /** A payout's purpose, as the unit registered it. */
  purpose?: string;
  deadline: string;
  registeredBy: string;
  registeredAt: string;
  registeredTxId: string;
  status: MatchStatus;
}

/** The bank's own record of the transfer (银行转账流水), pushed by the bank. */
export interface TransferRecord {
  serial: string;
  bankId: string;
  payerAccount: string;
  payeeAccount: string;
  amount: string;
  paidAt: string;
  recordedAt: string;
  recordedTxId: string;
  status: MatchStatus;
}

export interface Problem {
  field: 'amount' | 'payerAccount' | 'payeeAccount' | 'hop' | 'serial';
  expected: string;
  actual: string;
}

export type DiscrepancyKind = 'MISMATCH' | 'DUPLICATE_PAYMENT' | 'UNMATCHED_CLAIM' | 'UNMATCHED_RECORD';

/** A reconciliation difference (对账差异) that stays open until matched by a correct transfer or resolved by hand (平账). */
export interface Discrepancy {
  id: string;
  kind: DiscrepancyKind;
  serial: string;
  projectId?: string;
  hops: Array<{ draftId: string; seq: number }>;
  problems: Problem[];
  status: 'OPEN' | 'RESOLVED';
  raisedAt: string;
  raisedTxId: string;
  resolution?: { kind: 'MANUAL' | 'SUPERSEDED'; reason: string; by: string; at: string; txId: string; serial?: string };
}

export type Outcome = 'PENDING_BANK_RECORD' | 'PENDING_REGISTRATION' | 'MATCHED' | 'MATCHED_LATE' | 'MISMATCH' | 'DUPLICATE_PAYMENT' | 'ALREADY_SETTLED' | 'ALREADY_RECORDED';

export interface CheckResult {
  serial: string;
  outcome: Outcome;
  draftIds: string[];
  discrepancyId?: string;
  problems?: Problem[];
}

const claims = (ctx: FundContext) => ctx.store<TransferClaim>('TransferClaim');
const records = (ctx: FundContext) => ctx.store<TransferRecord>('TransferRecord');
export const discrepancies = (ctx: FundContext) => ctx.store<Discrepancy>('Discrepancy');
/** Pending~kind~serial: the pending set that matching clears and the sweep scans. */
const pending = (ctx: FundContext) => ctx.store<{ since: string }>('Pending');
/** ClaimByHop~draftId~seq~serial: every registration made for a draft hop. */
const claimsByHop = (ctx: FundContext) => ctx.store<object>('ClaimByHop');
/** PayoutByProject~projectId~serial: the payouts registered for a project. */
const payoutsByProject = (ctx: FundContext) => ctx.store<object>('PayoutByProject');
/** OpenByHop~draftId~seq~discrepancyId: open discrepancies a later match on that hop supersedes. */
const openByHop = (ctx: FundContext) => ctx.store<object>('OpenByHop');
/** OpenBySerial~serial~discrepancyId: open discrepancies a later match of that serial supersedes. */
const openBySerial = (ctx: FundContext) => ctx.store<object>('OpenBySerial');

export const registrationSchema = z.strictObject({
  serial: serialNo('serial'),
  draftIds: z
    .array(id('draftId'), 'draftIds must be a list')
    .min(1, 'at least one draft')
    .max(10, 'at most 10 drafts in one transfer')
    .refine((ids) => new Set(ids).size === ids.length, 'a draft is listed twice'),
  stage: z.enum(STAGES, `stage must be one of ${STAGES.join(', ')}`),
});

export const bankRecordSchema = z.strictObject({
  serial: serialNo('serial'),
  payerAccount: accountNo('payerAccount'),
  payeeAccount: accountNo('payeeAccount'),
  amount: fen('amount'),
  paidAt: instant('paidAt'),
});

const CLOCK_SKEW_MS = 5 * 60 * 1000;

function sameParty(a: Party, b: Party): boolean {
  return a.orgId === b.orgId && a.accountNo === b.accountNo;
}

/** A registration awaiting the bank's record: stored, and in the pending set the sweep scans. */
async function openClaim(ctx: FundContext, caller: Caller, fields: Omit<TransferClaim, 'registeredBy' | 'registeredAt' | 'registeredTxId' | 'status'>): Promise<TransferClaim> {
  const claim: TransferClaim = { ...fields, registeredBy: caller.orgId, registeredAt: ctx.nowIso, registeredTxId: ctx.txId, status: 'PENDING' };
  await claims(ctx).put(claim, claim.serial);
  await pending(ctx).put({ since: ctx.nowIso }, 'claim', claim.serial);
  return claim;
}

export async function registerSerial(ctx: FundContext, caller: Caller, input: z.output<typeof registrationSchema>): Promise<CheckResult> {
  if (await claims(ctx).exists(input.serial)) throw conflict(`serial ${input.serial} is already registered`);
  const drafts: Draft[] = [];
  for (const draftId of input.draftIds) drafts.push(await getDraft(ctx, draftId));
  const projectId = drafts[0].projectId;
  for (const d of drafts) {
    if (d.projectId !== projectId) throw invalid(`draftIds: ${d.draftId} belongs to ${d.projectId}; one transfer carries drafts of one project only`);
  }
  const project = await getProject(ctx, projectId);
  for (const d of drafts) {
    const hop = d.plannedPath[d.nextHop];
    if (!hop || hop.stage !== input.stage) {
      const done = d.actualPath.find((h) => h.stage === input.stage);
      if (done) throw badState(`draft ${d.draftId} has already moved through ${input.stage} (serial ${done.serial})`);
      if (!hop) throw badState(`draft ${d.draftId} has completed its path`);
      throw badState(`draft ${d.draftId} is due for ${hop.stage} next, not ${input.stage}`);
    }
    const heldBack = await nextHopHeldBack(ctx, d, project);
    if (heldBack) throw badState(heldBack);
  }
  const hop0 = drafts[0].plannedPath[drafts[0].nextHop];
  for (const d of drafts.slice(1)) {
    const hop = d.plannedPath[d.nextHop];
    if (!sameParty(hop.from, hop0.from) || !sameParty(hop.to, hop0.to)) {
      throw invalid(`draftIds: ${d.draftId} does not travel the same hop as ${drafts[0].draftId} (${hop.from.orgId}→${hop.to.orgId} vs ${hop0.from.orgId}→${hop0.to.orgId})`);
    }
  }
  if (hop0.from.orgId !== caller.orgId) throw denied(`this hop is paid by ${hop0.from.orgId}, not ${caller.orgId}`);
  for (const d of drafts) {
    for (const [, , serial] of await claimsByHop(ctx).listKeys([d.draftId, String(d.nextHop)])) {
      const other = await claims(ctx).get(serial);
      if (other?.status === 'PENDING') throw conflict(`draft ${d.draftId} already has serial ${serial} registered for this hop, awaiting reconciliation`);
    }
  }
  const claim = await openClaim(ctx, caller, {
    serial: input.serial,
    projectId,
    hops: drafts.map((d) => ({ draftId: d.draftId, seq: d.nextHop })),
    stage: input.stage,
    from: hop0.from,
    to: hop0.to,
    expectedAmount: sumFen(drafts.map((d) => hopAmount(d, d.plannedPath[d.nextHop]))),
    deadline: drafts.map((d) => d.plannedPath[d.nextHop].deadline).sort()[0],
  });
  for (const h of claim.hops) await claimsByHop(ctx).put(INDEX_VALUE, h.draftId, String(h.seq), claim.serial);
  ctx.emit('SerialRegistered', { serial: claim.serial, projectId, draftIds: input.draftIds, stage: input.stage, amount: claim.expectedAmount, by: caller.orgId });
  return (await records(ctx).exists(claim.serial)) ? reconcile(ctx, claim.serial) : result(claim.serial, 'PENDING_BANK_RECORD', claim);
}

/** The implementing unit registers the serial of a payout from its account to a payee in the drafts' scope. */
export async function registerPayout(ctx: FundContext, caller: Caller, input: PayoutInput): Promise<CheckResult> {
  if (await claims(ctx).exists(input.serial)) throw conflict(`serial ${input.serial} is already registered`);
  const { from, to, deadline } = await reservePayout(ctx, caller, input);
  const claim = await openClaim(ctx, caller, { serial: input.serial, projectId: input.projectId, hops: [], stage: PAYOUT, from, to, expectedAmount: input.amount, purpose: input.purpose, deadline });
  await payoutsByProject(ctx).put(INDEX_VALUE, claim.projectId, claim.serial);
  ctx.emit('PayoutRegistered', { serial: claim.serial, projectId: claim.projectId, payee: to.orgId, payeeAccount: to.accountNo, amount: input.amount, purpose: input.purpose, by: caller.orgId });
  return (await records(ctx).exists(claim.serial)) ? reconcile(ctx, claim.serial) : result(claim.serial, 'PENDING_BANK_RECORD', claim);
}

export async function recordBankTransfer(ctx: FundContext, caller: Caller, input: z.output<typeof bankRecordSchema>): Promise<CheckResult> {
  const ownerId = await accountOwner(ctx, input.payerAccount);
  if (!ownerId) throw invalid(`payerAccount: ${input.payerAccount} is not a registered account`);
  const owner = await getOrganisation(ctx, ownerId);
  const heldAt = owner.accounts.find((a) => a.accountNo === input.payerAccount)?.bankId;
  if (heldAt !== caller.orgId) throw denied(`account ${input.payerAccount} is held at ${heldAt}; only that bank may record its transfers`);
  if (Date.parse(input.paidAt) > ctx.now.getTime() + CLOCK_SKEW_MS) throw invalid('paidAt: a transfer cannot be recorded before it happens');
  const existing = await records(ctx).get(input.serial);
  if (existing) {
    const same = existing.payerAccount === input.payerAccount && existing.payeeAccount === input.payeeAccount && existing.amount === input.amount && existing.paidAt === input.paidAt;
    if (!same) throw conflict(`serial ${input.serial} was already recorded with different details; bank records cannot be changed`);
    return { serial: input.serial, outcome: 'ALREADY_RECORDED', draftIds: [] };
  }
  const record: TransferRecord = { ...input, bankId: caller.orgId, recordedAt: ctx.nowIso, recordedTxId: ctx.txId, status: 'PENDING' };
  await records(ctx).put(record, record.serial);
  await pending(ctx).put({ since: ctx.nowIso }, 'record', record.serial);
  ctx.emit('BankTransferRecorded', { serial: record.serial, bankId: caller.orgId, amount: record.amount, payerAccount: record.payerAccount, payeeAccount: record.payeeAccount });
  const claim = await claims(ctx).get(record.serial);
  return claim ? reconcile(ctx, record.serial) : result(record.serial, 'PENDING_REGISTRATION');
}

function result(serial: string, outcome: Outcome, claim?: TransferClaim, extra: Partial<CheckResult> = {}): CheckResult {
  return { serial, outcome, draftIds: claim ? claim.hops.map((h) => h.draftId) : [], ...extra };
}

async function nextDiscrepancyId(ctx: FundContext): Promise<string> {
  for (let n = 1; ; n++) {
    const candidate = `DSC-${ctx.txId.slice(0, 12).toUpperCase()}-${n}`;
    if (!(await discrepancies(ctx).exists(candidate))) return candidate;
  }
}

async function raise(ctx: FundContext, kind: DiscrepancyKind, serial: string, claim: TransferClaim | undefined, problems: Problem[]): Promise<Discrepancy> {
  const discrepancy: Discrepancy = {
    id: await nextDiscrepancyId(ctx),
    kind,
    serial,
    projectId: claim?.projectId,
    hops: claim?.hops ?? [],
    problems,
    status: 'OPEN',
    raisedAt: ctx.nowIso,
    raisedTxId: ctx.txId,
  };
  await discrepancies(ctx).put(discrepancy, discrepancy.id);
  for (const h of discrepancy.hops) await openByHop(ctx).put(INDEX_VALUE, h.draftId, String(h.seq), discrepancy.id);
  await openBySerial(ctx).put(INDEX_VALUE, serial, discrepancy.id);
  ctx.emit('DiscrepancyRaised', { id: discrepancy.id, kind, serial, projectId: discrepancy.projectId, problems });
  return discrepancy;
}

async function settle(ctx: FundContext, claim: TransferClaim, record: TransferRecord, status: MatchStatus): Promise<void> {
  await claims(ctx).put({ ...claim, status }, claim.serial);
  await records(ctx).put({ ...record, status }, record.serial);
  await pending(ctx).delete('claim', claim.serial);
  await pending(ctx).delete('record', record.serial);
}

/** checking(serial), thesis table 6.4: match the registration and the bank's record against the draft(s). */
export async function reconcile(ctx: FundContext, serial: string): Promise<CheckResult> {
  const claim = await claims(ctx).get(serial);
  const record = await records(ctx).get(serial);
  if (!claim && !record) throw notFound('serial', `${serial} (neither registered by a paying unit nor recorded by a bank)`);
  if (!record) return result(serial, claim!.status === 'PENDING' || claim!.status === 'UNMATCHED' ? 'PENDING_BANK_RECORD' : 'ALREADY_SETTLED', claim);
  if (!claim) return result(serial, 'PENDING_REGISTRATION');
  if (claim.status === 'MATCHED' || claim.status === 'MISMATCHED') return result(serial, 'ALREADY_SETTLED', claim);

  const drafts = await Promise.all(claim.hops.map((h) => getDraft(ctx, h.draftId)));
  const moved = drafts.filter((d, i) => d.nextHop !== claim.hops[i].seq);
  if (moved.length > 0) {
    // The hop was already paid under another serial: this is money paid twice for one hop.
    const problems: Problem[] = moved.map((d) => ({ field: 'hop', expected: `${d.draftId} hop ${claim.hops.find((h) => h.draftId === d.draftId)!.seq} unpaid`, actual: `already paid (serial ${d.actualPath[d.actualPath.length - 1]?.serial ?? '?'})` }));
    const discrepancy = await raise(ctx, 'DUPLICATE_PAYMENT', serial, claim, problems);
    await settle(ctx, claim, record, 'MISMATCHED');
    return result(serial, 'DUPLICATE_PAYMENT', claim, { discrepancyId: discrepancy.id, problems });
  }

  const problems: Problem[] = [];
  if (record.amount !== claim.expectedAmount) problems.push({ field: 'amount', expected: claim.expectedAmount, actual: record.amount });
  if (record.payerAccount !== claim.from.accountNo) problems.push({ field: 'payerAccount', expected: claim.from.accountNo, actual: record.payerAccount });
  if (record.payeeAccount !== claim.to.accountNo) problems.push({ field: 'payeeAccount', expected: claim.to.accountNo, actual: record.payeeAccount });
  if (problems.length > 0) {
    const discrepancy = await raise(ctx, 'MISMATCH', serial, claim, problems);
    await settle(ctx, claim, record, 'MISMATCHED');
    if (claim.stage === PAYOUT) await applyPayout(ctx, claim.projectId, claim.expectedAmount, false);
    return result(serial, 'MISMATCH', claim, { discrepancyId: discrepancy.id, problems });
  }

  if (claim.stage === PAYOUT) {
    await applyPayout(ctx, claim.projectId, claim.expectedAmount, true);
    await settle(ctx, claim, record, 'MATCHED');
    await supersedeOpenDiscrepancies(ctx, claim, serial);
    ctx.emit('PayoutMatched', { serial, projectId: claim.projectId, amount: record.amount, from: claim.from.orgId, payee: claim.to.orgId, payeeAccount: claim.to.accountNo, purpose: claim.purpose, paidAt: record.paidAt });
    return result(serial, 'MATCHED', claim);
  }

  const overdue = record.paidAt > claim.deadline;
  for (const [i, draft] of drafts.entries()) {
    await transferDraft(ctx, draft, {
      seq: claim.hops[i].seq,
      stage: claim.stage,
      serial,
      transferAmount: record.amount,
      paidAt: record.paidAt,
      settledAt: ctx.nowIso,
      overdue,
      txId: ctx.txId,
    });
  }
  await settle(ctx, claim, record, 'MATCHED');
  await supersedeOpenDiscrepancies(ctx, claim, serial);
  ctx.emit(overdue ? 'TransferMatchedLate' : 'TransferMatched', {
    serial,
    projectId: claim.projectId,
    draftIds: claim.hops.map((h) => h.draftId),
    stage: claim.stage,
    amount: record.amount,
    from: claim.from.orgId,
    to: claim.to.orgId,
    paidAt: record.paidAt,
    deadline: claim.deadline,
  });
  return result(serial, overdue ? 'MATCHED_LATE' : 'MATCHED', claim);
}

/**
 * A correct transfer for a hop closes what earlier attempts on that hop left open, and a late match
 * of a serial closes the unmatched alert the sweep raised for it.
 */
async function supersedeOpenDiscrepancies(ctx: FundContext, claim: TransferClaim, serial: string): Promise<void> {
  const ids = new Set((await openBySerial(ctx).listKeys([serial])).map(([, discrepancyId]) => discrepancyId));
  for (const h of claim.hops) {
    for (const [, , discrepancyId] of await openByHop(ctx).listKeys([h.draftId, String(h.seq)])) ids.add(discrepancyId);
  }
  for (const discrepancyId of [...ids].sort()) {
    const d = await discrepancies(ctx).get(discrepancyId);
    if (d?.status === 'OPEN') {
      await close(ctx, d, { kind: 'SUPERSEDED', reason: `settled by matching serial ${serial}`, by: 'reconciliation', at: ctx.nowIso, txId: ctx.txId, serial });
    }
  }
}

async function close(ctx: FundContext, d: Discrepancy, resolution: NonNullable<Discrepancy['resolution']>): Promise<Discrepancy> {
  const closed: Discrepancy = { ...d, status: 'RESOLVED', resolution };
  await discrepancies(ctx).put(closed, d.id);
  for (const h of d.hops) await openByHop(ctx).delete(h.draftId, String(h.seq), d.id);
  await openBySerial(ctx).delete(d.serial, d.id);
  ctx.emit('DiscrepancyResolved', { id: d.id, kind: resolution.kind, reason: resolution.reason, by: resolution.by });
  return closed;
}

/** Manual resolution (平账) by an authorised role, with its reason, on the chain. */
export async function resolveDiscrepancy(ctx: FundContext, caller: Caller, discrepancyId: string, reason: string): Promise<Discrepancy> {
  const d = await discrepancies(ctx).get(discrepancyId);
  if (!d) throw notFound('discrepancy', discrepancyId);
  if (d.status !== 'OPEN') throw badState(`discrepancy ${discrepancyId} is already resolved`);
  return close(ctx, d, { kind: 'MANUAL', reason, by: caller.orgId, at: ctx.nowIso, txId: ctx.txId });
}

/** Registrations and bank records left unmatched longer than the configured threshold become discrepancies. */
export async function sweepUnmatched(ctx: FundContext, caller: Caller): Promise<{ flagged: number; discrepancyIds: string[] }> {
  const cutoff = new Date(ctx.now.getTime() - caller.config.unmatchedThresholdHours * 3600 * 1000).toISOString();
  const ids: string[] = [];
  for (const { parts: [kind, serial], value: entry } of await pending(ctx).entries()) {
    if (entry.since > cutoff) continue;
    if (kind === 'claim') {
      const claim = (await claims(ctx).get(serial))!;
      ids.push((await raise(ctx, 'UNMATCHED_CLAIM', serial, claim, [{ field: 'serial', expected: 'a bank record', actual: `none since ${entry.since}` }])).id);
      await claims(ctx).put({ ...claim, status: 'UNMATCHED' }, serial);
    } else {
      const record = (await records(ctx).get(serial))!;
      ids.push((await raise(ctx, 'UNMATCHED_RECORD', serial, undefined, [{ field: 'serial', expected: 'a registration by the paying unit', actual: `none since ${entry.since}` }])).id);
      await records(ctx).put({ ...record, status: 'UNMATCHED' }, serial);
    }
    await pending(ctx).delete(kind, serial);
  }
  ctx.emit('UnmatchedSwept', { flagged: ids.length, discrepancyIds: ids, cutoff });
  return { flagged: ids.length, discrepancyIds: ids };
}

export async function serialStatus(ctx: FundContext, serial: string): Promise<{ serial: string; claim?: TransferClaim; record?: TransferRecord }> {
  const claim = await claims(ctx).get(serial);
  const record = await records(ctx).get(serial);
  if (!claim && !record) throw notFound('serial', serial);
  return { serial, claim, record };
}

/** What a project's unit has accepted, paid out and reserved, its payees, and every payout registered. */
export interface PayoutStatement {
  projectId: string;
  accepted: string;
  paidOut: string;
  pending: string;
  payees: Payee[];
  payouts: TransferClaim[];
}

export async function payoutStatement(ctx: FundContext, projectId: string): Promise<PayoutStatement> {
  const drafts = await projectDrafts(ctx, projectId);
  const tally = await payoutTally(ctx, projectId);
  const payees = [...new Map(drafts.flatMap((d) => d.specialRules.payees ?? []).map((p) => [p.accountNo, p])).values()];
  const payouts: TransferClaim[] = [];
  for (const [, serial] of await payoutsByProject(ctx).listKeys([projectId])) payouts.push((await claims(ctx).get(serial))!);
  return { projectId, accepted: sumFen(drafts.map((d) => d.acceptedAmount ?? '0')), paidOut: tally.paidOut, pending: tally.pending, payees, payouts };
}

export async function listPending(ctx: FundContext): Promise<Array<{ kind: string; serial: string; since: string }>> {
  return (await pending(ctx).entries()).map(({ parts: [kind, serial], value }) => ({ kind, serial, since: value.since }));
}
