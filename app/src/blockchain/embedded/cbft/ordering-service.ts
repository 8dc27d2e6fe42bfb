/**
 * The CBFT ordering service of the embedded ledger: N = 3f+1 replicas, each on a worker thread
 * of its own with its own key, talking over loopback sockets (orderer-node.ts). Their keys and
 * certificates come from the orderer organisation's CA (OrdererMSP), the peers' ordering client's
 * from the peer organisation's (PeerMSP), both kept under <dataDir>/orderer so that what the
 * replicas signed before a restart still verifies after it. Each replica's log is under
 * <dataDir>/orderer/replica<i>/<channel>.
 *
 * kill() and revive() stop a replica as a crash would (its thread terminated, nothing flushed)
 * and start it again from its log on the same port: the operators' and the tests' fault switch.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { exportIdentity, type IdentityJSON } from '../identity';
import type { BatchSettings } from '../ledger/block-cutter';
import type { Membership } from '../membership';
import { DEFAULT_REPLICA_CONFIG, type ReplicaConfig, type ReplicaStatus } from './replica';
import type { FaultSpec, OrdererNodeOptions } from './orderer-node';
import type { FromOrderer, ToOrderer } from './orderer-worker';

export const ORDERER_MSP = 'OrdererMSP';
export const PEER_MSP = 'PeerMSP';

export interface CbftSettings {
  /** Replicas (default 4). */
  replicas?: number;
  /** Faulty replicas tolerated (default ⌊(N−1)/3⌋). */
  f?: number;
  protocol?: Partial<Omit<ReplicaConfig, 'channel' | 'n' | 'f' | 'batch'>>;
  /** Misbehaving replicas, by index (tests and experiments only). */
  faults?: Record<number, FaultSpec>;
}

/** What a peer's ordering client needs to reach the service (plain data: it crosses threads). */
export interface OrderingClientConfig {
  n: number;
  f: number;
  ports: number[];
  replicaCertificates: string[];
  identity: IdentityJSON;
  /** How long a request may wait before it is sent to every replica again. */
  resubmitMs: number;
}

export interface ReplicaReport {
  id: number;
  up: boolean;
  /** Which other replicas it is connected to. */
  links: boolean[];
  channels: Record<string, ReplicaStatus>;
}

interface Running {
  worker: Worker;
  exited: Promise<void>;
}

export class OrderingService {
  private readonly running: Array<Running | undefined>;
  private statusId = 0;

  private constructor(
    private readonly options: OrdererNodeOptions[],
    private readonly ports: number[],
    private readonly client: IdentityJSON,
  ) {
    this.running = options.map(() => undefined);
  }

