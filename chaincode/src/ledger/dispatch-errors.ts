/**
 * Refusals that fabric-shim's contract dispatch makes before any contract code runs carry no error code: a call with
 * the wrong number of arguments ("Expected 2 parameters, but 3 have been supplied"), an argument its schema refuses,
 * or a contract name nobody deployed ("Contract name is not known: X"). Every other refusal of this chaincode starts
 * with a stable code (errors.ts) that the web platform maps to a message and clients tell apart, so these get one too:
 * VALIDATION for the arguments, NOT_FOUND for the name, like an unknown function of a known contract. Only these
 * messages are touched: a chaincode bug still surfaces as it is. Patched on the ChaincodeFromContract class that
 * fabric-shim itself loads (fabric-chaincode-node and the embedded ledger both dispatch through it).
 */
import { createRequire } from 'node:module';

interface Response {
  status: number;
  message?: string;
}
interface Dispatcher {
  invokeFunctionality(stub: { getFunctionAndParameters(): { fcn: string } }): Promise<Response>;
}

const REWRITES: Array<[RegExp, (m: string, fcn: string) => string]> = [
  [/^Expected \d+ parameters, but \d+ have been supplied$/, (m) => `VALIDATION: ${m}`],
  [/^Unable to validate parameter due to /, (m) => `VALIDATION: ${m}`],
  [/^Contract name is not known: /, (_m, fcn) => `NOT_FOUND: transaction ${fcn} does not exist`],
];

const ChaincodeFromContract = createRequire(require.resolve('fabric-shim'))('./lib/contract-spi/chaincodefromcontract') as { prototype: Dispatcher };
const proto = ChaincodeFromContract.prototype;
const invoke = proto.invokeFunctionality;
proto.invokeFunctionality = async function invokeWithCodes(this: Dispatcher, stub) {
  const response = await invoke.call(this, stub);
  const message = response.message;
  if (response.status === 200 || typeof message !== 'string') return response;
  for (const [pattern, rewrite] of REWRITES) {
    if (pattern.test(message)) return { ...response, message: rewrite(message, stub.getFunctionAndParameters().fcn) };
  }
  return response;
};
