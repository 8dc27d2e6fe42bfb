import { z } from 'zod';
import { FundContext } from '../ledger/context';
import { invalid, notFound } from '../ledger/errors';
import { text } from '../ledger/validation';
import { Caller } from '../access/caller';
import type { FundingSource } from '../project/project';

/**
 * The fund policy (资金政策, thesis 6.1): the structure every funding plan must have and the order in which its money
 * may move. Versioned on the chain; a project keeps the version it was approved under, so a later change never
 * rewrites the rules of money already promised. Shares are integers in basis points (1 % = 100) so no float is ever
 * compared on the chain.
 */
export interface FundPolicyRules {
  /** Share of the budget the fiscal sources (province + county finance) must carry; the banks carry the rest. */
  fiscalShareBp: number;
  /** Share of the fiscal money the province must carry; the county carries the rest. */
  provinceShareOfFiscalBp: number;
  /** How far, in basis points, a share may stray from what the policy requires. */
  toleranceBp: number;
  /** Bank (financial) money moves only once every fiscal draft of the project has made its first hop. */
  fiscalFirst: boolean;
  /** A tranche tied to a milestone is released only once the county office has confirmed the milestone. */
  milestoneConfirmation: boolean;
}

export interface FundPolicy extends FundPolicyRules {
  version: number;
  reason: string;
  setBy: string;
  setByIdentity: string;
  at: string;
  txId: string;
}

const bp = (what: string) => z.number(`${what} must be a number`).int(`${what} must be whole basis points`).min(0, `${what} must be 0–10000`).max(10000, `${what} must be 0–10000`);

export const policyInputSchema = z.strictObject({
  fiscalShareBp: bp('fiscalShareBp'),
  provinceShareOfFiscalBp: bp('provinceShareOfFiscalBp'),
  toleranceBp: bp('toleranceBp').max(2000, 'toleranceBp must be at most 2000 (20 %)'),
  fiscalFirst: z.boolean('fiscalFirst must be true or false'),
  milestoneConfirmation: z.boolean('milestoneConfirmation must be true or false'),
  reason: text('reason', 1000, 5),
});
export type PolicyInput = z.output<typeof policyInputSchema>;

/** Thesis 6.1: fiscal 10 %, bank 90 %, the fiscal share split province : county = 4 : 6, fiscal money first. */
export const THESIS_POLICY: Omit<PolicyInput, 'reason'> = { fiscalShareBp: 1000, provinceShareOfFiscalBp: 4000, toleranceBp: 50, fiscalFirst: true, milestoneConfirmation: true };

const versions = (ctx: FundContext) => ctx.store<FundPolicy>('FundPolicy');
const currentPointer = (ctx: FundContext) => ctx.store<{ version: number }>('FundPolicyCurrent');

const versionKey = (version: number) => String(version).padStart(6, '0');

export async function currentPolicy(ctx: FundContext): Promise<FundPolicy | undefined> {
  const pointer = await currentPointer(ctx).get('current');
  return pointer ? versions(ctx).get(versionKey(pointer.version)) : undefined;
}

export async function policyVersion(ctx: FundContext, version: number): Promise<FundPolicy> {
  const policy = await versions(ctx).get(versionKey(version));
  if (!policy) throw notFound('fund policy version', String(version));
  return policy;
}

export async function listPolicies(ctx: FundContext): Promise<FundPolicy[]> {
  return versions(ctx).list();
}

export async function setPolicy(ctx: FundContext, caller: Caller, input: PolicyInput): Promise<FundPolicy> {
  const previous = await currentPolicy(ctx);
  const policy: FundPolicy = { ...input, version: (previous?.version ?? 0) + 1, setBy: caller.orgId, setByIdentity: caller.identity, at: ctx.nowIso, txId: ctx.txId };
  await versions(ctx).put(policy, versionKey(policy.version));
  await currentPointer(ctx).put({ version: policy.version }, 'current');
  ctx.emit('FundPolicySet', { version: policy.version, reason: policy.reason, by: caller.orgId });
  return policy;
}

export const FISCAL_SOURCES: readonly FundingSource[] = ['provincialFinance', 'countyFinance'];

const percent = (bpValue: bigint | number) => `${(Number(bpValue) / 100).toFixed(2)} %`;

/** `part / whole` in basis points, rounded down; 0 when there is no whole. */
function shareBp(part: bigint, whole: bigint): bigint {
  return whole === 0n ? 0n : (part * 10000n) / whole;
}

/** |part/whole − target| ≤ tolerance, decided exactly in integers (no rounding at the boundary). */
function within(part: bigint, whole: bigint, targetBp: number, toleranceBp: number): boolean {
  const diff = part * 10000n - whole * BigInt(targetBp);
  return (diff < 0n ? -diff : diff) <= whole * BigInt(toleranceBp);
}

/**
 * What is off in a funding plan under a policy: each problem a sentence naming the shares found and required.
 * An empty list means the plan complies.
 */
export function planProblems(policy: FundPolicy, plan: ReadonlyArray<{ source: FundingSource; amount: string }>): string[] {
  const total = plan.reduce((s, f) => s + BigInt(f.amount), 0n);
  const of = (sources: readonly FundingSource[]) => plan.filter((f) => sources.includes(f.source)).reduce((s, f) => s + BigInt(f.amount), 0n);
  const fiscal = of(FISCAL_SOURCES);
  const province = of(['provincialFinance']);
  const problems: string[] = [];
  const tol = `± ${percent(policy.toleranceBp)}`;
  if (!within(fiscal, total, policy.fiscalShareBp, policy.toleranceBp)) {
    problems.push(
      `fundingPlan: fiscal money (provincialFinance + countyFinance) is ${percent(shareBp(fiscal, total))} of the budget and bank money ${percent(shareBp(total - fiscal, total))}; fund policy v${policy.version} requires fiscal ${percent(policy.fiscalShareBp)} and bank ${percent(10000 - policy.fiscalShareBp)} ${tol}`,
    );
  }
  if (fiscal > 0n && !within(province, fiscal, policy.provinceShareOfFiscalBp, policy.toleranceBp)) {
    problems.push(
      `fundingPlan: within the fiscal money, the province carries ${percent(shareBp(province, fiscal))} and the county ${percent(shareBp(fiscal - province, fiscal))}; fund policy v${policy.version} requires province ${percent(policy.provinceShareOfFiscalBp)} and county ${percent(10000 - policy.provinceShareOfFiscalBp)} ${tol}`,
    );
  }
  return problems;
}

/** The policy check a project carries: which version it was checked under, what was off, and any exception. */
export interface PolicyCheck {
  version: number;
  problems: string[];
  exception?: { requestedReason?: string; approvedReason: string; approvedBy: string; approvedByIdentity: string; at: string; txId: string };
}

/** Refuse a non-compliant plan unless it carries a reason (filing) or an approved exception (approval). */
export function requireCompliant(problems: string[], excused: boolean, hint: string): void {
  if (problems.length > 0 && !excused) throw invalid(`${problems.join('; ')}. ${hint}`);
}
