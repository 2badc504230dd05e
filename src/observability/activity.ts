/**
 * Who is active and who is limited, kept in the store for operators (the admin API's tenant list and
 * top rate-limited identities, seeds 001 and 003), without a SCAN and off the decisions' path: an
 * observer notes decisions in two bounded local maps and flushes them once per interval: the tenant
 * index (in calls of INDEX_CHUNK tenants) and one board write per tenant with rejections. Top boards
 * are per time bucket; reading weighs older buckets down (halving every `halfLife`), so a tenant's
 * list decays by itself.
 */

import { ValidationError } from '../core/errors.js';
import { encodeIdentifier } from '../core/identifiers.js';
import { tenantKeyPrefix } from '../core/keys.js';
import type { DecisionEvent, DecisionObserver } from '../core/observer.js';
import { rejectUnknownKeys } from '../core/options.js';
import type { Decision } from '../core/types.js';
import type { Store } from '../stores/store.js';
import { outcomeOf } from './outcome.js';

export interface ActivityOptions {
  /** The limiter's key prefix (default "sluice"). */
  prefix?: string;
  /** How often noted activity is written to the store (ms, default 1000). */
  flushIntervalMs?: number;
  /** Tenants the index keeps (default 10,000): the least recently seen are dropped past it. */
  maxTenants?: number;
  /** Identities kept per tenant and bucket (default 100): the least limited are dropped past it. */
  maxIdentities?: number;
  /** Width of one bucket of the top boards (ms, default 60,000). */
  bucketMs?: number;
  /** Buckets read (default 15: the last quarter of an hour). */
  buckets?: number;
  /** A bucket's weight halves with every `halfLifeMs` of age (default 300,000). */
  halfLifeMs?: number;
  /** How long a tenant stays listed after it was last seen (ms, default one day). */
  tenantTtlMs?: number;
  clock?: () => number;
}

/** A tenant of the index, and when an instance last saw a decision of it. */
export interface ActiveTenant {
  tenant: string;
  lastSeenAt: number;
}

/** A rate-limited identity of a tenant: how many rejections (decayed), and the limit that refused. */
export interface LimitedIdentity {
  identity: string;
  binding: string;
  rejected: number;
}

/** Tenants per write of the index (see writeIndex). */
export const INDEX_CHUNK = 256;

const KEYS = [
  'prefix',
  'flushIntervalMs',
  'maxTenants',
  'maxIdentities',
  'bucketMs',
  'buckets',
  'halfLifeMs',
  'tenantTtlMs',
  'clock',
];

