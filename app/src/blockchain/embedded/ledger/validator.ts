import { compareKeys, KVRead, RangeQueryInfo, SimulationResults, Version, VersionedState } from '../simulator';
import { SortedKeys } from './sorted-keys';

/**
 * The committing peer's validation of one block (Fabric's txvalidator + MVCC validator): in block
 * order, a transaction is invalid if its signature or id is bad, if a key it read has changed since
 * (committed state, or an earlier valid transaction of the same block), or if a range it scanned
 * would now return other keys (phantom). Invalid transactions stay in the block with their code and
 * change nothing.
 */
export type ValidationCode =
  | 'VALID'
  | 'MVCC_READ_CONFLICT'
  | 'PHANTOM_READ_CONFLICT'
  | 'BAD_PROPOSAL_SIGNATURE'
  | 'DUPLICATE_TXID'
  | 'ENDORSEMENT_POLICY_FAILURE';

export interface Validation {
  code: ValidationCode;
  message?: string;
}

export interface CandidateTx {
  txId: string;
  /** Result of checking the proposal's signature and txId (verifyProposal), done before ordering. */
  signatureError?: string;
  /** The chaincode's response status at endorsement; only 2xx/3xx endorsements may be committed. */
  responseStatus: number;
  results: SimulationResults;
  /** Last block committed when simulation began; lets range checks use the recent-writes log. */
  readHeight?: number;
}

/**
 * Keys of a namespace written by the blocks committed after `height`, one sorted set per block, or
 * undefined when that is not known (then ranges are re-scanned, as Fabric's validator does).
 */
export type WrittenSince = (ns: string, height: number) => readonly SortedKeys[] | undefined;

/**
 * Keys of a namespace written by earlier blocks that are validated but not yet in the state
 * database. Simulations run against committed state only, so no transaction can have read
 * these writes: a read of such a key, or a range holding one, is a conflict.
 */
export type Uncommitted = (ns: string) => readonly SortedKeys[];

const sameVersion = (a: Version | null | undefined, b: Version | null | undefined) =>
  (a ?? null) === null ? (b ?? null) === null : b != null && a!.blockNum === b.blockNum && a!.txNum === b.txNum;

export async function validateBlock(
  state: VersionedState,
  txs: readonly CandidateTx[],
  isCommittedTxId: (txId: string) => Promise<boolean>,
  writtenSince?: WrittenSince,
  uncommitted: Uncommitted = () => [],
): Promise<Validation[]> {
  // Keys written by the block's earlier valid transactions, per namespace.
  const touched = new Map<string, SortedKeys>();
  const seen = new Set<string>();
  const out: Validation[] = [];
  for (const tx of txs) {
    const v = await validateOne(state, tx, touched, seen, isCommittedTxId, writtenSince, uncommitted);
    seen.add(tx.txId);
    if (v.code === 'VALID') {
      let written = touched.get(tx.results.namespace);
      if (!written) touched.set(tx.results.namespace, (written = new SortedKeys()));
      for (const w of tx.results.writes) written.add(w.key);
    }
    out.push(v);
  }
  return out;
}

async function validateOne(
  state: VersionedState,
  tx: CandidateTx,
  touched: Map<string, SortedKeys>,
  seen: Set<string>,
  isCommittedTxId: (txId: string) => Promise<boolean>,
  writtenSince: WrittenSince | undefined,
  uncommitted: Uncommitted,
): Promise<Validation> {
  if (tx.signatureError) return { code: 'BAD_PROPOSAL_SIGNATURE', message: tx.signatureError };
  if (seen.has(tx.txId) || (await isCommittedTxId(tx.txId))) return { code: 'DUPLICATE_TXID', message: `transaction ${tx.txId} was already submitted` };
  if (tx.responseStatus < 200 || tx.responseStatus >= 400) return { code: 'ENDORSEMENT_POLICY_FAILURE', message: `endorsement returned status ${tx.responseStatus}` };
  const ns = tx.results.namespace;
  const written = touched.get(ns) ?? new SortedKeys();
  const pending = uncommitted(ns);
  for (const read of tx.results.reads) {
    const conflict = await readConflict(state, ns, read, written, pending);
    if (conflict) return { code: 'MVCC_READ_CONFLICT', message: conflict };
  }
  // Everything committed since the simulation read its ranges, when the log reaches back that far.
  const since = tx.readHeight === undefined || tx.results.rangeQueries.length === 0 ? undefined : writtenSince?.(ns, tx.readHeight);
  for (const range of tx.results.rangeQueries) {
    const phantom = pending.some((keys) => writtenInRange(range, keys))
      ? `range starting at ${printable(range.startKey)} returns other results now`
      : since
        ? changedRange(range, written, since)
        : await phantomConflict(state, ns, range, written);
    if (phantom) return { code: 'PHANTOM_READ_CONFLICT', message: phantom };
  }
  return { code: 'VALID' };
}

async function readConflict(state: VersionedState, ns: string, read: KVRead, written: SortedKeys, pending: readonly SortedKeys[]): Promise<string | undefined> {
  if (written.has(read.key)) return `key ${printable(read.key)} was written by an earlier transaction of this block`;
  if (pending.some((keys) => keys.has(read.key)) || !sameVersion(read.version, await state.version(ns, read.key))) {
    return `key ${printable(read.key)} changed since it was read`;
  }
  return undefined;
}

function inRange(range: RangeQueryInfo, key: string): boolean {
  return compareKeys(key, range.startKey) >= 0 && (range.itrExhausted ? range.endKey === '' || compareKeys(key, range.endKey) < 0 : compareKeys(key, range.endKey) <= 0);
}

/**
 * The range cannot return other results unless a key inside it was written (put or deleted)
 * after the simulation: by a block committed since, or by an earlier transaction of this block.
 */
function changedRange(range: RangeQueryInfo, written: SortedKeys, since: readonly SortedKeys[]): string | undefined {
  if (writtenInRange(range, written)) return `range starting at ${printable(range.startKey)} was changed by an earlier transaction of this block`;
  if (since.some((keys) => writtenInRange(range, keys))) return `range starting at ${printable(range.startKey)} returns other results now`;
  return undefined;
}

/** Whether a key of `keys` lies in the range: the smallest one at or after its start decides. */
function writtenInRange(range: RangeQueryInfo, keys: SortedKeys): boolean {
  const key = keys.firstFrom(range.startKey);
  return key !== undefined && inRange(range, key);
}

/** Re-run the range as the transaction saw it; any key or version difference is a phantom. */
async function phantomConflict(state: VersionedState, ns: string, range: RangeQueryInfo, written: SortedKeys): Promise<string | undefined> {
  if (writtenInRange(range, written)) return `range starting at ${printable(range.startKey)} was changed by an earlier transaction of this block`;
  const now: KVRead[] = [];
  for await (const kv of state.range(ns, range.startKey, range.itrExhausted ? range.endKey : '')) {
    if (!range.itrExhausted && compareKeys(kv.key, range.endKey) > 0) break;
    now.push({ key: kv.key, version: kv.version });
  }
  if (now.length !== range.reads.length || now.some((r, i) => r.key !== range.reads[i].key || !sameVersion(r.version, range.reads[i].version))) {
    return `range starting at ${printable(range.startKey)} returns other results now`;
  }
  return undefined;
}

/** Composite keys start with U+0000 and separate parts with it: show them readably in messages. */
function printable(key: string): string {
  return JSON.stringify(key.replace(/\u0000/g, '/'));
}
