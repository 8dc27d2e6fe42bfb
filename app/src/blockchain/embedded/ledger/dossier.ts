/**
 * The audit dossier (审计档案) of one project and its offline check. A dossier holds the project and its drafts, every
 * transaction that wrote them inside its whole block (a block's data hash covers all of its transactions), and the
 * block headers from the first of those blocks to the tip. verifyDossier needs nothing else, neither the platform
 * nor its database nor the ledger: it re-checks each transaction's signature against its creator's certificate,
 * each draft's issuer signature, each block's data hash, the chain of headers by previous-hash, and that the states
 * given are the values the listed transactions wrote.
 *
 * What it cannot show: that the signers' certificates were issued by the organisations' CAs (the dossier carries no
 * trust roots), and that no transaction after the listed ones changed the project (the dossier carries the later
 * blocks' headers, not their transactions). Compare the tip's header hash with a peer's to anchor the chain.
 */
import { peer } from '@hyperledger/fabric-protos';
import { canonicalJson } from '@fund/chaincode';
import { signatureValid, signedContent, termsOf, type Draft } from '@fund/chaincode/dist/draft/draft';
import { blockHeaderHash, computeDataHash, type BlockHeader, type StoredTransaction } from './block';
import { verifyProposal } from '../proposal';
import { subjectCommonName } from '../identity';

export const DOSSIER_FORMAT = 'fund-audit-dossier/1';

export interface DossierEntity {
  type: 'Project' | 'Draft';
  id: string;
  /** The transactions that wrote it, oldest first (Project:history / Draft:history). */
  txIds: string[];
}

/** Where a transaction is, with what a reader wants to see at a glance; the evidence is in `blocks`. */
export interface DossierTransaction {
  txId: string;
  blockNumber: number;
  txNum: number;
  fcn: string;
  creator: string;
  creatorMspId: string;
  timestamp: string;
}

export interface AuditDossier {
  format: typeof DOSSIER_FORMAT;
  ledger: 'embedded';
  channel: string;
  createdAt: string;
  createdBy: { username: string; role: string; orgId: string };
  project: { id: string; draftIds?: string[] } & Record<string, unknown>;
  drafts: Draft[];
  entities: DossierEntity[];
  /** In chain order. */
  transactions: DossierTransaction[];
  /** Every block holding a listed transaction, with all of its transactions as stored (its header is in `headers`). */
  blocks: Array<{ number: number; transactions: StoredTransaction[] }>;
  /** From the first block in `blocks` to the tip, in order. */
  headers: BlockHeader[];
  tip: { number: number; hash: string };
}

export interface DossierCheck {
  ok: boolean;
  /** What was checked, e.g. "block 12", "tx 3fa2…", "draft PRJ-1-D1". */
  item: string;
  detail: string;
}

export function isDossier(value: unknown): value is AuditDossier {
  return isRecord(value) && value.format === DOSSIER_FORMAT;
}

/** Why a value is not a dossier this verifier reads. */
export function notADossier(value: unknown): string {
  return `not an audit dossier of format ${DOSSIER_FORMAT} (its format: ${JSON.stringify(isRecord(value) ? value.format : undefined)})`;
}

/** The checks in the order they build on each other: headers, blocks, transactions, signatures, states. */
export function verifyDossier(dossier: AuditDossier): DossierCheck[] {
  if (!isDossier(dossier)) return [fail('dossier', notADossier(dossier))];
  const headers = new Map<number, BlockHeader>();
  for (const h of dossier.headers ?? []) headers.set(h.number, h);
  return [
    ...checkHeaderChain(dossier, headers),
    ...dossier.blocks.map((b) => checkBlock(b, headers)),
    ...dossier.transactions.map((t) => checkTransaction(dossier, t)),
    ...dossier.drafts.map((d) => checkIssuerSignature(dossier, d)),
    ...checkStates(dossier),
  ];
}

