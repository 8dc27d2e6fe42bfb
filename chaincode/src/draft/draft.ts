import { createPublicKey, verify, type KeyObject } from 'crypto';
import { z } from 'zod';
import { FundContext } from '../ledger/context';
import { canonicalJson } from '../ledger/canonical';
import { badState, denied, invalid, notFound } from '../ledger/errors';
import { INDEX_VALUE } from '../ledger/state';
import { instant, text } from '../ledger/validation';
import { Caller } from '../access/caller';
import { ChannelConfig } from '../config/config';
import { Organisation, requireParty, settlementAccount } from '../organisation/organisation';
import { FundingSource, Project } from '../project/project';

/**
 * The digital draft (数字汇票): issued by the provincial command when a project is approved, one per
 * funding source. It fixes the amount, the path of accounts the money must travel, the deadlines and
 * the rules of use. It moves one hop at a time, only when reconciliation matches the bank's record.
 */

/** Legs of the fund's path, named by who receives: the fund vehicle, the county fund company, the unit. */
export const STAGES = ['toPartnership', 'toCountyFund', 'toUnit'] as const;
export type Stage = (typeof STAGES)[number];

export interface Party {
  orgId: string;
  accountNo: string;
  bankId: string;
}

export interface PlannedHop {
  seq: number;
  stage: Stage;
  from: Party;
  to: Party;
  deadline: string;
  /** Set on the tranches of a last leg split by the approval (按需拨付); otherwise the hop carries the whole draft. */
  amount?: string;
  tranche?: Tranche;
}

/** One tranche of a draft's last leg: released when its milestone is reported (and confirmed, if the policy says so). */
export interface Tranche {
  n: number;
  of: number;
  percent: number;
  /** Absent for a tranche released on arrival (money to start the work). */
  milestone?: string;
}

/** Someone the implementing unit may pay the draft's money out to (承兑后支付). */
export interface Payee {
  name: string;
  accountNo: string;
  bank: string;
}

export interface ActualHop {
  seq: number;
  stage: Stage;
  serial: string;
  /** The amount of the whole bank transfer, which may carry several drafts. */
  transferAmount: string;
  paidAt: string;
  settledAt: string;
  overdue: boolean;
  txId: string;
}

export interface SpecialRules {
  purpose: string;
  payeeScope: string[];
  expiresAt: string;
  disbursement: 'ON_DEMAND';
  circulation: 'PLATFORM_ONLY';
  /** The payees the project names; a payout to any other account is refused. Absent when the project names none. */
  payees?: Payee[];
}

/** The content the issuer signs: everything that fixes what the draft promises. */
export interface DraftTerms {
  draftId: string;
  projectId: string;
  source: FundingSource;
  issuerId: string;
  amount: string;
  plannedPath: PlannedHop[];
  specialRules: SpecialRules;
}

/** PARTLY_ACCEPTED: some tranches of the last leg accepted, the rest still to be released. */
export type DraftStatus = 'ISSUED' | 'IN_TRANSIT' | 'AWAITING_ACCEPTANCE' | 'PARTLY_ACCEPTED' | 'ACCEPTED';

export interface Acceptance {
  seq: number;
  amount: string;
  at: string;
  txId: string;
}

export interface Draft extends DraftTerms {
  issuerIdentity: string;
  issuerCertificate: string;
  /** ECDSA-SHA256 signature (DER, base64) by the issuing identity over canonicalJson(terms). */
  issuerSignature: string;
  status: DraftStatus;
  createdAt: string;
  actualPath: ActualHop[];
  /** Index into plannedPath of the hop to be paid next; equal to its length once the draft has arrived. */
  nextHop: number;
  holderId: string;
  /** What the implementing unit has accepted so far (the whole amount once ACCEPTED). */
  acceptedAmount?: string;
  acceptances?: Acceptance[];
  acceptedAt?: string;
  acceptedTxId?: string;
}

