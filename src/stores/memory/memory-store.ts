import { type Clock, systemClock } from '../../core/clock.js';
import { MAX_DURATION_MS } from '../../core/duration.js';
import { StoreError, ValidationError } from '../../core/errors.js';
import { rejectUnknownKeys } from '../../core/options.js';
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
   * Most keys held at once (default 1,000,000). When full, keys that are due are reclaimed; if it is
   * still full, decisions that need a new key fail with StoreError `ERR_SLUICE_STORE_FULL`. Live keys
   * are never evicted: evicting one would reset its counter, which an attacker could trigger on purpose.
   */
  maxKeys?: number;
  /**
   * Most keys one tenant holds at once (default: a tenth of `maxKeys`, at least 1; 100,000 at the
   * default), so that one tenant cannot fill the store for the others. A tenant at its bound is refused
   * new keys (StoreError `ERR_SLUICE_STORE_FULL`, naming the tenant); other tenants are unaffected.
   * Block markers and reset markers (operator actions) are not refused by this bound, only by `maxKeys`.
   */
  maxKeysPerTenant?: number;
  /**
   * Deprecated, no effect: expired keys are reclaimed as they come due (a min-heap by expiry instant,
   * popping only what is due), a bounded number per call. Still validated (a positive whole number).
   */
  sweepIntervalMs?: number;
}

/** Keys reclaimed (or refiled) at most per call on the request path: expiry work stays bounded. */
const RECLAIM_PER_CALL = 1024;
/**
 * On the request path, keys are reclaimed once expired for this long (at the bound, as soon as they
 * are expired): a clock that steps back a little (NTP, a driven test clock) still finds them.
 */
const RECLAIM_GRACE_MS = 1000;

interface Entry {
  readonly key: string;
  /** Its tenant (encoded): the inner map it lives in. */
  readonly tenant: string;
  state: unknown;
  /** Epoch ms after which the entry is gone. */
  expiresAt: number;
  /**
   * Its place in the expiry heap: a lower bound of `expiresAt`. A write that extends the entry leaves
   * it; when it comes due, the entry is dropped if expired, else refiled at its `expiresAt`.
   */
  due: number;
  /** Index in the expiry heap. */
  slot: number;
  /** Block markers and tenant meta survive a tenant reset; limit states do not. */
  marker: boolean;
}

interface MetaState {
  blockedUntil: number;
  /** The tenant's last reset (0: none): refunds of decisions made at or before it give nothing back. */
  resetAt: number;
}

/** The bounds of a memory store, validated (`field`: where they were given, for error messages). */
export function memoryBounds(
  options: { maxKeys?: unknown; maxKeysPerTenant?: unknown },
  field = '',
): { maxKeys: number; maxKeysPerTenant: number } {
  const maxKeys = options.maxKeys ?? 1_000_000;
  if (typeof maxKeys !== 'number' || !Number.isInteger(maxKeys) || maxKeys < 1) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      `${field}maxKeys`,
      'must be a positive whole number',
    );
  }
  const maxKeysPerTenant = options.maxKeysPerTenant ?? Math.max(1, Math.floor(maxKeys / 10));
  if (
    typeof maxKeysPerTenant !== 'number' ||
    !Number.isInteger(maxKeysPerTenant) ||
    maxKeysPerTenant < 1 ||
    maxKeysPerTenant > maxKeys
  ) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      `${field}maxKeysPerTenant`,
      `must be a positive whole number, at most maxKeys (${maxKeys})`,
    );
  }
  return { maxKeys, maxKeysPerTenant };
}

/** How long a tenant's reset instant is kept: longer than any state can live (see RESET_RETENTION_MS). */
const RESET_RETENTION_MS = 2 * MAX_DURATION_MS;

/**
 * The embedded default store: decisions in process memory, with the same semantics as Redis.
 * Operations are synchronous inside, so each decision is atomic with respect to the event loop.
 *
 * Expiry costs what expires, never a scan: every key sits in a min-heap by expiry instant, and only
 * keys that are due are visited (dropped, or refiled if a write extended them since). A write that
 * extends a key costs O(1); a new key or an earlier expiry O(log n).
 */
