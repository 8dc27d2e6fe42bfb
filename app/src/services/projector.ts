/**
 * The projector: reads one set's (business channel's) chaincode events from its checkpoint and keeps the
 * off-chain projections (models/projections.ts) in step. An event says what changed; the projector
 * then reads the changed records from the chain itself, so a projection always equals chain state
 * and replaying from block 0 after the projections were dropped rebuilds them exactly.
 */
import { EventEmitter } from 'node:events';
import mongoose from 'mongoose';
import type { ChaincodeEventRecord, EventStream } from '../blockchain';
import type { Draft } from '@fund/chaincode/dist/draft/draft';
import type { Project } from '@fund/chaincode/dist/project/project';
import type { Organisation } from '@fund/chaincode/dist/organisation/organisation';
import type { PayoutStatement, TransferClaim, TransferRecord } from '@fund/chaincode/dist/reconciliation/reconciliation';
import { Checkpoint, DiscrepancyView, DraftView, LedgerEvent, OrganisationView, ProjectView, TransferView } from '../models/projections';
import type { Actor, Chain } from './chain';
import { notifyFor } from './notifier';
import { HomeFigures, type ProjectFigures, type RecentEvent } from './home-figures';
import { scopeFieldsOf, type ScopeFields } from './scope';

export interface ChainEvent {
  type: string;
  data: Record<string, unknown>;
}

export interface ProjectedEvent extends ChainEvent {
  id: string;
  channel: string;
  txId: string;
  blockNumber: number;
  at: Date;
  projectId?: string;
}

/** How often the projector checks that the database still holds the checkpoint it acknowledged. */
const DURABILITY_CHECK_MS = 2000;

/** Records projected together at most, and read ahead at most. */
const BATCH_RECORDS = 500;
const MAX_QUEUED = 2000;

/** Chain state read while projecting a batch, handed to the notifier so it need not query again. */
export interface Fresh {
  projects: Map<string, Project>;
  drafts: Map<string, Draft[]>;
}

export class Projector extends EventEmitter {
  private stream?: EventStream<ChaincodeEventRecord>;
  private running?: Promise<void>;
  /** Highest block whose events are all projected. */
  private projectedBlock = -1;
  /** Transactions projected lately, for settled(). */
  private readonly recentTxIds = new Set<string>();
  private failure?: Error;
  private stopping = false;
  constructor(
    private readonly chain: Chain,
    private readonly reader: Actor,
    /** The set this projector follows. */
    readonly channel: string,
    /** The home dashboard's figures, shared by the projectors of every set and kept up to date by each batch. */
    readonly figures: HomeFigures,
  ) {
    super();
    this.setMaxListeners(0);
  }

  get lastBlock(): number {
    return this.projectedBlock;
  }

  get error(): Error | undefined {
    return this.failure;
  }

