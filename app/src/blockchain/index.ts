/** The blockchain layer: the LedgerGateway interface and the adapter chosen by configuration. */
import * as path from 'node:path';
import { EmbeddedLedger } from './embedded/embedded-ledger';
import { THESIS_BATCH, type BatchSettings } from './embedded/ledger/block-cutter';
import type { LedgerGateway } from './gateway';
import { envInteger } from '../env';

export * from './gateway';

export interface LedgerConfig {
  backend: 'embedded' | 'fabric';
  dataDir: string;
  channels: string[];
  batch: BatchSettings;
  /** Endorsement worker threads; undefined = one per core but one. */
  endorsers?: number;
}

/**
 * LEDGER (embedded | fabric, default embedded), LEDGER_DATA_DIR (default data/ledger),
 * LEDGER_CHANNELS (comma-separated, default business,routing), and the orderer's batch
 * settings BATCH_MAX_MESSAGE_COUNT / BATCH_TIMEOUT_MS / BATCH_PREFERRED_MAX_BYTES
 * (default the thesis's 10 / 2000 / 2 MiB), LEDGER_ENDORSERS (endorsement worker threads,
 * default one per core but one; 0 runs the chaincode on the main thread).
 */
export function ledgerConfig(env: NodeJS.ProcessEnv = process.env): LedgerConfig {
  const backend = env.LEDGER ?? 'embedded';
  if (backend !== 'embedded' && backend !== 'fabric') throw new Error(`LEDGER must be "embedded" or "fabric", not ${JSON.stringify(backend)}`);
  const channels = (env.LEDGER_CHANNELS ?? 'business,routing').split(',').map((c) => c.trim()).filter(Boolean);
  if (channels.length === 0) throw new Error('LEDGER_CHANNELS must name at least one channel');
  return {
    backend,
    dataDir: path.resolve(env.LEDGER_DATA_DIR ?? path.join('data', 'ledger')),
    channels,
    batch: {
      maxMessageCount: envInteger(env, 'BATCH_MAX_MESSAGE_COUNT', 1) ?? THESIS_BATCH.maxMessageCount,
      batchTimeoutMs: envInteger(env, 'BATCH_TIMEOUT_MS', 1) ?? THESIS_BATCH.batchTimeoutMs,
      preferredMaxBytes: envInteger(env, 'BATCH_PREFERRED_MAX_BYTES', 1) ?? THESIS_BATCH.preferredMaxBytes,
    },
    endorsers: envInteger(env, 'LEDGER_ENDORSERS', 0),
  };
}

export async function openLedger(config: LedgerConfig = ledgerConfig()): Promise<LedgerGateway> {
  if (config.backend === 'fabric') throw new Error('LEDGER=fabric: the Fabric adapter is not built yet; use LEDGER=embedded');
  return EmbeddedLedger.open({ dataDir: config.dataDir, channels: config.channels, batch: config.batch, endorsers: config.endorsers });
}
