import { type Clock, systemClock } from '../core/clock.js';
import { parseDuration } from '../core/duration.js';
import type { LlmObserver } from '../core/observer.js';
import { rejectUnknownKeys } from '../core/options.js';
import type { Decision } from '../core/types.js';
import { createLimiter, type Limiter } from '../limiter.js';
import type { Store } from '../stores/store.js';
import {
  type CheckGroup,
  type Dimension,
  internLimit,
  type LlmCheck,
  needsPrice,
  tierChecks,
} from './checks.js';
import { LlmConfigError, RateLimitExceededError } from './errors.js';
import { OutputEstimator } from './estimator.js';
import { ACTIVITY_COST, FairPool } from './fair.js';
import {
  DEFAULT_LLM_TIERS,
  type LlmConfig,
  llmOptionsShape,
  parseLlmConfig,
  type TierLimits,
} from './options.js';
import { costUnits, PriceTable } from './prices.js';
import type { ProviderRemaining } from './providers/wire.js';
import { type Held, type Owner, Reservation } from './reservation.js';
import type { LlmCallRequest, LlmIdentity, LlmProvider, LlmUsage, Settlement } from './types.js';
import { type TenantUsage, UsageBook, UsageRecorder, type UsageRow, type UsageWrites } from './usage.js';

/** Options of {@link LlmLimiter}: the configuration (see options.ts) plus where the counters live. */
export interface LlmLimiterOptions extends LlmConfig {
  /** The Sluice limiter that decides (its store, prefix, failure mode). Default: a new in-memory one. */
  limiter?: Limiter;
  /** Or a store for a new limiter (RedisStore for several instances). */
  store?: Store;
  /** Key prefix of a new limiter. Default `sluice`. */
  prefix?: string;
  /**
   * A PolicyLimiter (the policy model: tenants, users, API keys, tiers, overrides, modes): every call is
   * also checked there, as a request of cost 1 to the endpoint `llm:<provider>` (policies match it by
   * pattern, e.g. `llm:*`), in the same reservation (given back if another limit refuses the call).
   */
  policy?: LlmPolicy;
  /** Clock of the usage hours, estimator and fair-share refresh (the store keeps its own). */
  clock?: Clock;
  /** Told of every settled call (e.g. `LlmMetrics` of `sluice/metrics`: calls, tokens, cost). */
  observer?: LlmObserver;
}

const OWN_OPTIONS = ['limiter', 'store', 'prefix', 'clock', 'policy', 'observer'];

/** What the LLM limiter uses of a PolicyLimiter. */
export interface LlmPolicy extends Owner {
  check(ctx: {
    tenant: string;
    user?: string;
    tier?: string;
    endpoint?: string;
    cost?: number;
  }): Promise<Decision>;
}

/**
 * Limits LLM calls: before a call, one atomic decision over all its limits (requests and calls in
 * flight, tokens, input and output tokens, money: each asked its own units), reserving an estimate;
 * after it, a settlement with the usage the provider reported.
 */
export class LlmLimiter {
  readonly limiter: Limiter;
  private readonly policy: LlmPolicy | undefined;
  private readonly config: LlmConfig;
  private readonly prices: PriceTable;
  private readonly estimator: OutputEstimator;
  private readonly recorder: UsageRecorder;
  private readonly pools = new Map<LlmProvider, FairPool>();
  private readonly unitsPerDollar: number;
  private readonly leaseTtl: string | number;
  private readonly maxCallMs: number;
  private readonly clock: Clock;
  readonly charsPerToken: number;
  /** Output tokens a stream may run past its reservation before it is stopped (undefined: never stopped). */
  readonly streamOverrun: number | undefined;

