import type { Clock } from '../core/clock.js';
import type { NormalizedLimit } from '../core/types.js';
import { decidedByStore } from '../engine/decision.js';
import { normalizeLimit } from '../engine/limits.js';

export { scaleLimit } from '../engine/limits.js';

import type { Limiter } from '../limiter.js';
import type { SluiceConfig } from './config.js';

/**
 * Adaptive limits: reputation (violations shrink an identity's limits and recover with time) and load
 * (limits shrink while the application reports high load). Both produce a factor in (0, 1] applied to
 * a policy's limits; scaled limits keep their counters (a limit's key does not depend on its value).
 */

/** Factor for a violation count: 1 - the reduction of the highest threshold reached. */
export function escalationFactor(violations: number, escalation: ReadonlyArray<[number, number]>): number {
  let reduction = 0;
  for (const [count, r] of escalation) if (violations >= count) reduction = r;
  return 1 - reduction;
}

/** Factor for a load in [0, 1]: 1 up to `threshold`, then down linearly to `minFactor` at full load. */
export function loadFactor(load: number, { threshold, minFactor }: SluiceConfig['loadAdaptive']): number {
  if (!Number.isFinite(load) || load <= threshold) return 1;
  const over = Math.min(1, (load - threshold) / (1 - threshold));
  // Quantized to 5 % steps so that scaled limits are few and cached.
  return Math.max(minFactor, Math.round((1 - over * (1 - minFactor)) * 20) / 20);
}

/**
 * Reputation per identity, kept in the store (every instance sees the same) as two sliding-window
 * counts over `decay`, so it recovers smoothly as old events age out: violations (rejections), and
 * good requests (admitted, counted only when a boost is configured, inside the decision itself).
 * Reads are cached in process for `cacheTtl` (default 1 s) so the hot path rarely pays a second round
 * trip.
 */
export class Reputation {
  private readonly cache = new Map<string, Standing & { until: number }>();
  private readonly limits = new Map<string, NormalizedLimit>();

  constructor(
    private readonly engine: Limiter,
    private readonly config: SluiceConfig['reputation'],
    private readonly clock: Clock,
  ) {}

  /**
   * The identity's standing; undefined when the store could not say (failed, or past its budget):
   * unknown standing is neutral, and is not cached. `epoch` changes when an operator resets everyone.
   */
  async standing(tenant: string, identity: string, epoch: number): Promise<Standing | undefined> {
    const id = cacheId(tenant, identity, epoch);
    const now = this.clock();
    const cached = this.cache.get(id);
    if (cached && cached.until > now) return cached;
    const checks = [{ limit: this.violationLimit(epoch), key: keyOf(identity) }];
    if (this.config.boost) checks.push({ limit: this.goodLimit(epoch), key: keyOf(identity) });
    const d = await this.engine.decide({ tenant, cost: 0, checks });
    // A failure mode's answer (every counter "full") is not a count.
    if (!decidedByStore(d)) return undefined;
    const standing = {
      violations: countOf(d.limits[0]!.remaining),
      good: countOf(d.limits[1]?.remaining ?? CAPACITY),
    };
    this.remember(id, standing, now);
    return standing;
  }

  /** Factor for a standing: the escalation table, or the boost for a clean identity with enough good requests. */
  factor(standing: Standing): number {
    const boost = this.config.boost;
    if (boost && standing.violations === 0 && standing.good >= boost.after) return boost.factor;
    return escalationFactor(standing.violations, this.config.escalation);
  }

  /** The check that counts good requests inside a decision (when a boost is configured). */
  goodCheck(identity: string, epoch: number): { limit: NormalizedLimit; key: string } | undefined {
    return this.config.boost ? { limit: this.goodLimit(epoch), key: keyOf(identity) } : undefined;
  }

  /** Notes the good-request count a decision returned. */
  noteGood(tenant: string, identity: string, epoch: number, remaining: number): void {
    const cached = this.cache.get(cacheId(tenant, identity, epoch));
    if (cached) cached.good = countOf(remaining);
  }

  /** Counts one violation; returns the new count, or undefined when the store did not count it. */
  async record(tenant: string, identity: string, epoch: number): Promise<number | undefined> {
    const d = await this.engine.decide({
      tenant,
      cost: 1,
      checks: [{ limit: this.violationLimit(epoch), key: keyOf(identity) }],
    });
    if (!decidedByStore(d)) return undefined;
    const violations = countOf(d.remaining);
    this.remember(cacheId(tenant, identity, epoch), { violations, good: 0 }, this.clock());
    return violations;
  }

  /** Forgets one identity's reputation. */
  async reset(tenant: string, identity: string, epoch: number): Promise<void> {
    const checks = [
      { limit: this.violationLimit(epoch), key: keyOf(identity) },
      { limit: this.goodLimit(epoch), key: keyOf(identity) },
    ];
    const subject = this.engine.subjectOf(tenant, checks);
    await this.engine.store.deleteKeys(
      subject.encodedTenant,
      subject.metaKey,
      subject.limits.map((l) => l.key),
    );
    this.cache.delete(cacheId(tenant, identity, epoch));
  }

  /** Drops cached reads (after an operator reset of everyone). */
  clearCache(): void {
    this.cache.clear();
  }

  private remember(id: string, standing: Standing, now: number): void {
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(id, { ...standing, until: now + this.config.cacheTtlMs });
  }

  private violationLimit(epoch: number): NormalizedLimit {
    return this.counter(`reputation.v${epoch}`);
  }

  private goodLimit(epoch: number): NormalizedLimit {
    return this.counter(`reputation.good.v${epoch}`);
  }

  private counter(name: string): NormalizedLimit {
    let limit = this.limits.get(name);
    if (!limit) {
      limit = normalizeLimit(
        { name, algorithm: 'sliding-window', limit: CAPACITY, window: this.config.decayMs },
        'reputation',
      );
      this.limits.set(name, limit);
    }
    return limit;
  }
}

export interface Standing {
  violations: number;
  good: number;
}

/** Events are counted as units of a limit that never fills. */
const CAPACITY = 1_000_000_000;
const countOf = (remaining: number) => Math.max(0, Math.ceil(CAPACITY - remaining));
const cacheId = (tenant: string, identity: string, epoch: number) =>
  `${tenant}\u0000${identity}\u0000${epoch}`;
/** Policy keys start with u=, ip=, e=, r=, h= or are "anonymous": "rep|" cannot collide with them. */
const keyOf = (identity: string) => `rep|${identity}`;
