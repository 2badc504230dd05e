/**
 * Shared helpers of the resilience tests (test/resilience/*.test.ts): a steady load of decisions kept in
 * flight while a test breaks the store, with one sample per decision (when it started and ended, which
 * path decided it), and small summaries of those samples.
 *
 * Times are `performance.now()` (monotonic ms), in this process.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Decision } from '../../src/index.js';

/** One decision of a load: when it ran and what it said. */
export interface Sample {
  start: number;
  end: number;
  latency: number;
  path: Decision['path'];
  allowed: boolean;
  reason: Decision['reason'];
  /** `storeError.code` when a failure mode decided. */
  errorCode: string | undefined;
}

export interface Load {
  readonly samples: Sample[];
  /** Errors thrown to the caller by `decide` (there should be none: failures are decisions). */
  readonly thrown: unknown[];
  /**
   * Longest event-loop delay of this process during the load, ms (10 ms resolution): a decision's latency
   * includes it, so a latency far above the budget with a similar delay is the machine, not the limiter.
   */
  maxLoopDelayMs(): number;
  /**
   * A decision's latency net of the time this process was not running during it (gaps of a 5 ms
   * heartbeat beyond 15 ms: GC, or a machine too busy to schedule us). A timer cannot fire while the
   * process is stalled, so the budget can only be judged on this net latency; the raw figure is reported
   * beside it.
   */
  netLatency(sample: Sample): number;
  /** Stops starting new decisions and resolves once every decision in flight has settled. */
  stop(): Promise<void>;
}

/** The guard every failure test runs with: the default 50 ms budget, a breaker that probes after 500 ms. */
export const BUDGET_MS = 50;
export const RESET_TIMEOUT_MS = 500;
/** Scheduling slack on top of the budget: the deadline timer ticks every 10 ms, plus event-loop delay. */
export const SLACK_MS = 50;

export const now = (): number => performance.now();
const HEARTBEAT_MS = 5;
/** A heartbeat gap longer than this is a stall of this process. */
const STALL_MS = 15;
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Lets timers and I/O run between decisions that settle without I/O (an open circuit answers at once). */
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Keeps `concurrency` calls of `decide` in flight until stopped; records every one. Each caller waits
 * `thinkMs` between its decisions (default 1 ms: a steady load rather than a busy loop once the circuit is
 * open and decisions come back without I/O; 0: only yield to the event loop).
 */
export function startLoad(decide: () => Promise<Decision>, concurrency: number, thinkMs = 1): Load {
  const samples: Sample[] = [];
  const thrown: unknown[] = [];
  let running = true;
  const worker = async (): Promise<void> => {
    while (running) {
      const start = now();
      try {
        const d = await decide();
        const end = now();
        samples.push({
          start,
          end,
          latency: end - start,
          path: d.path,
          allowed: d.allowed,
          reason: d.reason,
          errorCode: d.storeError?.code,
        });
      } catch (error) {
        thrown.push(error);
      }
      await (thinkMs > 0 ? sleep(thinkMs) : yieldToLoop());
    }
  };
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const beats: number[] = [now()];
  const heartbeat = setInterval(() => beats.push(now()), HEARTBEAT_MS);
  const stalledWithin = (from: number, to: number): number => {
    let stalled = 0;
    for (let i = 1; i < beats.length; i++) {
      const a = beats[i - 1] as number;
      const b = beats[i] as number;
      if (b - a <= STALL_MS || b <= from || a >= to) continue;
      stalled += Math.max(0, Math.min(b, to) - Math.max(a, from) - HEARTBEAT_MS);
    }
    return stalled;
  };
  const workers = Array.from({ length: concurrency }, () => worker());
  return {
    samples,
    thrown,
    maxLoopDelayMs: () => loopDelay.max / 1e6,
    netLatency: (sample) => sample.latency - stalledWithin(sample.start, sample.end),
    async stop() {
      running = false;
      await Promise.all(workers);
      clearInterval(heartbeat);
      beats.push(now());
      loopDelay.disable();
    },
  };
}

/** The outcome every decision must have when the store cannot decide, per failure mode. */
export const FAILURE_OUTCOME = {
  closed: { allowed: false, reason: 'store_unavailable', path: 'fail-closed' },
  open: { allowed: true, reason: 'fail_open', path: 'fail-open' },
} as const;

export type PlainFailureMode = keyof typeof FAILURE_OUTCOME;

