import type { Clock } from '../core/clock.js';
import { parseDuration } from '../core/duration.js';
import { ValidationError } from '../core/errors.js';
import { type DecisionObserver, isObserver } from '../core/observer.js';
import { rejectUnknownKeys } from '../core/options.js';
import type { Store } from '../stores/store.js';
import type { SluiceConfig } from './config.js';
import type { RequestContext } from './types.js';

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
  /**
   * Told of every `check` (its PolicyDecision, how long it took, the request's user, IP and endpoint):
   * metrics, decision logs, traces (`sluice/metrics`); its `watch` is given the breaker, platform
   * protection, configuration version and errors, reputation adjustments, keys and round trips. An
   * HTTP adapter's `observer` does the same for the requests it decides: give one or the other.
   */
  observer?: DecisionObserver;
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
  'observer',
] as const satisfies ReadonlyArray<keyof PolicyLimiterOptions>;

/** Default of `operatorTimeout`. */
export const DEFAULT_OPERATOR_TIMEOUT_MS = 2000;

/** The part of a logger (pino, console...) the audit log uses. */
export interface AuditLogger {
  info(object: Record<string, unknown>, message: string): void;
  warn(object: Record<string, unknown>, message: string): void;
}

/** PolicyLimiterOptions, strictly: an unknown key or a wrong type is an error naming the field. */
export function validateOptions(options: unknown): void {
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
  if (o.observer !== undefined && !isObserver(o.observer)) {
    throw invalid('observer', 'must have a decided(event) method (see sluice/metrics)');
  }
  if (o.requireStore !== undefined && typeof o.requireStore !== 'boolean') {
    throw invalid('requireStore', 'must be true or false');
  }
}

export function operatorTimeoutOf(value: unknown): number {
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

export function isSluiceConfig(value: unknown): value is SluiceConfig {
  return typeof value === 'object' && value !== null && 'tierPolicy' in value && 'refreshIntervalMs' in value;
}
