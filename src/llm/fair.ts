import { parseDuration } from '../core/duration.js';
import type { Limiter } from '../limiter.js';
import type { LlmCheck } from './checks.js';
import type { PoolOptions } from './options.js';
import type { ProviderRemaining } from './providers/wire.js';

const ACTIVITY_SIZE = 1_000_000_000;
/**
 * Units a call adds to its tenant's activity counter (a sliding window): large, so that a call still
 * weighs at least one unit through the next window (a count of 1 weighted below 1 would read as idle at
 * a window's edge). A tenant is active from its call for `activeWindow`, up to twice that.
 */
export const ACTIVITY_COST = 1000;
/** Most tenants whose activity one pool reads (the weighted ones plus those this instance saw). */
const MAX_TENANTS = 1000;

/**
 * Weighted fair shares of a provider pool. Each tenant's calls count in its own share counter, whose
 * size is `pool × weight / (sum of the weights of the active tenants, itself included)`; an idle
 * tenant (no call asked for in `activeWindow`, up to twice that) has no share, so the others use it. The counter keeps its state
 * when its size changes (a Sluice counter is named by its limit's name, algorithm and window, not its
 * size), so a tenant's share shrinks the moment another one wakes up, and the pool limit bounds the
 * sum. Who is active is read from the store (an activity counter per tenant) every `refresh`, so every
 * instance sees the tenants of the others.
 */
export class FairPool {
  readonly tenant: string;
  private readonly weights: Readonly<Record<string, number>>;
  private readonly defaultWeight: number;
  private readonly refreshMs: number;
  private readonly activity: LlmCheck['limit'];
  /** The pool-wide counters (absent: no such pool limit). */
  private readonly rpm: LlmCheck['limit'] | undefined;
  private readonly tpm: LlmCheck['limit'] | undefined;
  private followedAt = Number.NEGATIVE_INFINITY;
  private readonly known = new Set<string>();
  private active = new Set<string>();
  private readAt = Number.NEGATIVE_INFINITY;
  private reading: Promise<void> | undefined;

  constructor(
    readonly provider: string,
    readonly options: PoolOptions,
    private readonly limiter: Limiter,
    private readonly now: () => number,
  ) {
    this.tenant = `llm-pool-${provider}`;
    this.weights = options.weights ?? {};
    this.defaultWeight = options.defaultWeight ?? 1;
    this.refreshMs = parseDuration(options.refresh ?? '1s', `providers.${provider}.pool.refresh`);
    const activeMs = parseDuration(options.activeWindow ?? '10s', `providers.${provider}.pool.activeWindow`);
    this.activity = {
      name: `pool:${provider}:active`,
      algorithm: 'sliding-window',
      limit: ACTIVITY_SIZE,
      window: activeMs,
    };
    for (const t of Object.keys(this.weights)) this.known.add(t);
    const pooled = (suffix: string, limit: number | undefined): LlmCheck['limit'] | undefined =>
      limit === undefined
        ? undefined
        : {
            name: `pool:${provider}:${suffix}`,
            algorithm: 'sliding-log',
            limit,
            window: '1m',
            scope: 'tenant',
          };
    this.rpm = pooled('rpm', options.requestsPerMinute);
    this.tpm = pooled('tpm', options.tokensPerMinute);
  }

  weightOf(tenant: string): number {
    return Object.hasOwn(this.weights, tenant) ? (this.weights[tenant] as number) : this.defaultWeight;
  }

  /**
   * The checks of a call by `tenant`: its activity (a call asked for, admitted or not: demand is what
   * makes a tenant active), and the pool-wide counters with its share, for requests and tokens.
   */
  async checks(tenant: string): Promise<{ activity: LlmCheck[]; limits: LlmCheck[] }> {
    this.see(tenant);
    await this.refresh();
    const share = this.shareOf(tenant);
    const { requestsPerMinute: rpm, tokensPerMinute: tpm } = this.options;
    const p = this.provider;
    const activity: LlmCheck[] = [{ limit: this.activity, key: tenant, dimension: 'requests' }];
    const limits: LlmCheck[] = [];
    if (rpm !== undefined && this.rpm) {
      limits.push({ dimension: 'requests', limit: this.rpm });
      limits.push({
        dimension: 'requests',
        limit: {
          name: `pool:${p}:share-rpm`,
          algorithm: 'sliding-log',
          limit: sized(rpm, share),
          window: '1m',
        },
        key: tenant,
      });
    }
    if (tpm !== undefined && this.tpm) {
      limits.push({ dimension: 'tokens', limit: this.tpm });
      limits.push({
        dimension: 'tokens',
        limit: {
          name: `pool:${p}:share-tpm`,
          algorithm: 'sliding-log',
          limit: sized(tpm, share),
          window: '1m',
        },
        key: tenant,
      });
    }
    return { activity, limits };
  }

  /**
   * Charges the pool what the provider says is used and the pool does not know of (see
   * `followRemaining`): one peek, then one decision asking each pool limit its gap. A race with calls
   * admitted in between can only over-charge (the pool stays on the safe side); a refusal is ignored.
   */
  async follow(remaining: ProviderRemaining | undefined): Promise<void> {
    if (!this.options.followRemaining || !remaining) return;
    const now = this.now();
    if (now - this.followedAt < this.refreshMs) return;
    this.followedAt = now;
    const pairs: Array<[LlmCheck['limit'], number]> = [];
    if (this.rpm && remaining.requests !== undefined) pairs.push([this.rpm, remaining.requests]);
    if (this.tpm && remaining.tokens !== undefined) pairs.push([this.tpm, remaining.tokens]);
    if (pairs.length === 0) return;
    const checks = pairs.map(([limit]) => ({ limit }));
    const peek = await this.limiter.decide({ tenant: this.tenant, cost: 0, checks });
    const gaps = pairs.map(([, theirs], i) => Math.max(0, (peek.limits[i]?.remaining ?? 0) - theirs));
    if (gaps.every((g) => g === 0)) return;
    await this.limiter.decide({
      tenant: this.tenant,
      checks: pairs.map(([limit], i) => ({ limit, cost: gaps[i] as number })),
    });
  }

  /** This tenant's fraction of the pool now: its weight over the active tenants' (itself included). */
  shareOf(tenant: string): number {
    let total = this.weightOf(tenant);
    for (const t of this.active) if (t !== tenant) total += this.weightOf(t);
    return this.weightOf(tenant) / total;
  }

  private see(tenant: string): void {
    if (this.known.has(tenant) || this.known.size >= MAX_TENANTS) return;
    this.known.add(tenant);
  }

  /** Reads which known tenants called within `activeWindow` (one peek over their activity counters). */
  private refresh(): Promise<void> {
    if (this.now() - this.readAt < this.refreshMs) return Promise.resolve();
    if (!this.reading) {
      const tenants = [...this.known];
      this.reading = this.limiter
        .decide({
          tenant: this.tenant,
          cost: 0,
          checks: tenants.map((key) => ({ limit: this.activity, key })),
        })
        .then((peek) => {
          this.active = new Set(
            tenants.filter((_, i) => (peek.limits[i]?.remaining ?? ACTIVITY_SIZE) < ACTIVITY_SIZE),
          );
          this.readAt = this.now();
        })
        .finally(() => {
          this.reading = undefined;
        });
    }
    return this.reading;
  }
}

function sized(pool: number, share: number): number {
  return Math.max(1, Math.floor(pool * share));
}
