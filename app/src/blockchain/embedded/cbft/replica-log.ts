/**
 * A replica's log on disk, one folder per channel: `blocks.log`, the decided blocks with the
 * commits that decided them and their payloads (the orderer's ledger, kept for replicas and peers
 * that fall behind; each record a length, a JSON header and the payloads' raw bytes, as base64 in
 * JSON cost each replica more than a tenth of its time), and `votes.jsonl`, what the replica voted at heights not yet behind a stable
 * checkpoint (garbage-collected when one becomes stable). Records are appended synchronously
 * before the replica acts on them, so a replica killed at any point restarts without forgetting
 * a vote or a block; the page cache keeps them across a process crash (not a power cut: fsync per
 * vote would cost more than the consensus itself on this machine).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DecidedBlock, LogRecord } from './replica';

/** A block record's header: the block without its payloads, and each payload's digest and length in order. */
interface BlockHeader {
  block: Omit<DecidedBlock, 'payloads'>;
  payloads: Array<[string, number]>;
}

export class ReplicaLog {
  private readonly blocksFile: string;
  private readonly votesFile: string;
  /** Where each block's record starts and ends in blocks.log. */
  private readonly offsets = new Map<number, [number, number]>();
  private blocksSize = 0;
  private blocksFd: number;
  private votesFd: number;
  /** The records votes.jsonl holds. */
  private votes: Array<Exclude<LogRecord, { kind: 'block' }>> = [];

  private constructor(dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.blocksFile = path.join(dir, 'blocks.log');
    this.votesFile = path.join(dir, 'votes.jsonl');
    this.blocksFd = fs.openSync(this.blocksFile, 'a+');
    this.votesFd = fs.openSync(this.votesFile, 'a+');
  }

  /**
   * Opens (or creates) the log and reads back what it holds, in the order it was written. Blocks
   * come back without their payloads but for the last `withPayloads` (those the replica keeps at
   * hand); older ones are read again from the disk when asked for (loadBlock), so a long log is
   * not read into memory whole.
   */
  static open(dir: string, withPayloads = 64): { log: ReplicaLog; records: LogRecord[] } {
    const log = new ReplicaLog(dir);
    const records: LogRecord[] = [];
    const size = fs.fstatSync(log.blocksFd).size;
    const head = Buffer.alloc(8);
    let start = 0;
    while (start + 8 <= size) {
      fs.readSync(log.blocksFd, head, 0, 8, start);
      const end = start + 4 + head.readUInt32BE(0);
      const jsonLength = head.readUInt32BE(4);
      if (end > size || 8 + jsonLength > end - start) break;
      const json = Buffer.alloc(jsonLength);
      fs.readSync(log.blocksFd, json, 0, jsonLength, start + 8);
      const header = parseHeader(json);
      if (!header) break;
      log.offsets.set(header.block.proposal.height, [start + 4, end]);
      records.push({ kind: 'block', block: { ...header.block, payloads: new Map() } });
      start = end;
    }
    // The blocks the replica keeps at hand get their payloads.
    for (const r of records.slice(-withPayloads)) {
      if (r.kind === 'block') r.block = log.loadBlock(r.block.proposal.height) ?? r.block;
    }
    // A torn last record (killed mid-write) is cut off, so the next append starts clean.
    if (start < size) fs.ftruncateSync(log.blocksFd, start);
    log.blocksSize = start;
    for (const line of fs.readFileSync(log.votesFile, 'utf8').split('\n')) {
      const record = parseLine(Buffer.from(line));
      if (record && record.kind !== 'block') {
        records.push(record);
        log.votes.push(record);
      }
    }
    return { log, records };
  }

  append(record: LogRecord): void {
    if (record.kind === 'block') {
      const { payloads, ...block } = record.block;
      const header: BlockHeader = { block, payloads: [...payloads].map(([d, p]) => [d, p.byteLength]) };
      const json = Buffer.from(JSON.stringify(header), 'utf8');
      const lengths = Buffer.allocUnsafe(8);
      const size = 4 + json.length + header.payloads.reduce((a, [, n]) => a + n, 0);
      lengths.writeUInt32BE(size, 0);
      lengths.writeUInt32BE(json.length, 4);
      fs.writevSync(this.blocksFd, [lengths, json, ...[...payloads.values()]]);
      this.offsets.set(record.block.proposal.height, [this.blocksSize + 4, this.blocksSize + 4 + size]);
      this.blocksSize += 4 + size;
      return;
    }
    if (record.kind === 'checkpoint') {
      // Votes at heights before a stable checkpoint are of no use to anyone: the file starts again with the rest.
      this.votes = [record, ...this.votes.filter((v) => v.kind !== 'checkpoint' && v.height >= record.height)];
      fs.ftruncateSync(this.votesFd, 0);
      fs.writeSync(this.votesFd, this.votes.map((v) => `${JSON.stringify(v)}\n`).join(''));
      return;
    }
    this.votes.push(record);
    fs.writeSync(this.votesFd, `${JSON.stringify(record)}\n`);
  }

  loadBlock(height: number): DecidedBlock | undefined {
    const at = this.offsets.get(height);
    if (!at) return undefined;
    const buf = Buffer.alloc(at[1] - at[0]);
    fs.readSync(this.blocksFd, buf, 0, buf.length, at[0]);
    return parseBlock(buf);
  }

  close(): void {
    fs.closeSync(this.blocksFd);
    fs.closeSync(this.votesFd);
  }
}

/** A block record (after its length): the header's length and JSON, then the payloads' bytes. */
function parseBlock(record: Buffer): DecidedBlock | undefined {
  try {
    const jsonLength = record.readUInt32BE(0);
    const header = parseHeader(record.subarray(4, 4 + jsonLength));
    if (!header) return undefined;
    const payloads = new Map<string, Uint8Array>();
    let at = 4 + jsonLength;
    for (const [digest, length] of header.payloads) {
      if (at + length > record.length) return undefined;
      payloads.set(digest, record.subarray(at, at + length));
      at += length;
    }
    return { ...header.block, payloads };
  } catch {
    return undefined;
  }
}

function parseHeader(json: Buffer): BlockHeader | undefined {
  try {
    const header = JSON.parse(json.toString('utf8')) as BlockHeader;
    return header?.block?.proposal && Array.isArray(header.payloads) ? header : undefined;
  } catch {
    return undefined;
  }
}

function parseLine(line: Buffer): LogRecord | undefined {
  if (line.length === 0) return undefined;
  try {
    return JSON.parse(line.toString('utf8')) as LogRecord;
  } catch {
    return undefined;
  }
}
