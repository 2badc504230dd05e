import type { Clock } from './core/clock.js';
import { type Duration, MAX_DURATION_MS, parseDuration } from './core/duration.js';
import { ValidationError } from './core/errors.js';
import { type DecisionObserver, isObserver } from './core/observer.js';
import { rejectUnknownKeys } from './core/options.js';
import type { FailureMode, LimitDefinition } from './core/types.js';
import { DENIAL_CACHE_OPTIONS, DenialCache, type DenialCacheOptions } from './engine/denials.js';
import type { GuardOptions } from './resilience/guarded-store.js';
import { memoryBounds } from './stores/memory/memory-store.js';
import type { Store } from './stores/store.js';

/**
 * The options of a Limiter, every one documented, and their validation: strict, as the configuration
 * document is (an unknown key is an error naming it, a likely meant one and the accepted names).
 */

export interface LimiterOptions {
  /**
   * The limits every `limit()` call is decided against, all at once. May be omitted by users of
   * `decide()` only (the policy layer), which passes its limits per call.
   */
  limits?: LimitDefinition[];
  /** Where state lives. Default: a new in-process MemoryStore. Use RedisStore to share across instances. */
  store?: Store;
  /** First segment of every key (default "sluice"). Lets several applications share one Redis. */
  prefix?: string;
  /**
   * Penalty mode: a rejected request still consumes from the limits that had room for it, so a client
   * hammering one exhausted window also spends its others. Default false: rejected requests cost nothing.
   */
  penalty?: boolean;
  /**
   * What a decision is when the store cannot decide (down, slow past the budget, circuit open):
   * `closed` (default) denies with reason `store_unavailable`; `open` admits with reason `fail_open`;
   * `local` decides with an in-process limiter enforcing this instance's share (`localShare`).
   */
  failureMode?: FailureMode;
  /** For `local`: this instance's share of each limit, as the expected instance count or a fraction. */
  localShare?: { instances?: number; fraction?: number };
  /**
   * Time budget and circuit breaker around the store (`src/resilience/`). Default: on, 50 ms budget,
   * for every store but the in-process MemoryStore; `false` turns it off.
   */
  guard?: GuardOptions | false;
  /**
   * A local cache of denials (default off): once the store denies a request shape (its keys and
   * limits), this instance denies the same shape at that cost or more without asking the store, until
   * the instant the store said it could fit, and for `maxStaleMs` (1 s) at most. It never admits
   * anything (0 over-admission); refunds, resets and unblocks made through this instance forget the
   * tenant's entries at once, those of other instances are seen within `maxStaleMs` (the bound on
   * under-admission). Bounded (`maxEntries`, 10,000; the oldest goes first): a flood of other keys
   * only sends a hot key back to the store. Not used for leases (concurrency), penalty mode or peeks.
   * Replayed denials have `path: 'cache'`. `true` for the defaults, or `{ maxEntries, maxStaleMs }`.
   */
  denialCache?: boolean | DenialCacheOptions;
  /**
   * Told of every decision made through `limit`, `peek`, `decide` and `decidePrepared`, with how long
   * it took (metrics, decision logs, traces: `sluice/metrics`); its `watch` is given the limiter's
   * breaker, keys and round trips. An observer that throws is ignored. Default: none.
   */
  observer?: DecisionObserver;
  /** Clock of the local fallback limiter and of the denial cache. Default Date.now. */
  clock?: Clock;
  /**
   * Bounds of the `local` failure mode's in-process store (a MemoryStore): `maxKeys` (default
   * 1,000,000) and `maxKeysPerTenant` (default a tenth of `maxKeys`). When it is full, a local
   * decision that needs a new key is denied with reason `store_unavailable`, `path: 'fail-closed'`
   * and `storeError.code` `ERR_SLUICE_STORE_FULL` (nothing was counted, so no quota is reported).
   */
  localStore?: LocalStoreOptions;
  /**
   * A failure policy that changes with the outage (the multi-window API limiter's automated rollback trigger): decisions
   * whose failure mode is `closed` fail closed while the store has been unreachable for less than
   * `after` (a duration: "2m", ms), then are decided by `to` (`local`: this instance's share; `open`:
   * admitted) until the store answers again, and at once are back on it. "Unreachable" is measured by
   * the guard (`guard.unreachableSince`, on the guard's clock): from the first failure of the outage to
   * the first answer. Needs the guard. Each switch is logged (`logger`). Default: none.
   */
  escalate?: EscalateOptions;
  /**
   * Where the failure policy's switches are logged: `warn({ event, ... }, message)` with event
   * `sluice.failure.escalated` (the outage outlasted `escalate.after`) and `sluice.failure.recovered`
   * (the store answered again). A pino logger fits. Default: none.
   */
  logger?: FailoverLogger;
}

