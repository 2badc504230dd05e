import { StoreError } from '../../core/errors.js';
import {
  USAGE_FIELDS,
  type UsageRead,
  type UsageSums,
  type UsageWrite,
  type UsageWritten,
  validateUsageRead,
  validateUsageWrite,
} from '../usage.js';

/** A hash (series: counters) or an index (identity: score), and when it expires. */
interface Tally {
  readonly series: Map<string, number[]>;
  readonly scores: Map<string, number>;
  expiresAt: number;
}

/**
 * Most usage keys the memory store holds. Past it (once expired keys are reclaimed), a new identity's
 * own hash is not created (the identity counts in the totals only, as past `maxIdentities`), and a
 * new totals or index key fails the write with ERR_SLUICE_STORE_FULL.
 */
export const MAX_MEMORY_USAGE_KEYS = 100_000;

/**
 * The memory store's usage tallies (stores/usage.ts), with the same semantics as the Redis scripts:
 * a new series past `maxSeries` goes to the overflow series, a new identity past `maxIdentities`
 * counts in the totals only. Expired keys are dropped on access, and swept when the bound is reached.
 */
export class MemoryUsage {
  private readonly tallies = new Map<string, Tally>();
  /** No key expires before this instant: a sweep before it would find nothing. */
  private nextExpiry = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: () => number,
    private readonly maxKeys = MAX_MEMORY_USAGE_KEYS,
  ) {}

  add(write: UsageWrite): UsageWritten {
    validateUsageWrite(write);
    const now = this.clock();
    const found = this.live(write.totalsKey, now);
    const index = this.live(write.identitiesKey, now) ?? fresh(now);
    if (!found && !this.room(now, 1)) {
      throw new StoreError('memory', `${this.maxKeys} usage keys held, none expired`, {
        code: 'ERR_SLUICE_STORE_FULL',
      });
    }
    const totals = found ?? fresh(now);
    const counted = addTo(totals, write, now);
    this.keep(write.totalsKey, totals);
    let own: Tally | undefined;
    if (index.scores.has(write.identity) || index.scores.size < write.maxIdentities) {
      own = this.live(write.identityKey, now);
      // A new identity needs its own hash, and the index too when it is the hour's first.
      if (!own && this.room(now, index.scores.size === 0 ? 2 : 1)) own = fresh(now);
    }
    if (own) {
      addTo(own, write, now);
      this.keep(write.identityKey, own);
      index.scores.set(write.identity, (index.scores.get(write.identity) ?? 0) + write.score);
      index.expiresAt = now + write.ttlMs;
      this.keep(write.identitiesKey, index);
    }
    return { identityKept: own !== undefined, seriesKept: counted === write.series };
  }

  read(read: UsageRead): UsageSums {
    validateUsageRead(read);
    const now = this.clock();
    const sums = new Map<string, number[]>();
    for (const key of read.seriesKeys) {
      for (const [series, counts] of this.live(key, now)?.series ?? []) {
        const sum = sums.get(series) ?? USAGE_FIELDS.map(() => 0);
        counts.forEach((c, i) => {
          sum[i] = (sum[i] as number) + c;
        });
        sums.set(series, sum);
      }
    }
    const scores = new Map<string, number>();
    for (const key of read.identitiesKeys ?? []) {
      for (const [identity, score] of this.live(key, now)?.scores ?? []) {
        scores.set(identity, (scores.get(identity) ?? 0) + score);
      }
    }
    const top = read.top ?? 0;
    const identities = top > 0 ? [...scores].sort(byScore).slice(0, top) : [];
    return { series: [...sums], identities, identityCount: scores.size };
  }

  clear(): void {
    this.tallies.clear();
    this.nextExpiry = Number.POSITIVE_INFINITY;
  }

  get size(): number {
    return this.tallies.size;
  }

  private live(key: string, now: number): Tally | undefined {
    const tally = this.tallies.get(key);
    if (tally && tally.expiresAt <= now) {
      this.tallies.delete(key);
      return undefined;
    }
    return tally;
  }

  /** Whether `count` more keys fit (expired keys reclaimed first when they would not). */
  private room(now: number, count: number): boolean {
    if (this.tallies.size + count > this.maxKeys) this.sweep(now);
    return this.tallies.size + count <= this.maxKeys;
  }

  private keep(key: string, tally: Tally): void {
    this.tallies.set(key, tally);
    if (tally.expiresAt < this.nextExpiry) this.nextExpiry = tally.expiresAt;
  }

  /** Drops expired keys; only when one may be (a full store of live keys is not scanned again and again). */
  private sweep(now: number): void {
    if (now < this.nextExpiry) return;
    let next = Number.POSITIVE_INFINITY;
    for (const [key, tally] of this.tallies) {
      if (tally.expiresAt <= now) this.tallies.delete(key);
      else if (tally.expiresAt < next) next = tally.expiresAt;
    }
    this.nextExpiry = next;
  }
}

/** Adds a write's counts to a hash, in its series or the overflow one; returns where it counted. */
function addTo(tally: Tally, write: UsageWrite, now: number): string {
  const series =
    tally.series.has(write.series) || tally.series.size < write.maxSeries
      ? write.series
      : write.overflowSeries;
  const counts = tally.series.get(series) ?? USAGE_FIELDS.map(() => 0);
  write.counts.forEach((c, i) => {
    counts[i] = (counts[i] as number) + c;
  });
  tally.series.set(series, counts);
  tally.expiresAt = now + write.ttlMs;
  return series;
}

function fresh(now: number): Tally {
  return { series: new Map(), scores: new Map(), expiresAt: now };
}

function byScore(a: [string, number], b: [string, number]): number {
  return b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}
