/**
 * First start of a platform: the operator's service identity, every channel initialised with which MSP
 * carries which role, and the routing chain given the configured sets, the nodes the ledger knows for each
 * set that lists none and, while its whitelist is empty, the platform's own address. Idempotent: later
 * starts find everything in place; a set added to the configuration (LEDGER_SETS) is registered on the next start.
 */
import { User, type UserDoc } from '../models/user';
import { ROLE_MSPS } from '../blockchain/msp';
import type { ChannelNode, Identity } from '../blockchain';
import { ChainError, type Actor, type Chain } from './chain';
import type { FundPolicy } from '@fund/chaincode/dist/policy/policy';

export const OPERATOR = { id: 'PLATFORM', name: '扶贫资金管理平台运营中心' };
const SYSTEM_USERNAME = 'system';

export async function bootstrap(
  chain: Chain,
  channels: string[],
  options: { unmatchedThresholdHours?: number; limitedPartnershipId?: string; log?: (line: string) => void } = {},
): Promise<UserDoc> {
  let system = await User.findOne({ username: SYSTEM_USERNAME });
  if (!system) {
    const { identity, wallet } = await chain.enrol(SYSTEM_USERNAME, 'admin', OPERATOR.id);
    // '!' is no scrypt hash: nobody can log in as the service identity.
    system = await User.create({ username: SYSTEM_USERNAME, displayName: '平台服务', passwordHash: '!', role: 'admin', orgId: OPERATOR.id, wallet });
    chain.remember(system.id, identity);
  }
  for (const channel of channels) {
    const identity = await chain.identityOf(system);
    try {
      await chain.evaluateAs(identity, 'Config:get', [], channel);
    } catch (err) {
      if (!(err instanceof ChainError) || err.code !== 'NOT_INITIALISED') throw err;
      // Expected on a first start: the channel answers that it has no configuration yet.
      options.log?.(`› channel ${channel}: not initialised yet (first start); initialising its configuration`);
      const config = { roleMsps: ROLE_MSPS, unmatchedThresholdHours: options.unmatchedThresholdHours ?? 48, ...(options.limitedPartnershipId ? { limitedPartnershipId: options.limitedPartnershipId } : {}) };
      await chain.submitAs(identity, 'Config:initialise', [JSON.stringify(config), JSON.stringify(OPERATOR)], channel);
    }
  }
  return system;
}

export interface SetCapacity {
  maxNum: number;
  warnNum: number;
}

/**
 * Registers the configured sets the routing chain does not know yet, the nodes of every set that lists none, and the
 * platform's address on an empty whitelist.
 */
export async function bootstrapRouting(
  chain: Chain,
  system: Actor,
  sets: readonly string[],
  capacity: SetCapacity,
  options: { log?: (line: string) => void } = {},
): Promise<void> {
  const identity = await chain.identityOf(system);
  const manager = await chain.evaluateAs<{ sets: string[] }>(identity, 'RouteManager:getManager', []);
  const known = await Promise.all(manager.sets.map((id) => chain.evaluateAs<{ channel: string }>(identity, 'RouteSet:getSet', [id])));
  for (const [i, channel] of sets.entries()) {
    if (known.some((s) => s.channel === channel)) continue;
    const setId = `SET-${i + 1}`;
    await submitRetried(chain, identity, 'RouteManager:registerSet', [JSON.stringify({ setId, channel, ...capacity })]);
  }
  const whitelist = await chain.evaluateAs<unknown[]>(identity, 'Whitelist:list', []);
  if (whitelist.length === 0) {
    await chain.submitAs(identity, 'Whitelist:add', [JSON.stringify({ address: chain.address, description: '本平台 the web platform itself' })]);
  }
  await registerSetNodes(chain, identity, options.log ?? console.log);
}

/**
 * Each set the routing chain lists without nodes is given the nodes the ledger knows for its channel, so that the
 * relay forwards its requests to them (thesis 4.3.3.2) without an operator typing them in; a set that lists any,
 * an operator's, is left as it is. A node id is one set's on the routing chain while a Fabric peer serves every
 * channel it joined: a name another set's node has already is registered as <channel>-<name>. A node that cannot be
 * registered is reported, not a reason to stop the start (its set's requests go where they went without it).
 */
async function registerSetNodes(chain: Chain, identity: Identity, log: (line: string) => void): Promise<void> {
  const gateway = chain.gateway;
  if (!gateway.channelNodes) return;
  const manager = await chain.evaluateAs<{ sets: string[] }>(identity, 'RouteManager:getManager', []);
  const sets = await Promise.all(manager.sets.map((id) => chain.evaluateAs<{ setId: string; channel: string; nodeIds: string[] }>(identity, 'RouteSet:getSet', [id])));
  const taken = new Set(sets.flatMap((s) => s.nodeIds));
  const plans: Array<{ setId: string; channel: string; nodes: ChannelNode[] }> = [];
  for (const { setId, channel, nodeIds } of sets) {
    if (nodeIds.length > 0) continue;
    const nodes = (await gateway.channelNodes(channel)).map((node) => ({ ...node, nodeId: taken.has(node.nodeId) ? `${channel}-${node.nodeId}` : node.nodeId }));
    for (const node of nodes) taken.add(node.nodeId);
    plans.push({ setId, channel, nodes });
  }
  // Sets side by side; a set's nodes one after another, since each of them rewrites the set's record.
  await Promise.all(
    plans.map(async ({ setId, channel, nodes }) => {
      const registered: string[] = [];
      for (const node of nodes) {
        await submitRetried(chain, identity, 'RouteSet:addNode', [setId, JSON.stringify(node)]).then(
          () => registered.push(node.nodeId),
          (err: Error) => log(`› set ${setId} (channel ${channel}): node ${node.nodeId} not registered: ${err.message}`),
        );
      }
      if (registered.length > 0) log(`› set ${setId} (channel ${channel}) listed no nodes; registered ${registered.join(', ')}`);
    }),
  );
}

