/**
 * Closed-loop load: `inFlight` workers, each awaiting one decision after another until the deadline, so
 * exactly `inFlight` decisions are outstanding at any time. Latency of each decision goes into an HDR
 * histogram in microseconds.
 */
import { build } from 'hdr-histogram-js';

/** One decision. Resolves to whether it was admitted; rejects only on a real error. */
export type Decide = () => Promise<boolean>;

export interface LoadResult {
  decisions: number;
  admitted: number;
  elapsedMs: number;
  decisionsPerSec: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  /** CPU time (user + system) this Node process spent, in microseconds. */
  nodeCpuUs: number;
}

export async function drive(decide: Decide, inFlight: number, durationMs: number): Promise<LoadResult> {
  const histogram = build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
  let decisions = 0;
  let admitted = 0;

  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const deadline = start + durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const sentAt = performance.now();
      const ok = await decide();
      histogram.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
      decisions++;
      if (ok) admitted++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);

  const result: LoadResult = {
    decisions,
    admitted,
    elapsedMs,
    decisionsPerSec: (decisions * 1000) / elapsedMs,
    p50Us: histogram.getValueAtPercentile(50),
    p99Us: histogram.getValueAtPercentile(99),
    p999Us: histogram.getValueAtPercentile(99.9),
    maxUs: histogram.maxValue,
    nodeCpuUs: cpu.user + cpu.system,
  };
  histogram.destroy();
  return result;
}
