/**
 * Live decision counts for the console: per second, by outcome, overall and per tenant, the shadow
 * rejections per policy, and each tenant's most recent rejections. Bounded everywhere (seconds kept,
 * tenants per second, tenants with recent rejections, rejections per tenant): memory does not grow
 * with traffic, and the busiest tenants of a second are the ones counted once the cap is reached.
 */
import { ValidationError } from '../core/errors.js';
import type { DecisionEvent, DecisionObserver } from '../core/observer.js';
import { rejectUnknownKeys } from '../core/options.js';
import { OUTCOMES, type Outcome, outcomeOf } from './outcome.js';

export type OutcomeCounts = Record<Outcome, number>;

export interface LiveCountsOptions {
  /** Seconds kept (default 300). */
  seconds?: number;
  /** Most tenants counted in one second (default 1000). */
  maxTenantsPerSecond?: number;
  /** Most tenants whose recent rejections are kept (default 1000). */
  maxTenants?: number;
  /** Rejections kept per tenant (default 20). */
  recentPerTenant?: number;
  /** Epoch ms. Default Date.now. */
  clock?: () => number;
}

/** One second: its epoch second, and what was decided in it. */
export interface SecondCounts {
  second: number;
  counts: OutcomeCounts;
}

export interface RecentRejection {
  at: number;
  outcome: Outcome;
  identity: string;
  binding: string;
  policy: string | null;
}

interface Bucket {
  second: number;
  overall: OutcomeCounts;
  tenants: Map<string, OutcomeCounts>;
  shadow: Map<string, number>;
}

const zero = (): OutcomeCounts => Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as unknown as OutcomeCounts;

const KEYS = ['seconds', 'maxTenantsPerSecond', 'maxTenants', 'recentPerTenant', 'clock'] as const;

export class LiveCounts implements DecisionObserver {
  private readonly buckets: Array<Bucket | undefined>;
  private readonly recent = new Map<string, RecentRejection[]>();
  /** Each recently seen tenant's tier (as its last decision said), for the per-tier proposal. */
  private readonly tiers = new Map<string, string>();
  private readonly clock: () => number;
  private readonly maxTenantsPerSecond: number;
  private readonly maxTenants: number;
  private readonly recentPerTenant: number;
  readonly seconds: number;