/** See `LimiterOptions.escalate`. */
export interface EscalateOptions {
  /** How long the store must have been unreachable before `to` decides instead of `closed`. */
  after: Duration;
  /** The failure mode past `after`. */
  to: 'open' | 'local';
}

/** The part of a logger (pino, console...) the failure policy logs to. */
export interface FailoverLogger {
  warn(object: Record<string, unknown>, message: string): void;
}

/** The failure policy now (see `Limiter.failover()`, and the policy layer's health). */
export interface FailoverState {
  /** When the current outage began (the guard's clock), or null while the store answers. */
  unreachableSince: number | null;
  /** The escalation configured, or null. */
  escalate: { afterMs: number; to: 'open' | 'local' } | null;
  /** Whether `closed` decisions are decided by `escalate.to` now (the outage outlasted `after`). */
  escalated: boolean;
}

/** Bounds of the local fallback's store (see `LimiterOptions.localStore`). */
export interface LocalStoreOptions {
  maxKeys?: number;
  maxKeysPerTenant?: number;
}

/** The keys of LimiterOptions (validated: an unknown one is an error naming it). */
export const LIMITER_OPTIONS = [
  'limits',
  'store',
  'prefix',
  'penalty',
  'failureMode',
  'localShare',
  'guard',
  'clock',
  'localStore',
  'escalate',
  'logger',
  'denialCache',
  'observer',
] as const satisfies ReadonlyArray<keyof LimiterOptions>;

/** `escalate`, validated strictly (an unknown field is an error naming it). */
export function escalation(options: unknown): { afterMs: number; to: 'open' | 'local' } | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'escalate',
      "must be an object { after, to } (for example { after: '2m', to: 'local' })",
    );
  }
  rejectUnknownKeys(options, 'escalate', ['after', 'to']);
  const { after, to } = options as Partial<EscalateOptions>;
  if (after === undefined) {
    throw new ValidationError('ERR_SLUICE_INVALID_OPTION', 'escalate.after', "is required (e.g. '2m')");
  }
  const afterMs = parseDuration(after, 'escalate.after');
  if (to !== 'open' && to !== 'local') {
    throw new ValidationError('ERR_SLUICE_INVALID_OPTION', 'escalate.to', 'must be one of open, local');
  }
  return { afterMs, to };
}

export function validLogger(logger: unknown): FailoverLogger | undefined {
  if (logger === undefined) return undefined;
  if (typeof (logger as FailoverLogger | null)?.warn !== 'function') {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'logger',
      'must have a warn(object, message) method (a pino logger fits)',
    );
  }
  return logger as FailoverLogger;
}

/** The keys of GuardOptions and of its BreakerOptions (validated: an unknown one is an error naming it). */
const GUARD_OPTIONS = ['budgetMs', 'breaker', 'clock'] as const satisfies ReadonlyArray<keyof GuardOptions>;
const BREAKER_OPTIONS = ['threshold', 'resetTimeoutMs'] as const satisfies ReadonlyArray<
  keyof NonNullable<GuardOptions['breaker']>
>;