/** Records decisions as activity (an observer) and reads the boards back. */
export class Activity implements DecisionObserver {
  /** Flushes that failed (the store did not answer): the activity of that interval is dropped. */
  failedFlushes = 0;
  private readonly o: Required<ActivityOptions>;
  private seen = new Map<string, number>();
  private limited = new Map<string, Map<string, number>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    options: ActivityOptions = {},
  ) {
    rejectUnknownKeys(options, 'activity', KEYS);
    this.o = {
      prefix: options.prefix ?? 'sluice',
      flushIntervalMs: positive(options.flushIntervalMs, 1000, 'flushIntervalMs'),
      maxTenants: positive(options.maxTenants, 10_000, 'maxTenants'),
      maxIdentities: positive(options.maxIdentities, 100, 'maxIdentities'),
      bucketMs: positive(options.bucketMs, 60_000, 'bucketMs'),
      buckets: positive(options.buckets, 15, 'buckets'),
      halfLifeMs: positive(options.halfLifeMs, 300_000, 'halfLifeMs'),
      tenantTtlMs: positive(options.tenantTtlMs, 86_400_000, 'tenantTtlMs'),
      clock: options.clock ?? Date.now,
    };
  }

  decided(event: DecisionEvent): void {
    const d = event.decision;
    const now = this.o.clock();
    if (this.seen.has(d.tenant) || this.seen.size < this.o.maxTenants) this.seen.set(d.tenant, now);
    const outcome = outcomeOf(d);
    if (outcome !== 'rejected' && outcome !== 'blocked') return;
    let members = this.limited.get(d.tenant);
    if (!members) {
      if (this.limited.size >= this.o.maxTenants) return;
      members = new Map();
      this.limited.set(d.tenant, members);
    }
    const member = memberOf(d, event.request);
    if (members.has(member) || members.size < this.o.maxIdentities * 4) {
      members.set(member, (members.get(member) ?? 0) + 1);
    }
  }

  /** Flushes every interval until stop() (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.o.flushIntervalMs);
    this.timer.unref();
  }

  /** Stops the timer and writes what is still noted. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** Writes the noted activity to the store (one call for the index, one per limited tenant). */
  async flush(): Promise<void> {
    const store = this.store;
    if (!store.addToBoard || (this.seen.size === 0 && this.limited.size === 0)) return;
    const seen = this.seen;
    const limited = this.limited;
    this.seen = new Map();
    this.limited = new Map();
    const bucket = Math.floor(this.o.clock() / this.o.bucketMs);
    const ttlMs = this.o.bucketMs * (this.o.buckets + 1);
    const writes = [...limited].map(([tenant, members]) =>
      store.addToBoard?.(this.topKey(tenant, bucket), [...members], {
        mode: 'add',
        maxMembers: this.o.maxIdentities,
        ttlMs,
      }),
    );
    if (seen.size > 0) writes.push(this.writeIndex([...seen]));
    const results = await Promise.allSettled(writes);
    if (results.some((r) => r.status === 'rejected')) this.failedFlushes++;
  }

  /**
   * The tenant index, INDEX_CHUNK tenants per call, one call after another: one call of thousands of
   * tenants keeps Redis (and every decision waiting behind it) busy for milliseconds. In `max` mode
   * the calls leave the board as one call would: a score only rises, so what one call trims, the
   * whole write would have trimmed too.
   */
  private async writeIndex(entries: Array<[string, number]>): Promise<void> {
    const write = { mode: 'max', maxMembers: this.o.maxTenants, ttlMs: this.o.tenantTtlMs } as const;
    for (let i = 0; i < entries.length; i += INDEX_CHUNK) {
      await this.store.addToBoard?.(this.indexKey(), entries.slice(i, i + INDEX_CHUNK), write);
    }
  }

  /** Tenants seen within `tenantTtlMs`, most recent first. */
  async tenants(count = 100): Promise<ActiveTenant[]> {
    const since = this.o.clock() - this.o.tenantTtlMs;
    const entries = await this.boards().readBoards([this.indexKey()], [1], count, since);
    return entries.map(([tenant, at]) => ({ tenant, lastSeenAt: at }));
  }

  /** The most rate-limited identities of a tenant over the last buckets (decayed counts). */
  async topLimited(tenant: string, count = 10): Promise<LimitedIdentity[]> {
    const now = this.o.clock();
    const current = Math.floor(now / this.o.bucketMs);
    const keys: string[] = [];
    const weights: number[] = [];
    for (let age = 0; age < this.o.buckets; age++) {
      keys.push(this.topKey(tenant, current - age));
      weights.push(0.5 ** ((age * this.o.bucketMs) / this.o.halfLifeMs));
    }
    const entries = await this.boards().readBoards(keys, weights, count, 0.01);
    return entries.map(([member, rejected]) => {
      const [identity = member, binding = ''] = member.split('\t');
      return { identity, binding, rejected: Math.round(rejected * 100) / 100 };
    });
  }

  private boards(): Required<Pick<Store, 'readBoards'>> {
    const read = this.store.readBoards;
    if (!read) throw new Error(`the ${this.store.backend} store keeps no boards`);
    return { readBoards: read.bind(this.store) };
  }

  private indexKey(): string {
    return `${tenantKeyPrefix(this.o.prefix, '~index')}tenants`;
  }

  private topKey(tenant: string, bucket: number): string {
    return `${tenantKeyPrefix(this.o.prefix, encodeIdentifier(tenant, 'tenant'))}top:${bucket}`;
  }
}

/** "user:ID", "ip:ADDR", "key:KEY" or "tenant", a tab, then the binding limit (policy/limit). */
function memberOf(d: Decision, request: DecisionEvent['request']): string {
  const identity =
    request?.user !== undefined
      ? `user:${request.user}`
      : request?.ip !== undefined
        ? `ip:${request.ip}`
        : d.key !== undefined
          ? `key:${d.key}`
          : 'tenant';
  const policy = (d as { bindingPolicy?: string }).bindingPolicy;
  const binding = policy ? `${policy}/${d.binding?.name ?? ''}` : (d.binding?.name ?? '');
  return `${identity}\t${binding}`;
}

function positive(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      `activity.${field}`,
      'must be a positive whole number',
    );
  }
  return value;
}
