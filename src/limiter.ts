import { type Clock, systemClock } from './core/clock.js';
import { type Duration, MAX_DURATION_MS, parseDuration } from './core/duration.js';
import { SluiceError, StoreError, ValidationError } from './core/errors.js';
import { encodeIdentifier } from './core/identifiers.js';
import { blockKey, ledgerKey, validatePrefix } from './core/keys.js';
import { type DecisionObserver, notify, type ObservedSource } from './core/observer.js';
import { rejectUnknownKeys } from './core/options.js';
import {
  type Decision,
  FAILURE_MODES,
  type FailureMode,
  type Lease,
  type LimitDefinition,
  type NormalizedLimit,
} from './core/types.js';
import { buildDecision, failureDecision, zeroShareDecision } from './engine/decision.js';
import type { DenialCache } from './engine/denials.js';
import { ConfiguredLayout } from './engine/layout.js';
import { localShareLimit, normalizeLimit, normalizeLimits, validateCost } from './engine/limits.js';
import {
  type Check,
  emptyPlan,
  largestCost,
  perLimitCosts,
  planDecision,
  refillPlan,
  resolveSubject,
  type Subject,
} from './engine/plan.js';
import { checkOf, leaseCheck, refundTicket, validateLease } from './engine/receipts.js';
import {
  denialCacheOf,
  escalation,
  type FailoverLogger,
  type FailoverState,
  LIMITER_OPTIONS,
  type LimiterOptions,
  localFraction,
  localStoreBounds,
  observerOf,
  validateGuard,
  validLogger,
} from './limiter-options.js';
import { GuardedStore } from './resilience/guarded-store.js';
import { MemoryStore } from './stores/memory/memory-store.js';
import type { DecisionPlan, RawDecision, Store } from './stores/store.js';

export type { DenialCacheOptions } from './engine/denials.js';
export type {
  EscalateOptions,
  FailoverLogger,
  FailoverState,
  LimiterOptions,
  LocalStoreOptions,
} from './limiter-options.js';

/** Who is asking: a tenant and, for per-key limits, a key within it (user id, route, API key...). */
export interface LimitRequest {
  tenant: string;
  key?: string;
  /** Units this request consumes (default 1; 0 = peek without consuming). */
  cost?: number;
}

/** A decision over ad-hoc limits, each for its own key: what the policy layer builds. */
export interface DecideRequest {
  tenant: string;
  cost?: number;
  /**
   * The limits, each counted for its own key. A check's `cost` asks that limit for that many units
   * instead of the decision's `cost` (one atomic decision over limits that count different things:
   * requests, tokens, money); a check asked 0 is checked like a peek and not charged.
   */
  checks: Array<{ limit: LimitDefinition | NormalizedLimit; key?: string; cost?: number }>;
  /** The key reported in the decision (for example the user). */
  key?: string;
  /** This decision's failure mode, instead of the limiter's. */
  failureMode?: FailureMode;
  /** More keys whose blocks apply to this decision (an identity blocked across all its policies). */
  blockedBy?: string[];
}

/**
 * A decide request validated and laid out once (see `Limiter.prepare`): reusable for any number of
 * decisions, by any limiter with the same prefix. Treat it as opaque and read-only.
 */
export interface PreparedDecision {
  readonly prefix: string;
  readonly tenant: string;
  /** The key reported in the decisions. */
  readonly key: string | undefined;
  readonly checks: readonly Check[];
  /** The checks' own costs, parallel to `checks` (undefined: the decision's); absent when none has one. */
  readonly costs?: ReadonlyArray<number | undefined>;
  readonly subject: Subject;
  readonly failureMode: FailureMode | undefined;
}

/** The local failure mode's share of a decision's limits, laid out (see Limiter.decideLocally). */
interface LocalPlan {
  /** The limits whose share is not 0 (only whether there are any is read). */
  share: readonly Check[];
  subject: Subject;
  /** Some shares are 0: which ones, and the subject of every limit. */
  zero: { flags: readonly boolean[]; subject: Subject } | undefined;
}

/** Who a decision is for: the tenant, and the key reported in the decision. */
interface Requester {
  tenant: string;
  key?: string | undefined;
}

/**
 * How long a `resetTenant` marker is kept: longer than any state can live (a sliding window's state
 * lives two windows of up to 10 years; a token bucket refills in at most 10 years), so that no state
 * written before a reset ever counts again, whatever limits were used through `decide()`.
 */
