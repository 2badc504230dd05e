import { unwatchFile, watchFile } from 'node:fs';
import { type Clock, systemClock } from '../core/clock.js';
import { parseDuration } from '../core/duration.js';
import { SluiceError, StoreError, ValidationError } from '../core/errors.js';
import { rejectUnknownKeys } from '../core/options.js';
import type { Decision, Lease, LimitResult } from '../core/types.js';
import { type FailoverState, Limiter } from '../limiter.js';
import type { CircuitBreaker } from '../resilience/breaker.js';
import { MemoryStore } from '../stores/memory/memory-store.js';
import { RedisStore } from '../stores/redis/redis-store.js';
import type { DocumentHead, Store } from '../stores/store.js';
import { Reputation } from './adaptive.js';
import { ConfigError, parseConfig, quotaOver, type SluiceConfig, tierQuotaIssues } from './config.js';
import { loadConfigFile } from './load.js';
import { PlatformGuard } from './platform.js';
import { PolicySet } from './resolve.js';
import {
  MAX_OVERRIDES_BYTES,
  own,
  ownTable,
  parseOverrides,
  parseOverridesDocument,
  type RuntimeOverrides,
  serializeOverridesDocument,
} from './runtime.js';
import { Adjuster } from './stages/adjust.js';
import { identityOf } from './stages/check.js';
import { Decider } from './stages/decide.js';
import { Leases } from './stages/leases.js';
import { Recorder } from './stages/record.js';
import { Resolver, validateContext } from './stages/resolve.js';
import type { FailureMode, Mode, PolicyDecision, RequestContext, TenantOverride } from './types.js';

export interface PolicyLimiterOptions {
  /** The configuration: a validated SluiceConfig, or a raw document (parsed from YAML/JSON) to validate. */
  config: SluiceConfig | unknown;
  /** Overrides the store described by the configuration. */
  store?: Store;
  /** Resolves a request's tier when neither the request nor the overrides say (e.g. from a JWT claim). */
  tierResolver?: (ctx: RequestContext) => string | undefined;
  /** Called when a runtime refresh or a watched file reload fails (the last good configuration stays). */
  onConfigError?: (error: Error) => void;
  /** System load in [0, 1] (CPU, queue depth...): above `loadAdaptive.threshold` limits shrink. */
  loadSignal?: () => number;
  /**
   * Migration aid (the multi-window API limiter's hybrid strategy): a second store decided beside the enforcing one, never
   * blocking; disagreements are counted and reported to `onDisagreement`.
   */
  compareWith?: Store;
  onDisagreement?: (event: { ctx: RequestContext; primary: boolean; secondary: boolean }) => void;
  /** Clock of the in-process parts (reputation cache, platform breaker). Default Date.now. */
  clock?: Clock;
  /**
   * Where audit events go (operator changes: modes, overrides, forced circuit or platform state, and
   * configuration errors). A pino logger fits; default: none.
   */
  logger?: AuditLogger;
  /** Who is making operator changes through this instance, for the audit log (stored in the document). */
  actor?: string;
  /**
   * Time budget of each operator call: setMode, setTenantOverride, setTenantTier, forceCircuit,
   * forcePlatform, resetReputation() and refresh() each, and create() for connecting plus its first read
   * of the runtime overrides together. Past it the call fails with a StoreError
   * `ERR_SLUICE_STORE_TIMEOUT` naming the operation (create() starts without the overrides instead, and
   * reports it). Milliseconds or a duration ("2s"), from 1 ms to 10 min. Default 2 s.
   */
  operatorTimeout?: number | string;
  /**
   * Fail startup rather than start without the store: create() rejects with a StoreError naming the
   * cause when the store cannot be connected and read within `operatorTimeout` (the limiter is closed).
   * Default false: create() resolves anyway, reports it (onConfigError, the logger, health) and the
   * failure modes answer until the store comes back.
   */
  requireStore?: boolean;
}

/** The keys of PolicyLimiterOptions (validated: an unknown one is an error naming it). */
const POLICY_LIMITER_OPTIONS = [
  'config',
  'store',
  'tierResolver',
  'onConfigError',
  'loadSignal',
  'compareWith',
  'onDisagreement',
  'clock',
  'logger',
  'actor',
  'operatorTimeout',
  'requireStore',
] as const satisfies ReadonlyArray<keyof PolicyLimiterOptions>;

/** Who `block` and `unblock` are about: a tenant, or one user or one IP of it. */
export interface BlockTarget {
  tenant: string;
  user?: string;
  ip?: string;
}