export const termsSchema = z.strictObject({
  deadlines: z.strictObject({
    toPartnership: instant('deadlines.toPartnership'),
    toCountyFund: instant('deadlines.toCountyFund'),
    toUnit: instant('deadlines.toUnit'),
  }),
  /** Split every draft's last leg into tranches released against milestones (按需拨付). */
  tranches: z
    .array(
      z.strictObject({
        percent: z.number('tranche percent must be a number').int('tranche percent must be a whole number').min(1, 'tranche percent must be 1–100').max(100, 'tranche percent must be 1–100'),
        milestone: text('tranche milestone', 100).optional(),
      }),
      'tranches must be a list',
    )
    .min(1, 'at least one tranche')
    .max(10, 'at most 10 tranches')
    .refine((list) => list.reduce((s, t) => s + t.percent, 0) === 100, 'the percentages must add up to 100')
    .refine((list) => list.every((t, i) => i === 0 || t.milestone !== undefined), 'only the first tranche may be released without a milestone')
    .refine((list) => new Set(list.flatMap((t) => (t.milestone ? [t.milestone] : []))).size === list.filter((t) => t.milestone).length, 'a milestone releases one tranche')
    .optional(),
  /** The provincial command's reason for approving a plan the fund policy would refuse. */
  policyException: text('policyException', 1000, 5).optional(),
});
export type IssueTerms = z.output<typeof termsSchema>;

export const drafts = (ctx: FundContext) => ctx.store<Draft>('Draft');
const byProject = (ctx: FundContext) => ctx.store<object>('DraftByProject');

/** A draft is named after its project: `<projectId>-D<n>`, n counting from 1 (the relay routes drafts by it). */
export function draftIdOf(projectId: string, n: number): string {
  return `${projectId}-D${n}`;
}

/** The project a draft id names, or undefined when it is not a draft id. */
export function projectOfDraftId(draftId: string): string | undefined {
  return /^(PRJ-[0-9A-Z]+)-D\d+$/.exec(draftId)?.[1];
}

export async function getDraft(ctx: FundContext, draftId: string): Promise<Draft> {
  const draft = await drafts(ctx).get(draftId);
  if (!draft) throw notFound('draft', draftId);
  return draft;
}

export async function projectDrafts(ctx: FundContext, projectId: string): Promise<Draft[]> {
  const keys = await byProject(ctx).listKeys([projectId]);
  return Promise.all(keys.map(([, draftId]) => getDraft(ctx, draftId)));
}

function party(org: Organisation): Party {
  const account = settlementAccount(org);
  return { orgId: org.id, accountNo: account.accountNo, bankId: account.bankId };
}

async function countyFundCompany(ctx: FundContext, county: string): Promise<Organisation> {
  const found = (await ctx.store<Organisation>('Organisation').list()).filter((o) => o.type === 'countyFundCompany' && o.county === county && o.active);
  if (found.length !== 1) throw badState(`county ${county} must have exactly one active county fund company registered, found ${found.length}`);
  return found[0];
}

/** The amount one hop of a draft carries: its tranche, or the whole draft. */
export function hopAmount(draft: Pick<Draft, 'amount'>, hop: PlannedHop): string {
  return hop.amount ?? draft.amount;
}

/** The end of a milestone's due day in the province's time (Beijing), as an instant every endorser agrees on. */
function endOfDay(day: string): string {
  return new Date(`${day}T23:59:59+08:00`).toISOString();
}

/**
 * The last leg as one hop, or as tranches: amounts by percent rounded down to the fen, the last tranche taking the
 * remainder so the tranches add up to the draft exactly. A milestone's tranche is due by the later of the leg's
 * deadline and the end of the milestone's due day.
 */
function lastLeg(project: Project, amount: string, terms: IssueTerms, from: Party, to: Party, seq: number): PlannedHop[] {
  const deadline = terms.deadlines.toUnit;
  if (!terms.tranches) return [{ seq, stage: 'toUnit', from, to, deadline }];
  const total = BigInt(amount);
  let given = 0n;
  return terms.tranches.map((t, i) => {
    const last = i === terms.tranches!.length - 1;
    const part = last ? total - given : (total * BigInt(t.percent)) / 100n;
    given += part;
    const due = t.milestone ? project.milestones.find((m) => m.name === t.milestone)!.dueDate : undefined;
    const trancheDeadline = due && endOfDay(due) > deadline ? endOfDay(due) : deadline;
    const tranche: Tranche = { n: i + 1, of: terms.tranches!.length, percent: t.percent, ...(t.milestone ? { milestone: t.milestone } : {}) };
    return { seq: seq + i, stage: 'toUnit' as const, from, to, deadline: trancheDeadline, amount: part.toString(), tranche };
  });
}

function checkTranches(project: Project, terms: IssueTerms): void {
  for (const [i, t] of (terms.tranches ?? []).entries()) {
    if (t.milestone && !project.milestones.some((m) => m.name === t.milestone)) {
      throw invalid(`terms.tranches.${i}.milestone: project ${project.id} has no milestone "${t.milestone}" (its milestones: ${project.milestones.map((m) => m.name).join(', ')})`);
    }
  }
}

