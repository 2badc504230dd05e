/**
 * Setting up a middleware: its options validated strictly (unknown keys and wrong types are errors
 * naming the field and the accepted names), and the limiter it decides with — the caller's
 * PolicyLimiter, or one built from limits given inline (the one-line start) or from a configuration
 * document.
 */

import { ValidationError } from '../core/errors.js';
import { isObserver } from '../core/observer.js';
import { rejectUnknownKeys } from '../core/options.js';
import type { AlgorithmName } from '../core/types.js';
import { parseConfig } from '../policy/config.js';
import { PolicyLimiter } from '../policy/policy-limiter.js';
import type { PolicyLimit } from '../policy/types.js';
import type { Store } from '../stores/store.js';

export { DEFAULT_TENANT } from './core.js';

/** Name of the policy the one-line start builds from inline limits: per client IP. */
export const INLINE_POLICY = 'client-ip';

/** Where a middleware's limiter comes from (one of `limiter`, `config`, `limit` or `limits`). */
export interface LimiterSource {
  /** The limiter that decides (policies, tiers, overrides...): a PolicyLimiter, never a plain Limiter. */
  limiter?: PolicyLimiter;
  /**
   * One-line start: this many requests per `window` per client IP (`sluice({ limit: 100, window: '1m' })`).
   * The PolicyLimiter is built for you (memory store unless `store`).
   */
  limit?: number;
  /** Window of `limit` (a duration: `'1m'`, `'15s'`, or milliseconds). Default `'1m'`. */
  window?: number | string;
  /** Algorithm of `limit` (default the limit default: sliding-window). */
  algorithm?: AlgorithmName;
  /** One-line start with several limits per client IP, all checked in one decision. */
  limits?: PolicyLimit[];
  /**
   * A configuration document (as parsed from YAML/JSON, the same as `PolicyLimiter.create({ config })`):
   * the PolicyLimiter is built for you. Validated at setup.
   */
  config?: unknown;
  /** The store of a limiter built for you (e.g. a RedisStore). Default: the configuration's, or memory. */
  store?: Store;
}

const SOURCE_KEYS = ['limiter', 'limit', 'window', 'algorithm', 'limits', 'config', 'store'] as const;

/** Options every adapter takes (beside its own). */
export const COMMON_KEYS = [
  ...SOURCE_KEYS,
  'tenant',
  'tenantHeaders',
  'tenantPattern',
  'missingTenant',
  'user',
  'roles',
  'trustProxy',
  'ipv6Prefix',
  'skip',
  'cost',
  'headers',
  'body',
  'onWarning',
  'onError',
  'observer',
] as const;

const FUNCTION_KEYS = [
  'tenant',
  'user',
  'roles',
  'skip',
  'cost',
  'onWarning',
  'onError',
  'endpoint',
  'remoteAddress',
];

function invalid(field: string, message: string): ValidationError {
  return new ValidationError('ERR_SLUICE_INVALID_OPTION', field, message);
}

/**
 * Validates an adapter's options: unknown keys (with a did-you-mean), and the type of every known one.
 * `field` names the options in errors (`sluice(express)`), `extra` are the adapter's own keys.
 */
export function validateAdapterOptions(
  options: unknown,
  field: string,
  extra: readonly string[],
  ignored: readonly string[] = [],
): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid(field, 'options must be an object');
  }
  const known = [...COMMON_KEYS, ...extra];
  const own = Object.fromEntries(Object.entries(options).filter(([k]) => !ignored.includes(k)));
  rejectUnknownKeys(own, field, known);
  const o = own as Record<string, unknown>;
  const at = (key: string) => `${field}.${key}`;
  for (const key of FUNCTION_KEYS) {
    if (o[key] !== undefined && typeof o[key] !== 'function') throw invalid(at(key), 'must be a function');
  }
  if (o.tenantHeaders !== undefined) {
    if (!Array.isArray(o.tenantHeaders) || o.tenantHeaders.some((h) => typeof h !== 'string' || h === '')) {
      throw invalid(at('tenantHeaders'), 'must be an array of header names');
    }
  }
  if (o.observer !== undefined && !isObserver(o.observer)) {
    throw invalid(at('observer'), 'must have a decided(event) method (see sluice/metrics)');
  }
  if (o.tenantPattern !== undefined && !(o.tenantPattern instanceof RegExp)) {
    throw invalid(at('tenantPattern'), 'must be a RegExp');
  }
  if (o.missingTenant !== undefined && o.missingTenant !== 'reject') {
    const m = o.missingTenant;
    if (typeof m !== 'object' || m === null) {
      throw invalid(at('missingTenant'), "must be 'reject' or { tenant: string }");
    }
    rejectUnknownKeys(m, at('missingTenant'), ['tenant']);
    const tenant = (m as { tenant?: unknown }).tenant;
    if (typeof tenant !== 'string' || tenant === '') {
      throw invalid(`${at('missingTenant')}.tenant`, 'must be a non-empty string');
    }
  }
  const trust = o.trustProxy;
  if (
    trust !== undefined &&
    typeof trust !== 'boolean' &&
    !(typeof trust === 'number' && Number.isInteger(trust) && trust >= 0) &&
    !(Array.isArray(trust) && trust.every((t) => typeof t === 'string'))
  ) {
    throw invalid(at('trustProxy'), 'must be a boolean, a hop count, or an array of addresses/CIDRs');
  }
  const prefix = o.ipv6Prefix;
  if (
    prefix !== undefined &&
    !(typeof prefix === 'number' && Number.isInteger(prefix) && prefix >= 0 && prefix <= 128)
  ) {
    throw invalid(at('ipv6Prefix'), 'must be an integer from 0 to 128');
  }
  if (o.headers !== undefined) {
    rejectUnknownKeys(o.headers, at('headers'), ['legacy', 'ietf', 'tenant', 'backend', 'shadow']);
    for (const [k, v] of Object.entries(o.headers as object)) {
      if (v !== undefined && typeof v !== 'boolean')
        throw invalid(`${at('headers')}.${k}`, 'must be a boolean');
    }
  }
  if (o.body !== undefined && o.body !== 'json' && o.body !== 'problem' && typeof o.body !== 'function') {
    throw invalid(at('body'), "must be 'json', 'problem' or a function");
  }
  validateSource(o, at);
}