  constructor(options: LlmLimiterOptions = {}) {
    rejectUnknownKeys(options, 'options', [...Object.keys(llmOptionsShape), ...OWN_OPTIONS]);
    const { limiter, store, prefix, clock, policy, observer, ...config } = options;
    if (policy !== undefined && typeof policy?.check !== 'function') {
      throw new LlmConfigError('policy', 'must be a PolicyLimiter (with check, refund and release)');
    }
    if (observer !== undefined && typeof observer?.settled !== 'function') {
      throw new LlmConfigError('observer', 'must have a settled(event) method');
    }
    this.policy = policy;
    this.config = parseLlmConfig(config);
    if (limiter && (store || prefix))
      throw new LlmConfigError('limiter', 'give a limiter or a store/prefix, not both');
    this.limiter = limiter ?? createLimiter({ store, prefix });
    this.clock = clock ?? systemClock;
    this.prices = new PriceTable(this.config.prices ?? {}, this.config.unpriced ?? 'error');
    const e = this.config.estimate ?? {};
    this.charsPerToken = e.charsPerToken ?? 4;
    this.estimator = new OutputEstimator(
      e.defaultOutputTokens ?? 1024,
      e.maxOutputTokens ?? 16_384,
      e.history ?? 64,
      e.maxSubjects ?? 10_000,
    );
    const book = new UsageBook(this.limiter.store, {
      prefix: this.limiter.prefix,
      hours: this.config.usageHours ?? 24,
      maxIdentities: this.config.maxUsageIdentities ?? 10_000,
      maxModels: this.config.maxUsageModels ?? 100,
      clock: this.clock,
    });
    this.recorder = new UsageRecorder(book, observer);
    this.unitsPerDollar = this.config.costUnitsPerDollar ?? 1_000_000;
    this.streamOverrun = this.config.stopOverrunningStreams ? (this.config.debt?.tokens ?? 0) : undefined;
    this.leaseTtl = this.config.leaseTtl ?? '10m';
    parseDuration(this.leaseTtl, 'leaseTtl');
    this.maxCallMs = parseDuration(this.config.maxCallDuration ?? '1h', 'maxCallDuration');
    for (const [provider, p] of Object.entries(this.config.providers ?? {})) {
      if (p?.defaultTier && !this.tiersOf(provider as LlmProvider)[p.defaultTier]) {
        throw new LlmConfigError(
          `providers.${provider}.defaultTier`,
          `"${p.defaultTier}" is not one of its tiers`,
        );
      }
      if (p?.pool)
        this.pools.set(provider as LlmProvider, new FairPool(provider, p.pool, this.limiter, this.clock));
    }
  }

  /**
   * Reserves a call: admitted on every limit, or refused on none (a RateLimitExceededError naming the
   * limit that refused, what it has left and when the call would fit). The call's own limits are one
   * atomic decision in its tenant (each limit asked its dimension's units); a provider pool, shared by
   * every tenant and so in a slot of its own, is a second one, given back if the first refuses.
   */
  async reserve(identity: LlmIdentity, call: LlmCallRequest): Promise<Reservation> {
    const tenant = identity.tenant ?? 'default';
    const subject = `${tenant}\u0000${call.provider}:${call.model}`;
    const output = this.estimator.reserve(subject, call.maxOutputTokens);
    const limits = this.limitsOf(identity, call);
    const priced = limits.some(needsPrice);
    const estimate: LlmUsage = { inputTokens: call.inputTokens, outputTokens: output.tokens };
    const units = this.unitsFor(call.model, estimate, priced);
    const groups = await this.groupsOf(identity, call, limits);
    const decisions = groups.map((g) =>
      this.limiter.decide({
        tenant: g.tenant,
        key: identity.user,
        checks: g.checks.map((c) => ({ limit: c.limit, key: c.key, cost: g.cost ?? units[c.dimension] })),
      }),
    );
    const owners: Array<Owner | undefined> = groups.map(() => undefined);
    if (this.policy) {
      groups.push({ tenant, checks: [], settles: false });
      owners.push(this.policy);
      decisions.push(this.policyCheck(identity, call));
    }
    const held = await this.hold(groups, owners, decisions);
    const reservation = new Reservation(
      this.settleContext(identity, call, priced, output),
      held,
      units,
      output,
    );
    reservation.keepAlive(this.maxCallMs);
    return reservation;
  }

  /** The policy model's decision for a call: a request of cost 1 to the endpoint `llm:<provider>`. */
  private policyCheck(identity: LlmIdentity, call: LlmCallRequest): Promise<Decision> {
    return (this.policy as LlmPolicy).check({
      tenant: identity.tenant ?? 'default',
      user: identity.user,
      tier: identity.tier,
      endpoint: `llm:${call.provider}`,
      cost: 1,
    });
  }

