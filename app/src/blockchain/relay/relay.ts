/**
 * The relay (中继层, thesis 4.3 and table 4.6) between the platform and the chains: every chain call the web
 * platform and the bank API make passes here.
 *
 * - admission (接入准入): a client address must be on the whitelist the routing chain holds;
 * - routing-chain requests go to the routing chain;
 * - business requests go to the set (business channel) that owns the business id: the route comes from the cache,
 *   else from the routing chain; a new project's id is registered on the routing chain first, which picks the set
 *   (warning at warnNum, next set when full, a clear error when every set is full);
 * - registry writes (organisations, accounts, channel configuration) go to every set, so each set can check its own
 *   transactions; registry reads to any set;
 * - each served set's nodes (its peers), as the routing chain lists them, go to the ledger, which sends the set's
 *   requests to them in that order (on Fabric: queries to the first that answers, each commit awaited on two);
 * - the caches follow the routing chain's events: a whitelist, set or node change reloads them, a new route fills
 *   the route cache; with more than one set they follow the sets' events too, where a serial's registration says
 *   which set a bank record for it belongs to (a record that came first waits parked, services/parked-records.ts).
 * The answer to a submit is correlated by its digest (the transaction id), which the caller may receive before the
 * commit (`onDigest`), as thesis 4.3.2 describes.
 */
import { randomBytes } from 'node:crypto';
import type { Route, RouteNode, RouteSet, WhitelistEntry } from '@fund/chaincode/dist/routing/routing';
import { admits } from '@fund/chaincode/dist/routing/routing';
import { EndorsementError, type ChaincodeEventRecord, type EventStream, type Identity, type LedgerGateway, type SubmitResult } from '../gateway';
import { projectOfDraftId } from '@fund/chaincode/dist/draft/draft';
import { businessRoute, parseObject, type BusinessRoute } from './business-route';

export interface RelayOptions {
  routingChannel: string;
  /** The business channels this platform serves, set 1 first. */
  sets: readonly string[];
  /** The platform's own address as a client of the relay (checked against the whitelist like any client). */
  platformAddress: string;
}

export interface RelayCall {
  fcn: string;
  args: string[];
  /** A channel named by the caller (bootstrap of one channel, the operator's pages): no routing. */
  channel?: string;
  /** The project the call belongs to, when its arguments do not say (a discrepancy's id, say). */
  businessId?: string;
  /** Receives the request's digest (its transaction id) and its channel before endorsement; a rejection stops the submit. */
  onDigest?: (digest: string, channel: string) => void | Promise<void>;
}

export interface RelayedResult extends SubmitResult {
  channel: string;
  /** Registry writes go to every set: each set's own result, set 1 first. */
  perSet?: Array<{ channel: string; txId: string; blockNumber: number; payload: Buffer }>;
  /** A new project's route, with the routing chain's warning when its set reached warnNum. */
  route?: Route & { warning: boolean };
}

/** The chaincode events that name a serial's set. */
const REGISTRATION_EVENT = /"(SerialRegistered|PayoutRegistered)"/;

/** The relay refused the request before it reached a chain (status: HTTP-like, 403 not admitted, 404 no route, 409 full). */
export class RelayError extends Error {
  constructor(
    readonly code: 'NOT_ADMITTED' | 'NOT_FOUND' | 'STATE' | 'UNAVAILABLE',
    message: string,
  ) {
    super(message);
    this.name = 'RelayError';
  }
}

/** No set holds the serial yet and there is more than one: the relay cannot tell where a bank record for it goes. */
export class UnroutedSerial extends RelayError {
  constructor(
    readonly serial: string,
    sets: number,
  ) {
    super('NOT_FOUND', `serial ${serial} is not registered on any set yet: with ${sets} sets the relay routes a bank record by the paying unit's registration of the serial, so it can go to no set before that`);
    this.name = 'UnroutedSerial';
  }
}

