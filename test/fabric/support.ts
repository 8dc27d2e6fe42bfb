/** What the Fabric suites and the Fabric benchmark share: the network scripts, the skip rule, the adapter. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ledgerConfig, openLedger, type LedgerGateway } from '@fund/app/dist/blockchain';

export const ROOT = path.resolve(__dirname, '..', '..');
export const FABRIC_DIR = path.join(ROOT, 'data', 'fabric');
export const CHANNELS = ['business', 'routing'];
export const ORGS = ['province', 'county', 'bank'];

/** The processes of data/fabric/pids.json that are alive. */
export function runningNetwork(): string[] {
  try {
    const pids = JSON.parse(readFileSync(path.join(FABRIC_DIR, 'pids.json'), 'utf8')) as Record<string, { pid: number }>;
    return Object.entries(pids)
      .filter(([, e]) => {
        try {
          process.kill(e.pid, 0);
          return true;
        } catch {
          return false;
        }
      })
      .map(([n]) => n);
  } catch {
    return []; // no network
  }
}

/** Why a Fabric suite cannot run here, if it cannot: FABRIC_TEST=skip, or a network already running (it would be torn down). */
export function skipReason(): string | undefined {
  if (/^(skip|0|false|no)$/i.test(process.env.FABRIC_TEST ?? '')) return 'FABRIC_TEST=skip';
  const alive = runningNetwork();
  if (alive.length > 0) return `a Fabric network is already running (${alive.join(', ')}); npm run network -- down first`;
  return undefined;
}

/** Runs one of the project's scripts (scripts/<file>) to completion; its output, or an error with it. */
export function script(file: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', file), ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  const out = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) throw new Error(`node scripts/${file} ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${out}`);
  return out;
}

/**
 * The Fabric adapter acting for one organisation (FABRIC_ORG): its peer answers queries and events, or the first of
 * `nodes` that answers (FabricConfig.nodes: peer names, endpoints or organisations, in order of preference).
 */
export function openFabric(org: string, channels: readonly string[] = CHANNELS, env: Record<string, string> = {}, nodes?: string[]): Promise<LedgerGateway> {
  const config = ledgerConfig({ LEDGER: 'fabric', FABRIC_DIR, FABRIC_ORG: org, LEDGER_CHANNELS: channels.join(','), ...env });
  if (nodes) config.fabric = { ...config.fabric!, nodes };
  return openLedger(config);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns something other than undefined/false (errors count as not yet). */
export async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

/** Collects how long the steps of a suite took, for its closing line. */
export class Timings {
  private readonly rows: Array<[string, number]> = [];
  private readonly started = Date.now();

  async time<T>(label: string, fn: () => T | Promise<T>): Promise<T> {
    const started = Date.now();
    try {
      return await fn();
    } finally {
      this.rows.push([label, Date.now() - started]);
    }
  }

  add(label: string, ms: number): void {
    this.rows.push([label, ms]);
  }

  report(title: string): string {
    const rows: Array<[string, number]> = [...this.rows, ['whole suite', Date.now() - this.started]];
    return `${title}:\n${rows.map(([l, ms]) => `  ${l.padEnd(48)} ${(ms / 1000).toFixed(1)} s`).join('\n')}`;
  }
}

/**
 * A fresh network for one suite: the Fabric commands (built when missing), `network up`, the channels (business and
 * routing, or those `env` configures, e.g. LEDGER_SETS) with 200 ms blocks (as the embedded test platform cuts them)
 * and the chaincode deployed. down() takes it down if `up` was tried, also after a failure.
 */
export class SuiteNetwork {
  private started = false;

  constructor(
    private readonly timings: Timings,
    private readonly env: Record<string, string> = {},
  ) {}

  async up(): Promise<void> {
    await this.timings.time('fabric-tools ensure', () => script('fabric-tools.mjs', []));
    this.started = true;
    await this.timings.time('network up', () => script('network.mjs', ['up']));
    await this.timings.time('createChannel (BATCH_TIMEOUT_MS=200)', () => script('network.mjs', ['createChannel'], { BATCH_TIMEOUT_MS: '200', ...this.env }));
    await this.timings.time('deployCC', () => script('network.mjs', ['deployCC'], this.env));
  }

  async down(): Promise<void> {
    if (this.started) await this.timings.time('network down', () => script('network.mjs', ['down']));
  }
}