  /** The admitted decisions of a call, or (one refused or failed) none: the others given back, then thrown. */
  private async hold(
    groups: readonly CheckGroup[],
    owners: ReadonlyArray<Owner | undefined>,
    decisions: ReadonlyArray<Promise<Decision>>,
  ): Promise<Held[]> {
    const settled = await Promise.allSettled(decisions);
    const held: Held[] = [];
    let refused: Decision | undefined;
    let failure: unknown;
    settled.forEach((s, i) => {
      if (s.status === 'rejected') failure ??= s.reason;
      else if (s.value.allowed)
        held.push({ group: groups[i] as CheckGroup, decision: s.value, owner: owners[i] });
      else if (!refused || s.value.retryAfterMs > refused.retryAfterMs) refused = s.value;
    });
    if (!refused && !failure) return held;
    await undo(this.limiter, held);
    if (failure) throw failure;
    throw new RateLimitExceededError(refused as Decision);
  }

  /** What every limit of a call to this provider and model has left now (nothing is consumed). */
  async remaining(
    identity: LlmIdentity,
    provider: LlmProvider,
    model: string,
  ): Promise<Record<string, number>> {
    const call = { provider, model, inputTokens: 0 };
    const groups = await this.groupsOf(identity, call, this.limitsOf(identity, call));
    const peeks = await Promise.all(
      groups.map((g) =>
        this.limiter.decide({
          tenant: g.tenant,
          checks: g.checks.map((c) => ({ limit: c.limit, key: c.key })),
          cost: 0,
        }),
      ),
    );
    const left: Record<string, number> = {};
    for (const peek of peeks) for (const l of peek.limits) left[l.name] = l.remaining;
    return left;
  }

  /** Stops every instance from sending to this provider's pool until `untilMs` (a provider 429). */
  async pause(provider: LlmProvider, untilMs: number): Promise<void> {
    const pool = this.pools.get(provider);
    const ms = Math.ceil(untilMs - this.clock());
    if (!pool || ms <= 0) return;
    await this.limiter.block({ tenant: pool.tenant }, ms);
  }

  /**
   * Tells the provider's pool what the provider says its quota has left (a response's headers): with
   * `followRemaining`, the pool is charged what it did not know was used. Never throws.
   */
  async followProvider(provider: LlmProvider, remaining: ProviderRemaining | undefined): Promise<void> {
    await this.pools
      .get(provider)
      ?.follow(remaining)
      .catch(() => undefined);
  }

  /** Whether this provider has a shared pool (so that its 429s pause every instance). */
  hasPool(provider: LlmProvider): boolean {
    return this.pools.has(provider);
  }

  /**
   * Per provider and model: calls, tokens and cost of a user over the last `hours` hours (the current
   * hour and the `hours - 1` before it), read from the store: every instance's calls.
   */
  usage(identity: Pick<LlmIdentity, 'user' | 'tenant'>, hours = 24): Promise<UsageRow[]> {
    return this.recorder.book.ofIdentity(identity, hours);
  }

  /** A tenant's usage over the last `hours` hours: every identity, per provider and model, and the top `top` identities. */
  tenantUsage(tenant: string, hours = 24, top = 10): Promise<TenantUsage> {
    return this.recorder.book.ofTenant(tenant, hours, top);
  }

  /** What became of the usage writes of this instance's settled calls. */
  usageWrites(): UsageWrites {
    return { ...this.recorder.writes };
  }

  /** How often and by how much the output estimates (calls without a bound) were exceeded. */
  estimates(): ReturnType<OutputEstimator['stats']> {
    return this.estimator.stats();
  }

  /** The fraction of a pool a tenant gets now (for reports and tests). */
  shareOf(provider: LlmProvider, tenant: string): number | undefined {
    return this.pools.get(provider)?.shareOf(tenant);
  }

  close(): Promise<void> {
    return this.limiter.close();
  }

  private tiersOf(provider: LlmProvider): Record<string, TierLimits> {
    return this.config.providers?.[provider]?.tiers ?? DEFAULT_LLM_TIERS[provider];
  }