/** Every header from the first block to the tip is there, each names its predecessor's hash, the last is the tip. */
function checkHeaderChain(dossier: AuditDossier, headers: Map<number, BlockHeader>): DossierCheck[] {
  const first = Math.min(...dossier.blocks.map((b) => b.number), dossier.tip.number);
  const checks: DossierCheck[] = [];
  for (let n = first; n <= dossier.tip.number; n++) {
    const header = headers.get(n);
    if (!header) {
      checks.push(fail(`block ${n}`, `the header of block ${n} is missing: the chain from block ${first} to the tip ${dossier.tip.number} cannot be followed`));
      continue;
    }
    const previous = headers.get(n - 1);
    if (n > first && previous && header.previousHash !== blockHeaderHash(previous)) {
      checks.push(fail(`block ${n}`, `previousHash ${short(header.previousHash)} is not the hash of block ${n - 1}'s header (${short(blockHeaderHash(previous))})`));
    }
  }
  const tip = headers.get(dossier.tip.number);
  if (tip && blockHeaderHash(tip) !== dossier.tip.hash) checks.push(fail(`block ${dossier.tip.number}`, `the tip's header hash is ${blockHeaderHash(tip)}, not ${dossier.tip.hash} as the dossier says`));
  if (checks.length > 0) return checks;
  return [pass('header chain', `blocks ${first} to ${dossier.tip.number} link by previous-hash up to the tip, block ${dossier.tip.number} with header hash ${dossier.tip.hash} (compare it with the ledger's: npm run ledger -- info ${dossier.channel})`)];
}

function checkBlock(block: AuditDossier['blocks'][number], headers: Map<number, BlockHeader>): DossierCheck {
  const item = `block ${block.number}`;
  const header = headers.get(block.number);
  if (!header) return fail(item, `its header is missing, so its transactions cannot be checked against it`);
  const hash = computeDataHash(block.transactions);
  if (hash !== header.dataHash) return fail(item, `the hash of its ${block.transactions.length} transactions is ${short(hash)}, the header says ${short(header.dataHash)}: a transaction in it was changed`);
  return pass(item, `data hash matches its ${block.transactions.length} transaction(s)`);
}

/** The transaction is in its block, valid there, and signed by its creator (signature and txId binding, as a peer checks). */
function checkTransaction(dossier: AuditDossier, t: DossierTransaction): DossierCheck {
  const item = `tx ${t.txId}`;
  const tx = storedTransaction(dossier, t);
  if (!tx) return fail(item, `not found in block ${t.blockNumber} at position ${t.txNum}`);
  if (tx.validationCode !== 'VALID') return fail(item, `marked ${tx.validationCode} in block ${t.blockNumber}: it wrote nothing`);
  try {
    const proposal = verifyProposal(peer.SignedProposal.deserializeBinary(Buffer.from(tx.signedProposal, 'base64')));
    const mismatch =
      proposal.txId !== tx.txId ? `its proposal is for transaction ${proposal.txId}`
      : proposal.creator.certificate !== tx.creator.certificate || proposal.creator.mspId !== tx.creator.mspId ? 'its proposal was signed by another creator than the one recorded'
      : proposal.channel !== dossier.channel ? `its proposal is for channel ${proposal.channel}`
      : proposal.chaincode !== tx.results.namespace ? `its proposal calls chaincode ${proposal.chaincode}, its writes are under ${tx.results.namespace}`
      : undefined;
    if (mismatch) return fail(item, mismatch);
  } catch (err) {
    return fail(item, `${(err as Error).message.replace(/^invalid proposal: /, '')} (${t.fcn}, block ${t.blockNumber})`);
  }
  return pass(item, `${t.fcn} in block ${t.blockNumber} #${t.txNum}: signed by ${subjectCommonName(tx.creator.certificate)} (${tx.creator.mspId}); signature and txId binding verify`);
}

/** The issuer signed the draft's terms, and the issuer is who submitted the approval that issued it. */
function checkIssuerSignature(dossier: AuditDossier, draft: Draft): DossierCheck {
  const item = `draft ${draft.draftId}`;
  if (!signatureValid(draft.issuerCertificate, signedContent(termsOf(draft)), draft.issuerSignature)) {
    return fail(item, `the issuer's signature does not verify over the draft's terms (amount ${draft.amount} fen, ${draft.plannedPath.length} legs): the terms or the signature were changed`);
  }
  const issuing = dossier.entities.find((e) => e.type === 'Draft' && e.id === draft.draftId)?.txIds[0];
  const tx = issuing === undefined ? undefined : storedTransactionById(dossier, issuing);
  if (!tx || tx.creator.certificate !== draft.issuerCertificate) return fail(item, `the issuer's certificate is not the certificate of the transaction that issued the draft (${issuing ?? 'none listed'})`);
  return pass(item, `issuer ${subjectCommonName(draft.issuerCertificate)}'s signature verifies over its terms (amount ${draft.amount} fen)`);
}

