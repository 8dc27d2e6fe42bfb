/**
 * Append-only block store for one channel (Fabric's blkstorage, reduced to one file):
 *
 *   blocks.dat  records of: u32 BE length | block as JSON (UTF-8); the source of truth
 *   blocks.idx  u64 BE byte offset of block n's record at position 8n
 *   txindex/    LevelDB: 'tx:'+txId -> [blockNum, txNum], 'height' -> blocks indexed
 *
 * Both indexes are derived from blocks.dat and repaired on open, so only blocks.dat is fsynced.
 * openReadOnly() (the verifier) reads blocks.dat and blocks.idx and writes nothing: no repair, no
 * transaction index.
 */
import * as path from 'node:path';
import { mkdir, open, readFile, writeFile, type FileHandle } from 'node:fs/promises';
import { ClassicLevel } from 'classic-level';
import { blockHeaderHash, encodeBlock, encodeTransactions, type Block, type StoredTransaction } from './block';
import { Serial } from './serial';

export const DATA_FILE = 'blocks.dat';
export const INDEX_FILE = 'blocks.idx';
const TX_INDEX_DIR = 'txindex';
const HEIGHT_KEY = 'height';
const TX_PREFIX = 'tx:';
const HEADER_BYTES = 4;

export interface TransactionLocation {
  blockNumber: number;
  txNum: number;
  transaction: StoredTransaction;
}

type TxIndex = ClassicLevel<string, number | [number, number]>;

export class BlockStore {
  private readonly serial = new Serial();
  /** Header hash of the last block, computed lazily so a damaged block cannot stop open(). */
  private lastHeaderHash: string | undefined;

  private constructor(
    private readonly data: FileHandle,
    /** Both undefined when opened read-only. */
    private readonly idx: FileHandle | undefined,
    private readonly txIndex: TxIndex | undefined,
    private readonly offsets: number[],
    private size: number,
    /** Read-only: where a record cut short by a crash starts (the peer moves it aside when it opens the store). */
    readonly tornAt?: number,
  ) {}

