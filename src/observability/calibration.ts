/**
 * Calibration (seed 000's phase 2, done for the user): record each tenant's request rate per second
 * in the store, and propose limits from it (`p99 × 1.5` by default).
 *
 * Recording is built on the limiter's own atomic decisions, so it works the same on memory, Redis and
 * Cluster (a tenant's calibration keys share its hash tag), across any number of instances:
 * - each instance counts its decisions per tenant and second (bounded) and, once a second is over,
 *   adds its count to that second's counter in the store (a sliding log of a minute named by it);
 * - a few seconds later, when every instance has flushed, exactly one instance folds the second: a
 *   claim counter of limit 1 admits one of them, in the same decision that reads the second's total;
 * - the fold adds one to the day's histogram bucket of that total (fixed windows of one day,
 *   log-spaced buckets 5 % apart): a few hundred small counters per tenant and day, never a log.
 */
import type { DecisionEvent, DecisionObserver } from '../core/observer.js';
import type { LimitDefinition } from '../core/types.js';
import { createLimiter, type Limiter } from '../limiter.js';
import type { Store } from '../stores/store.js';

/** Buckets are 5 % apart: bucket b holds per-second counts in (GROWTH^(b-1), GROWTH^b]. */
const GROWTH = 1.05;
/** Counts up to GROWTH^MAX_BUCKET (about 10^7 requests per second). */
export const MAX_BUCKET = 331;
/** Seconds after its end at which a second is folded (every instance has flushed it by then). */
const SETTLE_SECONDS = 3;
const HUGE = 1_000_000_000;
/** Most tenants counted per second by one instance (the busiest get through; the rest are dropped). */
const MAX_TENANTS_PER_SECOND = 10_000;

export function bucketOf(count: number): number {
  if (count <= 1) return 0;
  return Math.min(MAX_BUCKET, Math.ceil(Math.log(count) / Math.log(GROWTH) - 1e-9));
}

/** The upper bound of a bucket's counts (what a percentile in it is reported as). */
export function bucketCeiling(bucket: number): number {
  return bucket === 0 ? 1 : Math.floor(GROWTH ** bucket + 1e-9);
}

const counter = (
  name: string,
  limit: number,
  window: string,
  algorithm: LimitDefinition['algorithm'],
): LimitDefinition => ({ name, algorithm, limit, window, scope: 'tenant' });
// A second's total and its claim are sliding logs of a minute: what is added is counted for a minute
// from when it was added, whatever minute boundary falls between the flushes and the fold.
const rateLimit = (second: number) => counter(`calibration.rate.${second}`, HUGE, '1m', 'sliding-log');
const claimLimit = (second: number) => counter(`calibration.claim.${second}`, 1, '1m', 'sliding-log');
// A day's histogram: fixed windows of a (UTC) day.
const bucketLimit = (bucket: number) => counter(`calibration.bucket.${bucket}`, HUGE, '1d', 'fixed-window');

export interface RateRecorderOptions {
  /** The store decisions are made on (shared by every instance). Not closed by the recorder. */
  store: Store;
  /** Key prefix of the calibration counters (default "sluice"). */
  prefix?: string;
  /** Clock (epoch ms). Default Date.now. */
  clock?: () => number;
  /** Flush and fold every `intervalMs` on a timer (default 1000; 0: only when `flush()` is called). */
  intervalMs?: number;
}

/**
 * An observer that records request rates for calibration: pass it (with the metrics) as `observer`.
 * Every decision counts as demand, admitted or not, in enforce or shadow mode.
 */
export class RateRecorder implements DecisionObserver {
  private readonly engine: Limiter;
  private readonly clock: () => number;
  /** second -> tenant -> decisions this instance made. */
  private readonly pending = new Map<number, Map<string, number>>();
  /** second -> tenants this instance flushed for it (candidates for the fold). */
  private readonly flushed = new Map<number, Set<string>>();
  private readonly timer: NodeJS.Timeout | undefined;
  /** Tenants not counted because a second already had MAX_TENANTS_PER_SECOND. */
  dropped = 0;

  constructor(options: RateRecorderOptions) {
    // A view of the store whose close() is a no-op: the recorder never closes the caller's store.
    const store = Object.create(options.store, { close: { value: async () => {} } }) as Store;
    this.engine = createLimiter({ store, prefix: options.prefix ?? 'sluice', guard: false });
    this.clock = options.clock ?? Date.now;
    const interval = options.intervalMs ?? 1000;
    if (interval > 0) {
      this.timer = setInterval(() => void this.flush().catch(() => undefined), interval);
      this.timer.unref();
    }
  }