function checkDeadlines(ctx: FundContext, terms: IssueTerms): void {
  const d = terms.deadlines;
  if (d.toPartnership <= ctx.nowIso) throw invalid('deadlines.toPartnership must be after the approval time');
  if (d.toCountyFund <= d.toPartnership) throw invalid('deadlines.toCountyFund must be after deadlines.toPartnership');
  if (d.toUnit <= d.toCountyFund) throw invalid('deadlines.toUnit must be after deadlines.toCountyFund');
}

/**
 * The drafts an approval would issue, derived only from the project, the registry and the terms, so
 * the approver can sign exactly what the approval transaction will write.
 * Provincial and bank money go source → fund vehicle → county fund company → unit; county money goes
 * county finance → county fund company → unit. Drafts share legs and deadlines from the fund vehicle on.
 */
export async function planDrafts(ctx: FundContext, config: ChannelConfig, project: Project, issuerId: string, terms: IssueTerms): Promise<DraftTerms[]> {
  checkDeadlines(ctx, terms);
  checkTranches(project, terms);
  if (!config.limitedPartnershipId) throw badState('the channel configuration names no limited partnership (limitedPartnershipId)');
  const partnership = party(await requireParty(ctx, 'config.limitedPartnershipId', config.limitedPartnershipId, 'limitedPartnership'));
  const county = party(await countyFundCompany(ctx, project.county));
  const unit = party(await requireParty(ctx, 'implementingUnitId', project.implementingUnitId, 'implementingUnit'));
  const plans: DraftTerms[] = [];
  for (const [i, share] of project.fundingPlan.entries()) {
    const payer = party(await requireParty(ctx, `fundingPlan.${i}.payerId`, share.payerId, share.source));
    const legs: Array<[Stage, Party, Party]> =
      share.source === 'countyFinance'
        ? [['toCountyFund', payer, county]]
        : [
            ['toPartnership', payer, partnership],
            ['toCountyFund', partnership, county],
          ];
    const plannedPath: PlannedHop[] = legs.map(([stage, from, to], seq) => ({ seq, stage, from, to, deadline: terms.deadlines[stage] }));
    plannedPath.push(...lastLeg(project, share.amount, terms, county, unit, plannedPath.length));
    plans.push({
      draftId: draftIdOf(project.id, i + 1),
      projectId: project.id,
      source: share.source,
      issuerId,
      amount: share.amount,
      plannedPath,
      specialRules: {
        purpose: `${project.name} (${project.county}${project.town})`,
        payeeScope: [unit.orgId],
        expiresAt: plannedPath[plannedPath.length - 1].deadline,
        disbursement: 'ON_DEMAND',
        circulation: 'PLATFORM_ONLY',
        ...((project.payees ?? []).length > 0 ? { payees: project.payees } : {}),
      },
    });
  }
  return plans;
}

export function signedContent(terms: DraftTerms): string {
  return canonicalJson(terms);
}

export function termsOf(draft: Draft): DraftTerms {
  const { draftId, projectId, source, issuerId, amount, plannedPath, specialRules } = draft;
  return { draftId, projectId, source, issuerId, amount, plannedPath, specialRules };
}

/**
 * Parsed signer keys by certificate PEM: parsing costs more than verifying, and the same few approvers
 * sign every draft. A pure function of its key, so the cache cannot make two peers disagree.
 */
const signerKeys = new Map<string, KeyObject>();

function signerKey(certificatePem: string): KeyObject {
  let key = signerKeys.get(certificatePem);
  if (!key) {
    key = createPublicKey(certificatePem);
    if (signerKeys.size >= 256) signerKeys.clear();
    signerKeys.set(certificatePem, key);
  }
  return key;
}

