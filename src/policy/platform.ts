import type { Clock } from '../core/clock.js';
import { SluiceError } from '../core/errors.js';
import type { NormalizedLimit } from '../core/types.js';
import { decidedByStore } from '../engine/decision.js';
import { normalizeLimit } from '../engine/limits.js';
import type { Limiter } from '../limiter.js';
import type { SluiceConfig } from './config.js';

/** The traffic counter never fills: its remaining room says how much went through. */
const CAPACITY = 1_000_000_000;

export type PlatformState = 'closed' | 'open' | 'half-open';

/** Reserved tenant holding the platform-wide traffic count (real tenants may not start with "~"). */
export const PLATFORM_TENANT = '~platform';

/**
 * Platform protection (the adaptive XORB policies's global circuit breaker, the tenant-tier limiter's priorities): counts the traffic
 * every instance lets through, shared in the store every `syncInterval`; above `threshold` requests per
 * second it opens and sheds tiers from the lowest priority up, one more each interval while traffic
 * stays high (the top tier is never shed automatically). After `resetTimeout` it goes half-open and
 * gives capacity back one tier per interval; traffic over the threshold again re-opens it.
 * An operator can force it open (everything but the top tier shed) or closed.
 */
export class PlatformGuard {
  state: PlatformState = 'closed';
  /** How many of the lowest-priority tiers are shed. */
  shedLevel = 0;
  /** Platform-wide requests per second at the last sync. */
  lastRate = 0;
  forced: 'open' | 'closed' | undefined;
  lastError: Error | undefined;
  private local = 0;
  private openedAt = 0;
  private readonly rank: Map<string, number>;
  private readonly tierCount: number;
  private readonly limit: NormalizedLimit;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly engine: Limiter,
    private readonly config: NonNullable<SluiceConfig['platform']>,
    tiers: SluiceConfig['tiers'],
    private readonly clock: Clock,
  ) {
    const byPriority = Object.entries(tiers).sort((a, b) => a[1].priority - b[1].priority);
    this.rank = new Map(byPriority.map(([name], i) => [name, i]));
    this.tierCount = byPriority.length;
    this.limit = normalizeLimit(
      {
        name: 'platform.traffic',
        algorithm: 'fixed-window',
        limit: CAPACITY,
        window: config.syncIntervalMs,
      },
      'platform',
    );
  }

  /** Whether requests of this tier are shed right now. */
  sheds(tier: string): boolean {
    if (this.forced === 'closed') return false;
    const level = this.forced === 'open' ? this.tierCount - 1 : this.shedLevel;
    return (this.rank.get(tier) ?? 0) < level;
  }

  /** Counts one request let through by this instance. */
  count(): void {
    this.local++;
  }

  /**
   * Publishes this instance's count and moves the breaker. Called every syncInterval. A sync that fails
   * (or misses its budget) is unknown traffic, never maximal traffic: the breaker moves as if traffic
   * were below the threshold (it neither opens nor sheds another tier; an open breaker still recovers
   * on its schedule), `lastRate` stays the last figure measured, and the count not published is
   * dropped (its interval is over: published late it would count twice in one window).
   */
  async sync(): Promise<void> {
    const cost = this.local;
    this.local = 0;
    const total = await this.publish(cost);
    if (total !== undefined) this.lastRate = (total * 1000) / this.config.syncIntervalMs;
    this.step(total !== undefined && this.lastRate > this.config.threshold);
  }

  /** The platform-wide count of this interval, with `cost` added; undefined when the store could not say. */
  private async publish(cost: number): Promise<number | undefined> {
    try {
      const d = await this.engine.decide({
        tenant: PLATFORM_TENANT,
        cost,
        checks: [{ limit: this.limit, key: 'all' }],
      });
      if (!decidedByStore(d)) {
        // A failure mode's answer (the counter "full" or "empty") is not a count.
        const cause = d.storeError ?? { code: 'ERR_SLUICE_STORE', message: 'store unavailable' };
        this.lastError = new SluiceError(cause.code, cause.message);
        return undefined;
      }
      this.lastError = undefined;
      return CAPACITY - d.remaining;
    } catch (error) {
      this.lastError = error as Error;
      return undefined;
    }
  }

  /** Moves the breaker one interval on: `over` when the platform-wide rate is above the threshold. */
  private step(over: boolean): void {
    const now = this.clock();
    if (over) {
      if (this.state !== 'open') this.openedAt = now;
      this.state = 'open';
      this.shedLevel = Math.min(this.tierCount - 1, this.shedLevel + 1);
    } else if (this.state === 'open' && now - this.openedAt >= this.config.resetTimeoutMs) {
      this.state = 'half-open';
      this.shedLevel = Math.max(0, this.shedLevel - 1);
    } else if (this.state === 'half-open') {
      this.shedLevel = Math.max(0, this.shedLevel - 1);
    }
    if (this.state === 'half-open' && this.shedLevel === 0) this.state = 'closed';
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sync(), this.config.syncIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
