/** The blockchain layer: the LedgerGateway interface and the adapter chosen by configuration. */
import * as path from 'node:path';
import { EmbeddedLedger, ordererFromEnvironment, parseChannelThreads, type ChannelThreads } from './embedded/embedded-ledger';
import type { CbftSettings } from './embedded/cbft/ordering-service';
import { channelLayout } from './fabric/channels';
import { fabricPeers } from './fabric/profile';
import type { FabricConfig } from './fabric/profile';
import { THESIS_BATCH, type BatchSettings } from './embedded/ledger/block-cutter';
import type { LedgerGateway } from './gateway';
import { envInteger } from '../env';

export * from './gateway';

export interface LedgerConfig {
  backend: 'embedded' | 'fabric';
  dataDir: string;
  /** Every channel: the sets, then the routing channel. */
  channels: string[];
  /** The business channels ("sets", thesis chapter 4), set 1 first. */
  sets: string[];
  routingChannel: string;
  batch: BatchSettings;
  /** Endorsement worker threads; undefined = one per core but one. */
  endorsers?: number;
  /** The routing channel's BatchTimeout (ROUTING_BATCH_TIMEOUT_MS): a filing waits for its route's block. */
  routingBatchTimeoutMs: number;
  /** Channels whose whole peer runs on a thread of its own (LEDGER_CHANNEL_THREADS). */
  channelThreads: ChannelThreads;
  /** The embedded ledger's ordering service (ORDERER) and, for CBFT, its replicas and rules. */
  orderer: 'solo' | 'cbft';
  cbft: CbftSettings;
  /** LEDGER=fabric only: where the network is and which organisation's peer the app uses. */
  fabric?: FabricConfig;
}

/**
 * LEDGER (embedded | fabric, default embedded), LEDGER_DATA_DIR (default data/ledger),
 * LEDGER_SETS (business channels, default 1: `business`, then business2, …, beside the `routing` channel), or
 * LEDGER_CHANNELS (comma-separated: the sets, then the routing channel last; default business,routing), and the orderer's batch
 * settings BATCH_MAX_MESSAGE_COUNT / BATCH_TIMEOUT_MS / BATCH_PREFERRED_MAX_BYTES
 * (default the thesis's 10 / 2000 / 2 MiB), LEDGER_ENDORSERS (endorsement worker threads,
 * default one per core but one; 0 runs the chaincode on the main thread).
 *
 * ORDERER (solo | cbft, default solo): the embedded ledger's ordering service; with cbft, CBFT_REPLICAS (default 4),
 * CBFT_F (faulty replicas tolerated, default ⌊(N−1)/3⌋), CBFT_PRIMARY (credit | rotate, default credit: the thesis's
 * credit-scored primary, or plain round robin), CBFT_VIEW_TIMEOUT_MS (how long a round may take beyond the batch
 * timeout before it is abandoned, default 1000).
 *
 * LEDGER=fabric (the network of `npm run network`): FABRIC_DIR (default data/fabric: its connection-<org>.json
 * profiles and crypto material), FABRIC_ORG (province | county | bank or an MSP id, default province: the
 * organisation whose peer answers queries and events and whose commit a submit waits for; endorsement goes to the
 * peers discovery picks for the chaincode's policy), CHAINCODE_NAME (default fund), FABRIC_TIMEOUT_S (endorsement
 * and commit wait, default 60). LEDGER_CHANNELS names the channels as for the embedded ledger; the batch settings are
 * the network's (BATCH_* when `npm run network -- createChannel` ran), not the app's.
 */