  static async start(opts: { dataDir: string; membership: Membership; batch: BatchSettings; channelBatch?: Record<string, Partial<BatchSettings>>; cbft?: CbftSettings }): Promise<OrderingService> {
    const n = opts.cbft?.replicas ?? 4;
    const f = opts.cbft?.f ?? Math.floor((n - 1) / 3);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`CBFT replicas must be a whole number from 1 to 64, not ${n}`);
    if (!Number.isInteger(f) || f < 0 || n < 3 * f + 1) throw new Error(`CBFT needs N ≥ 3f+1 replicas: ${n} cannot tolerate f = ${f}`);
    const dir = path.join(opts.dataDir, 'orderer');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const ordererCa = await opts.membership.authority(ORDERER_MSP);
    const peerCa = await opts.membership.authority(PEER_MSP);
    const identities: IdentityJSON[] = [];
    for (let i = 0; i < n; i++) identities.push(await kept(path.join(dir, `replica${i}.identity.json`), async () => exportIdentity(await ordererCa.enrol({ enrollmentId: `replica${i}`, role: 'orderer', org: 'orderer' }))));
    const client = await kept(path.join(dir, 'peer-client.identity.json'), async () => exportIdentity(await peerCa.enrol({ enrollmentId: 'peer0', role: 'peer', org: 'peer' })));
    const protocol = { ...DEFAULT_REPLICA_CONFIG, ...opts.cbft?.protocol };
    const options: OrdererNodeOptions[] = identities.map((identity, id) => ({
      id,
      n,
      f,
      identity,
      replicaCertificates: identities.map((x) => x.certificate),
      clientRoots: [peerCa.certificate],
      logDir: path.join(dir, `replica${id}`),
      protocol,
      batch: opts.batch,
      ...(opts.channelBatch ? { channelBatch: { ...opts.channelBatch } } : {}),
      ...(opts.cbft?.faults?.[id] ? { fault: opts.cbft.faults[id] } : {}),
    }));
    const service = new OrderingService(options, new Array<number>(n).fill(0), client);
    try {
      await Promise.all(options.map((_, i) => service.revive(i)));
      for (const r of service.running) r?.worker.postMessage({ t: 'connect', ports: service.ports } satisfies ToOrderer);
    } catch (err) {
      await service.close();
      throw err;
    }
    return service;
  }

  get n(): number {
    return this.options.length;
  }

  get f(): number {
    return this.options[0].f;
  }

  get rule(): 'credit' | 'rotate' {
    return this.options[0].protocol.rule;
  }

  clientConfig(): OrderingClientConfig {
    const { n, f, protocol, batch } = this.options[0];
    return { n, f, ports: [...this.ports], replicaCertificates: this.options[0].replicaCertificates, identity: this.client, resubmitMs: 2 * (batch.batchTimeoutMs + protocol.viewTimeoutMs) };
  }

  /** Stops replica i as a crash would. */
  async kill(i: number): Promise<void> {
    const r = this.running[i];
    if (!r) return;
    this.running[i] = undefined;
    await r.worker.terminate();
    await r.exited;
  }

  /** Starts replica i (again) from its log, on its port. */
  async revive(i: number): Promise<void> {
    if (this.running[i]) return;
    const worker = new Worker(path.join(__dirname, 'orderer-worker.js'), { workerData: { options: this.options[i], listen: this.ports[i] } });
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (m: FromOrderer) => (m.t === 'ready' ? resolve(m.port) : reject(m.t === 'failed' ? m.error : new Error(`replica ${i} did not start`))));
    });
    worker.on('error', () => undefined);
    this.ports[i] = port;
    this.running[i] = { worker, exited };
    if (this.ports.every((p) => p > 0)) worker.postMessage({ t: 'connect', ports: this.ports } satisfies ToOrderer);
  }

  /** Every replica's view: up or not, its links, and per channel height, round, primary and credit scores. */
  async status(): Promise<ReplicaReport[]> {
    return Promise.all(
      this.running.map(async (r, id): Promise<ReplicaReport> => {
        if (!r) return { id, up: false, links: [], channels: {} };
        const ask = ++this.statusId;
        const answer = await new Promise<FromOrderer & { t: 'status' }>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`replica ${id} did not answer`)), 2000);
          const listen = (m: FromOrderer) => {
            if (m.t === 'status' && m.id === ask) {
              clearTimeout(timer);
              r.worker.off('message', listen);
              resolve(m);
            }
          };
          r.worker.on('message', listen);
          r.worker.postMessage({ t: 'status', id: ask } satisfies ToOrderer);
        }).catch(() => undefined);
        return answer ? { id, up: true, links: answer.links, channels: answer.status } : { id, up: true, links: [], channels: {} };
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all(
      this.running.map(async (r, i) => {
        if (!r) return;
        this.running[i] = undefined;
        r.worker.postMessage({ t: 'close' } satisfies ToOrderer);
        const closed = new Promise<void>((resolve) => r.worker.on('message', (m: FromOrderer) => m.t === 'closed' && resolve()));
        await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))]);
        await r.worker.terminate();
      }),
    );
  }
}

/** An identity kept in a file (created once), so certificates survive restarts. */
async function kept(file: string, create: () => Promise<IdentityJSON>): Promise<IdentityJSON> {
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as IdentityJSON;
  const identity = await create();
  writeFileSync(`${file}.tmp`, JSON.stringify(identity, null, 2), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return identity;
}