  async start(): Promise<void> {
    await this.open();
    mongoose.connection.on('reconnected', this.onReconnected);
    this.watch = setInterval(() => void this.checkDurable().catch(() => undefined), DURABILITY_CHECK_MS);
    this.watch.unref();
    this.running = this.follow().catch((err: Error) => {
      this.failure = err;
      console.error(`projector stopped: ${err.stack ?? err.message}`);
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    mongoose.connection.off('reconnected', this.onReconnected);
    clearInterval(this.watch);
    this.stream?.close();
    await this.running;
  }

  /**
   * The database came back after being unreachable. A server that was killed may have lost the writes it
   * acknowledged last (a real mongod journals w:1 writes every 100 ms; the bundled server syncs each write before it
   * answers): the projector goes back to the checkpoint the database holds now and projects again from there.
   */
  private readonly onReconnected = () => {
    this.resync = true;
    this.stream?.close();
  };

  private resync = false;
  /** The last checkpoint the database acknowledged. */
  private written = -1;
  private watch?: NodeJS.Timeout;

  /**
   * A killed server may lose what it acknowledged last without the driver ever reporting an error (nothing was in
   * flight when it died): every few seconds the checkpoint the database holds is compared with the last one it
   * acknowledged, and a checkpoint gone back means writes were lost with it, so the projector projects again from it.
   * Writes reach the store in order, so the projections it lost are all at or after that checkpoint.
   */
  private async checkDurable(): Promise<void> {
    const expected = this.written;
    if (expected < 0 || this.resync || this.stopping) return;
    const saved = await Checkpoint.findById(this.channel).lean();
    if ((saved?.blockNumber ?? -1) < expected) {
      console.error(`projector (${this.channel}): the database holds checkpoint ${saved?.blockNumber ?? 'none'}, behind block ${expected} it acknowledged; projecting again from there`);
      this.onReconnected();
    }
  }

  /** Opens the event stream after the saved checkpoint. */
  private async open(): Promise<void> {
    const saved = await Checkpoint.findById(this.channel).lean();
    const checkpoint = saved ? { blockNumber: saved.blockNumber!, txId: saved.txId ?? undefined } : undefined;
    this.projectedBlock = Math.max(this.projectedBlock, saved ? saved.blockNumber! - 1 : -1);
    // What the database holds now is what later checks compare with (it may be behind what it acknowledged before).
    this.written = saved ? saved.blockNumber! : -1;
    this.stream = this.chain.gateway.chaincodeEvents(this.channel, checkpoint);
  }

  /** Consumes the stream; after the database came back, again from the checkpoint it holds. */
  private async follow(): Promise<void> {
    for (;;) {
      await this.consume(this.stream!);
      if (this.stopping || !this.resync) return;
      this.resync = false;
      for (let attempt = 0; ; attempt++) {
        try {
          await this.open();
          break;
        } catch (err) {
          if (this.stopping || !databaseUnreachable(err)) throw err;
          await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** attempt, 5000)));
        }
      }
      if (this.stopping) return;
      console.error(`projector (${this.channel}): the database is back; projecting again from its checkpoint`);
    }
  }

  /**
   * Resolves once the transaction `txId` (committed in `blockNumber`) is projected, so the page shown
   * right after a submit already reflects it. A transaction with no event counts once a later block's
   * event has been projected; either way the wait ends after `timeoutMs`.
   */
  async settled(txId: string, blockNumber: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.recentTxIds.has(txId) && this.projectedBlock < blockNumber && !this.failure && Date.now() < deadline) {
      await new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          resolve(undefined);
        };
        const timer = setTimeout(() => {
          this.off('projected', done);
          resolve(undefined);
        }, 100);
        this.once('projected', done);
      });
    }
  }

  private async consume(stream: EventStream<ChaincodeEventRecord>): Promise<void> {
    // Records are read ahead into a queue and projected in batches: under load one batch covers many
    // transactions, so a project touched by several of them is read and written once, and every
    // collection gets one bulk write per batch instead of one round trip per event.
    const queue: ChaincodeEventRecord[] = [];
    let signal: (() => void) | undefined;
    const poke = () => {
      signal?.();
      signal = undefined;
    };
    const wait = () => new Promise<void>((resolve) => (signal = resolve));
    let ended = false;
    const reading = (async () => {
      try {
        for await (const record of stream) {
          queue.push(record);
          poke();
          while (queue.length >= MAX_QUEUED) await wait();
        }
      } finally {
        ended = true;
        poke();
      }
    })();
    try {
      for (;;) {
        if (this.stopping || this.resync) break;
        if (queue.length === 0) {
          if (ended) break;
          await wait();
          continue;
        }
        const batch = queue.splice(0, BATCH_RECORDS);
        poke(); // room in the queue again
        await this.projectRetrying(batch);
      }
    } finally {
      stream.close();
      await reading;
    }
  }

  /**
   * A batch that failed because the database was unreachable (its server restarted, the connection reset) is
   * projected again once it answers, instead of the projector stopping for good and the pages falling behind the
   * chain until the platform is restarted. Any other failure stops it (error).
   */
  private async projectRetrying(batch: ChaincodeEventRecord[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.projectBatch(batch);
        if (attempt > 0) console.error(`projector (${this.channel}): the database answers again; projecting from block ${batch[0].blockNumber}`);
        return;
      } catch (err) {
        if (this.stopping || !databaseUnreachable(err)) throw err;
        // What the server acknowledged before it went away may be lost with it: go back to its checkpoint afterwards.
        this.resync = true;
        if (attempt === 0) console.error(`projector (${this.channel}): the database is unreachable (${(err as Error).message}); retrying`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** attempt, 5000)));
      }
    }
  }

  /** Projects consecutive records together; every write is idempotent, so a batch interrupted half-way is simply redone. */
  async projectBatch(records: ChaincodeEventRecord[]): Promise<void> {
    const projects = new Map<string, number>();
    const serials = new Set<string>();
    const orgs = new Set<string>();
    const projected: ProjectedEvent[] = [];
    for (const record of records) {
      const payload = JSON.parse(record.payload.toString('utf8')) as { at: string; events: ChainEvent[] };
      const at = new Date(payload.at);
      for (const [i, event] of payload.events.entries()) {
        const d = event.data;
        const projectId = typeof d.projectId === 'string' ? d.projectId : undefined;
        if (projectId) projects.set(projectId, record.blockNumber);
        if (typeof d.serial === 'string') serials.add(d.serial);
        if (typeof d.orgId === 'string') orgs.add(d.orgId);
        if (typeof d.operatorId === 'string') orgs.add(d.operatorId); // ChannelInitialised registers the operator
        projected.push({ ...event, id: `${record.blockNumber}:${record.txId}:${i}`, txId: record.txId, blockNumber: record.blockNumber, at, projectId, channel: record.channel });
      }
    }
    for (const orgId of orgs) await this.refreshOrganisation(orgId);
    // Reads of the chain run side by side; each collection then gets one bulk write.
    const fresh: Fresh = { projects: new Map(), drafts: new Map() };
    const [projectWrites, transfers] = await Promise.all([
      Promise.all([...projects].map(([projectId, blockNumber]) => this.projectWrites(projectId, blockNumber, fresh))),
      Promise.all([...serials].map((serial) => this.readTransfer(serial))),
    ]);
    // Every write keyed by a project carries its scope fields (models/projections.ts).
    const scopeOf = async (projectId: unknown) => {
      if (typeof projectId !== 'string') return scopeFieldsOf(undefined);
      const project = fresh.projects.get(projectId) ?? (await ProjectView.findById(projectId).select('doc').lean())?.doc as Project | undefined;
      return scopeFieldsOf(project);
    };
    const events: RecentEvent[] = await Promise.all(
      projected.map(async (e) => ({ _id: e.id, blockNumber: e.blockNumber, txId: e.txId, type: e.type, projectId: e.projectId, ...(await scopeOf(e.projectId)), at: e.at })),
    );
    const eventWrites = events.map(({ _id, ...e }, i) => ({
      updateOne: { filter: { _id }, update: { $set: { ...e, channel: projected[i].channel, data: projected[i].data } }, upsert: true },
    }));
    const discrepancyWrites = (await Promise.all(projected.map(async (e) => discrepancyOp(e, await scopeOf(e.data.projectId))))).filter((op) => op !== undefined);
    const transferWrites = await Promise.all(transfers.map(async (t) => transferWrite(t, await scopeOf(t.claim?.projectId))));
    const draftWrites = projectWrites.flatMap((w) => w.draftWrites);
    if (eventWrites.length > 0) await LedgerEvent.bulkWrite(eventWrites);
    // In ledger order: a discrepancy raised and resolved in one batch ends resolved.
    if (discrepancyWrites.length > 0) await DiscrepancyView.bulkWrite(discrepancyWrites, { ordered: true });
    if (transferWrites.length > 0) await TransferView.bulkWrite(transferWrites);
    if (draftWrites.length > 0) await DraftView.bulkWrite(draftWrites);
    if (projectWrites.length > 0) await ProjectView.bulkWrite(projectWrites.map((w) => w.projectWrite));
    await notifyFor(projected, fresh);
    this.figures.projected(
      projectWrites.map((w) => [w.projectWrite.updateOne.filter._id, w.figures]),
      events,
    );

    const last = records[records.length - 1];
    await Checkpoint.updateOne({ _id: this.channel }, { $set: { blockNumber: last.blockNumber, txId: last.txId, updatedAt: new Date() } }, { upsert: true });
    this.written = last.blockNumber;
    // Events arrive in ledger order: every earlier block is now fully projected.
    this.projectedBlock = Math.max(this.projectedBlock, last.blockNumber - 1);
    for (const record of records) {
      this.recentTxIds.add(record.txId);
      if (this.recentTxIds.size > 10_000) this.recentTxIds.delete(this.recentTxIds.values().next().value!);
    }
    this.emit('projected', last.blockNumber);
  }

  /** Reads from this projector's own set: what its events name is there. */
  private async read<T>(fcn: string, ...args: string[]): Promise<T> {
    return this.chain.evaluateAs<T>(await this.chain.identityOf(this.reader), fcn, args, { channel: this.channel });
  }

  private async refreshOrganisation(orgId: string): Promise<void> {
    const org = await this.read<Organisation>('Organisation:get', orgId);
    await OrganisationView.updateOne(
      { _id: org.id },
      { $set: { name: org.name, type: org.type, mspId: org.mspId, county: org.county, accounts: org.accounts, active: org.active, registeredAt: new Date(org.registeredAt) } },
      { upsert: true },
    );
  }

  private readTransfer(serial: string): Promise<SerialState> {
    return this.read<SerialState>('Reconciliation:getSerial', serial);
  }

  /** The project's and its drafts' projections as the chain holds them now; what was read is kept in `fresh`. */
  private async projectWrites(projectId: string, blockNumber: number, fresh: Fresh) {
    const project = await this.read<Project>('Project:get', projectId);
    const [listed, payouts] = await Promise.all([
      project.draftIds.length > 0 ? this.read<Array<Draft & { heldBack: string | null }>>('Draft:listByProject', projectId) : [],
      (project.payees ?? []).length > 0 && project.draftIds.length > 0 ? this.read<PayoutStatement>('Reconciliation:payouts', projectId) : undefined,
    ]);
    // The draft as stored, and apart what the chain derives about it now.
    const drafts: Draft[] = listed.map(({ heldBack: _derived, ...d }) => d);
    fresh.projects.set(projectId, project);
    fresh.drafts.set(projectId, drafts);
    const draftWrites = drafts.map((d, i) => {
      const hop = d.plannedPath[d.nextHop];
      const view = {
        projectId,
        ...scopeFieldsOf(project),
        source: d.source,
        amount: d.amount,
        amountFen: Number(d.amount),
        status: d.status,
        holderId: d.holderId,
        nextPayerId: hop?.from.orgId ?? null,
        nextReceiverId: hop?.to.orgId ?? null,
        nextStage: hop?.stage ?? null,
        nextDeadline: hop ? new Date(hop.deadline) : null,
        nextBankId: hop?.from.bankId ?? null,
        nextAmount: hop ? (hop.amount ?? d.amount) : null,
        heldBack: listed[i].heldBack,
        doc: d,
        updatedAt: new Date(d.acceptedAt ?? d.actualPath.at(-1)?.settledAt ?? d.createdAt),
      };
      return { updateOne: { filter: { _id: d.draftId }, update: { $set: view }, upsert: true } };
    });
    const lastProgress = project.progress.at(-1);
    const view = {
      name: project.name,
      county: project.county,
      town: project.town,
      status: project.status,
      budget: project.budget,
      budgetFen: Number(project.budget),
      countyOfficeId: project.countyOfficeId,
      implementingUnitId: project.implementingUnitId,
      payerIds: project.fundingPlan.map((f) => f.payerId),
      percentComplete: project.percentComplete,
      filedAt: new Date(project.filedAt),
      updatedAt: new Date(project.updatedAt),
      approvedAt: project.approvedAt ? new Date(project.approvedAt) : null,
      fundedAt: project.fundedAt ? new Date(project.fundedAt) : null,
      lastProgressAt: lastProgress ? new Date(lastProgress.at) : null,
      releasedFen: drafts.reduce((sum, d) => sum + Number(d.acceptedAmount ?? (d.status === 'ACCEPTED' ? d.amount : 0)), 0),
      paidOutFen: Number(payouts?.paidOut ?? 0),
      payouts: payouts ?? null,
      doc: project,
      blockNumber,
      channel: this.channel,
    };
    const { county, town, status, budgetFen, releasedFen, implementingUnitId, payerIds } = view;
    return {
      draftWrites,
      projectWrite: { updateOne: { filter: { _id: projectId }, update: { $set: view }, upsert: true } },
      figures: { county, town, status, budgetFen, releasedFen, implementingUnitId, payerIds } satisfies ProjectFigures,
    };
  }
}