  static async open(dir: string): Promise<BlockStore> {
    await mkdir(dir, { recursive: true });
    const opened: Array<{ close(): Promise<void> }> = [];
    try {
      const data = await open(path.join(dir, DATA_FILE), 'a+');
      opened.push(data);
      await syncDir(dir); // make a newly created blocks.dat's directory entry durable
      const { offsets, size } = await loadOffsets(data, dir, true);
      const idx = await open(path.join(dir, INDEX_FILE), 'a');
      opened.push(idx);
      const txIndex: TxIndex = new ClassicLevel(path.join(dir, TX_INDEX_DIR), { keyEncoding: 'utf8', valueEncoding: 'json' });
      await txIndex.open();
      opened.push(txIndex);
      const store = new BlockStore(data, idx, txIndex, offsets, size);
      await store.catchUpTxIndex();
      return store;
    } catch (err) {
      for (const h of opened.reverse()) await h.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * The blocks of an existing store, for reading only: nothing under `dir` is created, repaired or
   * written (a torn last record is left where it is and not counted). append() and the transaction
   * lookups refuse.
   */
  static async openReadOnly(dir: string): Promise<BlockStore> {
    const data = await open(path.join(dir, DATA_FILE), 'r');
    try {
      const { offsets, size, tornAt } = await loadOffsets(data, dir, false);
      return new BlockStore(data, undefined, undefined, offsets, size, tornAt);
    } catch (err) {
      await data.close().catch(() => undefined);
      throw err;
    }
  }

  height(): number {
    return this.offsets.length;
  }

  /** Bytes of blocks.dat the counted blocks take: a prefix a backup can copy while blocks are appended behind it. */
  byteLength(): number {
    return this.size;
  }

  /** previousHash for the next block: the last block's header hash, '' while empty. */
  async lastHash(): Promise<string> {
    if (this.height() === 0) return '';
    this.lastHeaderHash ??= blockHeaderHash(await this.getBlock(this.height() - 1));
    return this.lastHeaderHash;
  }

  /**
   * Appends blocks in order with one write and one fsync (a group commit when blocks queue up);
   * resolves once they are durable. Rejects, writing nothing, if any does not extend the chain.
   */
  append(...blocks: Block[]): Promise<void> {
    return this.serial.run(async () => {
      const idx = this.idx ?? this.readOnly();
      if (blocks.length === 0) return;
      let previousHash = await this.lastHash();
      const records: Buffer[] = [];
      const offsets: number[] = [];
      let end = this.size;
      for (const [i, block] of blocks.entries()) {
        const number = this.height() + i;
        if (block.number !== number) throw new Error(`cannot append block ${block.number}: height is ${number}`);
        if (block.previousHash !== previousHash) throw new Error(`block ${block.number}: previousHash does not match block ${block.number - 1}`);
        if (block.dataHash !== encodeTransactions(block.transactions).hash) throw new Error(`block ${block.number}: dataHash does not match its transactions`);
        const payload = encodeBlock(block);
        const header = Buffer.alloc(HEADER_BYTES);
        header.writeUInt32BE(payload.length);
        records.push(header, payload);
        offsets.push(end);
        end += HEADER_BYTES + payload.length;
        previousHash = blockHeaderHash(block);
      }
      try {
        await this.data.appendFile(Buffer.concat(records));
        await this.data.datasync();
      } catch (err) {
        await this.data.truncate(this.size).catch(() => undefined); // leave no half record behind
        throw err;
      }
      this.offsets.push(...offsets);
      this.size = end;
      this.lastHeaderHash = previousHash;
      // Both indexes are derived from blocks.dat (repaired on open), so they are written together.
      await Promise.all([idx.appendFile(Buffer.concat(offsets.map(u64))), this.indexTransactions(blocks)]);
    });
  }

  async getBlock(n: number): Promise<Block> {
    return parseBlock(n, await this.getBlockBytes(n));
  }

  /** Block n's record as stored (its JSON, UTF-8), unparsed: for a reader on another thread. */
  async getBlockBytes(n: number): Promise<Buffer> {
    if (!Number.isInteger(n) || n < 0 || n >= this.height()) throw new RangeError(`block ${n} does not exist (height ${this.height()})`);
    const start = this.offsets[n];
    const bytes = Buffer.alloc((this.offsets[n + 1] ?? this.size) - start);
    await this.data.read(bytes, 0, bytes.length, start);
    if (bytes.readUInt32BE(0) !== bytes.length - HEADER_BYTES) throw new Error(`block ${n}: record length does not match the index`);
    return bytes.subarray(HEADER_BYTES);
  }

  /** First occurrence of a txId (later duplicates are DUPLICATE_TXID by definition). */
  async getTransaction(txId: string): Promise<TransactionLocation | undefined> {
    const loc = (await (this.txIndex ?? this.readOnly()).get(TX_PREFIX + txId)) as [number, number] | undefined;
    if (!loc) return undefined;
    const [blockNumber, txNum] = loc;
    return { blockNumber, txNum, transaction: (await this.getBlock(blockNumber)).transactions[txNum] };
  }

  /** Whether a transaction with this id is in a block already (valid or not). */
  async hasTransaction(txId: string): Promise<boolean> {
    return (this.txIndex ?? this.readOnly()).getSync(TX_PREFIX + txId) !== undefined;
  }

  /** Blocks from `from` up to the height reached while iterating. */
  async *iterate(from = 0): AsyncIterable<Block> {
    for (let n = from; n < this.height(); n++) yield await this.getBlock(n);
  }

  close(): Promise<void> {
    return this.serial.run(async () => {
      await this.data.close();
      await this.idx?.close();
      await this.txIndex?.close();
    });
  }

  /** A store opened read-only has neither the index file nor the transaction index open. */
  private readOnly(): never {
    throw new Error('the block store is open read-only');
  }

  private async catchUpTxIndex(): Promise<void> {
    const txIndex = this.txIndex ?? this.readOnly();
    let from = ((await txIndex.get(HEIGHT_KEY)) as number | undefined) ?? 0;
    if (from > this.height()) {
      // The index knows blocks the file no longer has (e.g. a restored blocks.dat): rebuild it.
      await txIndex.clear();
      from = 0;
    }
    for (let n = from; n < this.height(); n++) await this.indexTransactions([await this.getBlock(n)]);
  }

  private async indexTransactions(blocks: readonly Block[]): Promise<void> {
    const txIndex = this.txIndex ?? this.readOnly();
    const batch = txIndex.batch();
    const seen = new Set<string>();
    for (const block of blocks) {
      block.transactions.forEach((tx, txNum) => {
        const key = TX_PREFIX + tx.txId;
        if (seen.has(key) || txIndex.getSync(key) !== undefined) return;
        seen.add(key);
        batch.put(key, [block.number, txNum]);
      });
    }
    batch.put(HEIGHT_KEY, blocks[blocks.length - 1].number + 1);
    await batch.write();
  }
}

/**
 * Block offsets from blocks.idx, checked against blocks.dat and extended by scanning the
 * unindexed tail. A record cut short by a crash is moved aside to blocks.dat.torn-<offset>
 * and truncated away; blocks.idx is rewritten whenever it disagrees. Without `repair` nothing
 * is written: the torn record is only left out (tornAt says where it starts).
 */
/** Block n from its record's JSON (getBlockBytes), checked to be block n. */
export function parseBlock(n: number, json: Uint8Array): Block {
  let block: Block;
  try {
    block = JSON.parse(Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8')) as Block;
  } catch (err) {
    throw new Error(`block ${n} is unreadable: ${(err as Error).message}`);
  }
  if (block.number !== n) throw new Error(`block ${n}: record holds block number ${block.number}`);
  return block;
}

async function loadOffsets(data: FileHandle, dir: string, repair: boolean): Promise<{ offsets: number[]; size: number; tornAt?: number }> {
  let size = (await data.stat()).size;
  const idxPath = path.join(dir, INDEX_FILE);
  const idxBytes = await readFile(idxPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return Buffer.alloc(0);
    throw err;
  });
  const offsets: number[] = [];
  for (let i = 0; i + 8 <= idxBytes.length; i += 8) offsets.push(Number(idxBytes.readBigUInt64BE(i)));
  let pos = 0;
  while (offsets.length > 0) {
    const end = await recordEnd(data, offsets[offsets.length - 1], size);
    if (end !== undefined) {
      pos = end;
      break;
    }
    offsets.pop();
  }
  while (pos < size) {
    const end = await recordEnd(data, pos, size);
    if (end === undefined) {
      if (!repair) return { offsets, size: pos, tornAt: pos };
      const torn = Buffer.alloc(size - pos);
      await data.read(torn, 0, torn.length, pos);
      await writeFile(path.join(dir, `${DATA_FILE}.torn-${pos}`), torn);
      await data.truncate(pos);
      await data.datasync();
      size = pos;
      break;
    }
    offsets.push(pos);
    pos = end;
  }
  if (repair && idxBytes.length !== offsets.length * 8) await writeFile(idxPath, Buffer.concat(offsets.map(u64)));
  return { offsets, size };
}

/** End of the record at `pos`, or undefined if it runs past the end of the file (a torn write). */
async function recordEnd(data: FileHandle, pos: number, size: number): Promise<number | undefined> {
  if (pos + HEADER_BYTES > size) return undefined;
  const header = Buffer.alloc(HEADER_BYTES);
  await data.read(header, 0, HEADER_BYTES, pos);
  const len = header.readUInt32BE(0);
  // Zero length never occurs in a written record, but a crash can leave zero-filled space.
  return len > 0 && pos + HEADER_BYTES + len <= size ? pos + HEADER_BYTES + len : undefined;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
