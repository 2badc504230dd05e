import { systemClock } from '../core/clock.js';
import { SluiceError, StoreError } from '../core/errors.js';
import {
  type DecisionObserver,
  notify,
  type ObservedRequest,
  type ObservedSource,
} from '../core/observer.js';
import type { Lease } from '../core/types.js';
import { Limiter } from '../limiter.js';
import type { Store } from '../stores/store.js';
import { Reputation } from './adaptive.js';
import { parseConfig, type SluiceConfig } from './config.js';
import { type HealthReport, healthOf } from './health.js';
import { type BlockTarget, type LimitUsage, OperatorCalls } from './operator-calls.js';
import { OverridesKeeper } from './overrides-keeper.js';
import { PlatformGuard } from './platform.js';
import {
  isSluiceConfig,
  operatorTimeoutOf,
  type PolicyLimiterOptions,
  validateOptions,
} from './policy-options.js';
import type { PolicySet } from './resolve.js';
import type { RuntimeOverrides } from './runtime.js';
import { Adjuster } from './stages/adjust.js';
import { Decider } from './stages/decide.js';
import { Leases } from './stages/leases.js';
import { Recorder } from './stages/record.js';
import { Resolver } from './stages/resolve.js';
import type { Mode, PolicyDecision, PolicyLease, RequestContext, TenantOverride } from './types.js';
import { engineFor, storeFromConfig } from './wiring.js';

export type { HealthReport } from './health.js';
export type { BlockTarget, LimitUsage } from './operator-calls.js';
export {
  type AuditLogger,
  DEFAULT_OPERATOR_TIMEOUT_MS,
  type PolicyLimiterOptions,
} from './policy-options.js';

/**
 * Decides requests through policies: resolves which policies apply (scope precedence, additive
 * policies, tiers, tenant overrides, modes), then makes one all-or-nothing decision over the limits of
 * the enforced policies (and one over the shadow policies, in parallel, that never blocks).
 *
 * Runtime overrides (tenant tier or quotas, policy or global mode) live in the store as one versioned
 * document; every instance polls its version every `refreshInterval` (default 1 s), so a change made
 * through any instance applies everywhere within that interval plus one round trip.
 */
export class PolicyLimiter {
  readonly store: Store;
  /** Platform protection, when configured. */
  readonly platform: PlatformGuard | undefined;
  /** Decisions where the comparison store disagreed with the enforcing one. */
  disagreements = 0;
  private readonly engine: Limiter;
  private readonly comparison: Limiter | undefined;
  private readonly loadSignal: PolicyLimiterOptions['loadSignal'];
  private readonly requireStore: boolean;
  /** The configuration in force and the runtime overrides document (see overrides-keeper.ts). */
  private readonly keeper: OverridesKeeper;
  private readonly operator: OperatorCalls;
  // The stages of a check (see check()).
  private readonly resolver: Resolver;
  private readonly adjuster: Adjuster;
  private readonly decider: Decider;
  private readonly recorder: Recorder;
  private readonly leases: Leases;
  private readonly observer: DecisionObserver | undefined;

  constructor(options: PolicyLimiterOptions) {
    validateOptions(options);
    this.requireStore = options.requireStore ?? false;
    const operatorTimeoutMs = operatorTimeoutOf(options.operatorTimeout);
    const config = isSluiceConfig(options.config) ? options.config : parseConfig(options.config);
    this.store = options.store ?? storeFromConfig(config);
    this.engine = engineFor(config, this.store, options.clock, options.logger);
    this.keeper = new OverridesKeeper({
      store: this.store,
      config,
      operatorTimeoutMs,
      actor: options.actor ?? 'unknown',
      logger: options.logger,
      onConfigError: options.onConfigError,
      onApply: (overrides) => this.applyForced(overrides),
    });
    const clock = options.clock ?? systemClock;
    const reputation = new Reputation(this.engine, config.reputation, clock);
    this.loadSignal = options.loadSignal;
    this.platform = config.platform
      ? new PlatformGuard(this.engine, config.platform, config.tiers, clock)
      : undefined;
    this.comparison = comparisonOf(config, options.compareWith);
    this.resolver = new Resolver(this.engine, options.tierResolver);
    this.adjuster = new Adjuster(this.resolver, reputation, this.platform, this.loadSignal);
    this.decider = new Decider(this.engine, reputation, this.comparison);
    this.leases = new Leases(this.engine, this.comparison);
    const onDisagreement = options.onDisagreement;
    this.recorder = new Recorder(this.engine, reputation, this.leases, (event) => {
      this.disagreements++;
      onDisagreement?.(event);
    });
    const { engine, keeper, resolver, adjuster, recorder } = this;
    this.operator = new OperatorCalls({ engine, keeper, resolver, adjuster, recorder, reputation });
    this.observer = options.observer;
    this.observer?.watch?.(this.observedSource());
  }