export class MemoryStore implements Store {
  readonly backend = 'memory';
  private readonly clock: Clock;
  readonly maxKeys: number;
  readonly maxKeysPerTenant: number;
  /** tenant -> key -> entry; a tenant reset drops its limit states. */
  private readonly tenants = new Map<string, Map<string, Entry>>();
  private size = 0;
  /** Every entry, as a binary min-heap on `due`. */
  private heap: Entry[] = [];
  private visits = 0;
  /** Versioned documents (runtime configuration): operator state, never expired or swept. */
  private readonly documents = new Map<string, StoredDocument>();

  constructor(options: MemoryStoreOptions = {}) {
    rejectUnknownKeys(options, 'memory', ['clock', 'maxKeys', 'maxKeysPerTenant', 'sweepIntervalMs']);
    if (options.clock !== undefined && typeof options.clock !== 'function') {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        'memory.clock',
        'must be a function returning epoch ms',
      );
    }
    const clock = options.clock ?? systemClock;
    // Whole milliseconds, as Redis' TIME is read by the scripts.
    this.clock = () => Math.floor(clock());
    const bounds = memoryBounds(options);
    this.maxKeys = bounds.maxKeys;
    this.maxKeysPerTenant = bounds.maxKeysPerTenant;
    const interval = options.sweepIntervalMs ?? 60_000;
    if (!Number.isInteger(interval) || interval < 1) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        'sweepIntervalMs',
        'must be a positive whole number',
      );
    }
  }

  /** Number of keys held (including expired ones not yet reclaimed). */
  get keyCount(): number {
    return this.size;
  }

  /** Keys one tenant (encoded, as in plans) holds, including expired ones not yet reclaimed. */
  tenantKeyCount(tenant: string): number {
    return this.tenants.get(tenant)?.size ?? 0;
  }

  /**
   * Work expiry has done since the store was made: keys visited by the expiry heap (each one dropped,
   * or refiled because a write extended it). Never more than the keys that came due, plus one refile
   * per write that extended a key: no scans. For tests and metrics.
   */
  get expiryVisits(): number {
    return this.visits;
  }

  async decide(plan: DecisionPlan): Promise<RawDecision> {
    const now = this.clock();
    this.reclaim(now - RECLAIM_GRACE_MS, RECLAIM_PER_CALL);
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
      // Keys not live now need room (an expired one may be reclaimed while room is made).
      let newKeys = 0;
      for (let i = 0; i < plan.limits.length; i++) {
        if (!charged[i]) continue;
        const entry = entries?.get((plan.limits[i] as PlannedLimit).key);
        if (!entry || entry.expiresAt <= now) newKeys++;
      }
      this.ensureRoom(plan.tenant, newKeys, now, true);
      const bucket = this.bucket(plan.tenant);
      plan.limits.forEach((p, i) => {
        if (!charged[i]) return;
        p.algorithm.commit(states[i], now, p.limit, plan.cost, plan.id);
        this.write(bucket, plan.tenant, p, states[i], now);
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
    this.reclaim(now - RECLAIM_GRACE_MS, RECLAIM_PER_CALL);
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
      this.write(bucket, plan.tenant, p, state, now);
      if (p.algorithm.ledger) this.put(bucket, plan.tenant, ledgerKey, refunded + units, until, false);
    });
  }

  async release(plan: ReleasePlan): Promise<void> {
    const now = this.clock();
    this.reclaim(now - RECLAIM_GRACE_MS, RECLAIM_PER_CALL);
    const bucket = this.tenants.get(plan.tenant);
    if (!bucket) return;
    for (const p of plan.limits) {
      const stored = this.read(bucket, p.key, now);
      if (stored === undefined || !p.algorithm.release) continue;
      const state = p.algorithm.load(stored, now, p.limit);
      p.algorithm.release(state, plan.leaseId, plan.at);
      this.write(bucket, plan.tenant, p, state, now);
    }
  }

  async deleteKeys(tenant: string, _metaKey: string, keys: readonly string[]): Promise<void> {
    const bucket = this.tenants.get(tenant);
    if (!bucket) return;
    for (const key of keys) this.remove(bucket, key);
  }

  async resetTenant(tenant: string, metaKey: string): Promise<void> {
    const now = this.clock();
    const bucket = this.tenants.get(tenant);
    if (bucket) for (const entry of bucket.values()) if (!entry.marker) this.drop(entry);
    // The reset instant outlives every state (as the Redis store's marker does): a refund of a decision
    // made before it must not give back units into the counters that follow it.
    const meta = this.read(this.tenants.get(tenant), metaKey, now) as MetaState | undefined;
    const resetAt = Math.max(now, (meta?.resetAt ?? 0) + 1);
    this.ensureRoom(tenant, this.tenants.get(tenant)?.has(metaKey) ? 0 : 1, now, false);
    this.putMeta(
      this.bucket(tenant),
      tenant,
      metaKey,
      { blockedUntil: meta?.blockedUntil ?? 0, resetAt },
      now,
    );
  }

  async block(tenant: string, metaKey: string, blockKey: string | null, durationMs: number): Promise<void> {
    const now = this.clock();
    const until = now + durationMs;
    const bucket = this.tenants.get(tenant);
    this.ensureRoom(tenant, bucket?.has(blockKey ?? metaKey) ? 0 : 1, now, false);
    const target = this.bucket(tenant);
    if (blockKey) {
      this.put(target, tenant, blockKey, until, until, true);
      return;
    }
    const meta = this.read(target, metaKey, now) as MetaState | undefined;
    this.putMeta(target, tenant, metaKey, { blockedUntil: until, resetAt: meta?.resetAt ?? 0 }, now);
  }

  async unblock(tenant: string, metaKey: string, blockKey: string | null): Promise<void> {
    const bucket = this.tenants.get(tenant);
    if (!bucket) return;
    if (blockKey) {
      this.remove(bucket, blockKey);
      return;
    }
    const now = this.clock();
    const meta = this.read(bucket, metaKey, now) as MetaState | undefined;
    if (meta?.resetAt) this.putMeta(bucket, tenant, metaKey, { blockedUntil: 0, resetAt: meta.resetAt }, now);
    else this.remove(bucket, metaKey);
  }

  /** Tenant meta lives as long as its block, and as long as its reset must be remembered. */
  private putMeta(
    bucket: Map<string, Entry>,
    tenant: string,
    metaKey: string,
    meta: MetaState,
    now: number,
  ): void {
    const expiresAt = Math.max(meta.blockedUntil, meta.resetAt ? now + RESET_RETENTION_MS : 0);
    const kept = bucket.get(metaKey);
    const until = Math.max(expiresAt, kept && kept.expiresAt > now ? kept.expiresAt : 0);
    this.put(bucket, tenant, metaKey, meta, until, true);
  }

  async close(): Promise<void> {
    this.tenants.clear();
    this.heap = [];
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

  /** Drops every expired key now (visiting only keys that are due). Returns how many were dropped. */
  sweep(now = this.clock()): number {
    const before = this.size;
    this.reclaim(now, Number.POSITIVE_INFINITY);
    return before - this.size;
  }

  /** Visits up to `budget` keys due at `cutoff`: drops the expired ones, refiles the extended ones. */
  private reclaim(cutoff: number, budget: number): void {
    for (let work = 0; work < budget && this.reclaimOne(cutoff); work++);
  }

  /** Visits the earliest key due at `cutoff`, if any (false: none is). */
  private reclaimOne(cutoff: number): boolean {
    const top = this.heap[0];
    if (top === undefined || top.due > cutoff) return false;
    this.visits++;
    if (top.expiresAt <= cutoff) this.drop(top);
    else {
      top.due = top.expiresAt;
      this.siftDown(0);
    }
    return true;
  }

  /**
   * Makes room for `newKeys` keys of a tenant, reclaiming due keys as needed (only those), or throws
   * ERR_SLUICE_STORE_FULL: the store is full (any tenant is refused a new key), or this tenant is at
   * `maxKeysPerTenant` (`perTenant`; only this tenant is refused).
   */
  private ensureRoom(tenant: string, newKeys: number, now: number, perTenant: boolean): void {
    if (newKeys === 0) return;
    while (this.size + newKeys > this.maxKeys && this.reclaimOne(now));
    if (this.size + newKeys > this.maxKeys) {
      throw new StoreError(
        'memory',
        `full: ${this.size} live keys (maxKeys ${this.maxKeys}); refused a new key of tenant ${tenant}`,
        { code: 'ERR_SLUICE_STORE_FULL' },
      );
    }
    if (!perTenant) return;
    while (this.tenantKeyCount(tenant) + newKeys > this.maxKeysPerTenant && this.reclaimOne(now));
    const held = this.tenantKeyCount(tenant);
    if (held + newKeys > this.maxKeysPerTenant) {
      throw new StoreError(
        'memory',
        `tenant ${tenant} full: ${held} live keys (maxKeysPerTenant ${this.maxKeysPerTenant}); other tenants are unaffected`,
        { code: 'ERR_SLUICE_STORE_FULL' },
      );
    }
  }

  private read(bucket: Map<string, Entry> | undefined, key: string, now: number): unknown {
    const entry = bucket?.get(key);
    if (!entry || entry.expiresAt <= now) return undefined;
    return entry.state;
  }

  private write(
    bucket: Map<string, Entry>,
    tenant: string,
    planned: PlannedLimit,
    state: unknown,
    now: number,
  ): void {
    const expiresAt = planned.algorithm.expiresAt(state, now, planned.limit);
    if (expiresAt <= now) {
      this.remove(bucket, planned.key);
      return;
    }
    this.put(bucket, tenant, planned.key, state, expiresAt, false);
  }

  /** Stores a key: in place if it exists (O(1) unless it now expires earlier), else a new heap entry. */
  private put(
    bucket: Map<string, Entry>,
    tenant: string,
    key: string,
    state: unknown,
    expiresAt: number,
    marker: boolean,
  ): void {
    const entry = bucket.get(key);
    if (entry) {
      entry.state = state;
      entry.expiresAt = expiresAt;
      entry.marker = marker;
      if (expiresAt < entry.due) {
        entry.due = expiresAt;
        this.siftUp(entry.slot);
      }
      return;
    }
    const added: Entry = { key, tenant, state, expiresAt, due: expiresAt, slot: this.heap.length, marker };
    bucket.set(key, added);
    this.size++;
    this.heap.push(added);
    this.siftUp(added.slot);
  }

  private remove(bucket: Map<string, Entry>, key: string): void {
    const entry = bucket.get(key);
    if (entry) this.drop(entry);
  }

  /** Forgets an entry: out of its tenant's map and of the heap (O(log n)). */
  private drop(entry: Entry): void {
    const bucket = this.tenants.get(entry.tenant);
    if (bucket?.get(entry.key) !== entry) return;
    bucket.delete(entry.key);
    if (bucket.size === 0) this.tenants.delete(entry.tenant);
    this.size--;
    const heap = this.heap;
    const last = heap.pop() as Entry;
    if (last !== entry) {
      const slot = entry.slot;
      heap[slot] = last;
      last.slot = slot;
      this.siftDown(slot);
      this.siftUp(last.slot);
    }
  }

  private siftUp(start: number): void {
    const heap = this.heap;
    const entry = heap[start] as Entry;
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = heap[parent] as Entry;
      if (above.due <= entry.due) break;
      heap[i] = above;
      above.slot = i;
      i = parent;
    }
    heap[i] = entry;
    entry.slot = i;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const n = heap.length;
    const entry = heap[start] as Entry;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && (heap[right] as Entry).due < (heap[left] as Entry).due) child = right;
      const below = heap[child] as Entry;
      if (below.due >= entry.due) break;
      heap[i] = below;
      below.slot = i;
      i = child;
    }
    heap[i] = entry;
    entry.slot = i;
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
