import { Info, Transaction } from 'fabric-contract-api';
import { z } from 'zod';
import { FundContract } from '../ledger/base-contract';
import { FundContext } from '../ledger/context';
import { id, parseArg, parseJsonArg } from '../ledger/validation';
import { ALL_ROLES, Role } from '../access/roles';
import { authorise } from '../access/caller';
import {
  Route,
  RouteManager,
  RouteNode,
  RouteSet,
  WhitelistEntry,
  addNode,
  addWhitelistEntry,
  admits,
  getManager,
  getNodeList,
  getRoute,
  getSet,
  isFull,
  listWhitelist,
  nodeSchema,
  registerRoute,
  registerRoutes,
  registerSet,
  removeNode,
  removeWhitelistEntry,
  setSchema,
  whitelistSchema,
} from './routing';

// The routing channel keeps no organisation registry: callers are checked by role and MSP only.
const onRoutingChannel = { bindOrganisation: false };
const authoriseRouting = (ctx: FundContext, roles: readonly Role[]) => authorise(ctx, roles, onRoutingChannel);
/** Roles whose actions create a new business id to route: filing a project, or the operator by hand. */
const ROUTE_REGISTRARS: readonly Role[] = ['admin', 'countyOffice', 'leadingGroup'];
const businessIdsSchema = z.array(id('businessId'), 'businessIds must be a list of ids').min(1, 'businessIds must not be empty').max(500, 'at most 500 business ids at once');

@Info({ title: 'RouteManager', description: '路由管理合约: sets and business-id routes (thesis table 4.2)' })
export class RouteManagerContract extends FundContract {
  constructor() {
    super('RouteManager');
  }

  @Transaction()
  async registerSet(ctx: FundContext, setJson: string): Promise<RouteSet> {
    await authoriseRouting(ctx, ['admin']);
    return registerSet(ctx, parseJsonArg('set', setJson, setSchema));
  }

  @Transaction()
  async registerRoute(ctx: FundContext, businessId: string): Promise<Route & { warning: boolean; existing: boolean }> {
    await authoriseRouting(ctx, ROUTE_REGISTRARS);
    return registerRoute(ctx, parseArg('businessId', businessId, id('businessId')));
  }

  /** Several new business ids at once, in order (the relay's batch of filings that arrived together). */
  @Transaction()
  async registerRoutes(ctx: FundContext, businessIdsJson: string): Promise<Array<Route & { warning: boolean; existing: boolean }>> {
    await authoriseRouting(ctx, ROUTE_REGISTRARS);
    return registerRoutes(ctx, parseJsonArg('businessIds', businessIdsJson, businessIdsSchema));
  }

  @Transaction(false)
  async getRoute(ctx: FundContext, businessId: string): Promise<Route> {
    await authoriseRouting(ctx, ALL_ROLES);
    return getRoute(ctx, parseArg('businessId', businessId, id('businessId')));
  }

  @Transaction(false)
  async getManager(ctx: FundContext): Promise<RouteManager> {
    await authoriseRouting(ctx, ALL_ROLES);
    return getManager(ctx);
  }
}

@Info({ title: 'RouteSet', description: '集群合约: a set (business channel), its nodes and capacity (thesis table 4.4)' })
export class RouteSetContract extends FundContract {
  constructor() {
    super('RouteSet');
  }

  @Transaction(false)
  async getSet(ctx: FundContext, setId: string): Promise<RouteSet> {
    await authoriseRouting(ctx, ALL_ROLES);
    return getSet(ctx, parseArg('setId', setId, id('setId')));
  }

  @Transaction(false)
  async getNodeList(ctx: FundContext, setId: string): Promise<RouteNode[]> {
    await authoriseRouting(ctx, ALL_ROLES);
    return getNodeList(ctx, parseArg('setId', setId, id('setId')));
  }

  @Transaction()
  async addNode(ctx: FundContext, setId: string, nodeJson: string): Promise<RouteNode> {
    await authoriseRouting(ctx, ['admin']);
    return addNode(ctx, parseArg('setId', setId, id('setId')), parseJsonArg('node', nodeJson, nodeSchema));
  }

  @Transaction()
  async removeNode(ctx: FundContext, setId: string, nodeId: string): Promise<RouteSet> {
    await authoriseRouting(ctx, ['admin']);
    return removeNode(ctx, parseArg('setId', setId, id('setId')), parseArg('nodeId', nodeId, id('nodeId')));
  }

  @Transaction(false)
  async isFull(ctx: FundContext, setId: string): Promise<boolean> {
    await authoriseRouting(ctx, ALL_ROLES);
    return isFull(await getSet(ctx, parseArg('setId', setId, id('setId'))));
  }
}

@Info({ title: 'Whitelist', description: "The relay's IP whitelist (接入准入)" })
export class WhitelistContract extends FundContract {
  constructor() {
    super('Whitelist');
  }

  @Transaction()
  async add(ctx: FundContext, entryJson: string): Promise<WhitelistEntry> {
    const caller = await authoriseRouting(ctx, ['admin']);
    return addWhitelistEntry(ctx, caller.orgId, parseJsonArg('entry', entryJson, whitelistSchema));
  }

  @Transaction()
  async remove(ctx: FundContext, address: string): Promise<void> {
    await authoriseRouting(ctx, ['admin']);
    await removeWhitelistEntry(ctx, parseArg('address', address, whitelistSchema.shape.address));
  }

  @Transaction(false)
  async check(ctx: FundContext, address: string): Promise<{ address: string; allowed: boolean; matched?: string }> {
    await authoriseRouting(ctx, ALL_ROLES);
    const matched = admits(await listWhitelist(ctx), address);
    return { address, allowed: matched !== undefined, matched: matched?.address };
  }

  @Transaction(false)
  async list(ctx: FundContext): Promise<WhitelistEntry[]> {
    await authoriseRouting(ctx, ALL_ROLES);
    return listWhitelist(ctx);
  }
}
