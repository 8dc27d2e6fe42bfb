import { createPublicKey, verify, type KeyObject } from 'crypto';
import { z } from 'zod';
import { FundContext } from '../ledger/context';
import { canonicalJson } from '../ledger/canonical';
import { badState, denied, invalid, notFound } from '../ledger/errors';
import { INDEX_VALUE } from '../ledger/state';
import { instant } from '../ledger/validation';
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

export type DraftStatus = 'ISSUED' | 'IN_TRANSIT' | 'AWAITING_ACCEPTANCE' | 'ACCEPTED';

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
  acceptedAt?: string;
  acceptedTxId?: string;
}

export const termsSchema = z.strictObject({
  deadlines: z.strictObject({
    toPartnership: instant('deadlines.toPartnership'),
    toCountyFund: instant('deadlines.toCountyFund'),
    toUnit: instant('deadlines.toUnit'),
  }),
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
  if (!config.limitedPartnershipId) throw badState('the channel configuration names no limited partnership (limitedPartnershipId)');
  const partnership = party(await requireParty(ctx, 'config.limitedPartnershipId', config.limitedPartnershipId, 'limitedPartnership'));
  const county = party(await countyFundCompany(ctx, project.county));
  const unit = party(await requireParty(ctx, 'implementingUnitId', project.implementingUnitId, 'implementingUnit'));
  const plans: DraftTerms[] = [];
  for (const [i, share] of project.fundingPlan.entries()) {
    const payer = party(await requireParty(ctx, `fundingPlan.${i}.payerId`, share.payerId, share.source));
    const legs: Array<[Stage, Party, Party]> =
      share.source === 'countyFinance'
        ? [
            ['toCountyFund', payer, county],
            ['toUnit', county, unit],
          ]
        : [
            ['toPartnership', payer, partnership],
            ['toCountyFund', partnership, county],
            ['toUnit', county, unit],
          ];
    plans.push({
      draftId: draftIdOf(project.id, i + 1),
      projectId: project.id,
      source: share.source,
      issuerId,
      amount: share.amount,
      plannedPath: legs.map(([stage, from, to], seq) => ({ seq, stage, from, to, deadline: terms.deadlines[stage] })),
      specialRules: {
        purpose: `${project.name} (${project.county}${project.town})`,
        payeeScope: [unit.orgId],
        expiresAt: terms.deadlines.toUnit,
        disbursement: 'ON_DEMAND',
        circulation: 'PLATFORM_ONLY',
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
  const arrived = nextHop === draft.plannedPath.length;
  const moved: Draft = {
    ...draft,
    actualPath: [...draft.actualPath, hop],
    nextHop,
    holderId: planned.to.orgId,
    status: arrived ? 'AWAITING_ACCEPTANCE' : 'IN_TRANSIT',
  };
  await drafts(ctx).put(moved, draft.draftId);
  return moved;
}

/** Acceptance (承兑) by the implementing unit holding a draft that has travelled its whole path. */
export async function acceptDraft(ctx: FundContext, caller: Caller, draftId: string): Promise<{ draft: Draft; projectFunded: boolean }> {
  const draft = await getDraft(ctx, draftId);
  if (draft.holderId !== caller.orgId) throw denied(`draft ${draftId} is held by ${draft.holderId}, not ${caller.orgId}`);
  if (draft.status === 'ACCEPTED') throw badState(`draft ${draftId} is already accepted`);
  if (draft.status !== 'AWAITING_ACCEPTANCE') throw badState(`draft ${draftId} has not completed its path (hop ${draft.nextHop + 1} of ${draft.plannedPath.length} is unpaid)`);
  if (!draft.specialRules.payeeScope.includes(caller.orgId)) throw denied(`${caller.orgId} is outside the draft's payee scope`);
  // Accepting is promising the money is what the issuer signed for: a draft altered since issue is refused.
  if (!signatureValid(draft.issuerCertificate, signedContent(termsOf(draft)), draft.issuerSignature)) {
    throw invalid(`draft ${draftId} does not match its issuer's signature; it cannot be accepted`);
  }
  if (ctx.nowIso > draft.specialRules.expiresAt) {
    // Late acceptance is allowed but recorded: the money has arrived and must not be stranded.
    ctx.emit('DraftAcceptedAfterExpiry', { draftId, expiresAt: draft.specialRules.expiresAt });
  }
  const accepted: Draft = { ...draft, status: 'ACCEPTED', acceptedAt: ctx.nowIso, acceptedTxId: ctx.txId };
  await drafts(ctx).put(accepted, draftId);
  const siblings = await projectDrafts(ctx, draft.projectId);
  const projectFunded = siblings.every((d) => (d.draftId === draftId ? true : d.status === 'ACCEPTED'));
  return { draft: accepted, projectFunded };
}

