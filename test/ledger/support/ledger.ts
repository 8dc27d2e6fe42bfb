/** Temp directories and hand-made transactions/blocks for the ledger storage tests. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createBlock, type Block, type StoredTransaction } from '@fund/app/dist/blockchain/embedded/ledger';
import type { ValidationCode } from '@fund/app/dist/blockchain/embedded/ledger/validator';
import type { EventStream } from '@fund/app/dist/blockchain/gateway';

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ledger-test-'));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A write set entry: a string value puts, null deletes. */
export type Write = [key: string, value: string | null];

export function tx(txId: string, writes: Write[], opts: { ns?: string; code?: ValidationCode } = {}): StoredTransaction {
  return {
    txId,
    channel: 'ch1',
    creator: { mspId: 'Org1MSP', certificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' },
    timestamp: new Date(Date.UTC(2025, 0, 1)).toISOString(),
    signedProposal: Buffer.from(`proposal ${txId}`).toString('base64'),
    results: {
      namespace: opts.ns ?? 'cc',
      reads: [],
      rangeQueries: [],
      writes: writes.map(([key, value]) => ({ key, isDelete: value === null, value: Buffer.from(value ?? '').toString('base64') })),
      paginated: false,
    },
    response: { status: 200, message: '', payload: '' },
    validationCode: opts.code ?? 'VALID',
  };
}

/** The next block for a store, linked to its current last block. */
export async function nextBlock(blocks: { height(): number; lastHash(): Promise<string> }, transactions: StoredTransaction[]): Promise<Block> {
  return createBlock(blocks.height(), await blocks.lastHash(), transactions, { cutReason: 'flush', cutAt: new Date(0).toISOString() });
}

/** Takes events from a stream until `done` says stop, then closes it. */
export async function take<T>(stream: EventStream<T>, done: (items: T[]) => boolean): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) {
    items.push(item);
    if (done(items)) break;
  }
  stream.close();
  return items;
}
