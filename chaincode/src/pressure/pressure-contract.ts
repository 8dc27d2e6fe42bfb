import { Info, Transaction } from 'fabric-contract-api';
import { FundContract } from '../ledger/base-contract';
import { FundContext } from '../ledger/context';
import { ContractError } from '../ledger/errors';

/**
 * The thesis's benchmark chaincode (5.1.1 (4), pressureMeasureCC): one account A that starts at 100, and `add`, which
 * adds 1 to it. Used only by the chapter 5 benchmark; it is a chaincode of its own (`pressureContracts`), never
 * installed beside the fund's contracts.
 *
 * Why `add` does not read and rewrite A: under Fabric's MVCC every transaction that read A at version v is invalid
 * once another transaction in the same or an earlier block has written A (MVCC_READ_CONFLICT), so a read-modify-write
 * `add` lets one transaction per block through and fails the other nine. The thesis counted every transaction of a
 * block, so its figures are only comparable with adds that all commit. As Fabric's high-throughput sample does, each
 * `add` therefore writes its own delta under A (a composite key ending in its transaction id: no two transactions
 * share a key) and reads nothing; the balance is the opening 100 plus the sum of the deltas, added up when read.
 * A consequence: an `add` committed before `init` still counts once A is opened.
 *
 * No role check: like the thesis's contract, any member whose signed proposal the peer accepted may call it.
 */
export const ACCOUNT = 'A';
export const OPENING_BALANCE = 100;

interface Account {
  account: string;
  opening: number;
}

const accounts = (ctx: FundContext) => ctx.store<Account>('PressureAccount');
const deltas = (ctx: FundContext) => ctx.store<number>('PressureDelta');

async function balance(ctx: FundContext): Promise<number> {
  const account = await accounts(ctx).get(ACCOUNT);
  if (!account) throw new ContractError('NOT_INITIALISED', `account ${ACCOUNT} is not opened; call init first`);
  let sum = account.opening;
  for (const delta of await deltas(ctx).list([ACCOUNT])) sum += delta;
  return sum;
}

@Info({ title: 'PressureMeasure', description: '压力测试合约 (thesis 5.1.1): account A starts at 100, add increments it by 1' })
export class PressureMeasureContract extends FundContract {
  constructor() {
    super('PressureMeasure');
  }

  /** Opens account A at 100; calling it again changes nothing. Returns the balance. */
  @Transaction()
  async init(ctx: FundContext): Promise<number> {
    if (!(await accounts(ctx).exists(ACCOUNT))) await accounts(ctx).put({ account: ACCOUNT, opening: OPENING_BALANCE }, ACCOUNT);
    return balance(ctx);
  }

  /** Adds 1 to A: writes one delta key of its own and reads nothing, so concurrent adds never conflict. */
  @Transaction()
  async add(ctx: FundContext): Promise<void> {
    await deltas(ctx).put(1, ACCOUNT, ctx.txId);
  }

  /** A's balance: 100 plus one for every committed add. */
  @Transaction(false)
  async get(ctx: FundContext): Promise<number> {
    return balance(ctx);
  }
}

/** The pressure chaincode's contract list, as `contracts` is the fund chaincode's. */
export const pressureContracts: Array<new () => object> = [PressureMeasureContract];