/**
 * A start-up write of the routing chain, tried again when it was invalidated for reading a record stale (MVCC): on
 * Fabric a submit returns once a gateway peer has its block, and the peer that endorses the next write (discovery's
 * choice, the province's on the routing channel) may not have it yet. Nothing was written; a few tries are enough.
 */
async function submitRetried(chain: Chain, identity: Identity, fcn: string, args: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await chain.submitAs(identity, fcn, args);
      return;
    } catch (err) {
      if (attempt >= 5 || !(err instanceof ChainError) || err.code !== 'MVCC') throw err;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

interface RegistryOrganisation {
  id: string;
  name: string;
  type: string;
  mspId: string;
  county?: string;
  accounts: Array<{ accountNo: string; bankId: string; name: string }>;
  active: boolean;
}

/**
 * Brings every set's registry (organisations, their accounts and standing, the channel configuration) level with set
 * 1's. The relay writes the registry to every set, so this only has work when a set was added (LEDGER_SETS raised)
 * or a registry write failed on some set; it runs at every start.
 */
export async function levelRegistries(chain: Chain, system: UserDoc, sets: readonly string[]): Promise<void> {
  const identity = await chain.identityOf(system);
  const [first, ...others] = sets;
  const orgsOn = (channel: string) => chain.evaluateAs<RegistryOrganisation[]>(identity, 'Organisation:list', [''], channel);
  const configOn = (channel: string) => chain.evaluateAs<Record<string, unknown>>(identity, 'Config:get', [], channel);
  const reference = await orgsOn(first);
  const { roleMsps, unmatchedThresholdHours, limitedPartnershipId, stalledAfterDays } = await configOn(first);
  const wanted = JSON.stringify({ roleMsps, unmatchedThresholdHours, limitedPartnershipId, stalledAfterDays });
  const policyOn = (channel: string) => chain.evaluateAs<(PolicyRules & { version: number; reason: string }) | null>(identity, 'Policy:current', [], channel);
  const policy = await policyOn(first);
  for (const channel of others) {
    const present = new Map((await orgsOn(channel)).map((o) => [o.id, o]));
    for (const org of reference) {
      let there = present.get(org.id);
      if (!there) {
        const { id, name, type, mspId, county, accounts } = org;
        await chain.submitAs(identity, 'Organisation:register', [JSON.stringify({ id, name, type, mspId, ...(county === undefined ? {} : { county }), accounts })], channel);
        there = { ...org, active: true };
      }
      for (const account of org.accounts) {
        if (!there.accounts.some((a) => a.accountNo === account.accountNo)) await chain.submitAs(identity, 'Organisation:addAccount', [org.id, JSON.stringify(account)], channel);
      }
      if (there.active !== org.active) await chain.submitAs(identity, 'Organisation:setActive', [org.id, String(org.active)], channel);
    }
    const current = await configOn(channel);
    if (JSON.stringify({ roleMsps: current.roleMsps, unmatchedThresholdHours: current.unmatchedThresholdHours, limitedPartnershipId: current.limitedPartnershipId, stalledAfterDays: current.stalledAfterDays }) !== wanted) {
      const config = { roleMsps, unmatchedThresholdHours, ...(limitedPartnershipId === undefined ? {} : { limitedPartnershipId }), ...(stalledAfterDays === undefined ? {} : { stalledAfterDays }) };
      await chain.submitAs(identity, 'Config:update', [JSON.stringify({ ...config, reason: 'aligned with set 1 (与第一组一致)' })], channel);
    }
    // The fund policy too: a set added later checks its projects against the rules in force, not none.
    const theirs = policy ? await policyOn(channel) : null;
    if (policy && (!theirs || JSON.stringify(policyRules(theirs)) !== JSON.stringify(policyRules(policy)))) {
      await chain.submitAs(identity, 'Policy:set', [JSON.stringify({ ...policyRules(policy), reason: `aligned with set 1's v${policy.version} (与第一组一致): ${policy.reason}`.slice(0, 1000) })], channel);
    }
  }
}

type PolicyRules = Pick<FundPolicy, 'fiscalShareBp' | 'provinceShareOfFiscalBp' | 'toleranceBp' | 'fiscalFirst' | 'milestoneConfirmation'>;

function policyRules(p: PolicyRules): PolicyRules {
  const { fiscalShareBp, provinceShareOfFiscalBp, toleranceBp, fiscalFirst, milestoneConfirmation } = p;
  return { fiscalShareBp, provinceShareOfFiscalBp, toleranceBp, fiscalFirst, milestoneConfirmation };
}