/**
 * The projectors of every set, writing the same collections: lists, dashboards, exports and the monitoring centre
 * read one province whatever set a project is on.
 */
export class Projectors {
  readonly figures = new HomeFigures();
  private readonly projectors: Map<string, Projector>;

  constructor(
    private readonly chain: Chain,
    private readonly reader: Actor,
    channels: readonly string[],
  ) {
    this.projectors = new Map(channels.map((channel) => [channel, new Projector(chain, reader, channel, this.figures)]));
  }

  get bySet(): ReadonlyMap<string, Projector> {
    return this.projectors;
  }

  /** Starts projecting a set added while the platform runs. */
  async add(channel: string): Promise<void> {
    if (this.projectors.has(channel)) return;
    const projector = new Projector(this.chain, this.reader, channel, this.figures);
    this.projectors.set(channel, projector);
    await projector.start();
  }

  async start(): Promise<void> {
    for (const p of this.bySet.values()) await p.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.bySet.values()].map((p) => p.stop()));
  }

  /** Moves whenever any set's projection moves (a cache key for the dashboard). */
  get lastBlock(): number {
    let sum = 0;
    for (const p of this.bySet.values()) sum += p.lastBlock + 1;
    return sum;
  }

  get error(): Error | undefined {
    for (const p of this.bySet.values()) if (p.error) return p.error;
    return undefined;
  }

  /** Waits until a transaction of a set (set 1 when not named) is projected. */
  async settled(txId: string, blockNumber: number, timeoutMs?: number, channel?: string): Promise<void> {
    const projector = channel === undefined ? this.bySet.values().next().value : this.bySet.get(channel);
    await projector?.settled(txId, blockNumber, timeoutMs);
  }
}