function validateSource(o: Record<string, unknown>, at: (key: string) => string): void {
  const given = ['limiter', 'config', 'limit', 'limits'].filter((k) => o[k] !== undefined);
  if (given.length === 0) {
    throw invalid(
      at('limiter'),
      'no limiter: pass `limit` (and `window`) or `limits` for the one-line start, a configuration document as `config`, or a PolicyLimiter (PolicyLimiter.create) as `limiter`',
    );
  }
  if (given.length > 1) {
    throw invalid(
      at(given[1] as string),
      `cannot be given with ${given[0]}: pass one of limiter, config, limit, limits`,
    );
  }
  if (o.limiter !== undefined) {
    const l = o.limiter as Record<string, unknown> | null;
    if (
      typeof l !== 'object' ||
      l === null ||
      typeof l.check !== 'function' ||
      typeof l.release !== 'function'
    ) {
      const plain = typeof l === 'object' && l !== null && typeof l.decide === 'function';
      throw invalid(
        at('limiter'),
        `${plain ? 'is a plain Limiter, which has no policies, tenants or HTTP context' : 'is not a PolicyLimiter'}: pass a PolicyLimiter (PolicyLimiter.create) or use the one-line start (\`{ limit: 100, window: '1m' }\`)`,
      );
    }
    for (const key of ['store', 'window', 'algorithm']) {
      if (o[key] !== undefined)
        throw invalid(
          at(key),
          'only goes with the one-line start (limit, limits or config), not with limiter',
        );
    }
    return;
  }
  if (o.store !== undefined) {
    const s = o.store as Record<string, unknown> | null;
    if (typeof s !== 'object' || s === null || typeof s.decide !== 'function') {
      throw invalid(at('store'), 'must be a Store (MemoryStore, RedisStore)');
    }
  }
  if (o.limit !== undefined) {
    if (typeof o.limit !== 'number' || !Number.isInteger(o.limit) || o.limit < 1) {
      throw invalid(at('limit'), 'must be a positive integer');
    }
    if (o.window !== undefined && typeof o.window !== 'string' && typeof o.window !== 'number') {
      throw invalid(at('window'), "must be a duration ('1m', '15s') or milliseconds");
    }
    if (o.algorithm !== undefined && typeof o.algorithm !== 'string')
      throw invalid(at('algorithm'), 'must be a string');
    return;
  }
  for (const key of ['window', 'algorithm']) {
    if (o[key] !== undefined)
      throw invalid(
        at(key),
        `only goes with limit${o.limits !== undefined ? ' (put it in each of limits)' : ''}`,
      );
  }
  if (o.limits !== undefined && (!Array.isArray(o.limits) || o.limits.length === 0)) {
    throw invalid(at('limits'), 'must be a non-empty array of limits ({ limit, window })');
  }
}

/** The configuration document of the one-line start: the inline limits per client IP, tiers off. */
export function inlineDocument(o: LimiterSource): Record<string, unknown> {
  const limits = o.limits ?? [
    {
      limit: o.limit,
      window: o.window ?? '1m',
      ...(o.algorithm !== undefined ? { algorithm: o.algorithm } : {}),
    },
  ];
  return {
    store: { type: 'memory' },
    tierPolicy: { enabled: false },
    policies: [{ name: INLINE_POLICY, scope: 'ip', limits }],
  };
}

/** A middleware's limiter: the caller's, or one being built (its errors found at setup). */
export interface ResolvedLimiter {
  /** The limiter now, or the promise of the one being built. */
  limiter: PolicyLimiter | Promise<PolicyLimiter>;
  /** Whether the middleware built it (and closes it). */
  owned: boolean;
  /** Whether requests without a tenant are decided as DEFAULT_TENANT, silently (one-line start, no tenant configured). */
  implicitTenant: boolean;
}

/**
 * The limiter of validated options. A configuration (inline or a document) is validated here, at
 * setup (a ConfigError naming the field), before the limiter is built in the background.
 */
export function resolveLimiter(
  o: LimiterSource & { tenant?: unknown; tenantHeaders?: unknown; missingTenant?: unknown },
): ResolvedLimiter {
  if (o.limiter !== undefined) return { limiter: o.limiter, owned: false, implicitTenant: false };
  const inline = o.config === undefined;
  const config = parseConfig(inline ? inlineDocument(o) : o.config, inline ? 'inline limits' : undefined);
  const pending = PolicyLimiter.create(o.store ? { config, store: o.store } : { config });
  // Not an unhandled rejection while no request awaits it (each request reports its own failure).
  pending.catch(() => undefined);
  const implicitTenant =
    inline && o.tenant === undefined && o.tenantHeaders === undefined && o.missingTenant === undefined;
  return { limiter: pending, owned: true, implicitTenant };
}
