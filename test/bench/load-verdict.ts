/**
 * Whether a load run's memory shows a growth trend (issue 19): the live heap (after a full collection) over the
 * second half of the run, against what a leak of `bytesPerRequest` kept for every request served would add per
 * minute at the run's own request rate. The bound is on the slope's upper end (slope + 2 standard errors), so a run
 * too noisy or too short to rule out such a leak does not pass either.
 */
import type { LoadFigures } from './load-run';

export function memoryVerdict(f: Pick<LoadFigures, 'liveHeap' | 'rss' | 'requestsPerSecond' | 'liveHeapBytesPerRequest'>, bytesPerRequest = 1024): { held: boolean; limitMbPerMinute: number; text: string } {
  const limitMbPerMinute = Math.round(((bytesPerRequest * f.requestsPerSecond * 60) / 1024 / 1024) * 100) / 100;
  const upper = Math.round((f.liveHeap.mbPerMinute + 2 * f.liveHeap.stdErrMbPerMinute) * 100) / 100;
  const held = upper <= limitMbPerMinute;
  const text =
    `live heap ${f.liveHeap.firstMb} → ${f.liveHeap.lastMb} MB over the second half, slope ${f.liveHeap.mbPerMinute} ± ${f.liveHeap.stdErrMbPerMinute} MB/min ` +
    `(${f.liveHeapBytesPerRequest} bytes per request); upper bound ${upper} ${held ? '≤' : '>'} ${limitMbPerMinute} MB/min, what ${bytesPerRequest} bytes kept per request would add; ` +
    `RSS ${f.rss.firstMb} → ${f.rss.lastMb} MB, slope ${f.rss.mbPerMinute} ± ${f.rss.stdErrMbPerMinute} MB/min`;
  return { held, limitMbPerMinute, text };
}