  /**
   * Creates a limiter, loads the runtime overrides once, and keeps polling them. Resolves within
   * `operatorTimeout`: a store that does not connect or answer in time is not an error here (the
   * failure modes answer until it comes back); the limiter starts on the configuration without runtime
   * overrides, says so (onConfigError, the logger, health's configError), and the poller picks the
   * overrides up once the store answers.
   */
  static async create(options: PolicyLimiterOptions): Promise<PolicyLimiter> {
    const limiter = new PolicyLimiter(options);
    try {
      await limiter.start();
    } catch (error) {
      if (limiter.requireStore) {
        await limiter.close().catch(() => undefined);
        throw limiter.unreachable(error);
      }
      limiter.keeper.reportConfigError(
        new SluiceError(
          (error as SluiceError).code ?? 'ERR_SLUICE_STORE',
          `${(error as Error).message}; started without the runtime overrides (the poller retries every ${limiter.config.refreshIntervalMs} ms)`,
          { cause: error },
        ),
      );
    }
    limiter.keeper.startPolling();
    limiter.platform?.start();
    return limiter;
  }

  get config(): SluiceConfig {
    return this.set.config;
  }

  get overrides(): RuntimeOverrides {
    return this.set.runtime;
  }

  /** Version of the runtime overrides in force (0: none written yet). */
  get configVersion(): number {
    return this.keeper.version;
  }

  /** The last refresh or reload failure, if the latest attempt failed. */
  get lastConfigError(): Error | undefined {
    return this.keeper.lastConfigError;
  }

  /**
   * Decides one request: a pipeline it passes through once, each stage its own module
   * (src/policy/stages/): resolve which policies apply, adjust them (platform protection, reputation,
   * load), decide, record what the decision means (violations, outcomes, comparison, leases).
   */
  check(ctx: RequestContext): Promise<PolicyDecision> {
    const observer = this.observer;
    if (observer === undefined) return this.checkNow(ctx);
    const started = performance.now();
    return this.checkNow(ctx).then((decision) => {
      const request: ObservedRequest = {};
      if (ctx.user !== undefined) request.user = ctx.user;
      if (ctx.ip !== undefined) request.ip = ctx.ip;
      if (ctx.endpoint !== undefined) request.endpoint = ctx.endpoint;
      notify(observer, { decision, durationMs: performance.now() - started, request });
      return decision;
    });
  }

  /**
   * What an observer may read of this limiter at any time: its breaker, platform protection,
   * configuration version and errors, reputation adjustments, and its store's keys and round trips.
   */
  observedSource(): ObservedSource {
    const store = this.store as { keyCount?: unknown; roundTrips?: unknown };
    const guard = this.engine.guard;
    const source: ObservedSource = {
      platform: () => {
        const platform = this.platform;
        return platform ? { state: platform.state, shedLevel: platform.shedLevel } : null;
      },
      config: () => ({ version: this.keeper.version, reloadErrors: this.keeper.configErrors }),
      reputation: () => ({ ...this.recorder.adjustments }),
    };
    if (guard) source.breaker = () => guard.breaker.snapshot();
    if (typeof store.keyCount === 'number') source.activeKeys = () => store.keyCount as number;
    if (typeof store.roundTrips === 'number') source.roundTrips = () => store.roundTrips as number;
    return source;
  }

