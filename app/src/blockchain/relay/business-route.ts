/**
 * Which business a chaincode call belongs to (thesis 4.3.3.2 (2): the relay reads the business id of each request).
 * A project and everything under it (its drafts, their serials and discrepancies) live on the set that owns the
 * project; the registry (organisations, accounts, channel configuration, fund policy) is on every set; routing calls go to the
 * routing chain.
 */
import { projectOfDraftId } from '@fund/chaincode/dist/draft/draft';

export type BusinessRoute =
  /** Routing contracts: the routing chain. */
  | { kind: 'routing' }
  /** A new project: its id is registered on the routing chain first, which picks the set. */
  | { kind: 'new-project' }
  | { kind: 'project'; projectId: string }
  /** A bank serial: on the set of the project whose drafts it carries. */
  | { kind: 'serial'; serial: string }
  /** Registry writes and the sweep: every set. */
  | { kind: 'every' }
  /** Registry reads: any set answers the same. */
  | { kind: 'any' };

const ROUTING_CONTRACTS = new Set(['RouteManager', 'RouteSet', 'Whitelist']);
/** A JSON argument as an object, or undefined when it is not one (the set's chaincode words that refusal). */
export function parseObject(json: string | undefined): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(json ?? '') as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The route of a call, from its function and arguments. Malformed arguments still get a route (the set's chaincode
 * then refuses them with its own message), so the relay never has to word a validation error itself.
 */
export function businessRoute(fcn: string, args: readonly string[]): BusinessRoute {
  const [contract, name] = fcn.split(':');
  if (ROUTING_CONTRACTS.has(contract)) return { kind: 'routing' };
  const first = args[0] ?? '';
  switch (contract) {
    case 'Project':
      if (name === 'file') return { kind: 'new-project' };
      if (name === 'list') return { kind: 'any' };
      return { kind: 'project', projectId: first };
    case 'Draft':
      if (name === 'previewIssue' || name === 'listByProject') return { kind: 'project', projectId: first };
      if (name === 'listPayable') return { kind: 'any' };
      return { kind: 'project', projectId: projectOfDraftId(first) ?? first };
    case 'Reconciliation': {
      if (name === 'registerSerial') {
        const draftIds = parseObject(first)?.draftIds;
        const draftId = Array.isArray(draftIds) && typeof draftIds[0] === 'string' ? draftIds[0] : '';
        return { kind: 'project', projectId: projectOfDraftId(draftId) ?? draftId };
      }
      if (name === 'registerPayout') return { kind: 'project', projectId: String(parseObject(first)?.projectId ?? '') };
      if (name === 'payouts') return { kind: 'project', projectId: first };
      if (name === 'recordBankTransfer') return { kind: 'serial', serial: String(parseObject(first)?.serial ?? '') };
      if (name === 'checking' || name === 'getSerial') return { kind: 'serial', serial: first };
      if (name === 'sweepUnmatched') return { kind: 'every' };
      return { kind: 'any' };
    }
    case 'Organisation':
    case 'Config':
    case 'Policy':
    case 'Identity':
      // The fund policy is the registry's too: every set checks its projects against the same rules.
      return ['get', 'list', 'history', 'current', 'checkPlan', 'isRevoked', 'listRevoked'].includes(name) ? { kind: 'any' } : { kind: 'every' };
    default:
      return { kind: 'any' };
  }
}
