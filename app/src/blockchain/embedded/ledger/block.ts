/**
 * The stored block format and its hashes. Blocks are plain JSON (Buffers as base64) so the
 * block file stays readable; the header hash follows Fabric's protoutil.BlockHeaderHash.
 */
import * as crypto from 'node:crypto';
import type { KVRead, KVWrite, RangeQueryInfo, SimulationResults } from '../simulator';
import type { CutReason } from './block-cutter';
import type { CommittedTx } from './state-db';
import type { ValidationCode } from './validator';
import { canonicalJson } from '@fund/chaincode';

export interface StoredWrite {
  key: string;
  isDelete: boolean;
  /** base64 */
  value: string;
}

/** SimulationResults with Buffers as base64. */
export interface StoredResults {
  namespace: string;
  reads: KVRead[];
  rangeQueries: RangeQueryInfo[];
  writes: StoredWrite[];
  paginated: boolean;
}

export interface StoredTransaction {
  txId: string;
  channel: string;
  creator: { mspId: string; certificate: string };
  /** ISO-8601, from the proposal header. */
  timestamp: string;
  /** base64 of the SignedProposal bytes. */
  signedProposal: string;
  results: StoredResults;
  response: { status: number; message: string; /** base64 */ payload: string };
  event?: { name: string; /** base64 */ payload: string };
  validationCode: ValidationCode;
  validationMessage?: string;
}

export interface BlockHeader {
  number: number;
  /** Hex SHA-256 of the previous block's header; '' for block 0. */
  previousHash: string;
  /** Hex SHA-256 of canonicalJson(transactions). */
  dataHash: string;
}

export interface Block extends BlockHeader {
  transactions: StoredTransaction[];
  /** Not covered by any hash, like Fabric's block metadata. */
  metadata: {
    cutReason: CutReason;
    /** ISO-8601 */
    cutAt: string;
    /** The CBFT ordering service's decision this block holds: its height, digest, proposer and round. */
    orderer?: { height: number; digest: string; proposer: number; round: number };
  };
}

/** Keys in canonical (sorted) order here and in storedTransaction: computeDataHash then need not copy them. */
export function encodeResults(r: SimulationResults): StoredResults {
  return {
    namespace: r.namespace,
    paginated: r.paginated,
    rangeQueries: r.rangeQueries,
    reads: r.reads,
    writes: r.writes.map((w) => ({ isDelete: w.isDelete, key: w.key, value: w.value.toString('base64') })),
  };
}

/**
 * Unlike Fabric (where validation flags live in unhashed metadata), the transactions hashed
 * here include their validation codes: this ledger orders and validates in one step, and
 * covering the codes lets verify detect a tampered VALID/invalid flag. Not cached: verify
 * re-hashes blocks read back from the disk.
 */
export function computeDataHash(transactions: readonly StoredTransaction[]): string {
  return encode(transactions).hash;
}

/**
 * The bytes a block's data hash covers, kept for the transaction list createBlock hashed: the
 * block store writes these same bytes, so a block of 500 (about 4.5 MB of JSON) is serialized
 * once, not three times (hash, the store's re-check, the record).
 */
const encoded = new WeakMap<readonly StoredTransaction[], { bytes: Buffer; hash: string }>();

/** canonicalJson(transactions) as UTF-8 and its hash; computed once per transaction list. */
export function encodeTransactions(transactions: readonly StoredTransaction[]): { bytes: Buffer; hash: string } {
  let e = encoded.get(transactions);
  if (!e) encoded.set(transactions, (e = encode(transactions)));
  return e;
}

/** What a block's data hash covers: canonicalJson(transactions) as UTF-8. */
function encode(transactions: readonly StoredTransaction[]): { bytes: Buffer; hash: string } {
  const bytes = Buffer.from(canonicalJson(transactions), 'utf8');
  return { bytes, hash: sha256Hex(bytes) };
}

/** SHA-256 over the DER of SEQUENCE { INTEGER number, OCTET STRING prev, OCTET STRING data }, as Fabric. */
export function blockHeaderHash(h: BlockHeader): string {
  const body = Buffer.concat([
    der(0x02, integerBytes(h.number)),
    der(0x04, Buffer.from(h.previousHash, 'hex')),
    der(0x04, Buffer.from(h.dataHash, 'hex')),
  ]);
  return sha256Hex(der(0x30, body));
}

export function createBlock(number: number, previousHash: string, transactions: StoredTransaction[], metadata: Block['metadata']): Block {
  return { number, previousHash, dataHash: encodeTransactions(transactions).hash, transactions, metadata };
}

/** The block's record in the block file: its JSON, with the transactions as the hashed bytes. */
export function encodeBlock(block: Block): Buffer {
  const { number, previousHash, dataHash, metadata } = block;
  const head = JSON.stringify({ number, previousHash, dataHash }).slice(0, -1);
  return Buffer.concat([Buffer.from(`${head},"transactions":`), encodeTransactions(block.transactions).bytes, Buffer.from(`,"metadata":${JSON.stringify(metadata)}}`)]);
}

const decodedWrites = new WeakMap<Block, CommittedTx[]>();

/** The write sets a block contributes to the world state: its VALID transactions only (decoded once per block). */
export function validTransactions(block: Block): CommittedTx[] {
  let txs = decodedWrites.get(block);
  if (!txs) {
    txs = block.transactions.flatMap((tx, txNum) =>
      tx.validationCode !== 'VALID'
        ? []
        : [{ txNum, txId: tx.txId, timestamp: new Date(tx.timestamp), namespace: tx.results.namespace, writes: tx.results.writes.map(decodeWrite) }],
    );
    decodedWrites.set(block, txs);
  }
  return txs;
}

function decodeWrite(w: StoredWrite): KVWrite {
  return { key: w.key, isDelete: w.isDelete, value: Buffer.from(w.value, 'base64') };
}

function sha256Hex(bytes: Buffer): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/** Minimal big-endian two's-complement bytes of a non-negative integer (Go's asn1 for *big.Int). */
function integerBytes(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`invalid block number ${n}`);
  const bytes = unsignedBytes(n);
  return bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}

function unsignedBytes(n: number): Buffer {
  const hex = n.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
}

function der(tag: number, content: Buffer): Buffer {
  const len = content.length;
  const lenBytes = len < 0x80 ? Buffer.from([len]) : Buffer.concat([Buffer.from([0x80 | unsignedBytes(len).length]), unsignedBytes(len)]);
  return Buffer.concat([Buffer.from([tag]), lenBytes, content]);
}