/** A set as the operators' page shows it: the routing chain's record and the relay's view of its nodes. */
export interface SetStatus extends RouteSet {
  nodes: RouteNode[];
  /** Whether this platform serves the set's channel. */
  served: boolean;
  /** A served set's height on this platform, or why its channel does not answer. */
  height?: number;
  healthError?: string;
  /** The peers the ledger sends the set's requests to, the one in use first (Fabric; none on the embedded ledger). */
  gatewayPeers?: string[];
}

/** How many serial and project locations the relay keeps. */
const CACHE_LIMIT = 200_000;

export class Relay {
  private whitelist: WhitelistEntry[] = [];
  private sets: RouteSet[] = [];
  private nodes = new Map<string, RouteNode[]>();
  /** Business id → channel: projects (from the routing chain) and serials (from the sets). */
  private readonly routes = new Map<string, string>();
  private readonly serials = new Map<string, string>();
  private events?: EventStream<ChaincodeEventRecord>;
  private following?: Promise<void>;
  /** The sets' event streams (only with more than one set: one set needs no serial routing). */
  private readonly setEvents = new Map<string, { stream: EventStream<ChaincodeEventRecord>; following: Promise<void> }>();
  private operator?: Identity;
  /** Counts for the operators' page and the tests. */
  readonly stats = { routeHits: 0, routeMisses: 0, refused: 0, reloads: 0 };
  /** Called when a set reaches its warnNum (the monitoring centre raises an alert). */
  onSetWarning?: (warning: { setId: string; memberCount: number; warnNum: number; maxNum: number; full: boolean; txId: string }) => void;
  /** Called when the relay learns a serial's set, with more than one set (parked bank records for it go there). */
  onSerialLocated?: (serial: string, channel: string) => void;

  private readonly registrar: RouteRegistrar;
  private inService: readonly string[];

  constructor(
    readonly gateway: LedgerGateway,
    readonly options: RelayOptions,
  ) {
    this.registrar = new RouteRegistrar(gateway, options.routingChannel);
    this.inService = options.sets;
  }

  get routingChannel(): string {
    return this.options.routingChannel;
  }

  /** The business channels, set 1 first. */
  get setChannels(): readonly string[] {
    return this.inService;
  }

  /** Takes a set's channel into service (a set added while the platform runs). */
  serve(channel: string): void {
    if (!this.inService.includes(channel)) this.inService = [...this.inService, channel];
    if (this.operator) void this.followSets().catch((err: Error) => console.error(`relay: following the sets failed: ${err.message}`));
  }

  /** Loads the whitelist, sets and nodes with the operator's identity and follows the routing chain from now on. */
  async start(operator: Identity): Promise<void> {
    this.operator = operator;
    const { height } = await this.gateway.chainInfo(this.routingChannel);
    await this.reload();
    this.events = this.gateway.chaincodeEvents(this.routingChannel, { blockNumber: height });
    this.following = this.follow(this.events);
    await this.followSets();
  }

  async stop(): Promise<void> {
    this.events?.close();
    for (const { stream } of this.setEvents.values()) stream.close();
    await Promise.all([this.following, ...[...this.setEvents.values()].map((s) => s.following)]);
    this.setEvents.clear();
  }

  /** The whitelist entry that admits `address`, or undefined. IPv4-mapped IPv6 addresses count as IPv4. */
  admitted(address: string): WhitelistEntry | undefined {
    const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
    try {
      return admits(this.whitelist, plain);
    } catch {
      return undefined; // not an IP address
    }
  }

  /**
   * Refuses a client the whitelist does not admit. Before start() only the platform's own start-up runs (channels
   * initialised, the routing chain's first sets and whitelist entry), and nothing is refused.
   */
  admit(address: string): void {
    if (!this.operator || this.admitted(address)) return;
    this.stats.refused++;
    throw new RelayError('NOT_ADMITTED', `the relay does not admit ${address}: it is not on the routing chain's IP whitelist`);
  }

