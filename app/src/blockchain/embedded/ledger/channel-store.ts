/**
 * One channel's ledger: block store + state database under <dataDir>/<channel>/{blocks,state}.
 * A block is durable in the block store before its writes reach the state database (as in
 * Fabric's kvledger), so after a crash the state can only lag, and open() replays the gap.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { validTransactions, type Block } from './block';
import { BlockStore, DATA_FILE } from './block-store';
import { LevelStateDb } from './state-db';
import { Serial } from './serial';

/** Fabric's channel name rule; it also keeps the name a single, safe path segment. */
const CHANNEL_NAME = /^[a-z][a-z0-9.-]{0,248}$/;

export function channelDir(dataDir: string, channel: string): string {
  if (!CHANNEL_NAME.test(channel)) throw new Error(`invalid channel name ${JSON.stringify(channel)}`);
  return path.join(dataDir, channel);
}

/** Whether a folder holds (part of) a channel's ledger: a block store or a state database. */
export function isChannelLedger(dir: string): boolean {
  return existsSync(path.join(dir, 'blocks')) || existsSync(path.join(dir, 'state'));
}

export class ChannelStore {
  private readonly serial = new Serial();

  private constructor(
    readonly channel: string,
    readonly blocks: BlockStore,
    readonly state: LevelStateDb,
  ) {}

  static async open(dataDir: string, channel: string): Promise<ChannelStore> {
    const dir = channelDir(dataDir, channel);
    const blocks = await BlockStore.open(path.join(dir, 'blocks'));
    let state: LevelStateDb | undefined;
    try {
      state = await LevelStateDb.open(path.join(dir, 'state'));
      const store = new ChannelStore(channel, blocks, state);
      await store.catchUp();
      return store;
    } catch (err) {
      await state?.close().catch(() => undefined);
      await blocks.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * An existing channel ledger for reading only (the verifier): nothing is created, repaired or
   * replayed, and nothing under its folder is written. A state database lagging the block store (a
   * crash between the two commits, which open() would replay) is left as it is: state.savepoint()
   * says where it stands. commit() refuses.
   */
  static async openReadOnly(dataDir: string, channel: string): Promise<ChannelStore> {
    const dir = channelDir(dataDir, channel);
    if (!existsSync(path.join(dir, 'blocks', DATA_FILE))) throw new Error(`no ledger for channel ${channel} in ${dataDir}${existsSync(dir) ? `: ${path.join(dir, 'blocks', DATA_FILE)} does not exist` : ''}`);
    const blocks = await BlockStore.openReadOnly(path.join(dir, 'blocks'));
    try {
      return new ChannelStore(channel, blocks, await LevelStateDb.openReadOnly(path.join(dir, 'state')));
    } catch (err) {
      await blocks.close().catch(() => undefined);
      throw err;
    }
  }

  /** Appends blocks (one fsync) and then commits their valid writes to the state database (one batch). */
  commit(...blocks: Block[]): Promise<void> {
    return this.serial.run(async () => {
      // A state commit that failed earlier left the state behind: close the gap first.
      await this.catchUp();
      await this.blocks.append(...blocks);
      await this.state.commitBlocks(blocks.map((block) => ({ number: block.number, validTxs: validTransactions(block) })));
    });
  }

  close(): Promise<void> {
    return this.serial.run(async () => {
      await this.state.close();
      await this.blocks.close();
    });
  }

  /** Replays blocks the block store has but the state database has not committed. */
  private async catchUp(): Promise<void> {
    const height = this.blocks.height();
    const savepoint = this.state.savepoint();
    if (savepoint >= height) throw new Error(`channel ${this.channel}: state database is at block ${savepoint} but the block store ends at ${height - 1}`);
    for await (const block of this.blocks.iterate(savepoint + 1)) await this.state.commitBlock(block.number, validTransactions(block));
  }
}