  constructor(options: LiveCountsOptions = {}) {
    rejectUnknownKeys(options, 'options', KEYS);
    this.seconds = positive(options.seconds ?? 300, 'seconds');
    this.maxTenantsPerSecond = positive(options.maxTenantsPerSecond ?? 1000, 'maxTenantsPerSecond');
    this.maxTenants = positive(options.maxTenants ?? 1000, 'maxTenants');
    this.recentPerTenant = positive(options.recentPerTenant ?? 20, 'recentPerTenant');
    if (options.clock !== undefined && typeof options.clock !== 'function') {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        'clock',
        'must be a function returning epoch ms',
      );
    }
    this.clock = options.clock ?? Date.now;
    this.buckets = new Array(this.seconds);
  }

  decided(event: DecisionEvent): void {
    const { decision } = event;
    const at = this.clock();
    const bucket = this.bucketAt(Math.floor(at / 1000));
    const outcome = outcomeOf(decision);
    bucket.overall[outcome] += 1;
    let tenant = bucket.tenants.get(decision.tenant);
    if (!tenant && bucket.tenants.size < this.maxTenantsPerSecond) {
      tenant = zero();
      bucket.tenants.set(decision.tenant, tenant);
    }
    if (tenant) tenant[outcome] += 1;
    this.noteTier(decision.tenant, (decision as { tier?: string }).tier);
    for (const policy of shadowRejectionsOf(decision)) {
      bucket.shadow.set(policy, (bucket.shadow.get(policy) ?? 0) + 1);
    }
    if (!decision.allowed) this.noteRejection(decision.tenant, outcome, event, at);
  }

  /** The completed seconds of the last `count` (oldest first; seconds without decisions count zero). */
  series(count: number, tenant?: string): SecondCounts[] {
    const now = Math.floor(this.clock() / 1000);
    const out: SecondCounts[] = [];
    for (let second = now - Math.min(count, this.seconds - 1); second < now; second++) {
      const bucket = this.buckets[second % this.seconds];
      const counts = bucket?.second === second ? this.countsOf(bucket, tenant) : undefined;
      out.push({ second, counts: counts ? { ...counts } : zero() });
    }
    return out;
  }

  /** Shadow rejections per policy over the last `count` completed seconds. */
  shadowRejections(count: number): Record<string, number> {
    const now = Math.floor(this.clock() / 1000);
    const out: Record<string, number> = {};
    for (let second = now - Math.min(count, this.seconds - 1); second < now; second++) {
      const bucket = this.buckets[second % this.seconds];
      if (bucket?.second !== second) continue;
      for (const [policy, n] of bucket.shadow) out[policy] = (out[policy] ?? 0) + n;
    }
    return out;
  }

  /** Each tenant's busiest completed second over the last `count` (its peak decisions per second). */
  tenantPeaks(count: number): Record<string, number[]> {
    const now = Math.floor(this.clock() / 1000);
    const out: Record<string, number[]> = {};
    for (let second = now - Math.min(count, this.seconds - 1); second < now; second++) {
      const bucket = this.buckets[second % this.seconds];
      if (bucket?.second !== second) continue;
      for (const [tenant, counts] of bucket.tenants) {
        const list = out[tenant] ?? [];
        list.push(totalOf(counts));
        out[tenant] = list;
      }
    }
    return out;
  }

  /** The tier a tenant's last decision was made at (undefined: not seen lately, or no tiers). */
  tierOf(tenant: string): string | undefined {
    return this.tiers.get(tenant);
  }

  /** A tenant's most recent rejections, newest first. */
  recentRejections(tenant: string): RecentRejection[] {
    return [...(this.recent.get(tenant) ?? [])].reverse();
  }

  private countsOf(bucket: Bucket, tenant: string | undefined): OutcomeCounts | undefined {
    return tenant === undefined ? bucket.overall : bucket.tenants.get(tenant);
  }

  private bucketAt(second: number): Bucket {
    const slot = second % this.seconds;
    let bucket = this.buckets[slot];
    if (bucket?.second !== second) {
      bucket = { second, overall: zero(), tenants: new Map(), shadow: new Map() };
      this.buckets[slot] = bucket;
    }
    return bucket;
  }

  private noteTier(tenant: string, tier: string | undefined): void {
    if (tier === undefined || this.tiers.get(tenant) === tier) return;
    if (!this.tiers.has(tenant) && this.tiers.size >= this.maxTenants) {
      this.tiers.delete(this.tiers.keys().next().value as string);
    }
    this.tiers.set(tenant, tier);
  }

  private noteRejection(tenant: string, outcome: Outcome, event: DecisionEvent, at: number): void {
    let list = this.recent.get(tenant);
    if (list) this.recent.delete(tenant);
    else {
      list = [];
      // Least recently rejected tenant out (a Map keeps insertion order; re-inserted on each rejection).
      if (this.recent.size >= this.maxTenants) this.recent.delete(this.recent.keys().next().value as string);
    }
    this.recent.set(tenant, list);
    const d = event.decision as typeof event.decision & { bindingPolicy?: string };
    list.push({
      at,
      outcome,
      identity: identityOf(event),
      binding: d.binding?.name ?? 'none',
      policy: d.bindingPolicy ?? null,
    });
    if (list.length > this.recentPerTenant) list.shift();
  }
}

export function totalOf(counts: OutcomeCounts): number {
  let total = 0;
  for (const o of OUTCOMES) total += counts[o];
  return total;
}

function shadowRejectionsOf(decision: DecisionEvent['decision']): string[] {
  return (decision as { shadowRejections?: string[] }).shadowRejections ?? [];
}

function identityOf(event: DecisionEvent): string {
  const r = event.request;
  const parts: string[] = [];
  if (r?.user !== undefined) parts.push(`user:${r.user}`);
  if (r?.ip !== undefined) parts.push(`ip:${r.ip}`);
  if (r?.endpoint !== undefined) parts.push(`endpoint:${r.endpoint}`);
  return parts.length > 0 ? parts.join(' ') : (event.decision.key ?? 'tenant');
}

function positive(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      field,
      `must be a positive integer (got ${value})`,
    );
  }
  return value;
}