/** `guard` (true is not accepted: an object, or false), strictly: unknown keys and wrong types name the field. */
export function validateGuard(guard: unknown): void {
  rejectUnknownKeys(guard, 'guard', GUARD_OPTIONS);
  const g = guard as GuardOptions;
  const invalid = (field: string, message: string) =>
    new ValidationError('ERR_SLUICE_INVALID_OPTION', field, message);
  if (
    g.budgetMs !== undefined &&
    !(typeof g.budgetMs === 'number' && g.budgetMs > 0 && g.budgetMs <= MAX_DURATION_MS)
  ) {
    throw invalid('guard.budgetMs', `${JSON.stringify(g.budgetMs)} must be a number of ms > 0`);
  }
  if (g.clock !== undefined && typeof g.clock !== 'function') {
    throw invalid('guard.clock', 'must be a function returning epoch ms');
  }
  if (g.breaker === undefined) return;
  rejectUnknownKeys(g.breaker, 'guard.breaker', BREAKER_OPTIONS);
  const { threshold, resetTimeoutMs } = g.breaker;
  if (threshold !== undefined && !(Number.isInteger(threshold) && threshold >= 1)) {
    throw invalid('guard.breaker.threshold', `${JSON.stringify(threshold)} must be a whole number >= 1`);
  }
  if (
    resetTimeoutMs !== undefined &&
    !(typeof resetTimeoutMs === 'number' && resetTimeoutMs >= 0 && resetTimeoutMs <= MAX_DURATION_MS)
  ) {
    throw invalid(
      'guard.breaker.resetTimeoutMs',
      `${JSON.stringify(resetTimeoutMs)} must be a number of ms >= 0`,
    );
  }
}

/** The local fallback store's bounds, validated strictly (an unknown field is an error naming it). */
export function localStoreBounds(options: unknown): { maxKeys: number; maxKeysPerTenant: number } {
  if (options === undefined) return memoryBounds({}, 'localStore.');
  rejectUnknownKeys(options, 'localStore', ['maxKeys', 'maxKeysPerTenant']);
  return memoryBounds(options as LocalStoreOptions, 'localStore.');
}

/** This instance's share of a limit in `local` failure mode. */
export function localFraction(share: LimiterOptions['localShare']): number {
  if (share === undefined) return 1;
  rejectUnknownKeys(share, 'localShare', ['instances', 'fraction']);
  if (share.instances !== undefined) {
    if (!Number.isInteger(share.instances) || share.instances < 1) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        'localShare.instances',
        'must be a whole number >= 1',
      );
    }
    return 1 / share.instances;
  }
  if (share.fraction !== undefined) {
    if (!(share.fraction > 0 && share.fraction <= 1)) {
      throw new ValidationError('ERR_SLUICE_INVALID_OPTION', 'localShare.fraction', 'must be in (0, 1]');
    }
    return share.fraction;
  }
  return 1;
}

/** `denialCache`, validated strictly: the cache, or undefined when off (the default). */
export function denialCacheOf(options: unknown): DenialCache | undefined {
  if (options === undefined || options === false) return undefined;
  if (options === true) return new DenialCache(10_000, 1000);
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'denialCache',
      'must be true, false or { maxEntries, maxStaleMs }',
    );
  }
  rejectUnknownKeys(options, 'denialCache', DENIAL_CACHE_OPTIONS);
  const { maxEntries = 10_000, maxStaleMs = 1000 } = options as DenialCacheOptions;
  if (!(Number.isInteger(maxEntries) && maxEntries >= 1 && maxEntries <= 10_000_000)) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'denialCache.maxEntries',
      `${JSON.stringify(maxEntries)} must be a whole number from 1 to 10,000,000`,
    );
  }
  if (!(typeof maxStaleMs === 'number' && maxStaleMs > 0 && maxStaleMs <= 60_000)) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'denialCache.maxStaleMs',
      `${JSON.stringify(maxStaleMs)} must be a number of ms > 0, at most 60000`,
    );
  }
  return new DenialCache(maxEntries, maxStaleMs);
}

/** `observer`, validated: an object with a `decided(event)` method. */
export function observerOf(observer: unknown): DecisionObserver | undefined {
  if (observer === undefined) return undefined;
  if (!isObserver(observer)) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'observer',
      'must have a decided(event) method (see sluice/metrics)',
    );
  }
  return observer;
}