/** One limit's usage (PolicyLimiter.usage). */
export interface LimitUsage {
  /** The policy the limit belongs to (`tier` for tier quotas, `route:<endpoint>` for route limits). */
  policy: string;
  mode: 'enforce' | 'shadow';
  name: string;
  algorithm: LimitResult['algorithm'];
  /** The key it counts for this context (absent: tenant-wide). */
  key?: string;
  /** Capacity (a token bucket's burst). */
  limit: number;
  used: number;
  remaining: number;
  windowMs: number;
  /** Epoch ms at which it is back to full capacity if nothing else is consumed. */
  resetAt: number;
}

/** Default of `operatorTimeout`. */
export const DEFAULT_OPERATOR_TIMEOUT_MS = 2000;

/** The part of a logger (pino, console...) the audit log uses. */
export interface AuditLogger {
  info(object: Record<string, unknown>, message: string): void;
  warn(object: Record<string, unknown>, message: string): void;
}

/** What `health()` reports. */
export interface HealthReport {
  /** ok: the store decides; degraded: failure modes decide (or it is slow), requests still get answers; down: requests are denied because the store cannot decide. */
  status: 'ok' | 'degraded' | 'down';
  store: { backend: string; reachable: boolean; latencyMs: number | null; error: string | null };
  circuit: ReturnType<CircuitBreaker['snapshot']> | null;
  failureModes: Record<string, FailureMode>;
  mode: Mode;
  configVersion: number;
  configError: string | null;
  platform: { state: string; shedLevel: number; rate: number; forced: string | null } | null;
  load: number | null;
  /**
   * The failure policy now: when the current outage began (null while the store answers), the
   * escalation configured (`failure.escalate`), and whether closed decisions are escalated now.
   */
  failover: FailoverState;
  /** The hybrid comparison (compareWith, or `compare` in the configuration): its store and disagreements. */
  comparison: { backend: string; disagreements: number } | null;
}

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
  private readonly engine: Limiter;
  private readonly onConfigError: PolicyLimiterOptions['onConfigError'];
  private readonly documentKey: string;
  private set: PolicySet;
  private runtimeVersion = 0;
  private timer: NodeJS.Timeout | undefined;
  private watchedFile: string | undefined;
  /** The last refresh or reload failure, if the latest attempt failed. */
  lastConfigError: Error | undefined;
  /** Platform protection, when configured. */
  readonly platform: PlatformGuard | undefined;
  /** Decisions where the comparison store disagreed with the enforcing one. */
  disagreements = 0;
  private readonly reputation: Reputation;
  private readonly loadSignal: PolicyLimiterOptions['loadSignal'];
  private readonly comparison: Limiter | undefined;
  private readonly logger: AuditLogger | undefined;
  private readonly actor: string;
  private readonly operatorTimeoutMs: number;
  /** The runtime overrides document last refused ("<version>" or "NaN|<bytes>"): not downloaded again. */
  private rejectedDocument: string | undefined;
  private polling: Promise<void> | undefined;
  // The stages of a check (see check()).
  private readonly resolver: Resolver;
  private readonly adjuster: Adjuster;
  private readonly decider: Decider;
  private readonly recorder: Recorder;
  private readonly leases: Leases;

  private readonly requireStore: boolean;

  constructor(options: PolicyLimiterOptions) {
    validateOptions(options);
    this.requireStore = options.requireStore ?? false;
    const operatorTimeoutMs = operatorTimeoutOf(options.operatorTimeout);
    const config = isSluiceConfig(options.config) ? options.config : parseConfig(options.config);
    this.store = options.store ?? storeFromConfig(config);
    this.engine = engineFor(config, this.store, options.clock, options.logger);
    this.onConfigError = options.onConfigError;
    this.documentKey = `${config.prefix}:{~runtime}:overrides`;
    this.set = new PolicySet(config);
    const clock = options.clock ?? systemClock;
    this.reputation = new Reputation(this.engine, config.reputation, clock);
    this.loadSignal = options.loadSignal;
    this.platform = config.platform
      ? new PlatformGuard(this.engine, config.platform, config.tiers, clock)
      : undefined;
    // The comparison store: given, or the configuration's `compare` (the multi-window API limiter's HYBRID_RATE_LIMITING).
    const compareWith =
      options.compareWith ??
      (config.compare ? storeFromConfig({ ...config, store: config.compare.store }) : undefined);
    this.comparison = compareWith ? new Limiter({ store: compareWith, prefix: config.prefix }) : undefined;
    this.logger = options.logger;
    this.actor = options.actor ?? 'unknown';
    this.operatorTimeoutMs = operatorTimeoutMs;
    this.resolver = new Resolver(this.engine, options.tierResolver);
    this.adjuster = new Adjuster(this.resolver, this.reputation, this.platform, this.loadSignal);
    this.decider = new Decider(this.engine, this.reputation, this.comparison);
    this.leases = new Leases(this.engine, this.comparison);
    const onDisagreement = options.onDisagreement;
    this.recorder = new Recorder(this.engine, this.reputation, this.leases, (event) => {
      this.disagreements++;
      onDisagreement?.(event);
    });
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
    const deadline = Date.now() + limiter.operatorTimeoutMs;
    try {
      // Connect first, so the first decisions do not spend their budget on the connection.
      if (limiter.store.ready) {
        await limiter.within(
          'create (connecting)',
          limiter.store.ready(limiter.operatorTimeoutMs + 100, { keepTrying: true }),
          deadline,
        );
      }
      await limiter.load('create (first read)', deadline);
    } catch (error) {
      if (limiter.requireStore) {
        await limiter.close().catch(() => undefined);
        throw new StoreError(
          limiter.store.backend,
          `create: the store could not be reached within the operator timeout (${limiter.operatorTimeoutMs} ms), and requireStore is set: ${(error as Error).message}`,
          { code: (error as SluiceError).code ?? 'ERR_SLUICE_STORE', cause: error },
        );
      }
      limiter.reportConfigError(
        new SluiceError(
          (error as SluiceError).code ?? 'ERR_SLUICE_STORE',
          `${(error as Error).message}; started without the runtime overrides (the poller retries every ${limiter.set.config.refreshIntervalMs} ms)`,
          { cause: error },
        ),
      );
    }
    limiter.startPolling();
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
    return this.runtimeVersion;
  }

  /**
   * Decides one request: a pipeline it passes through once, each stage its own module
   * (src/policy/stages/): resolve which policies apply, adjust them (platform protection, reputation,
   * load), decide, record what the decision means (violations, outcomes, comparison, leases).
   */
  async check(ctx: RequestContext): Promise<PolicyDecision> {
    const check = this.resolver.resolve(this.set, this.runtimeVersion, ctx);
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
  async peek(ctx: RequestContext): Promise<PolicyDecision> {
    const check = this.resolver.resolve(this.set, this.runtimeVersion, ctx, 0);
    if (check.identity !== undefined) await this.adjuster.readStanding(check);
    this.adjuster.adjust(check);
    const { enforcedPrepared, shadowPrepared } = check.shape;
    const shadow = shadowPrepared
      ? this.engine.decidePrepared(shadowPrepared, 0).catch(() => undefined)
      : undefined;
    if (enforcedPrepared) check.decision = await this.engine.decidePrepared(enforcedPrepared, 0);
    if (shadow) check.shadow = await shadow;
    return this.recorder.finish(check);
  }

  /**
   * Usage of every limit that applies to a request context (enforced and shadow policies), read with
   * a peek: per limit its policy, mode, key, used and remaining units, capacity, window and resetAt.
   */
  async usage(ctx: RequestContext): Promise<LimitUsage[]> {
    const check = this.resolver.resolve(this.set, this.runtimeVersion, ctx, 0);
    const { enforcedPrepared, shadowPrepared, policyOfLimit } = check.shape;
    const [enforced, shadow] = await Promise.all([
      enforcedPrepared ? this.engine.decidePrepared(enforcedPrepared, 0) : undefined,
      shadowPrepared ? this.engine.decidePrepared(shadowPrepared, 0) : undefined,
    ]);
    const out: LimitUsage[] = [];
    const add = (decision: Decision | undefined, mode: LimitUsage['mode']) => {
      for (const l of decision?.limits ?? []) {
        const entry: LimitUsage = {
          policy: policyOfLimit.get(l.name) ?? l.name,
          mode,
          name: l.name,
          algorithm: l.algorithm,
          limit: l.limit,
          used: Math.max(0, l.limit - l.remaining),
          remaining: l.remaining,
          windowMs: l.windowMs,
          resetAt: l.resetAt,
        };
        if (l.key !== undefined) entry.key = l.key;
        out.push(entry);
      }
    };
    add(enforced, 'enforce');
    add(shadow, 'shadow');
    return out;
  }

  /**
   * Forgets the counters of every limit that applies to a request context (its enforced and shadow
   * policies' limits, with the keys this context counts), like Limiter.reset; with `only`, of one
   * policy's limits (`{ policy: 'per-user' }`) or of one limit (`{ limit: 'per-user.hourly' }`, the
   * name decisions show). Blocks and reputation stay. Other contexts' counters (another user's,
   * another route's) are untouched.
   */
  async reset(ctx: RequestContext, only?: { policy?: string; limit?: string }): Promise<void> {
    if (only !== undefined) rejectUnknownKeys(only, 'only', ['policy', 'limit']);
    const check = this.resolver.resolve(this.set, this.runtimeVersion, ctx, 0);
    const { policyOfLimit } = check.shape;
    const chosen = (name: string) =>
      (only?.limit === undefined || only.limit === name) &&
      (only?.policy === undefined || only.policy === policyOfLimit.get(name));
    const store = this.engine.store;
    await Promise.all(
      [check.shape.enforcedPrepared, check.shape.shadowPrepared].map((prepared) => {
        if (!prepared) return undefined;
        const { subject } = prepared;
        const keys = subject.limits.filter((l) => chosen(l.limit.name)).map((l) => l.key);
        if (keys.length === 0) return undefined;
        return store.deleteKeys(subject.encodedTenant, subject.metaKey, keys);
      }),
    );
  }

  /** Forgets every counter of a tenant (Limiter.resetTenant: one marker, no scan). Blocks stay. */
  async resetTenant(tenant: string): Promise<void> {
    validateContext({ tenant });
    await this.engine.resetTenant(tenant);
  }

  /**
   * Rejects every request of a tenant, or of one user or IP of it, for `duration` (ms or "10m"):
   * decisions say reason `blocked`, with a `blocked` binding (see README, Decisions). An IP block also
   * stops that IP's requests that name a user. Give at most one of `user` and `ip`.
   */
  async block(target: BlockTarget, duration: number | string): Promise<void> {
    await this.engine.block(blockTargetOf(target), duration);
  }

  /** Lifts a block set by `block` (or by reputation, for that user or IP). */
  async unblock(target: BlockTarget): Promise<void> {
    await this.engine.unblock(blockTargetOf(target));
  }

  /**
   * Gives back units of an admitted decision (Limiter.refund: `units`, default its whole cost, where
   * that decision took them, never more). Concurrency slots are freed by `release`.
   */
  async refund(decision: PolicyDecision, units?: number): Promise<void> {
    await this.engine.refund(decision, units);
  }

  /** Forgets one identity's violations (user id or IP), or with no identity every identity's. */
  async resetReputation(tenant: string, identity?: { user?: string; ip?: string }): Promise<void> {
    const epoch = this.set.runtime.reputationEpoch ?? 0;
    if (identity?.user !== undefined) return this.reputation.reset(tenant, `u=${identity.user}`, epoch);
    if (identity?.ip !== undefined) return this.reputation.reset(tenant, `ip=${identity.ip}`, epoch);
    await this.updateOverrides('resetReputation', (o) => {
      o.reputationEpoch = epoch + 1;
    });
    this.reputation.clearCache();
  }

  /** Forces the store circuit breaker open (failure modes decide) or closed, on every instance; null releases it. */
  async forceCircuit(state: 'open' | 'closed' | null): Promise<number> {
    return this.updateOverrides('forceCircuit', (o) => {
      if (state === null) delete o.circuit;
      else o.circuit = state;
    });
  }

  /**
   * Health (the multi-window API limiter): the store's reachability and latency (one PING-like read), the circuit, the
   * failure modes in force, the configuration version and errors, platform protection and load.
   */
  async health(): Promise<HealthReport> {
    const { reachable, latencyMs, error } = await this.probeStore();
    const breaker = this.engine.guard?.breaker;
    const circuit = breaker?.snapshot() ?? null;
    const config = this.set.config;
    const failureModes: Record<string, FailureMode> = {};
    for (const p of config.policies) failureModes[p.name] = p.failureMode ?? config.failureMode;
    if (config.tierPolicy.enabled) failureModes.tier = config.tierPolicy.failureMode ?? config.failureMode;
    const storeDeciding = reachable && circuit?.state !== 'open';
    const failover = this.engine.failover();
    // Escalated, closed decisions are decided by the escalation's mode: they no longer deny.
    const anyClosed =
      !failover.escalated &&
      (Object.values(failureModes).includes('closed') || Object.keys(failureModes).length === 0);
    const budget = this.engine.guard?.budgetMs ?? Number.POSITIVE_INFINITY;
    let status: HealthReport['status'] = 'ok';
    if (!storeDeciding) status = anyClosed ? 'down' : 'degraded';
    else if ((latencyMs ?? 0) > budget || circuit?.state === 'half-open') status = 'degraded';
    return {
      status,
      store: { backend: this.store.backend, reachable, latencyMs, error },
      circuit,
      failureModes,
      mode: this.set.runtime.mode ?? config.mode,
      configVersion: this.runtimeVersion,
      configError: this.lastConfigError?.message ?? null,
      platform: this.platform
        ? {
            state: this.platform.state,
            shedLevel: this.platform.shedLevel,
            rate: this.platform.lastRate,
            forced: this.platform.forced ?? null,
          }
        : null,
      load: this.loadSignal ? this.loadSignal() : null,
      failover,
      comparison: this.comparison
        ? { backend: this.comparison.store.backend, disagreements: this.disagreements }
        : null,
    };
  }

  /** One read of the runtime document, within the budget: is the store there, and how fast. */
  private async probeStore(): Promise<{
    reachable: boolean;
    latencyMs: number | null;
    error: string | null;
  }> {
    const started = Date.now();
    const budget = this.engine.guard?.budgetMs ?? 1000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${budget} ms`)), budget);
    });
    try {
      await Promise.race([this.store.readDocument(this.documentKey), late]);
      return { reachable: true, latencyMs: Date.now() - started, error: null };
    } catch (e) {
      return { reachable: false, latencyMs: null, error: (e as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Forces platform protection open or closed for every instance; null gives control back to it. */
  async forcePlatform(state: 'open' | 'closed' | null): Promise<number> {
    return this.updateOverrides('forcePlatform', (o) => {
      if (state === null) delete o.platform;
      else o.platform = state;
    });
  }

  /**
   * Frees the concurrency slots of a decision's lease, with those its shadow and comparison decisions
   * took for the same request (carried on the lease).
   */
  async release(lease: Lease): Promise<void> {
    await this.leases.release(lease);
  }

  /** Sets (or with null clears) a tenant's runtime override: tier and/or quotas. */
  async setTenantOverride(tenant: string, override: TenantOverride | null): Promise<number> {
    return this.updateOverrides('setTenantOverride', (o) => {
      const tenants = ownTable(o.tenants);
      if (override === null) delete tenants[tenant];
      else tenants[tenant] = { ...override };
      o.tenants = tenants;
    });
  }

  /** Moves a tenant to another tier at runtime (null: back to what the configuration says). */
  async setTenantTier(tenant: string, tier: string | null): Promise<number> {
    return this.updateOverrides('setTenantTier', (o) => {
      const tenants = ownTable(o.tenants);
      const current = { ...(own(tenants, tenant) ?? {}) };
      if (tier === null) delete current.tier;
      else current.tier = tier;
      tenants[tenant] = current;
      o.tenants = tenants;
    });
  }

  /** Switches the global mode, or one policy's mode, for every instance. null clears the override. */
  async setMode(mode: Mode | null, policy?: string): Promise<number> {
    return this.updateOverrides('setMode', (o) => {
      if (policy === undefined) {
        if (mode === null) delete o.mode;
        else o.mode = mode;
      } else {
        const modes = ownTable(o.policyModes);
        if (mode === null) delete modes[policy];
        else modes[policy] = mode;
        o.policyModes = modes;
      }
    });
  }

  /**
   * Pulls the runtime overrides now (the poller does this every refreshInterval), within
   * `operatorTimeout`. A store that fails or does not answer in time rejects with a StoreError
   * (`ERR_SLUICE_STORE_TIMEOUT` naming refresh); a document that cannot be used (no version, bad JSON,
   * invalid content, over MAX_OVERRIDES_BYTES) is reported (onConfigError, the logger, health's
   * configError) and the last good overrides stay.
   */
  async refresh(): Promise<void> {
    await this.load('refresh', Date.now() + this.operatorTimeoutMs);
  }

  /**
   * Replaces the configuration (for example after editing the file). A document that does not validate
   * is rejected with a ConfigError naming every bad field, and the running configuration is unchanged.
   */
  reload(config: unknown, source?: string): SluiceConfig {
    const next = parseConfig(config, source);
    const set = new PolicySet(next, this.set.runtime);
    if (next.prefix !== this.set.config.prefix) {
      throw new ConfigError(
        [{ path: 'prefix', message: 'cannot change while running (it names every key)' }],
        source,
      );
    }
    this.set = set;
    this.lastConfigError = undefined;
    return next;
  }

  /** Reloads a YAML/JSON file whenever it changes; a broken file keeps the last good configuration. */
  watchFile(path: string, intervalMs = 1000): void {
    this.unwatch();
    this.watchedFile = path;
    watchFile(path, { interval: intervalMs, persistent: false }, () => {
      try {
        this.reload(loadConfigFile(path), path);
      } catch (error) {
        this.reportConfigError(error as Error);
      }
    });
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.platform?.stop();
    this.unwatch();
    await this.store.close();
    await this.comparison?.close();
  }

  private unwatch(): void {
    if (this.watchedFile) unwatchFile(this.watchedFile);
    this.watchedFile = undefined;
  }

  private startPolling(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.poll(), this.set.config.refreshIntervalMs);
    this.timer.unref();
  }

  /** One poll: never two at once (a slow store does not pile them up); failures are reported. */
  private poll(): void {
    if (this.polling) return;
    this.polling = this.load('poll', Date.now() + this.operatorTimeoutMs)
      .catch((error: Error) => this.reportConfigError(error))
      .finally(() => {
        this.polling = undefined;
      });
  }

  /**
   * Reads the runtime overrides document and applies it when it changed. Its body is transferred only
   * when its version differs from the one in force (and it is not the one refused last, nor too large).
   * A change made elsewhere is an audit event naming the version and its writer. Store failures reject;
   * a document that cannot be used is reported and ignored.
   */
  private async load(operation: string, deadline: number): Promise<void> {
    const known = this.runtimeVersion;
    const rejected = this.rejectedDocument;
    const skipBody = (head: DocumentHead) =>
      head.version === known ||
      fingerprint(head.version, head.size) === rejected ||
      head.size > MAX_OVERRIDES_BYTES + 16;
    const doc = await this.within(
      operation,
      this.store.readDocument(this.documentKey, { skipBody }),
      deadline,
    );
    if (!doc || doc.version === known) return;
    const size = doc.body === undefined ? doc.size : Buffer.byteLength(doc.body);
    const seen = fingerprint(doc.version, size);
    if (seen === rejected) return;
    const source = `runtime overrides v${doc.version}`;
    try {
      if (doc.body === undefined || size > MAX_OVERRIDES_BYTES) {
        throw new ConfigError(
          [{ path: '', message: `${size} bytes, more than the ${MAX_OVERRIDES_BYTES} accepted: ignored` }],
          source,
        );
      }
      if (!Number.isSafeInteger(doc.version) || doc.version < 1) {
        throw new ConfigError(
          [
            {
              path: '',
              message:
                'has no version (expected "<version>\\n<JSON>"): ignored; an operator write (setMode, setTenantOverride...) replaces it',
            },
          ],
          'runtime overrides',
        );
      }
      const parsed = parseOverridesDocument(doc.body, source);
      const overrides = this.checkOverrides(parsed.overrides, source);
      const before = this.set.runtime;
      this.apply(overrides, doc.version);
      this.rejectedDocument = undefined;
      this.lastConfigError = undefined;
      this.logger?.warn(
        {
          event: 'sluice.audit',
          via: operation,
          actor: parsed.actor ?? 'unknown',
          ...(parsed.at === undefined ? {} : { writtenAt: parsed.at }),
          version: doc.version,
          before,
          after: overrides,
        },
        'runtime overrides changed in the store',
      );
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.rejectedDocument = seen;
      this.reportConfigError(error);
    }
  }

  /**
   * `pending`, or a StoreError ERR_SLUICE_STORE_TIMEOUT naming `operation` once `deadline` (epoch ms)
   * passes. What was sent may still run when the store answers late.
   */
  private within<T>(operation: string, pending: Promise<T>, deadline: number): Promise<T> {
    const ms = Math.max(0, deadline - Date.now());
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new StoreError(
              this.store.backend,
              `${operation}: no answer within the operator timeout (${this.operatorTimeoutMs} ms)`,
              { code: 'ERR_SLUICE_STORE_TIMEOUT' },
            ),
          ),
        ms,
      );
    });
    pending.catch(() => undefined);
    return Promise.race([pending, late]).finally(() => clearTimeout(timer));
  }

  /**
   * Read, change, compare-and-set the runtime overrides document, within `operatorTimeout`. A broken
   * document (no version, bad JSON, invalid content) is replaced: the change applies over the overrides
   * this instance has in force (its last good document), and the audit event says it replaced one.
   */
  private async updateOverrides(operation: string, mutate: (o: RuntimeOverrides) => void): Promise<number> {
    const deadline = Date.now() + this.operatorTimeoutMs;
    for (let attempt = 0; attempt < 20; attempt++) {
      const doc = await this.within(operation, this.store.readDocument(this.documentKey), deadline);
      const body = doc?.body;
      let current: RuntimeOverrides = {};
      let replaced: string | undefined;
      let expected = doc?.version ?? 0;
      if (doc && (body === undefined || !Number.isSafeInteger(doc.version) || doc.version < 1)) {
        replaced = 'no version';
        expected = -1;
        current = this.set.runtime;
      } else if (body !== undefined) {
        try {
          current = parseOverridesDocument(body).overrides;
        } catch (error) {
          replaced = (error as Error).message;
          current = this.set.runtime;
        }
      }
      const next = parseOverrides(JSON.parse(JSON.stringify(current)));
      mutate(next);
      this.checkOverrides(parseOverrides(next));
      const stored = serializeOverridesDocument({ overrides: next, actor: this.actor, at: Date.now() });
      if (Buffer.byteLength(stored) > MAX_OVERRIDES_BYTES) {
        throw new SluiceError(
          'ERR_SLUICE_DOCUMENT_TOO_LARGE',
          `${operation}: the runtime overrides would be ${Buffer.byteLength(stored)} bytes, more than the ${MAX_OVERRIDES_BYTES} accepted; nothing was written`,
        );
      }
      const version = await this.within(
        operation,
        this.store.writeDocument(this.documentKey, stored, expected, this.runtimeVersion),
        deadline,
      );
      if (version !== null) {
        this.logger?.warn(
          {
            event: 'sluice.audit',
            via: operation,
            actor: this.actor,
            version,
            before: current,
            after: next,
            ...(replaced === undefined ? {} : { replacedBroken: replaced }),
          },
          'operator changed the runtime overrides',
        );
        this.apply(next, version);
        this.rejectedDocument = undefined;
        this.lastConfigError = undefined;
        return version;
      }
    }
    throw new SluiceError(
      'ERR_SLUICE_CONFLICT',
      'runtime overrides kept changing under this update; try again',
    );
  }

  /** Overrides must name tiers and policies the configuration has. */
  private checkOverrides(overrides: RuntimeOverrides, source = 'runtime overrides'): RuntimeOverrides {
    const config = this.set.config;
    const issues = [];
    for (const [tenant, o] of Object.entries(overrides.tenants ?? {})) {
      if (o.tier !== undefined && !Object.hasOwn(config.tiers, o.tier)) {
        issues.push({ path: `tenants.${tenant}.tier`, message: `unknown tier "${o.tier}"` });
        continue;
      }
      // The quotas the tenant would get (runtime over file over tier) must make a usable limit. Tiers and
      // file tenants were checked with the configuration: only runtime quotas can break it.
      if (o.rps === undefined && o.burst === undefined) continue;
      const file = own(config.tenants, tenant);
      const tier = o.tier ?? file?.tier;
      for (const name of tier === undefined ? Object.keys(config.tiers) : [tier]) {
        const base = own(config.tiers, name);
        const found = base ? tierQuotaIssues(quotaOver(base, o, file), `tenants.${tenant}`) : [];
        if (found.length > 0) {
          issues.push(...found);
          break;
        }
      }
    }
    const policies = new Set(['tier', ...config.policies.map((p) => p.name)]);
    for (const name of Object.keys(overrides.policyModes ?? {})) {
      if (!policies.has(name))
        issues.push({ path: `policyModes.${name}`, message: `unknown policy "${name}"` });
    }
    if (issues.length > 0) throw new ConfigError(issues, source);
    return overrides;
  }

  private apply(overrides: RuntimeOverrides, version: number): void {
    this.set = new PolicySet(this.set.config, overrides);
    this.runtimeVersion = version;
    if (this.platform) this.platform.forced = overrides.platform;
    this.engine.guard?.breaker.force(overrides.circuit ?? null);
    // Every change is an audit event (sluice.audit) of the caller: an operator write, or a read of the store.
  }

  private reportConfigError(error: Error): void {
    this.lastConfigError = error;
    this.logger?.warn(
      { event: 'sluice.config_error', error: error.message },
      'configuration rejected; the last good one stays',
    );
    this.onConfigError?.(error);
  }
}

/** What identifies a refused document without its body: its version, or without one its size. */
function fingerprint(version: number, size: number): string {
  return Number.isNaN(version) ? `NaN|${size}` : String(version);
}

/** PolicyLimiterOptions, strictly: an unknown key or a wrong type is an error naming the field. */
function validateOptions(options: unknown): void {
  rejectUnknownKeys(options, 'options', POLICY_LIMITER_OPTIONS);
  const o = options as Record<string, unknown>;
  const invalid = (field: string, message: string) =>
    new ValidationError('ERR_SLUICE_INVALID_OPTION', field, message);
  if (o.config === undefined || o.config === null) {
    throw invalid('config', 'is required: a SluiceConfig, or a configuration document to validate');
  }
  for (const field of ['tierResolver', 'onConfigError', 'loadSignal', 'onDisagreement', 'clock']) {
    if (o[field] !== undefined && typeof o[field] !== 'function') throw invalid(field, 'must be a function');
  }
  for (const field of ['store', 'compareWith']) {
    const store = o[field] as Store | undefined;
    if (
      store !== undefined &&
      (typeof store !== 'object' || store === null || typeof store.decide !== 'function')
    ) {
      throw invalid(field, 'must be a Store (a MemoryStore or RedisStore)');
    }
  }
  const logger = o.logger as AuditLogger | undefined;
  if (
    logger !== undefined &&
    (typeof logger !== 'object' ||
      logger === null ||
      typeof logger.info !== 'function' ||
      typeof logger.warn !== 'function')
  ) {
    throw invalid('logger', 'must have info(object, message) and warn(object, message) (a pino logger fits)');
  }
  if (o.actor !== undefined && (typeof o.actor !== 'string' || o.actor.length === 0)) {
    throw invalid('actor', 'must be a non-empty string');
  }
  if (o.requireStore !== undefined && typeof o.requireStore !== 'boolean') {
    throw invalid('requireStore', 'must be true or false');
  }
}

/** A block target, strictly: a tenant and at most one of user and ip. */
function blockTargetOf(target: BlockTarget): { tenant: string; key?: string } {
  rejectUnknownKeys(target, 'target', ['tenant', 'user', 'ip']);
  validateContext({ tenant: target.tenant });
  if (target.user !== undefined && target.ip !== undefined) {
    throw new ValidationError('ERR_SLUICE_INVALID_OPTION', 'target', 'give a user or an ip, not both');
  }
  for (const field of ['user', 'ip'] as const) {
    const value = target[field];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_IDENTIFIER',
        `target.${field}`,
        'must be a non-empty string',
      );
    }
  }
  const key = identityOf(target);
  return key === undefined ? { tenant: target.tenant } : { tenant: target.tenant, key };
}

function operatorTimeoutOf(value: unknown): number {
  if (value === undefined) return DEFAULT_OPERATOR_TIMEOUT_MS;
  const ms = parseDuration(value, 'operatorTimeout');
  if (!Number.isInteger(ms) || ms < 1 || ms > 600_000) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'operatorTimeout',
      `${JSON.stringify(value)} must be from 1 ms to 10 minutes`,
    );
  }
  return ms;
}

function isSluiceConfig(value: unknown): value is SluiceConfig {
  return typeof value === 'object' && value !== null && 'tierPolicy' in value && 'refreshIntervalMs' in value;
}

/** The limiter deciding for the policies: guarded (budget, breaker) unless the store is in-process. */
function engineFor(
  config: SluiceConfig,
  store: Store,
  clock: Clock | undefined,
  logger: AuditLogger | undefined,
): Limiter {
  const guarded = store.backend !== 'memory';
  return new Limiter({
    store,
    prefix: config.prefix,
    // The in-process store cannot be slow or down; any other gets the budget and the breaker.
    guard:
      store.backend === 'memory'
        ? false
        : {
            budgetMs: config.failure.budgetMs,
            breaker: {
              threshold: config.failure.circuitThreshold,
              resetTimeoutMs: config.failure.circuitResetTimeoutMs,
            },
            ...(clock ? { clock } : {}),
          },
    localShare: config.failure.localShare,
    ...(clock ? { clock } : {}),
    // Outages are measured by the guard: the unguarded in-process store has none to escalate.
    ...(guarded && config.failure.escalate
      ? { escalate: { after: config.failure.escalate.afterMs, to: config.failure.escalate.to } }
      : {}),
    ...(logger ? { logger } : {}),
  });
}

function storeFromConfig(config: SluiceConfig): Store {
  const store = config.store;
  if (store.type === 'memory') return new MemoryStore(store.maxKeys ? { maxKeys: store.maxKeys } : {});
  // Timeouts of the client itself (connecting, and a command's reply: a backstop behind the budget).
  const timeouts = {
    ...(store.connectTimeout === undefined
      ? {}
      : { connectTimeout: parseDuration(store.connectTimeout, 'store.connectTimeout') }),
    ...(store.commandTimeout === undefined
      ? {}
      : { commandTimeout: parseDuration(store.commandTimeout, 'store.commandTimeout') }),
  };
  const common = {
    ...(store.coalesce === undefined ? {} : { coalesce: store.coalesce }),
    ...(store.maxBatch === undefined ? {} : { maxBatch: store.maxBatch }),
  };
  if (store.url) return new RedisStore({ url: store.url, redisOptions: timeouts, ...common });
  if (store.cluster) {
    return new RedisStore({
      cluster: { nodes: store.cluster.nodes, options: { redisOptions: timeouts } },
      ...common,
    });
  }
  const sentinel = store.sentinel as NonNullable<typeof store.sentinel>;
  return new RedisStore({
    ...common,
    redisOptions: timeouts,
    sentinel: {
      name: sentinel.name,
      sentinels: sentinel.sentinels.map((s) => {
        const [host, port] = s.split(':');
        return { host: host as string, port: Number(port ?? 26379) };
      }),
    },
  });
}