  private async checkNow(ctx: RequestContext): Promise<PolicyDecision> {
    const check = this.resolver.resolve(this.set, this.keeper.version, ctx);
    if (!this.adjuster.admits(check)) return this.recorder.shed(check);
    if (check.identity !== undefined) await this.adjuster.readStanding(check);
    this.adjuster.adjust(check);
    await this.decider.decide(check);
    if (this.recorder.blames(check)) await this.recorder.violation(check);
    return this.recorder.finish(check);
  }

  /**
   * The status of a request's limits without consuming anything (a decision of cost 0, like
   * Limiter.peek): the enforced policies' limits as they stand for this context, its tier, policies
   * and binding. Platform protection does not shed a peek, and a peek counts no violation and no good
   * request; reputation and load shrink the limits as they would a check. A blocked identity or
   * tenant peeks `allowed: false`, reason `blocked`.
   */
  peek(ctx: RequestContext): Promise<PolicyDecision> {
    return this.operator.peek(ctx);
  }

  /**
   * Usage of every limit that applies to a request context (enforced and shadow policies), read with
   * a peek: per limit its policy, mode, key, used and remaining units, capacity, window and resetAt.
   */
  usage(ctx: RequestContext): Promise<LimitUsage[]> {
    return this.operator.usage(ctx);
  }

  /**
   * Forgets the counters of every limit that applies to a request context (its enforced and shadow
   * policies' limits, with the keys this context counts), like Limiter.reset; with `only`, of one
   * policy's limits (`{ policy: 'per-user' }`) or of one limit (`{ limit: 'per-user.hourly' }`, the
   * name decisions show). Blocks and reputation stay. Other contexts' counters (another user's,
   * another route's) are untouched.
   */
  reset(ctx: RequestContext, only?: { policy?: string; limit?: string }): Promise<void> {
    return this.operator.reset(ctx, only);
  }

  /** Forgets every counter of a tenant (Limiter.resetTenant: one marker, no scan). Blocks stay. */
  resetTenant(tenant: string): Promise<void> {
    return this.operator.resetTenant(tenant);
  }

  /**
   * Rejects every request of a tenant, or of one user or IP of it, for `duration` (ms or "10m"):
   * decisions say reason `blocked`, with a `blocked` binding (see README, Decisions). An IP block also
   * stops that IP's requests that name a user. Give at most one of `user` and `ip`. Enforced whatever
   * the policies: a request no enforced policy applies to is decided against its blocks alone (unless
   * the global mode is `shadow` or `disabled`, which enforce nothing).
   */
  block(target: BlockTarget, duration: number | string): Promise<void> {
    return this.operator.block(target, duration);
  }

  /** Lifts a block set by `block` (or by reputation, for that user or IP). */
  unblock(target: BlockTarget): Promise<void> {
    return this.operator.unblock(target);
  }

  /**
   * Gives back units of an admitted decision (Limiter.refund: `units`, default its whole cost, where
   * that decision took them, never more). Concurrency slots are freed by `release`.
   */
  refund(decision: PolicyDecision, units?: number | readonly number[]): Promise<void> {
    return this.operator.refund(decision, units);
  }

  /** Forgets one identity's violations (user id or IP), or with no identity every identity's. */
  resetReputation(tenant: string, identity?: { user?: string; ip?: string }): Promise<void> {
    return this.operator.resetReputation(tenant, identity);
  }

  /** Forces the store circuit breaker open (failure modes decide) or closed, on every instance; null releases it. */
  forceCircuit(state: 'open' | 'closed' | null): Promise<number> {
    return this.operator.forceCircuit(state);
  }

  /** Clears a forced circuit state (for every instance) and closes this instance's breaker now, failures forgotten. */
  async resetCircuit(): Promise<number> {
    const version = await this.forceCircuit(null);
    this.engine.guard?.breaker.reset();
    return version;
  }

  /** Forces platform protection open or closed for every instance; null gives control back to it. */
  forcePlatform(state: 'open' | 'closed' | null): Promise<number> {
    return this.operator.forcePlatform(state);
  }

  /** Sets (or with null clears) a tenant's runtime override: tier and/or quotas. */
  setTenantOverride(tenant: string, override: TenantOverride | null): Promise<number> {
    return this.operator.setTenantOverride(tenant, override);
  }