export function signatureValid(certificatePem: string, content: string, signatureB64: string): boolean {
  try {
    return verify('sha256', Buffer.from(content, 'utf8'), { key: signerKey(certificatePem), dsaEncoding: 'der' }, Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}

export const signaturesSchema = z.record(z.string(), z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/, 'each signature must be base64'), 'signatures must be an object of draftId → base64 signature');

/** Issue the drafts inside the approval transaction; each must carry the approver's valid signature. */
export async function issueDrafts(ctx: FundContext, caller: Caller, plans: DraftTerms[], signatures: Record<string, string>): Promise<Draft[]> {
  const certificate = Buffer.from(ctx.clientIdentity.getIDBytes()).toString('utf8');
  const expected = new Set(plans.map((p) => p.draftId));
  for (const draftId of Object.keys(signatures)) {
    if (!expected.has(draftId)) throw invalid(`signatures.${draftId}: no such draft is issued by this approval`);
  }
  const issued: Draft[] = [];
  for (const plan of plans) {
    const signature = signatures[plan.draftId];
    if (!signature) throw invalid(`signatures.${plan.draftId}: the issuer's signature over this draft is missing`);
    if (!signatureValid(certificate, signedContent(plan), signature)) {
      throw invalid(`signatures.${plan.draftId}: the signature does not verify against the caller's certificate and the draft's content`);
    }
    const draft: Draft = {
      ...plan,
      issuerIdentity: caller.identity,
      issuerCertificate: certificate,
      issuerSignature: signature,
      status: 'ISSUED',
      createdAt: ctx.nowIso,
      actualPath: [],
      nextHop: 0,
      holderId: plan.plannedPath[0].from.orgId,
    };
    await drafts(ctx).put(draft, draft.draftId);
    await byProject(ctx).put(INDEX_VALUE, draft.projectId, draft.draftId);
    issued.push(draft);
  }
  return issued;
}

/**
 * Move a draft one hop (the thesis's `transfer`). Not a transaction: only reconciliation calls it,
 * after the bank's record has matched the paying unit's registration.
 */
export async function transferDraft(ctx: FundContext, draft: Draft, hop: ActualHop): Promise<Draft> {
  const planned = draft.plannedPath[draft.nextHop];
  if (!planned || planned.seq !== hop.seq) throw badState(`draft ${draft.draftId} has already moved past hop ${hop.seq}`);
  const nextHop = draft.nextHop + 1;
  // Each tranche of the last leg is accepted as it arrives, as the whole draft is when it is not split.
  const atUnit = planned.stage === 'toUnit';
  const moved: Draft = {
    ...draft,
    actualPath: [...draft.actualPath, hop],
    nextHop,
    holderId: planned.to.orgId,
    status: atUnit ? 'AWAITING_ACCEPTANCE' : 'IN_TRANSIT',
  };
  await drafts(ctx).put(moved, draft.draftId);
  return moved;
}

/** Acceptance (承兑) by the implementing unit holding a draft that has travelled its whole path. */
export async function acceptDraft(ctx: FundContext, caller: Caller, draftId: string): Promise<{ draft: Draft; amount: string; projectFunded: boolean }> {
  const draft = await getDraft(ctx, draftId);
  if (draft.holderId !== caller.orgId) throw denied(`draft ${draftId} is held by ${draft.holderId}, not ${caller.orgId}`);
  if (draft.status === 'ACCEPTED') throw badState(`draft ${draftId} is already accepted`);
  if (draft.status !== 'AWAITING_ACCEPTANCE') {
    const next = draft.plannedPath[draft.nextHop];
    const what = next?.tranche ? `tranche ${next.tranche.n} of ${next.tranche.of}` : `hop ${draft.nextHop + 1} of ${draft.plannedPath.length}`;
    throw badState(`draft ${draftId} has nothing awaiting acceptance (${what} is unpaid)`);
  }
  if (!draft.specialRules.payeeScope.includes(caller.orgId)) throw denied(`${caller.orgId} is outside the draft's payee scope`);
  // Accepting is promising the money is what the issuer signed for: a draft altered since issue is refused.
  if (!signatureValid(draft.issuerCertificate, signedContent(termsOf(draft)), draft.issuerSignature)) {
    throw invalid(`draft ${draftId} does not match its issuer's signature; it cannot be accepted`);
  }
  if (ctx.nowIso > draft.specialRules.expiresAt) {
    // Late acceptance is allowed but recorded: the money has arrived and must not be stranded.
    ctx.emit('DraftAcceptedAfterExpiry', { draftId, expiresAt: draft.specialRules.expiresAt });
  }
  const arrived = draft.plannedPath[draft.nextHop - 1];
  const amount = hopAmount(draft, arrived);
  const complete = draft.nextHop === draft.plannedPath.length;
  const accepted: Draft = {
    ...draft,
    status: complete ? 'ACCEPTED' : 'PARTLY_ACCEPTED',
    acceptedAmount: (BigInt(draft.acceptedAmount ?? '0') + BigInt(amount)).toString(),
    acceptances: [...(draft.acceptances ?? []), { seq: arrived.seq, amount, at: ctx.nowIso, txId: ctx.txId }],
    ...(complete ? { acceptedAt: ctx.nowIso, acceptedTxId: ctx.txId } : {}),
  };
  await drafts(ctx).put(accepted, draftId);
  const siblings = await projectDrafts(ctx, draft.projectId);
  const projectFunded = siblings.every((d) => (d.draftId === draftId ? complete : d.status === 'ACCEPTED'));
  return { draft: accepted, amount, projectFunded };
}

