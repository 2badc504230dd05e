import type { Clock } from '../core/clock.js';
import type { NormalizedLimit } from '../core/types.js';
import { normalizeLimit } from '../engine/limits.js';
import type { Limiter } from '../limiter.js';
import type { SluiceConfig } from './config.js';

export type PlatformState = 'closed' | 'open' | 'half-open';

/** Reserved tenant holding the platform-wide traffic count (real tenants may not start with "~"). */
export const PLATFORM_TENANT = '~platform';

/**
 * Platform protection (seed 002's global circuit breaker, seed 003's priorities): counts the traffic
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
        limit: 1_000_000_000,
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

  /** Publishes this instance's count and moves the breaker. Called every syncInterval. */
  async sync(): Promise<void> {
    const cost = this.local;
    this.local = 0;
    let total: number;
    try {
      const d = await this.engine.decide({
        tenant: PLATFORM_TENANT,
        cost,
        checks: [{ limit: this.limit, key: 'all' }],
      });
      total = 1_000_000_000 - d.remaining;
      this.lastError = undefined;
    } catch (error) {
      this.local += cost; // not published: try again next interval
      this.lastError = error as Error;
      return;
    }
    const now = this.clock();
    this.lastRate = (total * 1000) / this.config.syncIntervalMs;
    const over = this.lastRate > this.config.threshold;
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
