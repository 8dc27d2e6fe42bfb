import { Info, Transaction } from 'fabric-contract-api';
import { z } from 'zod';
import { FundContract } from '../ledger/base-contract';
import { FundContext } from '../ledger/context';
import { denied } from '../ledger/errors';
import { id, parseArg, parseJsonArg, serialNo, text } from '../ledger/validation';
import { ALL_ROLES, OVERSIGHT_ROLES, Role } from '../access/roles';
import { Caller, authorise } from '../access/caller';
import { canSee, getProject } from '../project/project';
import { payoutSchema } from './payout';
import {
  CheckResult,
  Discrepancy,
  PayoutStatement,
  TransferClaim,
  TransferRecord,
  bankRecordSchema,
  discrepancies,
  listPending,
  payoutStatement,
  reconcile,
  recordBankTransfer,
  registerPayout,
  registerSerial,
  registrationSchema,
  resolveDiscrepancy,
  serialStatus,
  sweepUnmatched,
} from './reconciliation';

/** Units that pay a hop of a draft (the bank pays its own financing share). */
const PAYERS: readonly Role[] = ['provincialFinance', 'countyFinance', 'bank', 'limitedPartnership', 'countyFundCompany'];

async function mayReadProject(ctx: FundContext, caller: Caller, projectId: string | undefined): Promise<boolean> {
  if (OVERSIGHT_ROLES.includes(caller.role)) return true;
  return projectId !== undefined && canSee(caller, await getProject(ctx, projectId));
}

@Info({ title: 'Reconciliation', description: 'Real-time reconciliation (实时对账) of bank transfers against drafts' })
export class ReconciliationContract extends FundContract {
  constructor() {
    super('Reconciliation');
  }

  /** The paying unit registers the bank serial (转账流水号) of its transfer for the drafts' current hop. */
  @Transaction()
  async registerSerial(ctx: FundContext, registrationJson: string): Promise<CheckResult> {
    const caller = await authorise(ctx, PAYERS);
    return registerSerial(ctx, caller, parseJsonArg('registration', registrationJson, registrationSchema));
  }

  /** The implementing unit registers the serial of a payout to a payee its drafts name (承兑后支付). */
  @Transaction()
  async registerPayout(ctx: FundContext, payoutJson: string): Promise<CheckResult> {
    const caller = await authorise(ctx, ['implementingUnit']);
    return registerPayout(ctx, caller, parseJsonArg('payout', payoutJson, payoutSchema));
  }

  /** A project's payouts: accepted, paid out, awaiting the bank, the payees in scope and each payout registered. */
  @Transaction(false)
  async payouts(ctx: FundContext, projectId: string): Promise<PayoutStatement> {
    const caller = await authorise(ctx, ALL_ROLES);
    const checkedId = parseArg('projectId', projectId, id('projectId'));
    if (!(await mayReadProject(ctx, caller, checkedId))) throw denied(`${caller.orgId} may not see project ${checkedId}`);
    return payoutStatement(ctx, checkedId);
  }

  /** The bank pushes its own record of a transfer from an account it holds. */
  @Transaction()
  async recordBankTransfer(ctx: FundContext, recordJson: string): Promise<CheckResult> {
    const caller = await authorise(ctx, ['bank']);
    return recordBankTransfer(ctx, caller, parseJsonArg('record', recordJson, bankRecordSchema));
  }

  /** checking(serial): match again on demand (it also runs whenever the second half arrives). */
  @Transaction()
  async checking(ctx: FundContext, serial: string): Promise<CheckResult> {
    await authorise(ctx, [...PAYERS, 'leadingGroup']);
    return reconcile(ctx, parseArg('serial', serial, serialNo('serial')));
  }

  @Transaction()
  async sweepUnmatched(ctx: FundContext): Promise<{ flagged: number; discrepancyIds: string[] }> {
    const caller = await authorise(ctx, ['admin', 'leadingGroup']);
    return sweepUnmatched(ctx, caller);
  }

  /** Manual resolution (平账) of a discrepancy by the provincial command, with its reason. */
  @Transaction()
  async resolveDiscrepancy(ctx: FundContext, discrepancyId: string, reason: string): Promise<Discrepancy> {
    const caller = await authorise(ctx, ['leadingGroup']);
    return resolveDiscrepancy(ctx, caller, parseArg('discrepancyId', discrepancyId, id('discrepancyId')), parseArg('reason', reason, text('reason', 1000, 5)));
  }

  @Transaction(false)
  async getSerial(ctx: FundContext, serial: string): Promise<{ serial: string; claim?: TransferClaim; record?: TransferRecord }> {
    const caller = await authorise(ctx, ALL_ROLES);
    const status = await serialStatus(ctx, parseArg('serial', serial, serialNo('serial')));
    const own = status.record?.bankId === caller.orgId || status.claim?.registeredBy === caller.orgId;
    if (!own && !(await mayReadProject(ctx, caller, status.claim?.projectId))) throw denied(`${caller.orgId} may not see serial ${status.serial}`);
    return status;
  }

  @Transaction(false)
  async listDiscrepancies(ctx: FundContext, filterJson: string): Promise<Discrepancy[]> {
    const caller = await authorise(ctx, ALL_ROLES);
    const filter = parseJsonArg(
      'filter',
      filterJson,
      z.strictObject({ status: z.enum(['OPEN', 'RESOLVED'], 'status must be OPEN or RESOLVED').optional(), projectId: id('projectId').optional() }),
    );
    const out: Discrepancy[] = [];
    for (const d of await discrepancies(ctx).list()) {
      if (filter.status && d.status !== filter.status) continue;
      if (filter.projectId && d.projectId !== filter.projectId) continue;
      if (await mayReadProject(ctx, caller, d.projectId)) out.push(d);
    }
    return out;
  }

  @Transaction(false)
  async listPending(ctx: FundContext): Promise<Array<{ kind: string; serial: string; since: string }>> {
    await authorise(ctx, ['admin', 'leadingGroup', 'auditor']);
    return listPending(ctx);
  }
}
