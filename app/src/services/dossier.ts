/**
 * A project's audit dossier (format and offline check: blockchain/embedded/ledger/dossier.ts), read from the chain
 * through the user's own identity, so the chaincode's visibility rule decides whether the project may be read.
 */
import type { Draft } from '@fund/chaincode/dist/draft/draft';
import type { Project } from '@fund/chaincode/dist/project/project';
import type { LedgerGateway, StoredBlock } from '../blockchain';
import type { Identity } from '../blockchain/embedded/identity';
import type { BlockHeader } from '../blockchain/embedded/ledger/block';
import { DOSSIER_FORMAT, type AuditDossier, type DossierEntity, type DossierTransaction } from '../blockchain/embedded/ledger/dossier';

/** Block reads in flight at once while collecting headers: enough to hide the store's latency, few enough to share it. */
const PARALLEL_READS = 8;

interface HistoryEntry<T> {
  txId: string;
  value: T | null;
}

export async function projectDossier(
  gateway: LedgerGateway,
  identity: Identity,
  channel: string,
  projectId: string,
  createdBy: AuditDossier['createdBy'],
): Promise<AuditDossier> {
  // The tip first: every block read below is at or under it, whatever commits meanwhile.
  const info = await gateway.chainInfo(channel);
  const tip = { number: info.height - 1, hash: info.currentBlockHash };
  // States from the histories' last entries, so that a state and the transactions listed for it are one read.
  const projectHistory = (await gateway.history(identity, channel, 'Project', projectId)) as HistoryEntry<Project>[];
  const project = projectHistory.at(-1)?.value;
  if (!project) throw new Error(`project ${projectId} has no state on ${channel}`);
  const draftHistories = await Promise.all(project.draftIds.map(async (id) => ({ id, history: (await gateway.history(identity, channel, 'Draft', id)) as HistoryEntry<Draft>[] })));
  const entities: DossierEntity[] = [
    { type: 'Project', id: projectId, txIds: projectHistory.map((e) => e.txId) },
    ...draftHistories.map(({ id, history }): DossierEntity => ({ type: 'Draft', id, txIds: history.map((e) => e.txId) })),
  ];

  const txIds = [...new Set(entities.flatMap((e) => e.txIds))];
  const transactions: DossierTransaction[] = [];
  for (const txId of txIds) {
    const found = await gateway.getTransaction(channel, txId);
    if (!found) throw new Error(`transaction ${txId} of project ${projectId} is not on ${channel}`);
    if (found.blockNumber > tip.number) continue; // committed after the tip was read: its block's header is not in this dossier
    transactions.push({ txId, blockNumber: found.blockNumber, txNum: found.txNum, fcn: found.fcn, creator: found.creator, creatorMspId: found.creatorMspId, timestamp: found.timestamp });
  }
  transactions.sort((a, b) => a.blockNumber - b.blockNumber || a.txNum - b.txNum);
  const listed = new Set(transactions.map((t) => t.txId));
  for (const e of entities) e.txIds = e.txIds.filter((txId) => listed.has(txId));

  const blockNumbers = [...new Set(transactions.map((t) => t.blockNumber))];
  const stored = new Map<number, StoredBlock>();
  await inBatches(blockNumbers, async (n) => stored.set(n, await gateway.storedBlock(channel, n)));
  const first = blockNumbers[0] ?? tip.number;
  const headers = new Map<number, BlockHeader>([...stored.values()].map((b) => [b.number, headerOf(b)]));
  const others = range(first, tip.number).filter((n) => !headers.has(n));
  await inBatches(others, async (n) => headers.set(n, headerOf(await gateway.getBlock(channel, n))));

  const drafts = draftHistories.map(({ history }) => history.at(-1)?.value).filter((d): d is Draft => !!d);
  return {
    format: DOSSIER_FORMAT,
    ledger: 'embedded',
    channel,
    createdAt: new Date().toISOString(),
    createdBy,
    project: project as unknown as AuditDossier['project'],
    drafts,
    entities,
    transactions,
    blocks: blockNumbers.map((n) => ({ number: n, transactions: stored.get(n)!.transactions })),
    headers: range(first, tip.number).map((n) => headers.get(n)!),
    tip,
  };
}

function headerOf(b: BlockHeader): BlockHeader {
  return { number: b.number, previousHash: b.previousHash, dataHash: b.dataHash };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

async function inBatches<T>(items: readonly T[], work: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += PARALLEL_READS) await Promise.all(items.slice(i, i + PARALLEL_READS).map(work));
}
