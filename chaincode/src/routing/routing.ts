import { isIP } from 'net';
import { z } from 'zod';
import { FundContext } from '../ledger/context';
import { badState, conflict, invalid, notFound } from '../ledger/errors';
import { INDEX_VALUE } from '../ledger/state';
import { id, sha256, text } from '../ledger/validation';

/**
 * Multi-chain routing (thesis 4.3.3.1), kept on the routing channel: the route manager maps business
 * ids to sets (business channels); a set holds its business ids and nodes up to maxNum, warning at
 * warnNum; a node describes one peer. The relay's IP whitelist lives here too.
 */

/** 路由管理合约 (table 4.1). */
export interface RouteManager {
  sets: string[];
  currentFreeSet: number;
  routeCount: number;
}

/** 集群合约 (table 4.3): one business channel. */
export interface RouteSet {
  setId: string;
  channel: string;
  maxNum: number;
  warnNum: number;
  memberCount: number;
  nodeIds: string[];
  registeredAt: string;
}

/** 节点合约 (table 4.5). */
export interface RouteNode {
  nodeId: string;
  setId: string;
  listenIp: string;
  p2pPort: number;
  rpcPort: number;
  nodeType: 'peer' | 'orderer' | 'relay';
  desc: string;
  caHash: string;
  agencyInfo: string;
}

export interface Route {
  businessId: string;
  setId: string;
  channel: string;
  registeredAt: string;
  txId: string;
}

export interface WhitelistEntry {
  address: string;
  description: string;
  addedBy: string;
  addedAt: string;
}

// 0: the node listens on no port of its own (the embedded ledger's peer and replicas run inside the platform's process).
const port = (what: string) => z.number(`${what} must be a number`).int(`${what} must be a whole number`).min(0, `${what} must be 0–65535`).max(65535, `${what} must be 0–65535`);
const ip = (what: string) => z.string(`${what} must be a string`).refine((s) => isIP(s) !== 0, `${what} must be an IPv4 or IPv6 address`);

export const setSchema = z
  .strictObject({
    setId: id('setId'),
    channel: z.string('channel must be a string').regex(/^[a-z][a-z0-9.-]{0,48}$/, 'channel must be a Fabric channel name (lower-case letters, digits, "." or "-")'),
    maxNum: z.number('maxNum must be a number').int('maxNum must be a whole number').min(1, 'maxNum must be at least 1').max(10_000_000),
    warnNum: z.number('warnNum must be a number').int('warnNum must be a whole number').min(1, 'warnNum must be at least 1'),
  })
  .refine((s) => s.warnNum <= s.maxNum, { message: 'warnNum must not exceed maxNum', path: ['warnNum'] });

export const nodeSchema = z.strictObject({
  nodeId: id('nodeId'),
  listenIp: ip('listenIp'),
  p2pPort: port('p2pPort'),
  rpcPort: port('rpcPort'),
  nodeType: z.enum(['peer', 'orderer', 'relay'], 'nodeType must be peer, orderer or relay'),
  desc: text('desc', 200, 0).default(''),
  caHash: sha256('caHash'),
  agencyInfo: text('agencyInfo', 200),
});

const CIDR_V4 = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/;
export const whitelistSchema = z.strictObject({
  address: z
    .string('address must be a string')
    .refine((s) => isIP(s) !== 0 || (CIDR_V4.test(s) && isIP(s.split('/')[0]) === 4 && Number(s.split('/')[1]) <= 32), 'address must be an IP address or an IPv4 CIDR block such as 10.1.0.0/16'),
  description: text('description', 200),
});

const MANAGER = 'main';
const manager = (ctx: FundContext) => ctx.store<RouteManager>('RouteManager');
const sets = (ctx: FundContext) => ctx.store<RouteSet>('RouteSet');
const routes = (ctx: FundContext) => ctx.store<Route>('Route');
const members = (ctx: FundContext) => ctx.store<object>('SetMember');
const nodes = (ctx: FundContext) => ctx.store<RouteNode>('RouteNode');
const whitelist = (ctx: FundContext) => ctx.store<WhitelistEntry>('Whitelist');