type SerialState = { serial: string; claim?: TransferClaim; record?: TransferRecord };

/** The database could not be reached, as opposed to refusing an operation: worth trying again. */
function databaseUnreachable(err: unknown, depth = 0): boolean {
  const { mongo } = mongoose;
  if (err instanceof mongo.MongoNetworkError || err instanceof mongo.MongoServerSelectionError || err instanceof mongo.MongoNotConnectedError) return true;
  // The driver labels errors after which an operation may be retried; mongoose words a command it buffered too long.
  if (err instanceof mongo.MongoError && (err.hasErrorLabel('RetryableWriteError') || err.hasErrorLabel('ResetPool'))) return true;
  const e = err as { name?: string; message?: string; code?: unknown; cause?: unknown };
  if (/^Mongo(ose)?ServerSelectionError$/.test(e.name ?? '') || /buffering timed out/.test(e.message ?? '')) return true;
  // A bulk write wraps the connection's failure ("read ECONNRESET") in a MongoBulkWriteError that copies its message.
  if (/\b(ECONNRESET|ECONNREFUSED|EPIPE)\b|connection .* closed/i.test(e.message ?? '') || e.code === 'ECONNRESET' || e.code === 'ECONNREFUSED') return true;
  return depth < 3 && e.cause !== undefined && databaseUnreachable(e.cause, depth + 1);
}

