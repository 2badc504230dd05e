/**
 * LLM usage per tenant, identity, provider and model, by epoch hour, kept in the store (seed 004's
 * `get_llm_usage(user, hours=24)`): every instance sharing the store, and the service reading it, see
 * the same figures. Built on the store's usage tallies (stores/usage.ts): keys under the tenant's hash
 * tag (core/keys.ts: `<prefix>:{<tenant>}:u:<hour>:...`), each expiring `hours` after its last write.
 *
 * Bounded per tenant and hour: `maxIdentities` identities are counted on their own (past it, a new
 * identity is counted in the tenant's totals only: its own rows miss that hour), and a hash holds
 * `maxModels` provider x model series (past it, a new model is counted as model `*` of its provider).
 * The tenant's totals stay exact either way.
 */
import { type Clock, systemClock } from '../core/clock.js';
import { StoreError, ValidationError } from '../core/errors.js';
import { decodeIdentifier, encodeIdentifier } from '../core/identifiers.js';
import { usageKeysStart } from '../core/keys.js';
import type { LlmCallEvent, LlmObserver } from '../core/observer.js';
import { rejectUnknownKeys } from '../core/options.js';
import type { Store } from '../stores/store.js';
import type { UsageSums, UsageWritten } from '../stores/usage.js';

/** Calls, tokens and cost of one identity (or tenant), provider and model over some hours. */
export interface UsageTotals {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  /** Input tokens served from the provider's cache (part of inputTokens). */
  cachedInputTokens: number;
  costUsd: number;
}

export interface UsageRow extends UsageTotals {
  provider: string;
  /** `*`: models past `maxModels` in an hour. */
  model: string;
}

/** One identity's usage over some hours. */
export interface IdentityUsage {
  tenant: string;
  user: string;
  hours: number;
  /** Start of the first hour read (epoch ms): the window is [since, now]. */
  since: number;
  totals: UsageTotals;
  /** Per provider and model, the most expensive first (then the most calls). */
  models: UsageRow[];
}

/** A tenant's usage over some hours: every identity, per provider and model. */
export interface TenantUsage {
  tenant: string;
  hours: number;
  /** Start of the first hour read (epoch ms): the window is [since, now]. */
  since: number;
  totals: UsageTotals;
  /** Per provider and model, the most expensive first (then the most calls). */
  models: UsageRow[];
  /** Distinct identities counted on their own in the window. */
  identities: number;
  /** The identities that used the most tokens (input + output), most first. */
  top: Array<{ user: string; tokens: number }>;
}

export interface UsageBookOptions {
  /** The limiter's key prefix. Default `sluice`. */
  prefix?: string;
  /** Hours kept: each key's TTL. Default 24; 1 to 744 (31 days). */
  hours?: number;
  /** Identities counted on their own per tenant and hour. Default 10,000. */
  maxIdentities?: number;
  /** Provider x model series per tenant (or identity) and hour. Default 100. */
  maxModels?: number;
  /** Which hour a call falls in. Default Date.now. */
  clock?: Clock;
}

export const HOUR_MS = 3_600_000;
/** Longest window read or kept: 31 days. */
export const MAX_USAGE_HOURS = 24 * 31;
const NANO = 1e9;
const OPTIONS = ['prefix', 'hours', 'maxIdentities', 'maxModels', 'clock'];

/** Writes settled calls to the store's hourly tallies and reads them back. */
export class UsageBook {
  private readonly prefix: string;
  readonly hours: number;
  private readonly maxIdentities: number;
  private readonly maxModels: number;
  private readonly clock: Clock;

  constructor(
    private readonly store: Store,
    options: UsageBookOptions = {},
  ) {
    rejectUnknownKeys(options, 'usage', OPTIONS);
    this.prefix = options.prefix ?? 'sluice';
    this.hours = whole(options.hours, 24, MAX_USAGE_HOURS, 'usage.hours');
    this.maxIdentities = whole(options.maxIdentities, 10_000, 1_000_000, 'usage.maxIdentities');
    this.maxModels = whole(options.maxModels, 100, 10_000, 'usage.maxModels');
    this.clock = options.clock ?? systemClock;
  }

  /** Adds one settled call to its hour (one atomic store call). */
  async record(call: Omit<LlmCallEvent, 'tier'>): Promise<UsageWritten> {
    const add = this.store.addUsage;
    if (!add) throw unsupported(this.store);
    const start = usageKeysStart(this.prefix, encodeIdentifier(call.tenant, 'tenant'), this.hourNow());
    const user = encodeIdentifier(call.user, 'user');
    const provider = encodeIdentifier(call.provider, 'provider');
    const { inputTokens, outputTokens } = call;
    const cached = Math.min(call.cachedInputTokens, inputTokens);
    return add.call(this.store, {
      totalsKey: `${start}t`,
      identitiesKey: `${start}i`,
      identityKey: `${start}i:${user}`,
      identity: user,
      series: `${provider}:${encodeIdentifier(call.model, 'model')}`,
      overflowSeries: `${provider}:*`,
      counts: [1, inputTokens, outputTokens, cached, Math.max(0, Math.round(call.costUsd * NANO))],
      score: inputTokens + outputTokens,
      maxSeries: this.maxModels,
      maxIdentities: this.maxIdentities,
      ttlMs: this.hours * HOUR_MS,
    });
  }

  /** One row per provider and model an identity used in the last `hours` hours (the current one included). */
  async ofIdentity(identity: { tenant?: string; user: string }, hours = 24): Promise<UsageRow[]> {
    return (await this.ofUser(identity.tenant ?? 'default', identity.user, hours)).models;
  }

