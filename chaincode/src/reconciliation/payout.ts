import { z } from 'zod';
import { FundContext } from '../ledger/context';
import { badState, denied } from '../ledger/errors';
import { accountNo, fen, id, serialNo, text } from '../ledger/validation';
import { Caller } from '../access/caller';
import { settlementAccount } from '../organisation/organisation';
import { Party, projectDrafts } from '../draft/draft';
import { getProject } from '../project/project';

/**
 * Payout after acceptance (承兑后支付): the money's last step, from the implementing unit's account to a payee the
 * drafts name (a contractor, a villagers' cooperative). Registered and reconciled like a hop; the tally keeps what
 * was paid out, and what awaits the bank's record, within what the unit has accepted.
 */
export const PAYOUT = 'payout' as const;

export const payoutSchema = z.strictObject({
  serial: serialNo('serial'),
  projectId: id('projectId'),
  payeeAccount: accountNo('payeeAccount'),
  amount: fen('amount'),
  purpose: text('purpose', 200),
});
export type PayoutInput = z.output<typeof payoutSchema>;

export interface PayoutTally {
  projectId: string;
  /** Matched payouts. */
  paidOut: string;
  /** Registered payouts still awaiting the bank's record: reserved, so two registrations cannot spend one yuan twice. */
  pending: string;
}

const tallies = (ctx: FundContext) => ctx.store<PayoutTally>('PayoutTally');

export async function payoutTally(ctx: FundContext, projectId: string): Promise<PayoutTally> {
  return (await tallies(ctx).get(projectId)) ?? { projectId, paidOut: '0', pending: '0' };
}

const yuan = (fenValue: bigint) => `${fenValue / 100n}.${String(fenValue % 100n).padStart(2, '0')} yuan`;

/** Check a payout against the payee scope and what is left to pay, and reserve its amount. */
export async function reservePayout(ctx: FundContext, caller: Caller, input: PayoutInput): Promise<{ from: Party; to: Party; deadline: string }> {
  const project = await getProject(ctx, input.projectId);
  if (project.implementingUnitId !== caller.orgId) throw denied(`${caller.orgId} is not the implementing unit of project ${project.id}`);
  const drafts = await projectDrafts(ctx, project.id);
  const payees = drafts.flatMap((d) => d.specialRules.payees ?? []);
  const payee = payees.find((p) => p.accountNo === input.payeeAccount);
  if (!payee) {
    const scope = [...new Set(payees.map((p) => `${p.name} ${p.accountNo}`))];
    throw denied(`payeeAccount: ${input.payeeAccount} is outside the payee scope of project ${project.id}'s drafts (${scope.length > 0 ? scope.join(', ') : 'the project names no payees'})`);
  }
  const accepted = drafts.reduce((s, d) => s + BigInt(d.acceptedAmount ?? '0'), 0n);
  const tally = await payoutTally(ctx, project.id);
  const paidOut = BigInt(tally.paidOut);
  const reserved = BigInt(tally.pending);
  const amount = BigInt(input.amount);
  if (paidOut + reserved + amount > accepted) {
    throw badState(
      `amount: paying out ${yuan(amount)} would exceed what the implementing unit has accepted for project ${project.id}: accepted ${yuan(accepted)}, paid out ${yuan(paidOut)}, awaiting the bank's record ${yuan(reserved)}`,
    );
  }
  await tallies(ctx).put({ ...tally, pending: (reserved + amount).toString() }, project.id);
  const account = settlementAccount(caller.org!);
  const deadline = drafts.map((d) => d.specialRules.expiresAt).sort().reverse()[0];
  return { from: { orgId: caller.orgId, accountNo: account.accountNo, bankId: account.bankId }, to: { orgId: payee.name, accountNo: payee.accountNo, bankId: payee.bank }, deadline };
}

/** A reconciled payout: matched, its amount moves from reserved to paid out; mismatched, the reservation is released. */
export async function applyPayout(ctx: FundContext, projectId: string, amount: string, matched: boolean): Promise<PayoutTally> {
  const tally = await payoutTally(ctx, projectId);
  const updated: PayoutTally = {
    projectId,
    pending: (BigInt(tally.pending) - BigInt(amount)).toString(),
    paidOut: matched ? (BigInt(tally.paidOut) + BigInt(amount)).toString() : tally.paidOut,
  };
  await tallies(ctx).put(updated, projectId);
  return updated;
}
