/**
 * A project's on-chain history (链上记录) as the project page lists it: the project record's own versions,
 * each draft's moves (issued, every hop that moved it, acceptance) from the draft's key history
 * (Draft:history through the chaincode's access rules), and each bank transfer's registration and bank
 * record from the transfer projection's transaction ids. One row per record a transaction changed, with
 * the transaction's block, function and signer, oldest first.
 */
import type { Draft } from '@fund/chaincode/dist/draft/draft';
import type { Project } from '@fund/chaincode/dist/project/project';
import type { Identity, LedgerGateway } from '../blockchain';

export interface HistoryRow {
  txId: string;
  at: string;
  /** the record the transaction changed: the project id, a draft id or a bank serial */
  subject: string;
  subjectKind: 'project' | 'draft' | 'transfer';
  /** what happened, as an i18n key and its values (translated by the page) */
  what: { key: string; vars?: Record<string, string | number> };
  block?: number;
  fcn?: string;
  creator?: string;
  mspId?: string;
}

interface TransferIds {
  _id: unknown;
  claim?: unknown;
  record?: unknown;
}

type Version<T> = { txId: string; timestamp: string; value: T | null };

export async function projectHistory(gateway: LedgerGateway, identity: Identity, channel: string, project: Project, transfers: TransferIds[]): Promise<HistoryRow[]> {
  const rows: HistoryRow[] = [];
  const projectVersions = (await gateway.history(identity, channel, 'Project', project.id)) as Version<Project>[];
  for (const v of projectVersions) {
    rows.push({ txId: v.txId, at: v.timestamp, subject: project.id, subjectKind: 'project', what: { key: v.value ? `status.${v.value.status}` : 'history.deleted' } });
  }
  const draftVersions = await Promise.all(
    project.draftIds.map(async (draftId) => {
      try {
        return { draftId, versions: (await gateway.history(identity, channel, 'Draft', draftId)) as Version<Draft>[] };
      } catch {
        return { draftId, versions: [] }; // a draft this user may not read: its moves are not theirs to see
      }
    }),
  );
  for (const { draftId, versions } of draftVersions) {
    let previous: Draft | null = null;
    for (const v of versions) {
      rows.push({ txId: v.txId, at: v.timestamp, subject: draftId, subjectKind: 'draft', what: draftMove(previous, v.value) });
      previous = v.value;
    }
  }
  for (const x of transfers) {
    const claim = x.claim as { registeredTxId?: string; registeredAt?: string } | undefined;
    const record = x.record as { recordedTxId?: string; recordedAt?: string } | undefined;
    const serial = String(x._id);
    if (claim?.registeredTxId) rows.push({ txId: claim.registeredTxId, at: claim.registeredAt ?? '', subject: serial, subjectKind: 'transfer', what: { key: 'history.serialRegistered' } });
    if (record?.recordedTxId) rows.push({ txId: record.recordedTxId, at: record.recordedAt ?? '', subject: serial, subjectKind: 'transfer', what: { key: 'history.bankRecorded' } });
  }
  const txs = new Map(await Promise.all([...new Set(rows.map((r) => r.txId))].map(async (txId) => [txId, await gateway.getTransaction(channel, txId)] as const)));
  for (const r of rows) {
    const tx = txs.get(r.txId);
    Object.assign(r, { block: tx?.blockNumber, fcn: tx?.fcn, creator: tx?.creator, mspId: tx?.creatorMspId });
  }
  // Ledger order; within a transaction the project first, then drafts, then transfers.
  const order = { project: 0, draft: 1, transfer: 2 };
  return rows.sort((a, b) => (a.block ?? 0) - (b.block ?? 0) || a.at.localeCompare(b.at) || order[a.subjectKind] - order[b.subjectKind] || a.subject.localeCompare(b.subject));
}

/** What a draft's new version says happened, against the one before it. */
function draftMove(before: Draft | null, after: Draft | null): HistoryRow['what'] {
  if (!after) return { key: 'history.deleted' };
  if (!before) return { key: 'history.draftIssued' };
  const accepted = (d: Draft) => (d as Draft & { acceptances?: unknown[] }).acceptances?.length ?? (d.status === 'ACCEPTED' ? 1 : 0);
  if (after.actualPath.length > before.actualPath.length) {
    const hop = after.actualPath[after.actualPath.length - 1];
    return { key: hop.overdue ? 'history.draftMovedLate' : 'history.draftMoved', vars: { stage: hop.stage, serial: hop.serial } };
  }
  if (accepted(after) > accepted(before) || (after.status === 'ACCEPTED' && before.status !== 'ACCEPTED')) return { key: 'history.draftAccepted' };
  return { key: `draft.${after.status}` };
}
