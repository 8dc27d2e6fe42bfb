/**
 * A replica's log on disk, one folder per channel: `blocks.jsonl`, the decided blocks with the
 * commits that decided them and their payloads (the orderer's ledger, kept for replicas and peers
 * that fall behind), and `votes.jsonl`, what the replica voted at heights not yet behind a stable
 * checkpoint (garbage-collected when one becomes stable). Records are appended synchronously
 * before the replica acts on them, so a replica killed at any point restarts without forgetting
 * a vote or a block; the page cache keeps them across a process crash (not a power cut: fsync per
 * vote would cost more than the consensus itself on this machine).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DecidedBlock, LogRecord } from './replica';

interface StoredBlock {
  kind: 'block';
  block: Omit<DecidedBlock, 'payloads'> & { payloads: Array<[string, string]> };
}

export class ReplicaLog {
  private readonly blocksFile: string;
  private readonly votesFile: string;
  /** Where each block's record starts and ends in blocks.jsonl. */
  private readonly offsets = new Map<number, [number, number]>();
  private blocksSize = 0;
  private blocksFd: number;
  private votesFd: number;
  /** The records votes.jsonl holds. */
  private votes: Array<Exclude<LogRecord, { kind: 'block' }>> = [];

  private constructor(dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.blocksFile = path.join(dir, 'blocks.jsonl');
    this.votesFile = path.join(dir, 'votes.jsonl');
    this.blocksFd = fs.openSync(this.blocksFile, 'a+');
    this.votesFd = fs.openSync(this.votesFile, 'a+');
  }

  /** Opens (or creates) the log and reads back what it holds, in the order it was written. */
  static open(dir: string): { log: ReplicaLog; records: LogRecord[] } {
    const log = new ReplicaLog(dir);
    const records: LogRecord[] = [];
    const blocks = fs.readFileSync(log.blocksFile);
    let start = 0;
    for (let end = blocks.indexOf(10, start); end >= 0; start = end + 1, end = blocks.indexOf(10, start)) {
      const record = parseLine(blocks.subarray(start, end));
      if (record?.kind !== 'block') break;
      log.offsets.set(record.block.proposal.height, [start, end]);
      records.push(record);
    }
    // A torn last record (killed mid-write) is cut off, so the next append starts on a clean line.
    if (start < blocks.length) fs.ftruncateSync(log.blocksFd, start);
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
      const { payloads, ...rest } = record.block;
      const stored: StoredBlock = { kind: 'block', block: { ...rest, payloads: [...payloads].map(([d, p]) => [d, Buffer.from(p).toString('base64')]) } };
      const line = Buffer.from(`${JSON.stringify(stored)}\n`);
      fs.writeSync(this.blocksFd, line);
      this.offsets.set(record.block.proposal.height, [this.blocksSize, this.blocksSize + line.length - 1]);
      this.blocksSize += line.length;
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
    const record = parseLine(buf);
    return record?.kind === 'block' ? record.block : undefined;
  }

  close(): void {
    fs.closeSync(this.blocksFd);
    fs.closeSync(this.votesFd);
  }
}

function parseLine(line: Buffer): LogRecord | undefined {
  if (line.length === 0) return undefined;
  try {
    const record = JSON.parse(line.toString('utf8')) as LogRecord | StoredBlock;
    if (record.kind !== 'block') return record;
    const { payloads, ...rest } = (record as StoredBlock).block;
    return { kind: 'block', block: { ...rest, payloads: new Map(payloads.map(([d, p]) => [d, Buffer.from(p, 'base64')])) } };
  } catch {
    return undefined;
  }
}