  decided({ decision }: DecisionEvent): void {
    const second = Math.floor(this.clock() / 1000);
    let tenants = this.pending.get(second);
    if (!tenants) {
      tenants = new Map();
      this.pending.set(second, tenants);
    }
    const count = tenants.get(decision.tenant);
    if (count !== undefined) tenants.set(decision.tenant, count + 1);
    else if (tenants.size < MAX_TENANTS_PER_SECOND) tenants.set(decision.tenant, 1);
    else this.dropped++;
  }

  /** Adds the counts of finished seconds to the store, then folds the settled seconds. */
  async flush(): Promise<void> {
    const now = Math.floor(this.clock() / 1000);
    for (const [second, tenants] of this.pending) {
      if (second >= now) continue;
      this.pending.delete(second);
      const done = this.flushed.get(second) ?? new Set<string>();
      this.flushed.set(second, done);
      await Promise.all(
        [...tenants].map(async ([tenant, count]) => {
          await this.engine.decide({ tenant, cost: count, checks: [{ limit: rateLimit(second) }] });
          done.add(tenant);
        }),
      );
    }
    for (const [second, tenants] of this.flushed) {
      if (second > now - SETTLE_SECONDS) continue;
      this.flushed.delete(second);
      await Promise.all([...tenants].map((tenant) => this.fold(tenant, second)));
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush().catch(() => undefined);
  }

  /** Claims a second of a tenant and, if this instance got it, adds its total to the day's histogram. */
  private async fold(tenant: string, second: number): Promise<void> {
    const claim = await this.engine.decide({
      tenant,
      cost: 1,
      checks: [{ limit: claimLimit(second) }, { limit: rateLimit(second) }],
    });
    if (!claim.allowed || claim.path !== 'store') return;
    const rate = claim.limits[1];
    if (!rate) return;
    const total = rate.limit - rate.remaining - 1; // the claim itself added one
    if (total <= 0) return;
    await this.engine.decide({ tenant, cost: 1, checks: [{ limit: bucketLimit(bucketOf(total)) }] });
  }
}

/** One tenant's observed per-second rates (seconds with traffic), from its histogram. */
export interface ObservedRates {
  seconds: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Seconds per bucket (index = bucket). */
  histogram: number[];
}

/** Reads a tenant's histogram of today (the store's day) and summarises it. */
export async function observedRates(
  store: Store,
  tenant: string,
  options: { prefix?: string } = {},
): Promise<ObservedRates> {
  const view = Object.create(store, { close: { value: async () => {} } }) as Store;
  const engine = createLimiter({ store: view, prefix: options.prefix ?? 'sluice', guard: false });
  const histogram = new Array<number>(MAX_BUCKET + 1).fill(0);
  const CHUNK = 32;
  for (let start = 0; start <= MAX_BUCKET; start += CHUNK) {
    const buckets = Array.from({ length: Math.min(CHUNK, MAX_BUCKET + 1 - start) }, (_, i) => start + i);
    const d = await engine.decide({
      tenant,
      cost: 0,
      checks: buckets.map((b) => ({ limit: bucketLimit(b) })),
    });
    d.limits.forEach((l, i) => {
      histogram[buckets[i] as number] = l.limit - l.remaining;
    });
  }
  return summarize(histogram);
}

/** The q-quantile of a histogram's seconds, as its bucket's ceiling (0 without any second). */
export function quantile(histogram: readonly number[], q: number): number {
  const seconds = histogram.reduce((a, b) => a + b, 0);
  if (seconds === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * seconds));
  let seen = 0;
  for (let b = 0; b < histogram.length; b++) {
    seen += histogram[b] as number;
    if (seen >= rank) return bucketCeiling(b);
  }
  return bucketCeiling(histogram.length - 1);
}

export function summarize(histogram: number[]): ObservedRates {
  const seconds = histogram.reduce((a, b) => a + b, 0);
  return {
    seconds,
    p50: quantile(histogram, 0.5),
    p90: quantile(histogram, 0.9),
    p99: quantile(histogram, 0.99),
    max: quantile(histogram, 1),
    histogram,
  };
}