  async submit(identity: Identity, call: RelayCall): Promise<RelayedResult> {
    const target = await this.target(identity, call);
    if (target.kind === 'every') return this.submitEverywhere(identity, call);
    if (target.kind === 'new-project') return this.fileProject(identity, call);
    return this.submitOn(identity, call, target.channel);
  }

  /**
   * A query about a serial no set holds yet is answered by set 1: it does not hold it either, and its registry (the
   * accounts and banks a bank record is checked against) is every set's, so a bank record's dry run is checked there.
   */
  async evaluate(identity: Identity, call: RelayCall): Promise<Buffer> {
    const target = await this.target(identity, call).catch((err: unknown) => {
      if (err instanceof UnroutedSerial) return { kind: 'channel' as const, channel: this.setChannels[0] };
      throw err;
    });
    const channel = target.kind === 'channel' ? target.channel : this.setChannels[0];
    return this.gateway.evaluate(identity, { channel, fcn: call.fcn, args: call.args });
  }

  /** The channel that owns a business id (a project, a draft or a serial), or undefined (route look-ups of the operators). */
  async locate(identity: Identity, businessId: string): Promise<string | undefined> {
    try {
      return businessId.startsWith('PRJ-') ? await this.projectChannel(identity, projectOfDraftId(businessId) ?? businessId) : await this.serialChannel(identity, businessId);
    } catch (err) {
      if (err instanceof RelayError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  /** The set the relay has learnt for a serial (it passed here, or a set's event named it), without asking the sets. */
  knownSerial(serial: string): string | undefined {
    return this.setChannels.length === 1 ? this.setChannels[0] : this.serials.get(serial);
  }

  /** The sets with their fill level (read from the routing chain now), nodes and health, for the operators. */
  async setStatus(): Promise<SetStatus[]> {
    await this.reload();
    return Promise.all(
      this.sets.map(async (set) => {
        const status = { ...set, nodes: this.nodes.get(set.setId) ?? [], served: this.setChannels.includes(set.channel) };
        if (!status.served) return status;
        try {
          const { height } = await this.gateway.chainInfo(set.channel);
          return { ...status, height, gatewayPeers: this.gateway.gatewayNodes?.(set.channel) ?? [] };
        } catch (err) {
          return { ...status, healthError: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
  }

  /** Sets registered on the routing chain whose channel this platform does not serve (an operator must add it). */
  unservedSets(): RouteSet[] {
    return this.sets.filter((s) => !this.setChannels.includes(s.channel));
  }

  private async target(identity: Identity, call: RelayCall): Promise<{ kind: 'channel'; channel: string } | { kind: 'every' } | { kind: 'new-project' }> {
    if (call.channel) return { kind: 'channel', channel: call.channel };
    const route: BusinessRoute = call.businessId ? { kind: 'project', projectId: call.businessId } : businessRoute(call.fcn, call.args);
    switch (route.kind) {
      case 'routing':
        return { kind: 'channel', channel: this.routingChannel };
      case 'every':
      case 'new-project':
        return route;
      case 'any':
        return { kind: 'channel', channel: this.setChannels[0] };
      case 'project':
        return { kind: 'channel', channel: await this.projectChannel(identity, route.projectId) };
      case 'serial':
        return { kind: 'channel', channel: await this.serialChannel(identity, route.serial) };
    }
  }

  /** A project's set: the cache, then the routing chain; a project filed before routing existed is looked for on the sets. */
  private async projectChannel(identity: Identity, projectId: string): Promise<string> {
    if (this.setChannels.length === 1) return this.setChannels[0];
    const cached = this.routes.get(projectId);
    if (cached) {
      this.stats.routeHits++;
      return cached;
    }
    this.stats.routeMisses++;
    try {
      const route = JSON.parse((await this.gateway.evaluate(this.operatorIdentity(), { channel: this.routingChannel, fcn: 'RouteManager:getRoute', args: [projectId] })).toString('utf8')) as Route;
      return this.remember(this.routes, projectId, this.served(route.channel, projectId));
    } catch (err) {
      if (!(err instanceof EndorsementError) || err.code !== 'NOT_FOUND') throw err;
    }
    const found = await this.probe(identity, 'Project:get', projectId);
    if (!found) throw new RelayError('NOT_FOUND', `project ${projectId} has no route on the routing chain and no set holds it`);
    return this.remember(this.routes, projectId, found);
  }

  /**
   * A serial's set: the one whose chain holds it (learnt when it passed here, else asked of the sets). A serial no
   * set holds yet (a bank record sent before the paying unit registered it) can only go to a set when there is one:
   * the bank API parks such a record until the serial's registration shows its set.
   */
  private async serialChannel(identity: Identity, serial: string): Promise<string> {
    if (this.setChannels.length === 1) return this.setChannels[0];
    const cached = this.serials.get(serial);
    if (cached) return cached;
    const found = await this.probe(identity, 'Reconciliation:getSerial', serial);
    if (!found) throw new UnroutedSerial(serial, this.setChannels.length);
    return this.located(serial, found);
  }

  /** A serial's set learnt: cached, and announced when it is news (parked records for it can go). */
  private located(serial: string, channel: string): string {
    if (this.serials.get(serial) === channel) return channel;
    this.remember(this.serials, serial, channel);
    this.onSerialLocated?.(serial, channel);
    return channel;
  }

  /** The first set whose chain does not answer NOT_FOUND for the query (a refusal for any other reason means it is there). */
  private async probe(identity: Identity, fcn: string, id: string): Promise<string | undefined> {
    const answers = await Promise.all(
      this.setChannels.map((channel) =>
        this.gateway.evaluate(identity, { channel, fcn, args: [id] }).then(
          () => true,
          (err: unknown) => !(err instanceof EndorsementError && (err.code === 'NOT_FOUND' || err.code === 'VALIDATION')),
        ),
      ),
    );
    const index = answers.indexOf(true);
    return index < 0 ? undefined : this.setChannels[index];
  }

  private served(channel: string, businessId: string): string {
    if (!this.setChannels.includes(channel)) throw new RelayError('UNAVAILABLE', `${businessId} belongs to channel ${channel}, which this platform does not serve (LEDGER_SETS)`);
    return channel;
  }

  private remember(cache: Map<string, string>, key: string, channel: string): string {
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(key, channel);
    return channel;
  }

  private async submitOn(identity: Identity, call: RelayCall, channel: string): Promise<RelayedResult> {
    const result = await this.gateway.submit(identity, { channel, fcn: call.fcn, args: call.args, beforeEndorse: digestHook(call, channel) });
    this.learn(call, channel);
    return { ...result, channel };
  }

  /** Registers a new project's id on the routing chain, then files it on the set the route names. */
  private async fileProject(identity: Identity, call: RelayCall): Promise<RelayedResult> {
    const project = parseObject(call.args[0]);
    if (!project) return this.submitOn(identity, call, this.setChannels[0]); // the chaincode words the refusal
    const projectId = typeof project.id === 'string' ? project.id : newProjectId();
    // The set's own chaincode refuses a bad filing: check it there before the route takes a place in a set.
    const args = [JSON.stringify({ ...project, id: projectId }), ...call.args.slice(1)];
    await this.gateway.evaluate(identity, { channel: this.setChannels[0], fcn: call.fcn, args });
    const route = await this.registrar.register(identity, projectId);
    const channel = this.remember(this.routes, projectId, this.served(route.channel, projectId));
    const result = await this.submitOn(identity, { ...call, args }, channel);
    return { ...result, route };
  }

  /**
   * A registry write on every set: simulated on each first, so a refusal anywhere changes nothing anywhere; then
   * submitted to all. A set that fails after the others committed is named in the error.
   */
  private async submitEverywhere(identity: Identity, call: RelayCall): Promise<RelayedResult> {
    const channels = this.setChannels;
    if (channels.length > 1) await Promise.all(channels.map((channel) => this.gateway.evaluate(identity, { channel, fcn: call.fcn, args: call.args })));
    const outcomes = await Promise.allSettled(channels.map((channel) => this.gateway.submit(identity, { channel, fcn: call.fcn, args: call.args, beforeEndorse: channel === channels[0] ? digestHook(call, channel) : undefined })));
    const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [{ channel: channels[i], reason: o.reason as Error }] : []));
    if (failed.length === channels.length || (failed.length > 0 && channels.length === 1)) throw failed[0].reason;
    if (failed.length > 0) {
      const done = channels.filter((c) => !failed.some((f) => f.channel === c));
      throw new RelayError('UNAVAILABLE', `${call.fcn} committed on ${done.join(', ')} but failed on ${failed.map((f) => `${f.channel} (${f.reason.message})`).join(', ')}; repeat it for those sets`);
    }
    const perSet = outcomes.map((o, i) => ({ channel: channels[i], ...(o as PromiseFulfilledResult<SubmitResult>).value }));
    return { ...perSet[0], perSet };
  }

  /** A serial that passed here is on this set (a bank record or a query for it may come next). */
  private learn(call: RelayCall, channel: string): void {
    if (this.setChannels.length === 1 || !call.fcn.startsWith('Reconciliation:')) return;
    const route = businessRoute(call.fcn, call.args);
    const serial = route.kind === 'serial' ? route.serial : parseObject(call.args[0])?.serial;
    if (typeof serial === 'string' && serial) this.located(serial, channel);
  }

  /** With more than one set, follows each set's events from now on for the serials registered there. */
  private async followSets(): Promise<void> {
    if (this.setChannels.length === 1) return;
    for (const channel of this.setChannels) {
      if (this.setEvents.has(channel)) continue;
      const { height } = await this.gateway.chainInfo(channel);
      if (this.setEvents.has(channel)) continue; // a concurrent call got there first
      const stream = this.gateway.chaincodeEvents(channel, { blockNumber: height });
      this.setEvents.set(channel, { stream, following: this.followSet(channel, stream) });
    }
  }

  /** A registration made on a set behind this relay (another platform, an operator's tool) still names its set. */
  private async followSet(channel: string, events: EventStream<ChaincodeEventRecord>): Promise<void> {
    try {
      for await (const record of events) {
        // Most transactions register nothing: skip them without parsing.
        if (!REGISTRATION_EVENT.test(record.payload.toString('latin1'))) continue;
        const payload = JSON.parse(record.payload.toString('utf8')) as { events: Array<{ type: string; data: Record<string, unknown> }> };
        for (const { type, data } of payload.events) {
          if ((type === 'SerialRegistered' || type === 'PayoutRegistered') && typeof data.serial === 'string') this.located(data.serial, channel);
        }
      }
    } catch (err) {
      console.error(`relay: following set ${channel} stopped: ${(err as Error).message}`);
    }
  }

  private operatorIdentity(): Identity {
    if (!this.operator) throw new Error('the relay has not been started');
    return this.operator;
  }

  private async reload(): Promise<void> {
    this.stats.reloads++;
    const query = async <T>(fcn: string, args: string[] = []) => JSON.parse((await this.gateway.evaluate(this.operatorIdentity(), { channel: this.routingChannel, fcn, args })).toString('utf8')) as T;
    const manager = await query<{ sets: string[] }>('RouteManager:getManager');
    const [whitelist, sets] = await Promise.all([query<WhitelistEntry[]>('Whitelist:list'), Promise.all(manager.sets.map((id) => query<RouteSet>('RouteSet:getSet', [id])))]);
    const nodes = await Promise.all(sets.map((s) => query<RouteNode[]>('RouteSet:getNodeList', [s.setId])));
    this.whitelist = whitelist;
    this.sets = sets;
    this.nodes = new Map(sets.map((s, i) => [s.setId, nodes[i]]));
    // A set's peers are where its requests go (thesis 4.3.3.2: to at least two nodes of the set). The embedded ledger
    // has no useNodes: there a set is one peer on its own thread, and there is no second node to forward to.
    for (const set of sets) {
      const peers = this.nodes.get(set.setId)!.filter((n) => n.nodeType === 'peer');
      if (this.setChannels.includes(set.channel)) this.gateway.useNodes?.(set.channel, peers);
    }
  }

  /** Follows the routing chain: routes fill the cache, anything else reloads the whitelist, sets and nodes. */
  private async follow(events: EventStream<ChaincodeEventRecord>): Promise<void> {
    try {
      for await (const record of events) {
        const payload = JSON.parse(record.payload.toString('utf8')) as { events: Array<{ type: string; data: Record<string, unknown> }> };
        let reload = false;
        for (const { type, data } of payload.events) {
          if (type === 'RouteRegistered') {
            if (this.setChannels.includes(String(data.channel))) this.remember(this.routes, String(data.businessId), String(data.channel));
          } else if (type === 'RouteSetWarning') {
            this.onSetWarning?.({ setId: String(data.setId), memberCount: Number(data.memberCount), warnNum: Number(data.warnNum), maxNum: Number(data.maxNum), full: data.full === true, txId: record.txId });
          } else {
            reload = true;
          }
        }
        if (reload) await this.reload().catch((err: Error) => console.error(`relay: reloading the routing chain failed: ${err.message}`));
      }
    } catch (err) {
      console.error(`relay: following the routing chain stopped: ${(err as Error).message}`);
    }
  }
}

type NewRoute = Route & { warning: boolean };

/**
 * Registers new projects' routes on the routing chain. Each registration reads and writes the route manager, so
 * registrations sent side by side would all but one fail validation (MVCC); instead the ids that arrive while one
 * registration is on its way go together in the next (RouteManager:registerRoutes), signed by the first caller of
 * the batch (every registrar role may register any id).
 */
class RouteRegistrar {
  private queue: Array<{ identity: Identity; businessId: string; resolve(route: NewRoute): void; reject(err: Error): void }> = [];
  private running = false;

  constructor(
    private readonly gateway: LedgerGateway,
    private readonly channel: string,
  ) {}

  register(identity: Identity, businessId: string): Promise<NewRoute> {
    return new Promise((resolve, reject) => {
      this.queue.push({ identity, businessId, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, 500);
      try {
        const routes = await this.submit(batch[0].identity, batch.map((b) => b.businessId));
        batch.forEach((b, i) => b.resolve(routes[i]));
      } catch (err) {
        // Every set full, say, for some of them: register one by one, so those that fit still get their place.
        if (batch.length === 1) batch[0].reject(err as Error);
        else for (const b of batch) await this.submit(b.identity, [b.businessId]).then(([r]) => b.resolve(r), (e: Error) => b.reject(e));
      }
    }
    this.running = false;
  }

  private async submit(identity: Identity, ids: string[]): Promise<NewRoute[]> {
    try {
      const r = await this.gateway.submit(identity, { channel: this.channel, fcn: 'RouteManager:registerRoutes', args: [JSON.stringify(ids)] });
      return JSON.parse(r.payload.toString('utf8')) as NewRoute[];
    } catch (err) {
      if (err instanceof EndorsementError && err.code === 'STATE') throw new RelayError('STATE', `no set can take ${ids.join(', ')}: ${err.message.replace(/^STATE:\s*/, '')}`);
      throw err;
    }
  }
}

function digestHook(call: RelayCall, channel: string): ((txId: string) => Promise<void>) | undefined {
  const { onDigest } = call;
  return onDigest && (async (txId) => onDigest(txId, channel));
}

/** A fresh project id in the chaincode's form (project.ts PROJECT_ID_PATTERN). */
export function newProjectId(): string {
  return `PRJ-${randomBytes(6).toString('hex').toUpperCase()}`;
}
