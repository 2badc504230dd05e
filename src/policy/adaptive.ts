import type { Clock } from '../core/clock.js';
import type { NormalizedLimit } from '../core/types.js';
import { normalizeLimit } from '../engine/limits.js';
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

const scaled = new Map<string, NormalizedLimit>();

/** A limit with its quota multiplied by `factor` (at least 1); same name, window and counter. */
export function scaleLimit(limit: NormalizedLimit, factor: number): NormalizedLimit {
  if (factor === 1) return limit;
  const id = `${limit.id}|${limit.scope}|${limit.limit}|${limit.capacity}|${factor}`;
  let result = scaled.get(id);
  if (!result) {
    const def = {
      name: limit.name,
      algorithm: limit.algorithm,
      limit: Math.max(1, Math.floor(limit.limit * factor)),
      window: limit.windowMs,
      scope: limit.scope,
      ...(limit.algorithm === 'token-bucket'
        ? { burst: Math.max(1, Math.floor(limit.capacity * factor)) }
        : {}),
    };
    result = normalizeLimit(def, 'scaled limit');
    if (scaled.size > 10_000) scaled.clear();
    scaled.set(id, result);
  }
  return result;
}

/**
 * Violations per identity, kept in the store (every instance sees the same reputation) as a
 * sliding-window count over `decay`: it recovers smoothly as old violations age out. Reads are cached
 * in process for `cacheTtl` (default 1 s) so the hot path rarely pays a second round trip.
 */
export class Reputation {
  private readonly cache = new Map<string, { violations: number; until: number }>();
  private readonly limits = new Map<number, NormalizedLimit>();

  constructor(
    private readonly engine: Limiter,
    private readonly config: SluiceConfig['reputation'],
    private readonly clock: Clock,
  ) {}

  /** The identity's current violation count. `epoch` changes when an operator resets everyone. */
  async violations(tenant: string, identity: string, epoch: number): Promise<number> {
    const id = `${tenant}\u0000${identity}\u0000${epoch}`;
    const now = this.clock();
    const cached = this.cache.get(id);
    if (cached && cached.until > now) return cached.violations;
    const d = await this.engine.decide({
      tenant,
      cost: 0,
      checks: [{ limit: this.limit(epoch), key: keyOf(identity) }],
    });
    const violations = countOf(d.remaining);
    this.remember(id, violations, now);
    return violations;
  }

  /** Counts one violation; returns the new count. */
  async record(tenant: string, identity: string, epoch: number): Promise<number> {
    const d = await this.engine.decide({
      tenant,
      cost: 1,
      checks: [{ limit: this.limit(epoch), key: keyOf(identity) }],
    });
    const violations = countOf(d.remaining);
    this.remember(`${tenant}\u0000${identity}\u0000${epoch}`, violations, this.clock());
    return violations;
  }

  /** Forgets one identity's violations. */
  async reset(tenant: string, identity: string, epoch: number): Promise<void> {
    await this.engine.store.deleteKeys(...this.keysOf(tenant, identity, this.limit(epoch)));
    this.cache.delete(`${tenant}\u0000${identity}\u0000${epoch}`);
  }

  /** Drops cached reads (after an operator reset of everyone). */
  clearCache(): void {
    this.cache.clear();
  }

  private keysOf(tenant: string, identity: string, limit: NormalizedLimit): [string, string, string[]] {
    const subject = this.engine.subjectOf(tenant, [{ limit, key: keyOf(identity) }]);
    return [subject.encodedTenant, subject.metaKey, subject.limits.map((l) => l.key)];
  }

  private remember(id: string, violations: number, now: number): void {
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(id, { violations, until: now + this.config.cacheTtlMs });
  }

  private limit(epoch: number): NormalizedLimit {
    let limit = this.limits.get(epoch);
    if (!limit) {
      limit = normalizeLimit(
        {
          name: `reputation.v${epoch}`,
          algorithm: 'sliding-window',
          limit: VIOLATION_CAPACITY,
          window: this.config.decayMs,
        },
        'reputation',
      );
      this.limits.set(epoch, limit);
    }
    return limit;
  }
}

/** Violations are counted as units of a limit that never fills. */
const VIOLATION_CAPACITY = 1_000_000_000;
const countOf = (remaining: number) => Math.max(0, Math.ceil(VIOLATION_CAPACITY - remaining));
/** Policy keys start with u=, ip=, e=, r=, h= or are "anonymous": "rep|" cannot collide with them. */
const keyOf = (identity: string) => `rep|${identity}`;
