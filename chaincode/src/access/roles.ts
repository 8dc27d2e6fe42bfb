// The nine roles of the platform (thesis 6.3.1.1) plus read-only auditors. A user's role is the
// `role` attribute of the X.509 certificate its organisation's CA issued; `org` names its organisation.
export const ROLES = [
  'admin', // 管理员
  'leadingGroup', // 领导小组办公室 / 省脱贫攻坚指挥部
  'provincialFinance', // 省财政厅
  'countyOffice', // 县脱贫攻坚指挥部
  'countyFinance', // 县财政局
  'bank', // 商业银行
  'limitedPartnership', // 有限合伙公司
  'countyFundCompany', // 县脱贫基金公司
  'implementingUnit', // 项目实施单位
  'auditor', // 审计 (read-only)
] as const;

export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Roles that may read everything on the channel. */
export const OVERSIGHT_ROLES: readonly Role[] = ['admin', 'leadingGroup', 'provincialFinance', 'auditor'];

/** Roles whose organisations sit in one county: what they see is scoped to it. */
export const COUNTY_ROLES: readonly Role[] = ['countyOffice', 'countyFinance', 'countyFundCompany', 'implementingUnit'];

export const ALL_ROLES: readonly Role[] = ROLES;
