import { type Clock, systemClock } from '../../core/clock.js';
import { MAX_DURATION_MS } from '../../core/duration.js';
import { StoreError, ValidationError } from '../../core/errors.js';
import { roundInstant, roundRemaining, roundWait } from '../rounding.js';
import type {
  DecisionPlan,
  PlannedLimit,
  RawDecision,
  RefundPlan,
  ReleasePlan,
  Store,
  StoredDocument,
} from '../store.js';

export interface MemoryStoreOptions {
  /** Source of time (epoch ms). Default `Date.now`. Inject a ManualClock to drive windows in tests. */
  clock?: Clock;
  /**
   * Most keys held at once (default 1,000,000). When full, expired keys are swept; if it is still full,
   * decisions that need a new key fail with StoreError `ERR_SLUICE_STORE_FULL`. Live keys are never
   * evicted: evicting one would reset its counter, which an attacker could trigger on purpose.
   */
  maxKeys?: number;
  /** How often (by the store's clock) a full sweep of expired keys runs. Default 60 s. */
  sweepIntervalMs?: number;
}

interface Entry {
  state: unknown;
  /** Epoch ms after which the entry is gone. */
  expiresAt: number;
  /** Block markers and tenant meta survive a tenant reset; limit states do not. */
  marker?: true;
}

interface MetaState {
  blockedUntil: number;
  /** The tenant's last reset (0: none): refunds of decisions made at or before it give nothing back. */
  resetAt: number;
}

/** How long a tenant's reset instant is kept: longer than any state can live (see RESET_RETENTION_MS). */
const RESET_RETENTION_MS = 2 * MAX_DURATION_MS;

/**
 * The embedded default store: decisions in process memory, with the same semantics as Redis.
 * Operations are synchronous inside, so each decision is atomic with respect to the event loop.
 */
export class MemoryStore implements Store {
  readonly backend = 'memory';
  private readonly clock: Clock;
  private readonly maxKeys: number;
  private readonly sweepIntervalMs: number;
  /** tenant -> key -> entry; a tenant reset drops one inner map. */
  private readonly tenants = new Map<string, Map<string, Entry>>();
  private size = 0;
  /** Versioned documents (runtime configuration): operator state, never expired or swept. */
  private readonly documents = new Map<string, StoredDocument>();
  private lastSweep: number;