const RESET_RETENTION_MS = 2 * MAX_DURATION_MS;
/** The in-process store's own `decide`: where a store still has it, the Limiter asks `decideReusing`. */
const memoryDecide = MemoryStore.prototype.decide;
const CIRCUIT_OPEN = Object.freeze({
  code: 'ERR_SLUICE_CIRCUIT_OPEN',
  message: 'circuit open: not calling the store',
});

/**
 * Decides requests against several limits at once, exactly and atomically: admitted only if every limit
 * has room, and then charged on all of them; rejected, nothing is charged.
 */
export class Limiter {
  readonly store: Store;
  readonly prefix: string;
  readonly limits: readonly NormalizedLimit[];
  /** The time budget and circuit breaker around the store, when on. */
  readonly guard: GuardedStore | undefined;
  readonly failureMode: FailureMode;
  private readonly localFraction: number;
  private readonly clock: Clock;
  private local: Limiter | undefined;
  private readonly localBounds: { maxKeys: number; maxKeysPerTenant: number };
  private readonly penalty: boolean;
  private readonly escalation: { afterMs: number; to: 'open' | 'local' } | undefined;
  private readonly logger: FailoverLogger | undefined;
  /** Whether the escalation is in force (logged when it starts and ends). */
  private escalated = false;
  /** The local failure mode's share of a subject's limits, laid out (see localPlanOf). */
  private readonly localPlans = new WeakMap<Subject, LocalPlan>();
  /** The configured limits, laid out for any tenant and key (undefined: none configured). */
  private readonly layout: ConfiguredLayout | undefined;
  /** This instance's remembered denials (`denialCache`), when on. */
  readonly denials: DenialCache | undefined;
  /** Told of every decision (`observer`), when given. */
  private readonly observer: DecisionObserver | undefined;
  /** The configured limits' local shares (see localShares), once the local failure mode has decided. */
  private sharesLaidOut:
    | { layout: ConfiguredLayout | undefined; share: Check[]; zero: boolean[] | undefined }
    | undefined;
  /** Set by `close()`: every later call throws ERR_SLUICE_CLOSED. */
  private closed = false;
  /** The plan of every decision on the in-process store, refilled (see decideNow). */
  private readonly syncPlan = emptyPlan();
  /** Limits already validated, so hot-path `decide` calls with the same objects skip validation. */
  private readonly normalized = new WeakMap<object, NormalizedLimit>();

  constructor(options: LimiterOptions) {
    validateOptionsObject(options);
    this.limits = options.limits === undefined ? [] : normalizeLimits(options.limits);
    this.prefix = validatePrefix(options.prefix ?? 'sluice');
    this.layout = this.limits.length > 0 ? new ConfiguredLayout(this.prefix, this.limits) : undefined;
    this.penalty = penaltyOf(options.penalty);
    const store = options.store ?? new MemoryStore();
    this.guard = guardOf(store, options.guard);
    this.store = this.guard ?? store;
    this.failureMode = failureModeOf(options.failureMode);
    this.localFraction = localFraction(options.localShare);
    this.localBounds = localStoreBounds(options.localStore);
    this.clock = options.clock ?? systemClock;
    this.logger = validLogger(options.logger);
    this.escalation = escalation(options.escalate);
    this.denials = denialCacheOf(options.denialCache);
    this.observer = observerOf(options.observer);
    this.observer?.watch?.(this.observedSource(store));
    if (this.escalation) this.logRecoveries();
  }

