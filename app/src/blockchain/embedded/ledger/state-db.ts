/**
 * World state and history on LevelDB (classic-level), laid out like Fabric's stateleveldb and
 * historyleveldb. Keys are UTF-8 bytes, so LevelDB's bytewise order is compareKeys' order.
 *
 *   state:     's' 0x00 ns 0x00 key                           -> u64 blockNum | u64 txNum | value
 *   history:   'h' 0x00 ns 0x00 u32 len(key) key u64 blk u64 tx -> 0x01 | u8 isDelete | f64 timestamp | u16 len(txId) txId | value
 *              (ledgers written before 2026-11-21 hold JSON { txId, isDelete, timestamp, value(b64) }; both are read)
 *   savepoint: 'm' 0x00 'savepoint'                            -> u64 last committed block number
 *
 * The history key carries the key's length because keys may contain 0x00 (composite keys):
 * without it, the history of "a" would also scan "a\0b".
 */
import { constants } from 'node:fs';
import { copyFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { KeyModification, KVWrite, Version, VersionedKV, VersionedState, VersionedValue } from '../simulator';

/** One VALID transaction's contribution to a block commit. */
export interface CommittedTx {
  txNum: number;
  txId: string;
  timestamp: Date;
  namespace: string;
  writes: KVWrite[];
}

export interface StateEntry extends VersionedKV {
  ns: string;
}

const SEP = Buffer.from([0]);
const STATE = Buffer.from('s\0');
const HISTORY = Buffer.from('h\0');
const SAVEPOINT = Buffer.from('m\0savepoint');
const VERSION_BYTES = 16;
const STATE_WRITE_BUFFER_BYTES = 32 * 1024 * 1024;
/** Versions kept in memory for MVCC checks; past this many the cache starts over. */
const VERSION_CACHE_ENTRIES = 200_000;

export function stateKey(ns: string, key: string): Buffer {
  return Buffer.concat([nsPrefix(ns), Buffer.from(key, 'utf8')]);
}

export class LevelStateDb implements VersionedState {
  private committing = false;
  /**
   * Committed versions by "ns\0key", null for a key known not to exist. The validator asks for
   * the version of every key every transaction read, mostly the same hot keys and keys written
   * a few blocks before; each LevelDB read copies the whole value out only to drop it.
   */
  private readonly versions = new Map<string, Version | null>();

  private constructor(
    private readonly db: ClassicLevel<Buffer, Buffer>,
    private lastBlock: number,
    /** openReadOnly: the private copy the database was opened from, removed on close. */
    private readonly copy?: string,
  ) {}

  static async open(location: string): Promise<LevelStateDb> {
    // A 32 MiB write buffer instead of LevelDB's 4 MiB: every state write also writes a history
    // entry, and with small memtables the compaction thread took a fifth of a core at ~800 tx/s.
    const db = new ClassicLevel<Buffer, Buffer>(location, { keyEncoding: 'buffer', valueEncoding: 'buffer', writeBufferSize: STATE_WRITE_BUFFER_BYTES });
    await db.open();
    const sp = await db.get(SAVEPOINT);
    return new LevelStateDb(db, sp ? Number(sp.readBigUInt64BE(0)) : -1);
  }

  /**
   * An existing state database, for reading only. LevelDB has no read-only mode: opening a database
   * takes its LOCK, starts a new MANIFEST and info LOG and turns its write-ahead log into a table.
   * So the files are copied (a reflink where the file system has them) into a temporary folder and
   * the copy is opened; nothing under `location` is written. Commits go to the copy, which close()
   * deletes.
   */
  static async openReadOnly(location: string): Promise<LevelStateDb> {
    const names = await readdir(location).catch((err: NodeJS.ErrnoException) => {
      throw new Error(err.code === 'ENOENT' ? `no state database: ${location} does not exist` : `cannot read the state database ${location}: ${err.message}`);
    });
    if (!names.includes('CURRENT')) throw new Error(`no state database in ${location} (it has no LevelDB CURRENT file)`);
    const copy = await mkdtemp(path.join(os.tmpdir(), 'state-readonly-'));
    try {
      for (const name of names) {
        // LOCK is the running peer's lock (LevelDB makes its own); LOG and LOG.old are LevelDB's diagnostics.
        if (name === 'LOCK' || name === 'LOG' || name === 'LOG.old') continue;
        if ((await stat(path.join(location, name))).isFile()) await copyFile(path.join(location, name), path.join(copy, name), constants.COPYFILE_FICLONE);
      }
      const db = new ClassicLevel<Buffer, Buffer>(copy, { keyEncoding: 'buffer', valueEncoding: 'buffer', createIfMissing: false });
      await db.open();
      const sp = await db.get(SAVEPOINT);
      return new LevelStateDb(db, sp ? Number(sp.readBigUInt64BE(0)) : -1, copy);
    } catch (err) {
      await rm(copy, { recursive: true, force: true });
      throw err;
    }
  }

  /** Number of the last committed block, -1 before the first commit. */
  savepoint(): number {
    return this.lastBlock;
  }

  async get(ns: string, key: string): Promise<VersionedValue | undefined> {
    return this.read(ns, key);
  }

  async version(ns: string, key: string): Promise<Version | null> {
    const id = versionId(ns, key);
    let v = this.versions.get(id);
    if (v === undefined) {
      // Read and remembered in one synchronous step, so a commit cannot land in between.
      v = this.read(ns, key)?.version ?? null;
      this.remember(id, v);
    }
    return v;
  }

  private read(ns: string, key: string): VersionedValue | undefined {
    // A synchronous point read costs ~3 µs; the async one ~90 µs of thread-pool round trip,
    // and endorsement and validation do little else.
    const raw = this.db.getSync(stateKey(ns, key));
    return raw && decodeValue(raw);
  }

  private remember(id: string, v: Version | null): void {
    if (this.versions.size >= VERSION_CACHE_ENTRIES) this.versions.clear();
    this.versions.set(id, v);
  }

  async *range(ns: string, startKey: string, endKey: string): AsyncIterable<VersionedKV> {
    const prefix = nsPrefix(ns);
    const lt = endKey === '' ? nsEnd(ns) : stateKey(ns, endKey);
    for await (const [k, v] of this.db.iterator({ gte: stateKey(ns, startKey), lt })) {
      yield { key: k.subarray(prefix.length).toString('utf8'), ...decodeValue(v) };
    }
  }

  async history(ns: string, key: string): Promise<KeyModification[]> {
    const prefix = historyPrefix(ns, key);
    const mods: KeyModification[] = [];
    for await (const v of this.db.values({ gt: prefix, lte: Buffer.concat([prefix, Buffer.alloc(VERSION_BYTES, 0xff)]), reverse: true })) {
      mods.push(decodeModification(v));
    }
    return mods;
  }

  /** Every live key of every namespace, in LevelDB order (namespace, then key bytes). */
  async *entries(): AsyncIterable<StateEntry> {
    for await (const [k, v] of this.db.iterator({ gte: STATE, lt: Buffer.from('s\x01') })) {
      const sep = k.indexOf(0, STATE.length);
      yield { ns: k.subarray(STATE.length, sep).toString('utf8'), key: k.subarray(sep + 1).toString('utf8'), ...decodeValue(v) };
    }
  }

  /**
   * Applies blocks' VALID write sets, their history and the new savepoint in one LevelDB batch:
   * after a crash the state is either entirely before or entirely after the blocks. The batch is
   * not fsynced: the blocks are already durable in the block store, and a state that lost its
   * last batches to a power cut is replayed from there on open (ChannelStore.catchUp).
   */
  async commitBlocks(blocks: ReadonlyArray<{ number: number; validTxs: readonly CommittedTx[] }>): Promise<void> {
    if (this.committing) throw new Error('state commits must not overlap');
    let last = this.lastBlock;
    if (blocks.length === 0) return;
    // A chained batch: the array form of batch() clones and re-checks each of a block's
    // thousands of operations in JavaScript, about five times the cost. Nothing is written
    // before write(), so a bad write set still aborts the whole batch.
    const batch = this.db.batch();
    // The versions the batch sets, remembered once it has landed.
    const versions: Array<[string, Version | null]> = [];
    try {
      for (const { number: blockNum, validTxs } of blocks) {
        if (blockNum !== last + 1) throw new Error(`cannot commit block ${blockNum}: state savepoint is ${last}`);
        last = blockNum;
        for (const tx of validTxs) {
          const version = { blockNum, txNum: tx.txNum };
          for (const w of tx.writes) {
            checkKey(w.key);
            const key = stateKey(tx.namespace, w.key);
            if (w.isDelete) batch.del(key);
            else batch.put(key, encodeValue(w.value, version));
            versions.push([versionId(tx.namespace, w.key), w.isDelete ? null : version]);
            batch.put(Buffer.concat([historyPrefix(tx.namespace, w.key), u64(blockNum), u64(tx.txNum)]), encodeModification(tx, w));
          }
        }
      }
      batch.put(SAVEPOINT, u64(last));
    } catch (err) {
      await batch.close();
      throw err;
    }
    this.committing = true;
    try {
      await batch.write({ sync: false });
      this.lastBlock = last;
      for (const [id, v] of versions) this.remember(id, v);
    } finally {
      this.committing = false;
    }
  }

  /** commitBlocks for one block. */
  commitBlock(blockNum: number, validTxs: readonly CommittedTx[]): Promise<void> {
    return this.commitBlocks([{ number: blockNum, validTxs }]);
  }

  async close(): Promise<void> {
    try {
      await this.db.close();
    } finally {
      if (this.copy) await rm(this.copy, { recursive: true, force: true });
    }
  }
}

/** A key's entry in the version cache (namespaces hold no 0x00, see nsBytes). */
function versionId(ns: string, key: string): string {
  return `${ns}\0${key}`;
}

function nsPrefix(ns: string): Buffer {
  return Buffer.concat([STATE, nsBytes(ns), SEP]);
}

function nsBytes(ns: string): Buffer {
  // A namespace with 0x00 would make "ns\0key" ambiguous; Fabric's chaincode names never have one.
  if (ns === '' || ns.includes('\0')) throw new Error(`invalid namespace ${JSON.stringify(ns)}`);
  return Buffer.from(ns, 'utf8');
}

/** First key after every key of the namespace. */
function nsEnd(ns: string): Buffer {
  const end = nsPrefix(ns);
  end[end.length - 1] = 1;
  return end;
}

function historyPrefix(ns: string, key: string): Buffer {
  const k = Buffer.from(key, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(k.length);
  return Buffer.concat([HISTORY, nsBytes(ns), SEP, len, k]);
}

function checkKey(key: string): void {
  // A lone surrogate would silently become U+FFFD on the way to UTF-8 bytes.
  if (key === '' || Buffer.from(key, 'utf8').toString('utf8') !== key) throw new Error(`invalid key ${JSON.stringify(key)}: must be non-empty valid UTF-8`);
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

function encodeValue(value: Buffer, v: Version): Buffer {
  return Buffer.concat([u64(v.blockNum), u64(v.txNum), value]);
}

const HISTORY_FORMAT = 1;

/** A history entry in binary: the value as it is, not as base64 inside JSON (every state write also writes one). */
function encodeModification(tx: CommittedTx, w: KVWrite): Buffer {
  const txId = Buffer.from(tx.txId, 'utf8');
  const head = Buffer.alloc(12);
  head.writeUInt8(HISTORY_FORMAT, 0);
  head.writeUInt8(w.isDelete ? 1 : 0, 1);
  head.writeDoubleBE(tx.timestamp.getTime(), 2);
  head.writeUInt16BE(txId.length, 10);
  return Buffer.concat([head, txId, w.isDelete ? Buffer.alloc(0) : w.value]);
}

function decodeModification(raw: Buffer): KeyModification {
  if (raw[0] !== HISTORY_FORMAT) {
    const h = JSON.parse(raw.toString('utf8')) as { txId: string; isDelete: boolean; timestamp: number; value: string };
    return { txId: h.txId, isDelete: h.isDelete, timestamp: new Date(h.timestamp), value: Buffer.from(h.value, 'base64') };
  }
  const end = 12 + raw.readUInt16BE(10);
  return { txId: raw.toString('utf8', 12, end), isDelete: raw[1] === 1, timestamp: new Date(raw.readDoubleBE(2)), value: Buffer.from(raw.subarray(end)) };
}

function decodeValue(raw: Buffer): VersionedValue {
  if (raw.length < VERSION_BYTES) throw new Error(`corrupt state value (${raw.length} bytes)`);
  return {
    value: Buffer.from(raw.subarray(VERSION_BYTES)),
    version: { blockNum: Number(raw.readBigUInt64BE(0)), txNum: Number(raw.readBigUInt64BE(8)) },
  };
}