  /** The tier's limits and the model's (within the tier), as [scope name, limits]. */
  private limitsOf(identity: LlmIdentity, call: LlmCallRequest): TierLimits[] {
    const p = this.config.providers?.[call.provider];
    const tierName = identity.tier ?? p?.defaultTier ?? 'free';
    const tier = this.tiersOf(call.provider)[tierName];
    if (!tier) throw new LlmConfigError('identity.tier', `"${tierName}" is not a tier of ${call.provider}`);
    const model = p?.models?.[call.model]?.[tierName];
    return model ? [tier, model] : [tier];
  }

  /**
   * The decisions of a call: its tenant's limits (the tier's, then the model's within the tier), and a
   * pool's activity and limits when the provider has one.
   */
  private async groupsOf(
    identity: LlmIdentity,
    call: LlmCallRequest,
    limits: TierLimits[],
  ): Promise<CheckGroup[]> {
    const tenant = identity.tenant ?? 'default';
    const { user } = identity;
    const checks = tierChecks(
      call.provider,
      limits[0] as TierLimits,
      user,
      this.unitsPerDollar,
      this.leaseTtl,
    );
    if (limits[1]) {
      const scope = `${call.provider}:${call.model}`;
      checks.push(...tierChecks(scope, limits[1], user, this.unitsPerDollar, this.leaseTtl));
    }
    const groups: CheckGroup[] = checks.length > 0 ? [{ tenant, checks, settles: true }] : [];
    const pool = this.pools.get(call.provider);
    if (pool) {
      const shared = await pool.checks(tenant);
      groups.push({
        tenant: pool.tenant,
        checks: shared.activity,
        settles: false,
        keep: true,
        cost: ACTIVITY_COST,
      });
      if (shared.limits.length > 0)
        groups.push({ tenant: pool.tenant, checks: shared.limits, settles: true });
    }
    for (const group of groups) for (const check of group.checks) check.limit = internLimit(check.limit);
    return groups;
  }

  private unitsFor(model: string, usage: LlmUsage, priced: boolean): Record<Dimension, number> {
    const cost = priced ? costUnits(this.prices.costUsd(model, usage), this.unitsPerDollar) : 0;
    return {
      requests: 1,
      tokens: usage.inputTokens + usage.outputTokens,
      input: usage.inputTokens,
      output: usage.outputTokens,
      cost,
    };
  }

  private settleContext(
    identity: LlmIdentity,
    call: LlmCallRequest,
    priced: boolean,
    output: { tokens: number; estimated: boolean },
  ) {
    const debt = this.config.debt ?? {};
    const tenant = identity.tenant ?? 'default';
    return {
      limiter: this.limiter,
      debtOf: (d: Dimension) =>
        d === 'cost' ? Math.round((debt.cost ?? 0) * this.unitsPerDollar) : (debt.tokens ?? 0),
      unitsOf: (usage: LlmUsage) => this.unitsFor(call.model, usage, priced),
      settled: (usage: LlmUsage, settlement: Settlement) => {
        settlement.costUsd = this.safeCost(call.model, usage);
        const subject = `${tenant}\u0000${call.provider}:${call.model}`;
        this.estimator.record(subject, usage.outputTokens, output.estimated ? output.tokens : undefined);
        return this.recorder.settled({
          tenant,
          user: identity.user,
          tier: identity.tier ?? this.config.providers?.[call.provider]?.defaultTier ?? 'free',
          provider: call.provider,
          model: call.model,
          inputTokens: usage.inputTokens,
          outputTokens: usage.outputTokens,
          cachedInputTokens: usage.cachedInputTokens ?? 0,
          costUsd: settlement.costUsd,
        });
      },
    };
  }

  /** The cost of a settled call for the usage report (0 when unpriced and no budget asked for a price). */
  private safeCost(model: string, usage: LlmUsage): number {
    try {
      return this.prices.costUsd(model, usage);
    } catch {
      return 0;
    }
  }
}

/** Gives back what the admitted decisions of a refused call took. */
async function undo(limiter: Limiter, held: readonly Held[]): Promise<void> {
  await Promise.all(
    held.map(async ({ group, decision, owner }) => {
      if (group.keep) return;
      if (decision.lease) await (owner ?? limiter).release(decision.lease);
      await (owner ?? limiter).refund(decision);
    }),
  );
}

export type { LlmCheck };