export async function getManager(ctx: FundContext): Promise<RouteManager> {
  return (await manager(ctx).get(MANAGER)) ?? { sets: [], currentFreeSet: 0, routeCount: 0 };
}

export async function getSet(ctx: FundContext, setId: string): Promise<RouteSet> {
  const set = await sets(ctx).get(setId);
  if (!set) throw notFound('set', setId);
  return set;
}

export async function registerSet(ctx: FundContext, input: z.output<typeof setSchema>): Promise<RouteSet> {
  if (await sets(ctx).exists(input.setId)) throw conflict(`set ${input.setId} is already registered`);
  const m = await getManager(ctx);
  for (const other of m.sets) {
    if ((await getSet(ctx, other)).channel === input.channel) throw conflict(`channel ${input.channel} already serves set ${other}`);
  }
  const set: RouteSet = { ...input, memberCount: 0, nodeIds: [], registeredAt: ctx.nowIso };
  await sets(ctx).put(set, set.setId);
  await manager(ctx).put({ ...m, sets: [...m.sets, set.setId] }, MANAGER);
  ctx.emit('RouteSetRegistered', { setId: set.setId, channel: set.channel, maxNum: set.maxNum, warnNum: set.warnNum });
  return set;
}

export const isFull = (set: RouteSet) => set.memberCount >= set.maxNum;

/**
 * Assign a business id to the current free set; move on when it is full; fail when all are full.
 * Registering an id that is already routed returns its route unchanged.
 */
export async function registerRoute(ctx: FundContext, businessId: string): Promise<Route & { warning: boolean; existing: boolean }> {
  return (await registerRoutes(ctx, [businessId]))[0];
}

/**
 * registerRoute for several ids in one transaction, in order. Every registration reads and writes the route manager
 * and its set, so concurrent single registrations would invalidate each other (MVCC); the relay gathers the new
 * projects that arrive together into one of these. A chaincode does not read its own writes, so the manager and
 * the sets are kept in memory and written once.
 */
export async function registerRoutes(ctx: FundContext, businessIds: string[]): Promise<Array<Route & { warning: boolean; existing: boolean }>> {
  if (new Set(businessIds).size !== businessIds.length) throw invalid('businessIds: an id is listed twice');
  const m = await getManager(ctx);
  const loaded = new Map<string, RouteSet>();
  const setAt = async (index: number) => {
    const id = m.sets[index];
    if (!loaded.has(id)) loaded.set(id, await getSet(ctx, id));
    return loaded.get(id)!;
  };
  const changed = new Set<string>();
  const results: Array<Route & { warning: boolean; existing: boolean }> = [];
  for (const businessId of businessIds) {
    const existing = await routes(ctx).get(businessId);
    if (existing) {
      results.push({ ...existing, warning: false, existing: true });
      continue;
    }
    if (m.sets.length === 0) throw badState('no set is registered on the routing chain');
    let set: RouteSet | undefined;
    for (; m.currentFreeSet < m.sets.length; m.currentFreeSet++) {
      const candidate = await setAt(m.currentFreeSet);
      if (!isFull(candidate)) {
        set = candidate;
        break;
      }
    }
    if (!set) throw badState(`all ${m.sets.length} sets are full; register a new set`);
    set.memberCount++;
    changed.add(set.setId);
    const route: Route = { businessId, setId: set.setId, channel: set.channel, registeredAt: ctx.nowIso, txId: ctx.txId };
    await members(ctx).put(INDEX_VALUE, set.setId, businessId);
    await routes(ctx).put(route, businessId);
    m.routeCount++;
    const full = isFull(set);
    if (full) m.currentFreeSet++;
    const warning = set.memberCount >= set.warnNum;
    ctx.emit('RouteRegistered', { businessId, setId: set.setId, channel: set.channel });
    if (warning) ctx.emit('RouteSetWarning', { setId: set.setId, memberCount: set.memberCount, warnNum: set.warnNum, maxNum: set.maxNum, full });
    results.push({ ...route, warning, existing: false });
  }
  for (const id of changed) await sets(ctx).put(loaded.get(id)!, id);
  if (changed.size > 0) await manager(ctx).put(m, MANAGER);
  return results;
}

