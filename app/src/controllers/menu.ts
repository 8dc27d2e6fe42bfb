/** The navigation bar: each role sees the activities it may do. */
import type { Role } from '@fund/chaincode/dist/access/roles';
import { ANY_USER, OVERSIGHT, PAYERS } from './route';

interface MenuItem {
  href: string;
  label: string;
  roles: readonly Role[];
}

export const MENU: MenuItem[] = [
  { href: '/', label: 'nav.home', roles: ANY_USER },
  { href: '/projects', label: 'nav.projects', roles: ANY_USER },
  { href: '/projects/new', label: 'nav.apply', roles: ['countyOffice'] },
  { href: '/approvals', label: 'nav.approvals', roles: ['leadingGroup'] },
  { href: '/disbursement', label: 'nav.disbursement', roles: PAYERS },
  { href: '/acceptance', label: 'nav.acceptance', roles: ['implementingUnit'] },
  { href: '/progress', label: 'nav.progress', roles: ['implementingUnit'] },
  { href: '/monitoring', label: 'nav.monitoring', roles: [...OVERSIGHT] },
  { href: '/reports', label: 'nav.reports', roles: ANY_USER },
  { href: '/export', label: 'nav.export', roles: [...OVERSIGHT] },
  { href: '/rules', label: 'nav.rules', roles: [...OVERSIGHT] },
  { href: '/admin', label: 'nav.admin', roles: ['admin'] },
];

export function menuFor(role: string | undefined): MenuItem[] {
  return role ? MENU.filter((m) => m.roles.includes(role as Role)) : [];
}