/** The transfer's projection from the chain's serial record. */
function transferWrite({ serial, claim, record }: SerialState, scope: ScopeFields) {
  return {
    updateOne: {
      filter: { _id: serial },
      update: {
        $set: {
          projectId: claim?.projectId,
          ...scope,
          draftIds: claim?.hops.map((h) => h.draftId) ?? [],
          stage: claim?.stage,
          payerId: claim?.from.orgId,
          payeeId: claim?.to.orgId,
          bankId: record?.bankId ?? claim?.from.bankId,
          expectedAmount: claim?.expectedAmount,
          recordedAmount: record?.amount,
          status: transferStatus(claim, record),
          claim,
          record,
          updatedAt: new Date(record?.recordedAt ?? claim?.registeredAt ?? Date.now()),
        },
      },
      upsert: true,
    },
  };
}

/** The projection write of a discrepancy event, if it is one. */
function discrepancyOp(event: ProjectedEvent, scope: ScopeFields) {
  const d = event.data;
  const at = event.at;
  if (event.type === 'DiscrepancyRaised') {
    return {
      updateOne: {
        filter: { _id: d.id as string },
        update: { $setOnInsert: { kind: d.kind, serial: d.serial, projectId: d.projectId, ...scope, problems: d.problems, raisedAt: at, status: 'OPEN', channel: event.channel } },
        upsert: true,
      },
    };
  }
  if (event.type === 'DiscrepancyResolved') {
    return { updateOne: { filter: { _id: d.id as string }, update: { $set: { status: 'RESOLVED', resolution: { kind: d.kind, reason: d.reason, by: d.by, at } } } } };
  }
  return undefined;
}

function transferStatus(claim?: TransferClaim, record?: TransferRecord): string {
  if (claim && !record) return claim.status === 'UNMATCHED' ? 'UNMATCHED' : 'REGISTERED';
  if (record && !claim) return record.status === 'UNMATCHED' ? 'UNMATCHED' : 'RECORDED';
  // A payout has no deadline of its own to be late against: the unit pays as the work needs.
  if (claim?.status === 'MATCHED') return claim.stage !== 'payout' && record!.paidAt > claim.deadline ? 'MATCHED_LATE' : 'MATCHED';
  return claim?.status === 'MISMATCHED' ? 'MISMATCH' : (claim?.status ?? 'UNKNOWN');
}