  /** Moves a tenant to another tier at runtime (null: back to what the configuration says). */
  setTenantTier(tenant: string, tier: string | null): Promise<number> {
    return this.operator.setTenantTier(tenant, tier);
  }

  /** Switches the global mode, or one policy's mode, for every instance. null clears the override. */
  setMode(mode: Mode | null, policy?: string): Promise<number> {
    return this.operator.setMode(mode, policy);
  }

  /**
   * Health (the multi-window API limiter): the store's reachability and latency (one PING-like read), the circuit, the
   * failure modes in force, the configuration version and errors, platform protection and load.
   */
  health(): Promise<HealthReport> {
    const { store, engine, keeper, platform, loadSignal, comparison, disagreements } = this;
    return healthOf({ store, engine, keeper, platform, loadSignal, comparison, disagreements });
  }

  /**
   * Frees the concurrency slots of a decision's lease, with those its shadow and comparison decisions
   * took for the same request (carried on the lease).
   */
  async release(lease: Lease): Promise<void> {
    await this.leases.release(lease);
  }

  /**
   * Renews a decision's lease for work that outlasts its TTL (with the shadow and comparison leases it
   * carries): see Limiter.renew. Release or renew the returned lease from then on.
   */
  renew(lease: Lease): Promise<PolicyLease | undefined> {
    return this.leases.renew(lease);
  }

  /**
   * Pulls the runtime overrides now (the poller does this every refreshInterval), within
   * `operatorTimeout`. A store that fails or does not answer in time rejects with a StoreError
   * (`ERR_SLUICE_STORE_TIMEOUT` naming refresh); a document that cannot be used (no version, bad JSON,
   * invalid content, over MAX_OVERRIDES_BYTES) is reported (onConfigError, the logger, health's
   * configError) and the last good overrides stay.
   */
  async refresh(): Promise<void> {
    await this.keeper.load('refresh', Date.now() + this.keeper.operatorTimeoutMs);
  }

  /**
   * Replaces the configuration (for example after editing the file). A document that does not validate
   * is rejected with a ConfigError naming every bad field, and the running configuration is unchanged.
   */
  reload(config: unknown, source?: string): SluiceConfig {
    return this.keeper.reload(config, source);
  }

  /** Reloads a YAML/JSON file whenever it changes; a broken file keeps the last good configuration. */
  watchFile(path: string, intervalMs = 1000): void {
    this.keeper.watchFile(path, intervalMs);
  }

  async close(): Promise<void> {
    this.keeper.stop();
    this.platform?.stop();
    await this.store.close();
    await this.comparison?.close();
  }

  /** The policies in force (configuration and runtime overrides). */
  private get set(): PolicySet {
    return this.keeper.set;
  }

  /** Connects (so that the first decisions do not spend their budget on it), then reads the overrides. */
  private async start(): Promise<void> {
    const timeoutMs = this.keeper.operatorTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    if (this.store.ready) {
      await this.keeper.within(
        'create (connecting)',
        this.store.ready(timeoutMs + 100, { keepTrying: true }),
        deadline,
      );
    }
    await this.keeper.load('create (first read)', deadline);
  }

  /** The error create() rejects with when the store is required and could not be reached. */
  private unreachable(error: unknown): StoreError {
    return new StoreError(
      this.store.backend,
      `create: the store could not be reached within the operator timeout (${this.keeper.operatorTimeoutMs} ms), and requireStore is set: ${(error as Error).message}`,
      { code: (error as SluiceError).code ?? 'ERR_SLUICE_STORE', cause: error },
    );
  }

  /** What runtime overrides force beyond policies: platform protection and the store circuit. */
  private applyForced(overrides: RuntimeOverrides): void {
    if (this.platform) this.platform.forced = overrides.platform;
    this.engine.guard?.breaker.force(overrides.circuit ?? null);
  }
}

/** The comparison store: given, or the configuration's `compare` (the multi-window API limiter's HYBRID_RATE_LIMITING). */
function comparisonOf(config: SluiceConfig, given: Store | undefined): Limiter | undefined {
  const compareWith =
    given ?? (config.compare ? storeFromConfig({ ...config, store: config.compare.store }) : undefined);
  return compareWith ? new Limiter({ store: compareWith, prefix: config.prefix }) : undefined;
}
