import './logging';
import './certificates';
import { ConfigContract } from './config/config-contract';
import { OrganisationContract } from './organisation/organisation-contract';
import { ProjectContract } from './project/project-contract';
import { DraftContract } from './draft/draft-contract';
import { ReconciliationContract } from './reconciliation/reconciliation-contract';
import { PolicyContract } from './policy/policy-contract';
import { IdentityContract } from './access/identity-contract';
import { RouteManagerContract, RouteSetContract, WhitelistContract } from './routing/routing-contracts';

export { ConfigContract, IdentityContract, OrganisationContract, PolicyContract, ProjectContract, DraftContract, ReconciliationContract, RouteManagerContract, RouteSetContract, WhitelistContract };
export { canonicalJson } from './ledger/canonical';
export { ROLES, type Role } from './access/roles';
export { pressureContracts } from './pressure/pressure-contract'; // thesis chapter 5's benchmark chaincode: deployed alone, not in `contracts`

/** Read by fabric-chaincode-node (start / server) and by the embedded ledger: the same list in both. */
export const contracts: Array<new () => object> = [
  ConfigContract,
  IdentityContract,
  OrganisationContract,
  PolicyContract,
  ProjectContract,
  DraftContract,
  ReconciliationContract,
  RouteManagerContract,
  RouteSetContract,
  WhitelistContract,
];