  /** With an escalation, the guard's recoveries end it, logged (the outage's start is logged where it escalates). */
  private logRecoveries(): void {
    const guard = this.guard;
    if (!guard) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        'escalate',
        'needs the guard, which measures outages (the in-process MemoryStore is not guarded unless `guard` is given; `guard: false` turns it off)',
      );
    }
    guard.onReachable = (since) => {
      if (!this.escalated) return;
      this.escalated = false;
      this.logger?.warn(
        {
          event: 'sluice.failure.recovered',
          backend: guard.backend,
          unreachableSince: since,
          unreachableForMs: guard.clock() - since,
        },
        `sluice: the ${guard.backend} store answers again: back on the store (closed decisions no longer ${this.escalation?.to})`,
      );
    };
  }

  /** The failure policy now: the outage the guard measures, and whether the escalation is in force. */
  failover(): FailoverState {
    const since = this.guard?.unreachableSince;
    const escalated = this.escalation ? this.modeFor('closed') !== 'closed' : false;
    return {
      unreachableSince: since ?? null,
      escalate: this.escalation ? { ...this.escalation } : null,
      escalated,
    };
  }

  /**
   * A decision's failure mode now: `closed` becomes `escalate.to` once the store has been unreachable
   * for `escalate.after` (logged once per outage).
   */
  private modeFor(mode: FailureMode): FailureMode {
    const escalation = this.escalation;
    const guard = this.guard;
    if (mode !== 'closed' || !escalation || !guard) return mode;
    const since = guard.unreachableSince;
    if (since === undefined) return mode;
    const now = guard.clock();
    if (now - since < escalation.afterMs) return mode;
    if (!this.escalated) {
      this.escalated = true;
      this.logger?.warn(
        {
          event: 'sluice.failure.escalated',
          backend: guard.backend,
          from: 'closed',
          to: escalation.to,
          unreachableSince: since,
          unreachableForMs: now - since,
          afterMs: escalation.afterMs,
        },
        `sluice: the ${guard.backend} store has been unreachable for ${now - since} ms (escalate.after ${escalation.afterMs} ms): closed decisions are decided ${escalation.to === 'local' ? "by this instance's local share" : 'open'} until it answers`,
      );
    }
    return escalation.to;
  }

  /** Decides one request against every configured limit. */
  limit(request: LimitRequest): Promise<Decision> {
    // Not an async function (every decision's path): errors become rejections here.
    try {
      return this.run(request, request?.cost === undefined ? 1 : request.cost);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Current usage without consuming anything (a decision with cost 0). */
  peek(request: Omit<LimitRequest, 'cost'>): Promise<Decision> {
    try {
      return this.run(request, 0);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Decides one request against ad-hoc limits, each counted for its own key. */
  decide(request: DecideRequest): Promise<Decision> {
    try {
      const prepared = this.prepare(request);
      return this.decidePrepared(prepared, request.cost === undefined ? 1 : request.cost);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Validates a decide request and lays out its storage keys once, for callers that decide the same
   * request shape again and again (the policy layer caches one per tenant, route and identity):
   * `decidePrepared` then skips the validation and the key building. The cost is given per decision.
   */
  prepare(request: Omit<DecideRequest, 'cost'>): PreparedDecision {
    rejectUnknownKeys(request, 'request', DECIDE_KEYS);
    if (!Array.isArray(request.checks) || request.checks.length === 0) {
      throw new ValidationError('ERR_SLUICE_INVALID_LIMIT', 'checks', 'must be a non-empty array');
    }
    const checks = request.checks.map((c, i) => {
      rejectUnknownKeys(c, `checks[${i}]`, CHECK_KEYS);
      return { limit: this.normalizeOnce(c.limit, `checks[${i}].limit`), key: c.key };
    });
    const prepared: PreparedDecision = {
      prefix: this.prefix,
      tenant: request.tenant,
      key: request.key,
      checks,
      subject: resolveSubject(this.prefix, request.tenant, checks, request.blockedBy),
      failureMode: request.failureMode,
    };
    const costs = checkCosts(request.checks);
    return costs === undefined ? prepared : { ...prepared, costs };
  }

  /**
   * `prepare` for a decision over no limits: only blocks decide it (the tenant's, and those of the
   * keys in `blockedBy`), counting nothing; when the store cannot read them, the failure mode does.
   * What the policy layer decides for a request no enforced policy applies to: a block refuses every
   * request of its target, whatever limits apply. Decide it with `decidePrepared`.
   */
  prepareBlocks(request: Omit<DecideRequest, 'cost' | 'checks'>): PreparedDecision {
    validateBlocksRequest(request);
    return {
      prefix: this.prefix,
      tenant: request.tenant,
      key: request.key,
      checks: [],
      subject: resolveSubject(this.prefix, request.tenant, [], request.blockedBy),
      failureMode: request.failureMode,
    };
  }

  /** Decides a request prepared by `prepare` (of a limiter with the same prefix). */
  decidePrepared(prepared: PreparedDecision, cost: number = 1): Promise<Decision> {
    // Not an async function (this is every policy decision's path): errors become rejections here.
    if (prepared?.prefix !== this.prefix) {
      return Promise.reject(
        new ValidationError(
          'ERR_SLUICE_INVALID_OPTION',
          'prepared',
          `was prepared for prefix "${prepared?.prefix}", not this limiter's "${this.prefix}"`,
        ),
      );
    }
    try {
      const units = validateCost(cost);
      const mode = prepared.failureMode ?? this.failureMode;
      const costs = perLimitCosts(prepared.costs, units);
      if (costs === undefined) return this.decideSubject(prepared, prepared.subject, units, mode);
      return this.decideSubject(prepared, prepared.subject, largestCost(costs), mode, false, costs);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Gives back units of an admitted decision (for example when the work was not done, or cost less
   * than reserved): `units` (default: all of its cost) of what that decision took, on each of its
   * limits, where it took them, never more; or an array, one count per limit of `decision.limits`
   * (a decision whose limits were asked costs of their own: `checks[].cost`). A sliding log loses that decision's own entry (or part of
   * it); a fixed or sliding window gets the units back only while the window that admitted them still
   * counts; a token bucket gets back at most the part of that decision's debt not yet refilled.
   * Refunds of one decision add up to its cost at most, across calls and processes (a ledger per
   * decision in the store). Concurrency slots are freed by `release`, not refunded. A decision that
   * was not admitted, was decided by a failure mode without counting, or came before a `resetTenant`
   * gives nothing back. Pass the Decision as returned (or a JSON copy of it).
   */
  async refund(decision: Decision, units?: number | readonly number[]): Promise<void> {
    this.assertOpen();
    const ticket = refundTicket(decision, units);
    if (!ticket) return;
    if (decision.path === 'local') {
      await this.local?.refund(decision, units);
      return;
    }
    const checks = ticket.limits.map((result) => checkOf(result));
    const subject = resolveSubject(this.prefix, decision.tenant, checks);
    await this.store.refund({
      tenant: subject.encodedTenant,
      metaKey: subject.metaKey,
      limits: subject.limits,
      ledgerKeys: subject.limits.map((p) => ledgerKey(p.key, decision.id)),
      marks: ticket.limits.map((r) => ({ resetAt: r.resetAt, mark: r.resetTicks ?? 0 })),
      id: decision.id,
      at: decision.at,
      cost: decision.cost,
      units: ticket.units,
      ...(ticket.perLimit ? { perLimit: ticket.perLimit } : {}),
    });
    // After the store has it: a denial remembered before would now be stale.
    this.denials?.forgetTenant(subject.encodedTenant);
  }

  /**
   * Frees the concurrency slots of a lease before its TTL. Releasing twice is harmless. A lease is
   * named by its unguessable id and the instant it was taken: a release frees exactly the slots that
   * lease holds (whatever `cost` it states), and nothing if the lease is not one the store granted.
   */
  async release(lease: Lease): Promise<void> {
    this.assertOpen();
    validateLease(lease);
    if (lease.local === true) {
      // Granted by the local fallback: its slots are there, not in the (unreachable) shared store.
      await this.local?.release({ ...lease, local: undefined } as unknown as Lease);
      return;
    }
    const checks: Check[] = lease.slots.map((slot, i) => leaseCheck(slot, i));
    const subject = resolveSubject(this.prefix, lease.tenant, checks);
    await this.store.release({
      tenant: subject.encodedTenant,
      metaKey: subject.metaKey,
      limits: subject.limits,
      leaseId: lease.id,
      at: lease.acquiredAt,
    });
  }

  /**
   * Renews a lease before it expires, for work that outlasts its TTL (a long LLM stream): its slots
   * are re-timed to now and expire a TTL from now. Returns the renewed lease (its `acquiredAt` is the
   * renewal's instant: release or renew that one from now on), holding the slots the lease still
   * held; undefined when it held none (released, expired, or voided by a tenant reset): the slot is
   * gone and the work should stop or acquire again.
   */
  async renew(lease: Lease): Promise<Lease | undefined> {
    this.assertOpen();
    validateLease(lease);
    if (lease.local === true) {
      const renewed = await this.local?.renew({ ...lease, local: undefined } as unknown as Lease);
      return renewed && { ...renewed, local: true };
    }
    const checks: Check[] = lease.slots.map((slot, i) => leaseCheck(slot, i));
    const subject = resolveSubject(this.prefix, lease.tenant, checks);
    const store = this.store;
    if (!store.renew)
      throw new SluiceError('ERR_SLUICE_STORE_UNSUPPORTED', `the ${store.backend} store cannot renew leases`);
    const { now, held } = await store.renew({
      tenant: subject.encodedTenant,
      metaKey: subject.metaKey,
      limits: subject.limits,
      leaseId: lease.id,
      at: lease.acquiredAt,
    });
    return renewedLease(lease, subject, now, held);
  }

  /** Forgets the counters of one key's limits (of the tenant-wide limits, without a key). Blocks stay. */
  async reset(request: Omit<LimitRequest, 'cost'>): Promise<void> {
    this.assertOpen();
    const checks = this.limits
      .filter((l) => (request.key === undefined ? l.scope === 'tenant' : l.scope === 'key'))
      .map((limit) => ({ limit, key: request.key }));
    const subject = resolveSubject(this.prefix, request.tenant, checks);
    const keys = subject.limits.map((l) => l.key);
    await this.store.deleteKeys(subject.encodedTenant, subject.metaKey, keys);
    this.denials?.forgetTenant(subject.encodedTenant);
  }

  /**
   * Forgets every counter of a tenant without scanning keys: existing state is ignored from now on
   * (Redis: one marker in the tenant's meta key). Blocks stay.
   */
  async resetTenant(tenant: string): Promise<void> {
    this.assertOpen();
    const subject = resolveSubject(this.prefix, tenant, []);
    await this.store.resetTenant(subject.encodedTenant, subject.metaKey, RESET_RETENTION_MS);
    this.denials?.forgetTenant(subject.encodedTenant);
  }

  /** Rejects every request of a key (or, without a key, of the whole tenant) for `duration`. */
  async block(target: { tenant: string; key?: string }, duration: Duration): Promise<void> {
    this.assertOpen();
    const ms = parseDuration(duration, 'duration');
    const { encodedTenant, metaKey, marker } = this.blockTarget(target);
    await this.store.block(encodedTenant, metaKey, marker, ms);
  }

  /** Lifts a block set by `block`. */
  async unblock(target: { tenant: string; key?: string }): Promise<void> {
    this.assertOpen();
    const { encodedTenant, metaKey, marker } = this.blockTarget(target);
    await this.store.unblock(encodedTenant, metaKey, marker);
    this.denials?.forgetTenant(encodedTenant);
  }

  /** The storage layout of a set of checks (keys, encoded tenant): for tools built on the limiter. */
  subjectOf(tenant: string, checks: DecideRequest['checks']): Subject {
    return resolveSubject(
      this.prefix,
      tenant,
      checks.map((c, i) => ({ limit: this.normalizeOnce(c.limit, `checks[${i}].limit`), key: c.key })),
    );
  }

  /**
   * Closes the store (connections Sluice opened, memory) and the local fallback. Every later call
   * throws SluiceError `ERR_SLUICE_CLOSED`, whatever the store. Closing twice is harmless.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.denials?.clear();
    await this.store.close();
    await this.local?.close();
  }

  private assertOpen(): void {
    if (this.closed) throw closedError();
  }

  /** `limit` and `peek`: the configured limits, for the request's tenant and key. Throws. */
  private run(request: LimitRequest | Omit<LimitRequest, 'cost'>, rawCost: unknown): Promise<Decision> {
    const cost = validateCost(rawCost);
    const layout = this.layout;
    if (!layout) throw noConfiguredLimits();
    const subject = layout.subject(request?.tenant, request?.key);
    return this.decideSubject(request, subject, cost, this.failureMode, true);
  }

  /**
   * Decides a laid-out request (`configured`: the subject is the configured limits' for the request's
   * tenant and key), and tells the observer (when there is one) how it went.
   */
  private decideSubject(
    request: Requester,
    subject: Subject,
    cost: number,
    mode: FailureMode,
    configured = false,
    costs?: readonly number[],
  ): Promise<Decision> {
    const observer = this.observer;
    if (observer === undefined) return this.decideNow(request, subject, cost, mode, configured, costs);
    const started = performance.now();
    return this.decideNow(request, subject, cost, mode, configured, costs).then((decision) => {
      notify(observer, { decision, durationMs: performance.now() - started });
      return decision;
    });
  }

  /** What an observer may read of this limiter (see ObservedSource). */
  private observedSource(store: Store): ObservedSource {
    const guard = this.guard;
    const source: ObservedSource = {};
    if (guard) source.breaker = () => guard.breaker.snapshot();
    if (store instanceof MemoryStore) source.activeKeys = () => store.keyCount;
    const counted = store as { roundTrips?: unknown };
    if (typeof counted.roundTrips === 'number') source.roundTrips = () => counted.roundTrips as number;
    return source;
  }

  /** Decides a laid-out request on the store, or by the failure mode. Throws only on a programming error. */
  private decideNow(
    request: Requester,
    subject: Subject,
    cost: number,
    mode: FailureMode,
    configured: boolean,
    costs: readonly number[] | undefined,
  ): Promise<Decision> {
    if (this.closed) return Promise.reject(closedError());
    if (this.escalation !== undefined) mode = this.modeFor(mode);
    if (mode === 'local' && this.guard?.breaker.refusing())
      return this.decideLocally(request, subject, cost, undefined, configured, costs);
    // A denial stands for any larger cost of its shape: not so with limits asked different costs.
    const denials = cost > 0 && !this.penalty && costs === undefined ? this.denials : undefined;
    const askedAt = denials ? this.clock() : 0;
    if (denials) {
      const remembered = denials.lookup(subject, cost, askedAt);
      if (remembered) return Promise.resolve(remembered);
    }
    const store = this.store;
    if (store.decide === memoryDecide) {
      // In process and synchronous inside: decided now, without the promise hops of `decide`, in a
      // plan and an answer reused by the next decision (the store keeps nothing of either).
      const plan = refillPlan(this.syncPlan, subject, cost, this.penalty, costs);
      let raw: RawDecision;
      try {
        raw = (store as MemoryStore).decideReusing(plan);
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        return this.failOver(error, request, subject, cost, mode, configured, costs);
      }
      const decision = buildDecision(raw, subject, request.key, cost, plan.id, store.backend, costs);
      if (denials && !raw.admitted) denials.remember(subject, decision, askedAt);
      return Promise.resolve(decision);
    }
    const plan = planDecision(subject, cost, this.penalty, costs);
    return this.decideOnStore(plan, request, subject, mode, configured, askedAt);
  }

  /** `askedAt`: the clock when the decision was asked for, kept with a denial the cache remembers. */
  private async decideOnStore(
    plan: DecisionPlan,
    request: Requester,
    subject: Subject,
    mode: FailureMode,
    configured: boolean,
    askedAt: number,
  ): Promise<Decision> {
    const { cost, costs } = plan;
    let raw: RawDecision;
    try {
      raw = await this.store.decide(plan);
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      return this.failOver(error, request, subject, cost, mode, configured, costs);
    }
    const decision = buildDecision(raw, subject, request.key, cost, plan.id, this.store.backend, costs);
    const denials = this.denials;
    const remembers = cost > 0 && !this.penalty && costs === undefined;
    if (denials && remembers && !raw.admitted) denials.remember(subject, decision, askedAt);
    return decision;
  }

  /** The store could not decide: the failure mode does, and the decision says which path it took. */
  private async failOver(
    error: StoreError,
    request: Requester,
    subject: Subject,
    cost: number,
    mode: FailureMode,
    configured: boolean,
    costs: readonly number[] | undefined,
  ): Promise<Decision> {
    const cause = { code: error.code, message: error.message };
    // The outage may have started with this very call (or outlasted `escalate.after` during it).
    if (this.escalation !== undefined) mode = this.modeFor(mode);
    if (mode === 'local') return this.decideLocally(request, subject, cost, cause, configured, costs);
    const breaker = this.guard?.breaker;
    const retryAfterMs =
      breaker && breaker.state === 'open'
        ? Math.max(1, breaker.openedAt + breaker.resetTimeoutMs - Date.now())
        : 1000;
    return failureDecision(
      mode,
      subject,
      { key: request.key, cost },
      cause,
      this.store.backend,
      Date.now(),
      retryAfterMs,
    );
  }

  /** The `local` failure mode: this instance's share of each limit, decided in process. */
  private async decideLocally(
    request: Requester,
    subject: Subject,
    cost: number,
    cause: Decision['storeError'],
    configured: boolean,
    costs?: readonly number[],
  ): Promise<Decision> {
    if (!this.local) {
      this.local = new Limiter({
        store: new MemoryStore({ clock: this.clock, ...this.localBounds }),
        prefix: this.prefix,
        penalty: this.penalty,
        guard: false,
      });
    }
    // While the circuit is open this is every decision's path: the shares are laid out once.
    const local = configured ? this.configuredLocalPlan(request, subject) : this.localPlanOf(subject);
    let decision: Decision;
    if (local.zero) {
      const others =
        local.share.length > 0
          ? await this.local.decideSubject(request, local.subject, 0, 'closed')
          : undefined;
      const breaker = this.guard?.breaker;
      // Nothing fits here until the store decides again: when the breaker lets a probe through.
      const retryAfterMs =
        breaker && breaker.state === 'open'
          ? Math.max(1, breaker.openedAt + breaker.resetTimeoutMs - Date.now())
          : 1000;
      decision = zeroShareDecision(
        local.zero.subject,
        local.zero.flags,
        others,
        { key: request.key, cost },
        this.local.store.backend,
        this.clock(),
        retryAfterMs,
      );
    } else {
      decision = await this.local.decideSubject(request, local.subject, cost, 'closed', false, costs);
    }
    const shared = cause ?? CIRCUIT_OPEN;
    if (decision.path !== 'store') {
      // The local store could not decide either (full): a closed failure, with both causes told.
      const own = decision.storeError ?? { code: 'ERR_SLUICE_STORE', message: 'local store failed' };
      decision.storeError = {
        code: own.code,
        message: `local fallback ${own.message} (shared store: ${shared.code}: ${shared.message})`,
      };
      return decision;
    }
    decision.path = 'local';
    decision.storeError = shared;
    if (decision.lease) decision.lease.local = true;
    return decision;
  }

  /** This instance's share of a subject's limits, laid out once per subject (prepared requests reuse theirs). */
  private localPlanOf(subject: Subject): LocalPlan {
    const kept = this.localPlans.get(subject);
    if (kept) return kept;
    const checks: Check[] = subject.limits.map((p, i) => ({ limit: p.limit, key: subject.keys[i] }));
    const shares = checks.map((c) => localShareLimit(c.limit, this.localFraction));
    const share: Check[] = [];
    shares.forEach((limit, i) => {
      if (limit) share.push({ limit, key: (checks[i] as Check).key });
    });
    const zero = shares.map((limit) => limit === undefined);
    const local: LocalPlan = {
      share,
      subject: resolveSubject(this.prefix, subject.tenant, share),
      // A share of 0 (limit 2 over 3 instances): that limit admits nothing locally.
      zero: zero.includes(true)
        ? { flags: zero, subject: resolveSubject(this.prefix, subject.tenant, checks) }
        : undefined,
    };
    this.localPlans.set(subject, local);
    return local;
  }

  /**
   * localPlanOf for the configured limits of a tenant and key (`subject`): their shares are the same
   * for every request, laid out as they are (one layout of the shares per limiter).
   */
  private configuredLocalPlan(request: Requester, subject: Subject): LocalPlan {
    const { layout, share, zero } = this.localShares();
    return {
      share,
      subject: layout ? layout.subject(request.tenant, request.key) : subject,
      zero: zero ? { flags: zero, subject } : undefined,
    };
  }

  /** The configured limits' local shares: the non-zero ones laid out, and which are zero. */
  private localShares(): {
    layout: ConfiguredLayout | undefined;
    share: Check[];
    zero: boolean[] | undefined;
  } {
    if (!this.sharesLaidOut) {
      const shares = this.limits.map((limit) => localShareLimit(limit, this.localFraction));
      const kept = shares.filter((limit): limit is NormalizedLimit => limit !== undefined);
      const zero = shares.map((limit) => limit === undefined);
      this.sharesLaidOut = {
        layout: kept.length > 0 ? new ConfiguredLayout(this.prefix, kept) : undefined,
        // `share` only says whether any limit is left (its checks are laid out by the layout).
        share: kept.map((limit) => ({ limit })),
        zero: zero.includes(true) ? zero : undefined,
      };
    }
    return this.sharesLaidOut;
  }

  private normalizeOnce(definition: unknown, field: string): NormalizedLimit {
    if (typeof definition === 'object' && definition !== null) {
      const cached = this.normalized.get(definition);
      if (cached) return cached;
      const limit = normalizeLimit(definition, field);
      this.normalized.set(definition, limit);
      return limit;
    }
    return normalizeLimit(definition, field);
  }

  private blockTarget(target: { tenant: string; key?: string }) {
    const subject = resolveSubject(this.prefix, target?.tenant, []);
    const marker =
      target.key === undefined
        ? null
        : blockKey(this.prefix, subject.encodedTenant, encodeIdentifier(target.key, 'key'));
    return { encodedTenant: subject.encodedTenant, metaKey: subject.metaKey, marker };
  }
}

/** A lease after its renewal at `now`: the slots still held (`held`, parallel to its slots), or undefined. */
function renewedLease(
  lease: Lease,
  subject: Subject,
  now: number,
  held: readonly boolean[],
): Lease | undefined {
  const slots = lease.slots.filter((_, i) => held[i]);
  if (slots.length === 0) return undefined;
  let ttl = Number.POSITIVE_INFINITY;
  subject.limits.forEach((p, i) => {
    if (held[i]) ttl = Math.min(ttl, p.limit.windowMs);
  });
  return { ...lease, acquiredAt: now, expiresAt: now + ttl, slots };
}

/** What a `decide` (or `prepare`) request may say. */
const DECIDE_KEYS = ['tenant', 'key', 'cost', 'checks', 'failureMode', 'blockedBy'];

/** What a check of `decide` may say (a misspelt `cost` would otherwise ask the decision's cost). */
const CHECK_KEYS = ['limit', 'key', 'cost'];

/** The validated `cost` of each check (undefined where it has none); undefined when none has one. */
function checkCosts(checks: DecideRequest['checks']): Array<number | undefined> | undefined {
  if (!checks.some((c) => c?.cost !== undefined)) return undefined;
  return checks.map((c, i) => (c.cost === undefined ? undefined : validateCost(c.cost, `checks[${i}].cost`)));
}

const BLOCKS_REQUEST_KEYS = ['tenant', 'key', 'blockedBy', 'failureMode'];

/** A prepareBlocks request: known keys, a failure mode Sluice has, blockedBy an array (its keys encoded after). */
function validateBlocksRequest(request: Omit<DecideRequest, 'cost' | 'checks'>): void {
  rejectUnknownKeys(request, 'request', BLOCKS_REQUEST_KEYS);
  if (request.key !== undefined && typeof request.key !== 'string') {
    throw new ValidationError('ERR_SLUICE_INVALID_IDENTIFIER', 'key', 'must be a string when given');
  }
  if (request.blockedBy !== undefined && !Array.isArray(request.blockedBy)) {
    throw new ValidationError('ERR_SLUICE_INVALID_OPTION', 'blockedBy', 'must be an array of keys');
  }
  if (request.failureMode !== undefined && !FAILURE_MODES.includes(request.failureMode)) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'failureMode',
      `must be one of ${FAILURE_MODES.join(', ')}`,
    );
  }
}

function noConfiguredLimits(): ValidationError {
  return new ValidationError(
    'ERR_SLUICE_INVALID_LIMIT',
    'limits',
    'this limiter has no configured limits: use decide()',
  );
}

function closedError(): SluiceError {
  return new SluiceError(
    'ERR_SLUICE_CLOSED',
    'this limiter is closed (close() was called): create a new one',
  );
}

/** Creates a {@link Limiter}. */
export function createLimiter(options: LimiterOptions): Limiter {
  return new Limiter(options);
}

function validateOptionsObject(options: unknown): asserts options is LimiterOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'options',
      'must be an object with a limits array',
    );
  }
  rejectUnknownKeys(options, 'options', LIMITER_OPTIONS);
}

function penaltyOf(penalty: unknown): boolean {
  if (penalty !== undefined && typeof penalty !== 'boolean') {
    throw new ValidationError('ERR_SLUICE_INVALID_OPTION', 'penalty', 'must be true or false');
  }
  return penalty ?? false;
}

function failureModeOf(mode: unknown): FailureMode {
  if (mode !== undefined && !FAILURE_MODES.includes(mode as FailureMode)) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'failureMode',
      `must be one of ${FAILURE_MODES.join(', ')}`,
    );
  }
  return (mode as FailureMode | undefined) ?? 'closed';
}

/** The in-process store cannot be slow or down: it is guarded only when asked to. */
function guardOf(store: Store, guard: LimiterOptions['guard']): GuardedStore | undefined {
  const guarded = guard === undefined ? store.backend !== 'memory' : guard !== false;
  if (guard !== undefined && guard !== false) validateGuard(guard);
  return guarded ? new GuardedStore(store, guard || {}) : undefined;
}