export async function getRoute(ctx: FundContext, businessId: string): Promise<Route> {
  const route = await routes(ctx).get(businessId);
  if (!route) throw notFound('route for business id', businessId);
  return route;
}

export async function addNode(ctx: FundContext, setId: string, input: z.output<typeof nodeSchema>): Promise<RouteNode> {
  const set = await getSet(ctx, setId);
  const existing = await nodes(ctx).get(input.nodeId);
  if (existing) throw conflict(`node ${input.nodeId} is already registered in set ${existing.setId}`);
  const node: RouteNode = { ...input, setId };
  await nodes(ctx).put(node, node.nodeId);
  await sets(ctx).put({ ...set, nodeIds: [...set.nodeIds, node.nodeId] }, setId);
  ctx.emit('RouteNodeAdded', { setId, nodeId: node.nodeId, listenIp: node.listenIp, rpcPort: node.rpcPort });
  return node;
}

export async function removeNode(ctx: FundContext, setId: string, nodeId: string): Promise<RouteSet> {
  const set = await getSet(ctx, setId);
  if (!set.nodeIds.includes(nodeId)) throw notFound(`node in set ${setId}`, nodeId);
  const updated = { ...set, nodeIds: set.nodeIds.filter((n) => n !== nodeId) };
  await sets(ctx).put(updated, setId);
  await nodes(ctx).delete(nodeId);
  ctx.emit('RouteNodeRemoved', { setId, nodeId });
  return updated;
}

export async function getNodeList(ctx: FundContext, setId: string): Promise<RouteNode[]> {
  const set = await getSet(ctx, setId);
  return Promise.all(set.nodeIds.map(async (n) => (await nodes(ctx).get(n))!));
}

export async function addWhitelistEntry(ctx: FundContext, by: string, input: z.output<typeof whitelistSchema>): Promise<WhitelistEntry> {
  if (await whitelist(ctx).exists(input.address)) throw conflict(`${input.address} is already on the whitelist`);
  const entry: WhitelistEntry = { ...input, addedBy: by, addedAt: ctx.nowIso };
  await whitelist(ctx).put(entry, input.address);
  ctx.emit('WhitelistChanged', { address: input.address, change: 'added' });
  return entry;
}

export async function removeWhitelistEntry(ctx: FundContext, address: string): Promise<void> {
  if (!(await whitelist(ctx).exists(address))) throw notFound('whitelist entry', address);
  await whitelist(ctx).delete(address);
  ctx.emit('WhitelistChanged', { address, change: 'removed' });
}

export async function listWhitelist(ctx: FundContext): Promise<WhitelistEntry[]> {
  return whitelist(ctx).list();
}

function ipv4ToInt(address: string): number {
  return address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

/** Whether a client address is admitted: an exact entry, or inside an IPv4 CIDR entry. */
export function admits(entries: WhitelistEntry[], address: string): WhitelistEntry | undefined {
  if (isIP(address) === 0) throw invalid('address must be an IPv4 or IPv6 address');
  return entries.find((e) => {
    if (e.address === address) return true;
    const m = CIDR_V4.exec(e.address);
    if (!m || isIP(address) !== 4) return false;
    // Compare the addresses' leading `bits` bits; plain arithmetic avoids JavaScript's signed 32-bit shifts.
    const size = 2 ** (32 - Number(m[2]));
    return Math.floor(ipv4ToInt(address) / size) === Math.floor(ipv4ToInt(m[1]) / size);
  });
}
