/**
 * The embedded ledger in a backup, taken while the peer keeps committing.
 *
 * blocks.dat is append-only and the source of truth (the state database, the block index and the
 * transaction index are derived from it and rebuilt when the ledger opens: channel-store.ts,
 * block-store.ts). So a backup records every channel's height first and then copies each blocks.dat
 * only up to the bytes of that height: a prefix the peer never rewrites. No LevelDB folder is copied
 * (copying one while it is written is not safe); the restore opens each channel once, which replays
 * the state from block 0 — the same recovery the peer runs after a crash between block write and state
 * commit — and then checks the height and last block hash against the manifest and runs verify.
 *
 * Heights are recorded the sets first, the routing channel last: a business record is filed only after
 * its route is committed on the routing channel, so every business block in the backup finds its route.
 * The CAs (msp/) and the CBFT ordering service's folder (orderer/: the replicas' keys and logs) are copied
 * after the blocks, so the replicas' logs reach at least the peer's height, as after a crash; a replica
 * log's torn last record is cut off when it opens.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BlockStore, DATA_FILE } from '../blockchain/embedded/ledger/block-store';
import { ChannelStore, channelDir } from '../blockchain/embedded/ledger/channel-store';
import { ledgerChannels, verifyChannel } from '../blockchain/embedded/ledger/verify';
import { copyTree, filesUnder, meter, type Manifest, type Progress } from './archive';

type LedgerManifest = Manifest['ledger'];

/** Copies a consistent ledger from `ledgerDir` (in use or not) into `into` (ledger/ of the staging folder). */
export async function snapshotLedger(ledgerDir: string, into: string, routingChannel: string, progress: Progress): Promise<LedgerManifest> {
  const { channels: found } = await ledgerChannels(ledgerDir);
  const order = [...found.filter((c) => c !== routingChannel), ...found.filter((c) => c === routingChannel)];
  const channels: LedgerManifest['channels'] = [];
  for (const channel of order) {
    const store = await BlockStore.openReadOnly(path.join(channelDir(ledgerDir, channel), 'blocks'));
    try {
      channels.push({ channel, height: store.height(), lastHash: await store.lastHash(), bytes: store.byteLength() });
    } finally {
      await store.close();
    }
  }
  progress(`› ledger: ${channels.map((c) => `${c.channel} at height ${c.height}`).join(', ')}`);
  for (const c of channels) {
    const target = path.join(channelDir(into, c.channel), 'blocks', DATA_FILE);
    await mkdir(path.dirname(target), { recursive: true });
    const tick = meter(progress, `${c.channel} blocks`, c.bytes, 'bytes');
    let copied = 0;
    if (c.bytes === 0) {
      await writeFile(target, '', { mode: 0o600 });
      continue;
    }
    const source = createReadStream(path.join(channelDir(ledgerDir, c.channel), 'blocks', DATA_FILE), { start: 0, end: c.bytes - 1 });
    source.on('data', (chunk) => tick((copied += chunk.length)));
    await pipeline(source, createWriteStream(target, { mode: 0o600 }));
  }
  const msp = (await filesUnder(path.join(ledgerDir, 'msp'))).filter((f) => f.endsWith('.json'));
  await copyTree(path.join(ledgerDir, 'msp'), path.join(into, 'msp'));
  const orderer = (await copyTree(path.join(ledgerDir, 'orderer'), path.join(into, 'orderer'))).files > 0;
  return { channels, msp, orderer };
}

/**
 * After extraction: opens each channel once, which builds its indexes and replays its state database
 * from the blocks, then checks the height and last block hash the manifest recorded and verifies the
 * channel (hash chain, state against replayed blocks). Throws naming what does not match.
 */
export async function rebuildLedger(ledgerDir: string, expected: LedgerManifest, progress: Progress): Promise<void> {
  for (const c of expected.channels) {
    progress(`› ledger ${c.channel}: rebuilding the state database from ${c.height.toLocaleString('en')} blocks…`);
    const store = await ChannelStore.open(ledgerDir, c.channel);
    try {
      const height = store.blocks.height();
      const lastHash = await store.blocks.lastHash();
      if (height !== c.height || lastHash !== c.lastHash) {
        throw new Error(`ledger ${c.channel}: restored height ${height} (last hash ${lastHash.slice(0, 16)}…), the manifest says ${c.height} (${c.lastHash.slice(0, 16)}…)`);
      }
    } finally {
      await store.close();
    }
    const report = await verifyChannel(ledgerDir, c.channel);
    if (!report.ok) throw new Error(`ledger ${c.channel}: verify found ${report.problems.length} problem(s) after the restore: ${report.problems.slice(0, 3).join('; ')}`);
    progress(`  ${c.channel}: height ${report.height}, verified`);
  }
}