export function ledgerConfig(env: NodeJS.ProcessEnv = process.env): LedgerConfig {
  const backend = env.LEDGER ?? 'embedded';
  if (backend !== 'embedded' && backend !== 'fabric') throw new Error(`LEDGER must be "embedded" or "fabric", not ${JSON.stringify(backend)}`);
  const layout = channelLayout(env);
  const channels = layout.all;
  const sets = layout.business;
  return {
    backend,
    dataDir: path.resolve(env.LEDGER_DATA_DIR ?? path.join('data', 'ledger')),
    channels,
    sets,
    routingChannel: layout.routing,
    batch: {
      maxMessageCount: envInteger(env, 'BATCH_MAX_MESSAGE_COUNT', 1) ?? THESIS_BATCH.maxMessageCount,
      batchTimeoutMs: envInteger(env, 'BATCH_TIMEOUT_MS', 1) ?? THESIS_BATCH.batchTimeoutMs,
      preferredMaxBytes: envInteger(env, 'BATCH_PREFERRED_MAX_BYTES', 1) ?? THESIS_BATCH.preferredMaxBytes,
    },
    endorsers: envInteger(env, 'LEDGER_ENDORSERS', 0),
    routingBatchTimeoutMs: envInteger(env, 'ROUTING_BATCH_TIMEOUT_MS', 1) ?? 100,
    // Several sets work in parallel only if each has a core of its own (thesis 4.3.1): by default every set's peer
    // runs on its own thread once there is more than one.
    channelThreads: parseChannelThreads(env.LEDGER_CHANNEL_THREADS ?? (sets.length > 1 ? sets.join(',') : 'none')),
    orderer: ordererFromEnvironment(env.ORDERER),
    cbft: cbftConfig(env),
    ...(backend === 'fabric'
      ? {
          fabric: {
            dir: path.resolve(env.FABRIC_DIR ?? path.join('data', 'fabric')),
            org: env.FABRIC_ORG?.trim() || 'province',
            chaincode: env.CHAINCODE_NAME?.trim() || 'fund',
            timeoutSeconds: envInteger(env, 'FABRIC_TIMEOUT_S', 1) ?? 60,
            ...(fabricPeers(env) ? { nodes: fabricPeers(env) } : {}),
          },
        }
      : {}),
  };
}

export async function openLedger(config: LedgerConfig = ledgerConfig()): Promise<LedgerGateway> {
  if (config.backend === 'fabric') {
    // Loaded only when asked for: the embedded platform never loads fabric-network.
    const { FabricLedger } = await import('./fabric/fabric-ledger');
    return FabricLedger.open({ fabric: config.fabric ?? ledgerConfig({ ...process.env, LEDGER: 'fabric' }).fabric!, channels: config.channels });
  }
  try {
    return await EmbeddedLedger.open({
      dataDir: config.dataDir,
      channels: config.channels,
      batch: config.batch,
      // Unless the routing channel is also the only set (LEDGER_CHANNELS naming one channel).
      channelBatch: config.sets.includes(config.routingChannel) ? {} : { [config.routingChannel]: { batchTimeoutMs: Math.min(config.routingBatchTimeoutMs, config.batch.batchTimeoutMs) } },
      endorsers: config.endorsers,
      channelThreads: config.channelThreads,
      orderer: config.orderer,
      cbft: config.cbft,
    });
  } catch (err) {
    // A folder the platform cannot write (read-only, not its own, a full disk) is named with the cause, not left to a
    // LevelDB or file-system message about one of its files.
    const code = (err as NodeJS.ErrnoException).code;
    const cause = (code && UNWRITABLE[code]) || UNWRITABLE[/\b(EROFS|EACCES|EPERM|ENOSPC)\b/.exec(String((err as Error).message))?.[1] ?? ''];
    if (cause) throw new Error(`the ledger folder ${config.dataDir} cannot be written (${cause}; LEDGER_DATA_DIR): ${(err as Error).message}`, { cause: err });
    throw err;
  }
}

const UNWRITABLE: Record<string, string> = {
  EROFS: 'a read-only file system',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOSPC: 'no space left on its disk',
};

function cbftConfig(env: NodeJS.ProcessEnv): CbftSettings {
  const replicas = envInteger(env, 'CBFT_REPLICAS', 1, 64) ?? 4;
  const f = envInteger(env, 'CBFT_F', 0, 21) ?? Math.floor((replicas - 1) / 3);
  if (replicas < 3 * f + 1) throw new Error(`CBFT_REPLICAS=${replicas} cannot tolerate CBFT_F=${f} faulty replicas: N must be at least 3f+1 = ${3 * f + 1}`);
  const rule = (env.CBFT_PRIMARY ?? 'credit').trim();
  if (rule !== 'credit' && rule !== 'rotate') throw new Error(`CBFT_PRIMARY must be "credit" or "rotate", not ${JSON.stringify(env.CBFT_PRIMARY)}`);
  const viewTimeoutMs = envInteger(env, 'CBFT_VIEW_TIMEOUT_MS', 50, 600_000) ?? 1000;
  return { replicas, f, protocol: { rule, viewTimeoutMs } };
}
