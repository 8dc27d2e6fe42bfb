/**
 * The platform's membership layout: which organisation's MSP issues the certificates of each role.
 * Three MSPs, one per kind of node operator (province, counties, banks), as on the Fabric network.
 */
import { ROLES, type Role } from '@fund/chaincode/dist/access/roles';

export const MSP_OF_ROLE: Readonly<Record<string, string>> = {
  admin: 'ProvinceMSP',
  leadingGroup: 'ProvinceMSP',
  provincialFinance: 'ProvinceMSP',
  limitedPartnership: 'ProvinceMSP',
  auditor: 'ProvinceMSP',
  countyOffice: 'CountyMSP',
  countyFinance: 'CountyMSP',
  countyFundCompany: 'CountyMSP',
  implementingUnit: 'CountyMSP',
  bank: 'BankMSP',
};

/** The channel configuration's `roleMsps`: each role admitted from its own MSP. */
export const ROLE_MSPS = Object.fromEntries(ROLES.map((r) => [r, [MSP_OF_ROLE[r]]])) as Record<Role, string[]>;
