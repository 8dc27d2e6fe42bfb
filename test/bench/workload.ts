/**
 * What the benchmarks share: the workflow load (clients walking projects through every step), submit
 * latencies, the thesis's throughput formula over committed blocks, percentiles, and process memory
 * read from /proc.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { ChaincodeHarness } from '../chaincode/support/harness';
import type { Identity } from '@fund/app/dist/blockchain';
import { approvedProject, pay, transferPlan } from '../chaincode/support/fixture';

/** The value below which a share `p` of `values` lies, rounded to 0.1 (NaN for none). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] * 10) / 10;
}

/**
 * Times every submit of `h` from the call to its commit from now on; a refused submit throws, so a client's walk
 * stops there. Returns the list the latencies are added to.
 */
export function timeSubmits(h: ChaincodeHarness): number[] {
  const latencies: number[] = [];
  const submit = h.submit.bind(h);
  h.submit = (async (...args: Parameters<typeof submit>) => {
    const t0 = performance.now();
    const r = await submit(...args);
    if (!r.ok) throw new Error(`${args[1]} failed: ${r.message}`);
    latencies.push(performance.now() - t0);
    return r;
  }) as typeof h.submit;
  return latencies;
}

/**
 * One client (`unit`: the implementing unit's identity, fixture's actor(h, 'unit')): walks projects through the whole workflow — file, approve (signed drafts), serial + bank record for
 * every hop, accept ×3, progress to 100 % — until `stopped()`. With `onError` a failed walk is reported and the next
 * project started; without, the failure ends the client.
 */
export async function walkProjects(h: ChaincodeHarness, unit: Identity, stopped: () => boolean, onError?: (err: Error) => void): Promise<void> {
  const evidence = [{ name: '验收报告.pdf', sha256: 'd'.repeat(64), size: 1 }];
  while (!stopped()) {
    try {
      const { projectId, drafts } = await approvedProject(h);
      for (const transfer of transferPlan(drafts)) {
        if (stopped()) return;
        await pay(h, transfer);
      }
      for (const d of drafts) await h.ok(unit, 'Draft:accept', d.draftId);
      if (stopped()) return;
      await h.ok(unit, 'Project:reportProgress', projectId, JSON.stringify({ milestone: '验收', percent: 100, note: '完成', evidence }));
    } catch (err) {
      if (!onError) throw err;
      onError(err as Error);
    }
  }
}

/** What one run of a workflow benchmark (embedded ledger or Fabric) is told on its command line. */
export interface WorkflowBenchParams {
  clients: number;
  maxMessageCount: number;
  batchTimeoutMs: number;
  /** Blocks committed before measuring starts. */
  warmupBlocks?: number;
  /** Consecutive blocks measured (the thesis uses 100). */
  blocks?: number;
  /** The embedded ledger's ordering service (default solo) and, for CBFT, its primary rule (default credit). */
  orderer?: 'solo' | 'cbft';
  rule?: 'credit' | 'rotate';
}

/** Share of one core (per cent) that `used` (process.cpuUsage over the measured blocks) is of `seconds`. */
export function cpuPercent(used: NodeJS.CpuUsage, seconds: number): number {
  return Math.round(((used.user + used.system) / 1e6 / seconds) * 100);
}

/** When a block was seen committed, and how many of its transactions were valid. */
export interface BlockSeen {
  at: number;
  valid: number;
  invalid: number;
}

/** The thesis's throughput: valid transactions in blocks first..last ÷ time between the first's and the last's commit. */
export function thesisThroughput(blocks: ReadonlyMap<number, BlockSeen>, first: number, last: number) {
  let txs = 0;
  let invalidTxs = 0;
  for (let n = first; n <= last; n++) {
    txs += blocks.get(n)!.valid;
    invalidTxs += blocks.get(n)!.invalid;
  }
  const seconds = (blocks.get(last)!.at - blocks.get(first)!.at) / 1000;
  return { txs, invalidTxs, seconds, tps: Math.round((txs / seconds) * 10) / 10 };
}

/** A process's resident memory from /proc in bytes: `VmRSS` now, or `VmHWM` its peak; 0 if it is gone. */
export function processMemory(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}
