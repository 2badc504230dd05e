/**
 * The local denial cache (`LimiterOptions.denialCache`): an instance remembers that a request shape
 * was denied, until the instant the store said it could fit again, and denies it again without asking
 * the store. Pure: no I/O, the caller passes the clock's readings.
 *
 * Why it is safe:
 * - It only ever denies. An evicted or expired entry sends the next decision to the store, which
 *   decides exactly: flooding the cache with other keys can make a hot key slower, never reset it.
 * - A denial of cost c stands for any cost >= c on the same shape until its retry instant: every
 *   algorithm's wait grows with the cost, and time passing is the only thing that frees room
 *   besides refunds, resets and unblocks, which this instance invalidates at once (see `forgetTenant`).
 * - What another instance does (a refund, a reset, an unblock, a raised limit in the store) is seen
 *   after `maxStaleMs` at most: no entry is trusted longer than that. That is the bound on
 *   under-admission; over-admission is impossible (nothing is admitted here).
 * - Leases (concurrency) free room whenever a holder releases, and penalty mode charges rejected
 *   requests: neither is cached.
 */
import type { Decision } from '../core/types.js';
import type { Subject } from './plan.js';

/** See `LimiterOptions.denialCache`. */
export interface DenialCacheOptions {
  /** Most request shapes remembered at once (default 10,000): the oldest entry makes room. */
  maxEntries?: number;
  /**
   * Longest an entry is trusted (ms, default 1000), however far its retry instant: what bounds the
   * delay before this instance sees another instance's refund, reset, unblock or raised limit.
   */
  maxStaleMs?: number;
}

export const DENIAL_CACHE_OPTIONS = ['maxEntries', 'maxStaleMs'] as const satisfies ReadonlyArray<
  keyof DenialCacheOptions
>;

interface Denial {
  /** The cost that was denied: the entry stands for this cost and more. */
  readonly cost: number;
  /** Local clock instant until which the shape is denied. */
  readonly until: number;
  /** Local clock instant the store was asked at (retry waits are counted from it). */
  readonly askedAt: number;
  readonly decision: Decision;
  readonly tenant: string;
}

/** Entries are keyed by the decision's layout: state keys, block keys and the limits' sizes. */
export class DenialCache {
  private readonly entries = new Map<string, Denial>();
  /** Keys of each tenant's entries, so that a tenant's reset or refund forgets only its own. */
  private readonly byTenant = new Map<string, Set<string>>();
  /** Layout keys of subjects seen (subjects are reused on the configured and prepared paths). */
  private readonly keys = new WeakMap<Subject, string>();
  /** Denials answered from the cache, and entries remembered: for tests, benches and metrics. */
  hits = 0;
  stored = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxStaleMs: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** A copy of the remembered denial of this shape and cost, its waits counted down, or undefined. */
  lookup(subject: Subject, cost: number, now: number): Decision | undefined {
    if (this.entries.size === 0) return undefined;
    const key = this.keyOf(subject);
    const denial = this.entries.get(key);
    if (denial === undefined) return undefined;
    if (now >= denial.until || now < denial.askedAt) {
      this.delete(key, denial.tenant);
      return undefined;
    }
    if (cost < denial.cost) return undefined;
    this.hits++;
    return replay(denial, now, cost);
  }

  /** Remembers a store's denial, if it is one the cache may replay (see the module comment). */
  remember(subject: Subject, decision: Decision, askedAt: number): void {
    if (!cacheable(subject, decision)) return;
    const wait = decision.retryAfterMs;
    const until = askedAt + Math.min(wait, this.maxStaleMs);
    if (!(until > askedAt)) return;
    const key = this.keyOf(subject);
    const tenant = subject.encodedTenant;
    if (!this.entries.has(key) && this.entries.size >= this.maxEntries) this.evictOldest();
    this.entries.delete(key); // re-inserted last: the oldest entry is the first in the map
    this.entries.set(key, { cost: decision.cost, until, askedAt, decision, tenant });
    let own = this.byTenant.get(tenant);
    if (!own) {
      own = new Set();
      this.byTenant.set(tenant, own);
    }
    own.add(key);
    this.stored++;
  }

  /** Forgets a tenant's entries (encoded tenant): after its refund, reset or unblock here. */
  forgetTenant(encodedTenant: string): void {
    const own = this.byTenant.get(encodedTenant);
    if (!own) return;
    for (const key of own) this.entries.delete(key);
    this.byTenant.delete(encodedTenant);
  }

  clear(): void {
    this.entries.clear();
    this.byTenant.clear();
  }

  private evictOldest(): void {
    const oldest = this.entries.entries().next().value as [string, Denial] | undefined;
    if (oldest) this.delete(oldest[0], oldest[1].tenant);
  }

  private delete(key: string, tenant: string): void {
    this.entries.delete(key);
    const own = this.byTenant.get(tenant);
    if (!own) return;
    own.delete(key);
    if (own.size === 0) this.byTenant.delete(tenant);
  }

  private keyOf(subject: Subject): string {
    let key = this.keys.get(subject);
    if (key === undefined) {
      key = layoutKey(subject);
      this.keys.set(subject, key);
    }
    return key;
  }
}

/** A denial the cache may replay: decided by the store, no leases, a finite wait or a block. */
function cacheable(subject: Subject, decision: Decision): boolean {
  if (decision.allowed || decision.path !== 'store' || subject.leases || decision.cost <= 0) return false;
  return decision.reason === 'rate_limited' || decision.reason === 'blocked';
}

/**
 * What makes two decisions the same shape: every state key with the size of its limit (a raised limit
 * is another shape), and the block keys. Newline-separated: keys never contain one (encoded).
 */
function layoutKey(subject: Subject): string {
  let key = subject.metaKey;
  for (const planned of subject.limits) {
    const l = planned.limit;
    key += `\n${planned.key} ${l.limit} ${l.capacity} ${l.windowMs}`;
  }
  for (const block of subject.blockKeys) key += `\n${block}`;
  return key;
}

/** The remembered decision as of `now`: waits counted down, the request's own cost. */
function replay(denial: Denial, now: number, cost: number): Decision {
  const elapsed = now - denial.askedAt;
  const source = denial.decision;
  const limits = source.limits.map((l) => ({ ...l, retryAfterMs: countDown(l.retryAfterMs, elapsed) }));
  const bindingAt = source.limits.indexOf(source.binding);
  const binding =
    bindingAt === -1
      ? { ...source.binding, retryAfterMs: countDown(source.binding.retryAfterMs, elapsed) }
      : (limits[bindingAt] as Decision['binding']);
  return {
    ...source,
    id: '',
    at: source.at + elapsed,
    cost,
    limits,
    binding,
    retryAfterMs: countDown(source.retryAfterMs, elapsed),
    path: 'cache',
  };
}

/** A wait `elapsed` ms later: 0 stays 0 (that limit fits), and a denial waits at least 1 ms. */
function countDown(wait: number, elapsed: number): number {
  if (wait === 0 || !Number.isFinite(wait)) return wait;
  return Math.max(1, wait - elapsed);
}