  /** One identity's usage in the last `hours` hours: its totals and one row per provider and model. */
  async ofUser(tenant: string, user: string, hours = 24): Promise<IdentityUsage> {
    const starts = this.hourStarts(tenant, hours);
    const member = encodeIdentifier(user, 'user');
    const sums = await this.read({ seriesKeys: starts.map((s) => `${s}i:${member}`) });
    return { tenant, user, hours, since: this.since(hours), totals: totalsOf(sums), models: rowsOf(sums) };
  }

  /** A tenant's usage in the last `hours` hours: every identity, per provider and model; the top `top` identities. */
  async ofTenant(tenant: string, hours = 24, top = 10): Promise<TenantUsage> {
    const starts = this.hourStarts(tenant, hours);
    const sums = await this.read({
      seriesKeys: starts.map((s) => `${s}t`),
      identitiesKeys: starts.map((s) => `${s}i`),
      top,
    });
    return {
      tenant,
      hours,
      since: this.since(hours),
      totals: totalsOf(sums),
      models: rowsOf(sums),
      identities: sums.identityCount,
      top: sums.identities.map(([user, tokens]) => ({ user: decodeIdentifier(user), tokens })),
    };
  }

  private read(read: Parameters<NonNullable<Store['readUsage']>>[0]): Promise<UsageSums> {
    const readUsage = this.store.readUsage;
    if (!readUsage) return Promise.reject(unsupported(this.store));
    return readUsage.call(this.store, read);
  }

  /** Start of the first of the last `hours` hours (epoch ms). */
  private since(hours: number): number {
    return (this.hourNow() - hours + 1) * HOUR_MS;
  }

  private hourNow(): number {
    return Math.floor(this.clock() / HOUR_MS);
  }

  /** The key starts of the last `hours` hours, the current one first. */
  private hourStarts(tenant: string, hours: number): string[] {
    whole(hours, 24, MAX_USAGE_HOURS, 'hours');
    const encoded = encodeIdentifier(tenant, 'tenant');
    const now = this.hourNow();
    return Array.from({ length: hours }, (_, age) => usageKeysStart(this.prefix, encoded, now - age));
  }
}

/** What became of the usage writes of settled calls (see `LlmLimiter.usageWrites`). */
export interface UsageWrites {
  /** Written, the identity counted on its own. */
  recorded: number;
  /** Written in the tenant's totals only: the hour already held `maxUsageIdentities` identities. */
  identityOverflow: number;
  /** Written as model `*`: the hour already held `maxUsageModels` provider x model series. */
  modelOverflow: number;
  /** Not written: the store failed (down, full) or keeps no usage. The call is settled all the same. */
  failed: number;
}

/** What a settled call becomes: an observer's event and a usage write, neither failing the settlement. */
export class UsageRecorder {
  readonly writes: UsageWrites = { recorded: 0, identityOverflow: 0, modelOverflow: 0, failed: 0 };

  constructor(
    readonly book: UsageBook,
    private readonly observer: LlmObserver | undefined,
  ) {}

  /** Tells the observer, then writes the usage (resolves once written or failed; never rejects). */
  async settled(event: LlmCallEvent): Promise<void> {
    try {
      this.observer?.settled(event);
    } catch {
      // An observer never fails a settlement.
    }
    try {
      const written = await this.book.record(event);
      if (!written.identityKept) this.writes.identityOverflow++;
      else if (!written.seriesKept) this.writes.modelOverflow++;
      else this.writes.recorded++;
    } catch {
      this.writes.failed++;
    }
  }
}

/** Rows from summed series `<provider>:<model>` (whole counters, cost in nano-dollars). */
function rowsOf(sums: UsageSums): UsageRow[] {
  const rows = sums.series.map(([series, [calls = 0, input = 0, output = 0, cached = 0, nano = 0]]) => {
    const at = series.indexOf(':');
    const model = series.slice(at + 1);
    return {
      provider: decodeIdentifier(series.slice(0, at)),
      model: model === '*' ? '*' : decodeIdentifier(model),
      calls,
      inputTokens: input,
      outputTokens: output,
      cachedInputTokens: cached,
      costUsd: nano / NANO,
    };
  });
  return rows.sort(
    (a, b) =>
      b.costUsd - a.costUsd ||
      b.calls - a.calls ||
      byName(a.provider, b.provider) ||
      byName(a.model, b.model),
  );
}

/** The sums of every series, cost added in whole nano-dollars (exact) before it becomes dollars. */
function totalsOf(sums: UsageSums): UsageTotals {
  const all = [0, 0, 0, 0, 0];
  for (const [, counts] of sums.series) {
    counts.forEach((c, i) => {
      all[i] = (all[i] as number) + c;
    });
  }
  const [calls = 0, inputTokens = 0, outputTokens = 0, cachedInputTokens = 0, nano = 0] = all;
  return { calls, inputTokens, outputTokens, cachedInputTokens, costUsd: nano / NANO };
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function whole(value: number | undefined, fallback: number, max: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new ValidationError('ERR_SLUICE_INVALID_OPTION', field, `must be a whole number from 1 to ${max}`);
  }
  return value;
}

function unsupported(store: Store): StoreError {
  return new StoreError(store.backend, `the ${store.backend} store keeps no LLM usage tallies`, {
    code: 'ERR_SLUICE_STORE_UNSUPPORTED',
  });
}