export function outcomeOf(s: Sample): { allowed: boolean; reason: string; path: string } {
  return { allowed: s.allowed, reason: s.reason, path: s.path };
}

/** Samples that did not have the given failure outcome (and were not store decisions). */
export function wrongFailures(samples: readonly Sample[], mode: PlainFailureMode): Sample[] {
  const want = FAILURE_OUTCOME[mode];
  return samples.filter(
    (s) =>
      s.path !== 'store' && (s.allowed !== want.allowed || s.reason !== want.reason || s.path !== want.path),
  );
}

export function maxLatency(samples: readonly Sample[], latency = (s: Sample) => s.latency): number {
  return samples.reduce((max, s) => Math.max(max, latency(s)), 0);
}

/** Counts of a field's values, for messages: `{ store: 120, 'fail-closed': 3000 }`. */
export function tally<K extends keyof Sample>(samples: readonly Sample[], field: K): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    const k = String(s[field]);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** First sample (by end time) matching `match` that ended at or after `from`. */
export function firstEndingAfter(
  samples: readonly Sample[],
  from: number,
  match: (s: Sample) => boolean,
): Sample | undefined {
  let best: Sample | undefined;
  for (const s of samples) {
    if (s.end >= from && match(s) && (best === undefined || s.end < best.end)) best = s;
  }
  return best;
}

/** A compact description of samples for assertion messages (first few only). */
export function describeSamples(samples: readonly Sample[], t0: number, max = 5): string {
  const shown = samples.slice(0, max).map((s) =>
    JSON.stringify({
      start: Math.round(s.start - t0),
      latency: Math.round(s.latency),
      path: s.path,
      allowed: s.allowed,
      reason: s.reason,
      errorCode: s.errorCode,
    }),
  );
  const more = samples.length > max ? ` ... and ${samples.length - max} more` : '';
  return `${samples.length} samples: ${shown.join(', ')}${more}`;
}

/** Records unhandled rejections while installed (the test asserts none fired). */
export function watchUnhandledRejections(): { readonly seen: unknown[]; dispose(): void } {
  const seen: unknown[] = [];
  const handler = (reason: unknown) => {
    seen.push(reason);
  };
  process.on('unhandledRejection', handler);
  return {
    seen,
    dispose() {
      process.off('unhandledRejection', handler);
    },
  };
}

export const round = (ms: number | undefined): number | string => (ms === undefined ? 'n/a' : Math.round(ms));

/** console.log with the `[resilience]` prefix, so the figures stand out in the test output. */
export function report(message: string): void {
  console.log(`[resilience] ${message}`);
}

/** Sleeps until the `performance.now()` instant `at` (at once if it has passed). */
export function sleepUntil(at: number): Promise<void> {
  return sleep(Math.max(0, at - now()));
}

/** Polls `done` every `everyMs` until it is true or `timeoutMs` has passed; resolves with the last answer. */
export async function waitFor(done: () => boolean, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const deadline = now() + timeoutMs;
  while (!done()) {
    if (now() >= deadline) return false;
    await sleep(everyMs);
  }
  return true;
}

/**
 * Waits until the store decides (a peek answered by the store), for at most `timeoutMs`. A new client
 * connects (and a Cluster client loads its slot map) on first use, which can take longer than the time
 * budget: the first decisions then fail over, and the breaker may open. Tests start from a warm store.
 */
export async function warmUp(
  limiter: { peek(request: { tenant: string; key?: string }): Promise<Decision> },
  request: { tenant: string; key?: string },
  timeoutMs = 10_000,
): Promise<{ failedOver: number; ms: number }> {
  const started = now();
  const deadline = started + timeoutMs;
  let last: Decision | undefined;
  let failedOver = 0;
  while (now() < deadline) {
    last = await limiter.peek(request);
    if (last.path === 'store') return { failedOver, ms: now() - started };
    failedOver++;
    await sleep(50);
  }
  throw new Error(`the store did not decide within ${timeoutMs} ms: ${JSON.stringify(last?.storeError)}`);
}

/** A peek answered by the store (retried while a failure mode answers, for at most `timeoutMs`). */
export async function peekStore(
  limiter: { peek(request: { tenant: string; key?: string }): Promise<Decision> },
  request: { tenant: string; key?: string },
  timeoutMs = 5000,
): Promise<Decision> {
  const deadline = now() + timeoutMs;
  let last = await limiter.peek(request);
  while (last.path !== 'store' && now() < deadline) {
    await sleep(50);
    last = await limiter.peek(request);
  }
  return last;
}
