/**
 * The projector: reads the business channel's chaincode events from its checkpoint and keeps the
 * off-chain projections (models/projections.ts) in step. An event says what changed; the projector
 * then reads the changed records from the chain itself, so a projection always equals chain state
 * and replaying from block 0 after the projections were dropped rebuilds them exactly.
 */
import { EventEmitter } from 'node:events';
import type { ChaincodeEventRecord, EventStream } from '../blockchain';
import type { Draft } from '@fund/chaincode/dist/draft/draft';
import type { Project } from '@fund/chaincode/dist/project/project';
import type { Organisation } from '@fund/chaincode/dist/organisation/organisation';
import type { TransferClaim, TransferRecord } from '@fund/chaincode/dist/reconciliation/reconciliation';
import { Checkpoint, DiscrepancyView, DraftView, LedgerEvent, OrganisationView, ProjectView, TransferView } from '../models/projections';
import type { Actor, Chain } from './chain';
import { notifyFor } from './notifier';

export interface ChainEvent {
  type: string;
  data: Record<string, unknown>;
}

export interface ProjectedEvent extends ChainEvent {
  id: string;
  txId: string;
  blockNumber: number;
  at: Date;
  projectId?: string;
}

export class Projector extends EventEmitter {
  private stream?: EventStream<ChaincodeEventRecord>;
  private running?: Promise<void>;
  /** Highest block whose events are all projected. */
  private projectedBlock = -1;
  /** Transactions projected lately, for settled(). */
  private readonly recentTxIds = new Set<string>();
  private failure?: Error;

  constructor(
    private readonly chain: Chain,
    private readonly reader: Actor,
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
    const saved = await Checkpoint.findById(this.chain.channel).lean();
    const checkpoint = saved ? { blockNumber: saved.blockNumber!, txId: saved.txId ?? undefined } : undefined;
    this.projectedBlock = saved ? saved.blockNumber! - 1 : -1;
    this.stream = this.chain.gateway.chaincodeEvents(this.chain.channel, checkpoint);
    this.running = this.consume(this.stream).catch((err: Error) => {
      this.failure = err;
      console.error(`projector stopped: ${err.stack ?? err.message}`);
    });
  }

  async stop(): Promise<void> {
    this.stream?.close();
    await this.running;
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
    for await (const record of stream) {
      await this.project(record);
      await Checkpoint.updateOne({ _id: this.chain.channel }, { $set: { blockNumber: record.blockNumber, txId: record.txId, updatedAt: new Date() } }, { upsert: true });
      // Events arrive in ledger order: every earlier block is now fully projected.
      this.projectedBlock = Math.max(this.projectedBlock, record.blockNumber - 1);
      this.recentTxIds.add(record.txId);
      if (this.recentTxIds.size > 10_000) this.recentTxIds.delete(this.recentTxIds.values().next().value!);
      this.emit('projected', record.blockNumber);
    }
  }

  /** One transaction's events: record them, refresh what they touched, notify who should know. */
  async project(record: ChaincodeEventRecord): Promise<void> {
    const payload = JSON.parse(record.payload.toString('utf8')) as { at: string; events: ChainEvent[] };
    const at = new Date(payload.at);
    const projects = new Set<string>();
    const serials = new Set<string>();
    const orgs = new Set<string>();
    const projected: ProjectedEvent[] = [];
    for (const [i, event] of payload.events.entries()) {
      const d = event.data;
      const projectId = typeof d.projectId === 'string' ? d.projectId : undefined;
      if (projectId) projects.add(projectId);
      if (typeof d.serial === 'string') serials.add(d.serial);
      if (typeof d.orgId === 'string') orgs.add(d.orgId);
      if (typeof d.operatorId === 'string') orgs.add(d.operatorId); // ChannelInitialised registers the operator
      const id = `${record.blockNumber}:${record.txId}:${i}`;
      projected.push({ ...event, id, txId: record.txId, blockNumber: record.blockNumber, at, projectId });
      await LedgerEvent.updateOne(
        { _id: id },
        { $set: { channel: record.channel, blockNumber: record.blockNumber, txId: record.txId, type: event.type, projectId, at, data: d } },
        { upsert: true },
      );
      await this.applyDiscrepancyEvent(event, at);
    }
    for (const orgId of orgs) await this.refreshOrganisation(orgId);
    for (const serial of serials) await this.refreshTransfer(serial);
    for (const projectId of projects) await this.refreshProject(projectId, record.blockNumber);
    for (const event of projected) await notifyFor(event);
  }