  constructor(options: MemoryStoreOptions = {}) {
    const clock = options.clock ?? systemClock;
    // Whole milliseconds, as Redis' TIME is read by the scripts.
    this.clock = () => Math.floor(clock());
    this.maxKeys = options.maxKeys ?? 1_000_000;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    if (!Number.isInteger(this.maxKeys) || this.maxKeys < 1) {
      throw new ValidationError('ERR_SLUICE_INVALID_OPTION', 'maxKeys', 'must be a positive whole number');
    }
    if (!Number.isInteger(this.sweepIntervalMs) || this.sweepIntervalMs < 1) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        'sweepIntervalMs',
        'must be a positive whole number',
      );
    }
    this.lastSweep = this.clock();
  }

  /** Number of keys held (including expired ones not yet swept). */
  get keyCount(): number {
    return this.size;
  }

  async decide(plan: DecisionPlan): Promise<RawDecision> {
    const now = this.clock();
    this.sweepIfDue(now);
    const entries = this.tenants.get(plan.tenant);
    let blockedUntil = 0;
    const meta = this.read(entries, plan.metaKey, now) as MetaState | undefined;
    if (meta && meta.blockedUntil > now) blockedUntil = meta.blockedUntil;
    for (const key of plan.blockKeys) {
      const until = this.read(entries, key, now) as number | undefined;
      if (until !== undefined && until > now && until > blockedUntil) blockedUntil = until;
    }

    const states = plan.limits.map((p) => p.algorithm.load(this.read(entries, p.key, now), now, p.limit));
    const checks = plan.limits.map((p, i) => p.algorithm.fits(states[i], now, p.limit, plan.cost));
    const admitted = blockedUntil === 0 && checks.every((c) => c.fits);
    const charge = plan.cost > 0 && (admitted || (plan.penalty && blockedUntil === 0));
    // Penalties never charge lease-based limits: nobody could release a rejected decision's slots.
    const charged = plan.limits.map(
      (p, i) => charge && (checks[i] as { fits: boolean }).fits && (admitted || !p.algorithm.leases),
    );

    if (charged.includes(true)) {
      this.ensureRoom(
        plan.tenant,
        plan.limits.filter((p, i) => charged[i] && !entries?.has(p.key)).length,
        now,
      );
      const bucket = this.bucket(plan.tenant);
      plan.limits.forEach((p, i) => {
        if (!charged[i]) return;
        p.algorithm.commit(states[i], now, p.limit, plan.cost, plan.id);
        this.write(bucket, p, states[i], now);
      });
    }

    return {
      admitted,
      blockedUntil: roundInstant(blockedUntil),
      now: Math.floor(now),
      limits: plan.limits.map((p, i) => {
        const view = p.algorithm.view(states[i], now, p.limit);
        const check = checks[i] as { fits: boolean; retryAfterMs: number };
        return {
          fits: check.fits,
          remaining: roundRemaining(view.remaining),
          resetAt: roundInstant(view.resetAt),
          retryAfterMs: roundWait(check.fits, check.retryAfterMs),
          mark: p.algorithm.mark(states[i]),
        };
      }),
    };
  }

  async refund(plan: RefundPlan): Promise<void> {
    const now = this.clock();
    const bucket = this.tenants.get(plan.tenant);
    if (!bucket) return;
    const meta = this.read(bucket, plan.metaKey, now) as MetaState | undefined;
    if (meta && plan.at <= meta.resetAt) return; // taken before the tenant's reset: already void
    plan.limits.forEach((p, i) => {
      const stored = this.read(bucket, p.key, now);
      if (stored === undefined) return;
      const { resetAt, mark } = plan.marks[i] as RefundPlan['marks'][number];
      const ledgerKey = plan.ledgerKeys[i] as string;
      const refunded = p.algorithm.ledger ? ((this.read(bucket, ledgerKey, now) as number) ?? 0) : 0;
      const receipt = { id: plan.id, at: plan.at, cost: plan.cost, refunded, resetAt, mark };
      const units = Math.min(plan.units, plan.cost - refunded);
      const until = p.algorithm.refundableUntil(receipt, p.limit);
      if (units <= 0 || until <= now) return;
      const state = p.algorithm.load(stored, now, p.limit);
      p.algorithm.refund(state, now, p.limit, units, receipt);
      this.write(bucket, p, state, now);
      if (p.algorithm.ledger) this.put(bucket, ledgerKey, { state: refunded + units, expiresAt: until });
    });
  }

  async release(plan: ReleasePlan): Promise<void> {
    const now = this.clock();
    const bucket = this.tenants.get(plan.tenant);
    if (!bucket) return;
    for (const p of plan.limits) {
      const stored = this.read(bucket, p.key, now);
      if (stored === undefined || !p.algorithm.release) continue;
      const state = p.algorithm.load(stored, now, p.limit);
      p.algorithm.release(state, plan.leaseId, plan.at);
      this.write(bucket, p, state, now);
    }
  }

  async deleteKeys(tenant: string, _metaKey: string, keys: readonly string[]): Promise<void> {
    const bucket = this.tenants.get(tenant);
    if (!bucket) return;
    for (const key of keys) this.remove(bucket, tenant, key);
  }

  async resetTenant(tenant: string, metaKey: string): Promise<void> {
    const now = this.clock();
    const bucket = this.tenants.get(tenant);
    if (bucket) for (const [key, entry] of bucket) if (!entry.marker) this.remove(bucket, tenant, key);
    // The reset instant outlives every state (as the Redis store's marker does): a refund of a decision
    // made before it must not give back units into the counters that follow it.
    const meta = this.read(this.tenants.get(tenant), metaKey, now) as MetaState | undefined;
    const resetAt = Math.max(now, (meta?.resetAt ?? 0) + 1);
    this.ensureRoom(tenant, meta ? 0 : 1, now);
    this.putMeta(this.bucket(tenant), metaKey, { blockedUntil: meta?.blockedUntil ?? 0, resetAt }, now);
  }

  async block(tenant: string, metaKey: string, blockKey: string | null, durationMs: number): Promise<void> {
    const now = this.clock();
    const until = now + durationMs;
    const bucket = this.tenants.get(tenant);
    this.ensureRoom(tenant, bucket?.has(blockKey ?? metaKey) ? 0 : 1, now);
    const target = this.bucket(tenant);
    if (blockKey) {
      this.put(target, blockKey, { state: until, expiresAt: until, marker: true });
      return;
    }
    const meta = this.read(target, metaKey, now) as MetaState | undefined;
    this.putMeta(target, metaKey, { blockedUntil: until, resetAt: meta?.resetAt ?? 0 }, now);
  }

  async unblock(tenant: string, metaKey: string, blockKey: string | null): Promise<void> {
    const bucket = this.tenants.get(tenant);
    if (!bucket) return;
    if (blockKey) {
      this.remove(bucket, tenant, blockKey);
      return;
    }
    const now = this.clock();
    const meta = this.read(bucket, metaKey, now) as MetaState | undefined;
    if (meta?.resetAt) this.putMeta(bucket, metaKey, { blockedUntil: 0, resetAt: meta.resetAt }, now);
    else this.remove(bucket, tenant, metaKey);
  }

  /** Tenant meta lives as long as its block, and as long as its reset must be remembered. */
  private putMeta(bucket: Map<string, Entry>, metaKey: string, meta: MetaState, now: number): void {
    const expiresAt = Math.max(meta.blockedUntil, meta.resetAt ? now + RESET_RETENTION_MS : 0);
    const kept = bucket.get(metaKey);
    const until = Math.max(expiresAt, kept && kept.expiresAt > now ? kept.expiresAt : 0);
    this.put(bucket, metaKey, { state: meta, expiresAt: until, marker: true });
  }

  async close(): Promise<void> {
    this.tenants.clear();
    this.size = 0;
  }

  async readDocument(key: string): Promise<StoredDocument | null> {
    const doc = this.documents.get(key);
    return doc ? { ...doc } : null;
  }

  async writeDocument(key: string, body: string, expectedVersion: number): Promise<number | null> {
    const current = this.documents.get(key)?.version ?? 0;
    if (current !== expectedVersion) return null;
    this.documents.set(key, { version: current + 1, body });
    return current + 1;
  }

  /** Drops every expired key now. Returns how many were dropped. */
  sweep(now = this.clock()): number {
    let dropped = 0;
    for (const [tenant, bucket] of this.tenants) {
      for (const [key, entry] of bucket) {
        if (entry.expiresAt <= now) {
          bucket.delete(key);
          dropped++;
        }
      }
      if (bucket.size === 0) this.tenants.delete(tenant);
    }
    this.size -= dropped;
    this.lastSweep = now;
    return dropped;
  }

  private sweepIfDue(now: number): void {
    if (now - this.lastSweep >= this.sweepIntervalMs) this.sweep(now);
  }

  private ensureRoom(tenant: string, newKeys: number, now: number): void {
    if (this.size + newKeys <= this.maxKeys) return;
    this.sweep(now);
    if (this.size + newKeys > this.maxKeys) {
      throw new StoreError(
        'memory',
        `full: ${this.size} live keys (maxKeys ${this.maxKeys}); tenant ${tenant}`,
        {
          code: 'ERR_SLUICE_STORE_FULL',
        },
      );
    }
  }

  private read(bucket: Map<string, Entry> | undefined, key: string, now: number): unknown {
    const entry = bucket?.get(key);
    if (!entry || entry.expiresAt <= now) return undefined;
    return entry.state;
  }

  private write(bucket: Map<string, Entry>, planned: PlannedLimit, state: unknown, now: number): void {
    const expiresAt = planned.algorithm.expiresAt(state, now, planned.limit);
    if (expiresAt <= now) {
      if (bucket.delete(planned.key)) this.size--;
      return;
    }
    this.put(bucket, planned.key, { state, expiresAt });
  }

  private put(bucket: Map<string, Entry>, key: string, entry: Entry): void {
    if (!bucket.has(key)) this.size++;
    bucket.set(key, entry);
  }

  private remove(bucket: Map<string, Entry>, tenant: string, key: string): void {
    if (bucket.delete(key)) this.size--;
    if (bucket.size === 0) this.tenants.delete(tenant);
  }

  private bucket(tenant: string): Map<string, Entry> {
    let bucket = this.tenants.get(tenant);
    if (!bucket) {
      bucket = new Map();
      this.tenants.set(tenant, bucket);
    }
    return bucket;
  }
}
