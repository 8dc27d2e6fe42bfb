/**
 * Which chaincode the embedded ledger runs, named by module so that every thread that runs it
 * (the ledger's, endorsement workers, channel threads) can load the same contract classes.
 */
import type { ChaincodeInterface } from 'fabric-shim';
import { loadContractChaincode } from './chaincode-support';

/** Which chaincode a ledger runs: its name on the channel, version, and the module export listing its contract classes. */
export interface ChaincodeModule {
  name: string;
  version: string;
  /** Resolved from this directory: a package name, or an absolute path. */
  module: string;
  exportName: string;
}

/** The platform's own chaincode. */
export const FUND_CHAINCODE: Readonly<ChaincodeModule> = { name: 'fund', version: '0.1.0', module: '@fund/chaincode', exportName: 'contracts' };

/** The package id the chaincode registers with ("name:version"). */
export function chaincodeIdOf(m: ChaincodeModule): string {
  return `${m.name}:${m.version}`;
}

/** The module's contract classes as fabric-shim's contract chaincode. */
export function loadChaincodeModule(m: ChaincodeModule): ChaincodeInterface {
  const list = (require(m.module) as Record<string, unknown>)[m.exportName];
  if (!Array.isArray(list) || list.length === 0) throw new Error(`${m.module} does not export a list of contract classes named ${JSON.stringify(m.exportName)}`);
  return loadContractChaincode(list, m.module, m.version);
}
