import { Contract } from 'fabric-contract-api';
import './dispatch-errors';
import { FundContext } from './context';

/** Every contract of the suite: our context, and the transaction's events published on success. */
export abstract class FundContract extends Contract {
  override createContext(): FundContext {
    return new FundContext();
  }

  /**
   * A transaction's object result leaves as its JSON text. The contract API would write the same JSON, but only after
   * class-transformer's classToPlain has deep-copied the object (and a debug line has stringified it once more); the
   * results here are plain data, so the bytes do not change and the copy is saved. (The API's typings have `fn` a
   * Function and nothing returned; at run time it is the transaction's name, and what this returns is its result.)
   */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  override async aroundTransaction(ctx: FundContext, fn: Function, parameters: unknown[]): Promise<void> {
    const result: unknown = await super.aroundTransaction(ctx, fn, parameters);
    return (result !== null && typeof result === 'object' ? JSON.stringify(result) : result) as void;
  }

  override async afterTransaction(ctx: FundContext): Promise<void> {
    ctx.flushEvents();
  }

  override async unknownTransaction(ctx: FundContext): Promise<void> {
    const { fcn } = ctx.stub.getFunctionAndParameters();
    throw new Error(`NOT_FOUND: transaction ${fcn} does not exist`);
  }
}