  private async applyDiscrepancyEvent(event: ChainEvent, at: Date): Promise<void> {
    const d = event.data;
    if (event.type === 'DiscrepancyRaised') {
      await DiscrepancyView.updateOne(
        { _id: d.id as string },
        { $setOnInsert: { kind: d.kind, serial: d.serial, projectId: d.projectId, problems: d.problems, raisedAt: at, status: 'OPEN' } },
        { upsert: true },
      );
    } else if (event.type === 'DiscrepancyResolved') {
      await DiscrepancyView.updateOne({ _id: d.id as string }, { $set: { status: 'RESOLVED', resolution: { kind: d.kind, reason: d.reason, by: d.by, at } } });
    }
  }

  private async refreshOrganisation(orgId: string): Promise<void> {
    const org = await this.chain.evaluate<Organisation>(this.reader, 'Organisation:get', orgId);
    await OrganisationView.updateOne(
      { _id: org.id },
      { $set: { name: org.name, type: org.type, mspId: org.mspId, county: org.county, accounts: org.accounts, active: org.active, registeredAt: new Date(org.registeredAt) } },
      { upsert: true },
    );
  }

  private async refreshTransfer(serial: string): Promise<void> {
    const s = await this.chain.evaluate<{ serial: string; claim?: TransferClaim; record?: TransferRecord }>(this.reader, 'Reconciliation:getSerial', serial);
    const { claim, record } = s;
    await TransferView.updateOne(
      { _id: serial },
      {
        $set: {
          projectId: claim?.projectId,
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
      { upsert: true },
    );
  }

  private async refreshProject(projectId: string, blockNumber: number): Promise<void> {
    const project = await this.chain.evaluate<Project>(this.reader, 'Project:get', projectId);
    const drafts = project.draftIds.length > 0 ? await this.chain.evaluate<Draft[]>(this.reader, 'Draft:listByProject', projectId) : [];
    for (const d of drafts) {
      const hop = d.plannedPath[d.nextHop];
      await DraftView.updateOne(
        { _id: d.draftId },
        {
          $set: {
            projectId,
            county: project.county,
            source: d.source,
            amount: d.amount,
            amountFen: Number(d.amount),
            status: d.status,
            holderId: d.holderId,
            nextPayerId: hop?.from.orgId ?? null,
            nextReceiverId: hop?.to.orgId ?? null,
            nextStage: hop?.stage ?? null,
            nextDeadline: hop ? new Date(hop.deadline) : null,
            doc: d,
            updatedAt: new Date(d.acceptedAt ?? d.actualPath.at(-1)?.settledAt ?? d.createdAt),
          },
        },
        { upsert: true },
      );
    }
    const lastProgress = project.progress.at(-1);
    await ProjectView.updateOne(
      { _id: projectId },
      {
        $set: {
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
          releasedFen: drafts.filter((d) => d.status === 'ACCEPTED').reduce((sum, d) => sum + Number(d.amount), 0),
          doc: project,
          blockNumber,
        },
      },
      { upsert: true },
    );
  }
}

function transferStatus(claim?: TransferClaim, record?: TransferRecord): string {
  if (claim && !record) return claim.status === 'UNMATCHED' ? 'UNMATCHED' : 'REGISTERED';
  if (record && !claim) return record.status === 'UNMATCHED' ? 'UNMATCHED' : 'RECORDED';
  if (claim?.status === 'MATCHED') return record!.paidAt > claim.deadline ? 'MATCHED_LATE' : 'MATCHED';
  return claim?.status === 'MISMATCHED' ? 'MISMATCH' : (claim?.status ?? 'UNKNOWN');
}
