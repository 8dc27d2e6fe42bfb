import { Contract } from 'fabric-contract-api';
import { FundContext } from './context';

/** Every contract of the suite: our context, and the transaction's events published on success. */
export abstract class FundContract extends Contract {
  override createContext(): FundContext {
    return new FundContext();
  }

  override async afterTransaction(ctx: FundContext): Promise<void> {
    ctx.flushEvents();
  }

  override async unknownTransaction(ctx: FundContext): Promise<void> {
    const { fcn } = ctx.stub.getFunctionAndParameters();
    throw new Error(`NOT_FOUND: transaction ${fcn} does not exist`);
  }
}