/** The project's and each draft's state is the last value the dossier's transactions wrote under its key. */
function checkStates(dossier: AuditDossier): DossierCheck[] {
  const checks: DossierCheck[] = [];
  const states = new Map<string, unknown>([[`Project ${dossier.project.id}`, dossier.project], ...dossier.drafts.map((d): [string, unknown] => [`Draft ${d.draftId}`, d])]);
  for (const draftId of dossier.project.draftIds ?? []) {
    if (!states.has(`Draft ${draftId}`)) checks.push(fail(`draft ${draftId}`, `the project lists it, the dossier does not hold it`));
  }
  for (const [name, state] of states) {
    const [type, id] = name.split(' ') as ['Project' | 'Draft', string];
    const entity = dossier.entities.find((e) => e.type === type && e.id === id);
    if (!entity || entity.txIds.length === 0) {
      checks.push(fail(name, 'no transaction that wrote it is listed'));
      continue;
    }
    const key = compositeKey(type, id);
    const writes = dossier.transactions.flatMap((t) => {
      const tx = storedTransaction(dossier, t);
      const write = tx?.validationCode === 'VALID' ? tx.results.writes.find((w) => w.key === key) : undefined;
      return write ? [{ t, write }] : [];
    });
    const unwritten = entity.txIds.filter((txId) => !writes.some((w) => w.t.txId === txId));
    if (unwritten.length > 0) {
      checks.push(fail(name, `its history lists transaction(s) that wrote no value for it: ${unwritten.join(', ')}`));
      continue;
    }
    const last = writes.at(-1)!;
    if (last.t.txId !== entity.txIds.at(-1)) {
      checks.push(fail(name, `its history ends with ${entity.txIds.at(-1)}, but ${last.t.txId} (block ${last.t.blockNumber}) wrote it later`));
      continue;
    }
    const written = last.write.isDelete ? null : (JSON.parse(Buffer.from(last.write.value, 'base64').toString('utf8')) as unknown);
    if (canonicalJson(written) !== canonicalJson(state)) {
      checks.push(fail(name, `the dossier's state differs from the value transaction ${last.t.txId} (block ${last.t.blockNumber}) wrote: ${differences(state, written)}`));
      continue;
    }
    checks.push(pass(name, `state is the value written by ${last.t.fcn} in transaction ${last.t.txId} (block ${last.t.blockNumber}), the last of ${entity.txIds.length}`));
  }
  return checks;
}

/** Fabric's composite key (fabric-shim createCompositeKey), as the chaincode's EntityStore keys its entities. */
function compositeKey(type: string, ...parts: string[]): string {
  return `\u0000${[type, ...parts].join('\u0000')}\u0000`;
}

function storedTransaction(dossier: AuditDossier, t: DossierTransaction): StoredTransaction | undefined {
  const tx = dossier.blocks.find((b) => b.number === t.blockNumber)?.transactions[t.txNum];
  return tx?.txId === t.txId ? tx : undefined;
}

function storedTransactionById(dossier: AuditDossier, txId: string): StoredTransaction | undefined {
  const t = dossier.transactions.find((x) => x.txId === txId);
  return t && storedTransaction(dossier, t);
}

/** Which top-level fields differ, with both values: "amount is "100" in the dossier, "99" on the chain". */
function differences(given: unknown, written: unknown): string {
  if (!isRecord(given) || !isRecord(written)) return `${clip(canonicalJson(given))} in the dossier, ${clip(canonicalJson(written))} on the chain`;
  const fields = [...new Set([...Object.keys(given), ...Object.keys(written)])].sort().filter((k) => canonicalJson(given[k] ?? null) !== canonicalJson(written[k] ?? null));
  return fields.map((k) => `${k} is ${clip(canonicalJson(given[k] ?? null))} in the dossier, ${clip(canonicalJson(written[k] ?? null))} on the chain`).join('; ');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

function short(hash: string): string {
  return `${hash.slice(0, 12)}…`;
}

function pass(item: string, detail: string): DossierCheck {
  return { ok: true, item, detail };
}

function fail(item: string, detail: string): DossierCheck {
  return { ok: false, item, detail };
}
