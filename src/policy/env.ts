import { ConfigError, type ConfigIssue } from './config.js';

type Env = Record<string, string | undefined>;
type Doc = Record<string, unknown>;

/**
 * The environment variables of the limiters Sluice replaces (README: Where the defaults come from), as a
 * thin layer over a configuration document:
 * returns `base` (a raw document, not yet validated) with the variables applied.
 *
 * The multi-window API limiter: RATE_LIMIT_PER_SECOND (10), RATE_LIMIT_PER_MINUTE (60), RATE_LIMIT_PER_HOUR (1000),
 * RATE_LIMIT_BURST (20) per RATE_LIMIT_BURST_WINDOW seconds (10) become the global policy
 * "env-defaults"; in production (ENVIRONMENT or NODE_ENV = production) PRODUCTION_RATE_LIMIT_PER_MINUTE,
 * PRODUCTION_RATE_LIMIT_PER_HOUR and PRODUCTION_BURST_LIMIT replace theirs.
 * DISTRIBUTED_RATE_LIMITING_ENABLED picks Redis (REDIS_URL) over memory; FAIL_OPEN_ON_REDIS_ERROR=true
 * makes the failure mode "open" (default closed); REDIS_CONNECTION_TIMEOUT and REDIS_SOCKET_TIMEOUT
 * (seconds) and REDIS_MAX_CONNECTIONS tune the store.
 * HYBRID_RATE_LIMITING=true (the multi-window API limiter's hybrid migration strategy) decides every request on an
 * in-process memory limiter too, beside the Redis store that enforces (`compare: { store: { type:
 * memory } }`): disagreements are counted (health's comparison) and reported to onDisagreement; it needs
 * the Redis store.
 * The tenant-tier limiter: [AURUM_API_]RATE_LIMIT_<TIER>_RPS and _BURST set a tier's quotas;
 * AURUM_API_CACHE_REDIS_URL is the Redis URL.
 * The API + LLM limiter: REDIS_ENABLED picks Redis over memory, at REDIS_URL or at the URL made of REDIS_HOST
 * (localhost), REDIS_PORT (6379), REDIS_PASSWORD (none when empty) and REDIS_DB (0);
 * RATE_LIMIT_ENABLED=false switches limiting off (mode "disabled"); RATE_LIMIT_DEFAULT ("10/minute":
 * N per second, minute, hour or day) is the default limit of every request (the "env-defaults" policy:
 * alone, or beside the multi-window API limiter's windows when any of theirs is set).
 */
export function configFromEnv(env: Env = process.env, base: Doc = {}): Doc {
  const issues: ConfigIssue[] = [];
  const int = (name: string, fallback?: number): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value <= 0) {
      issues.push({ path: name, message: `${JSON.stringify(raw)} must be a positive whole number` });
      return fallback;
    }
    return value;
  };
  const bool = (name: string): boolean | undefined => {
    const raw = env[name]?.trim().toLowerCase();
    if (raw === undefined || raw === '') return undefined;
    if (['true', '1', 'yes', 'on'].includes(raw)) return true;
    if (['false', '0', 'no', 'off'].includes(raw)) return false;
    issues.push({ path: name, message: `${JSON.stringify(env[name])} must be true or false` });
    return undefined;
  };

  const doc: Doc = structuredClone(base);
  const seed001 = SEED_001_LIMITS.some((name) => (env[name] ?? '').trim() !== '');
  const fallback = defaultLimit(env.RATE_LIMIT_DEFAULT, issues);
  const production = [env.ENVIRONMENT, env.NODE_ENV].some((v) => v?.toLowerCase() === 'production');
  const perSecond = int('RATE_LIMIT_PER_SECOND', 10);
  const perMinute =
    (production ? int('PRODUCTION_RATE_LIMIT_PER_MINUTE') : undefined) ?? int('RATE_LIMIT_PER_MINUTE', 60);
  const perHour =
    (production ? int('PRODUCTION_RATE_LIMIT_PER_HOUR') : undefined) ?? int('RATE_LIMIT_PER_HOUR', 1000);
  const burst = (production ? int('PRODUCTION_BURST_LIMIT') : undefined) ?? int('RATE_LIMIT_BURST', 20);
  const burstWindow = int('RATE_LIMIT_BURST_WINDOW', 10);
  const policies = Array.isArray(doc.policies) ? [...doc.policies] : [];
  const windows = [
    { name: 'second', algorithm: 'sliding-log', limit: perSecond, window: '1s' },
    { name: 'minute', algorithm: 'sliding-window', limit: perMinute, window: '1m' },
    { name: 'hour', algorithm: 'sliding-window', limit: perHour, window: '1h' },
    { name: 'burst', algorithm: 'sliding-log', limit: burst, window: `${burstWindow}s` },
  ];
  const limits = fallback ? [...(seed001 ? windows : []), fallback] : windows;
  policies.push({ name: 'env-defaults', scope: 'global', limits });
  doc.policies = policies;
  const enabled = bool('RATE_LIMIT_ENABLED');
  if (enabled === false) doc.mode = 'disabled';

  const failOpen = bool('FAIL_OPEN_ON_REDIS_ERROR');
  if (failOpen !== undefined) doc.failureMode = failOpen ? 'open' : 'closed';
  const distributed = redisSwitch(bool('DISTRIBUTED_RATE_LIMITING_ENABLED'), bool('REDIS_ENABLED'), issues);
  const url = env.REDIS_URL ?? env.AURUM_API_CACHE_REDIS_URL ?? redisUrlFromParts(env, issues);
  if (distributed === true || (distributed === undefined && env.AURUM_API_CACHE_REDIS_URL !== undefined)) {
    const store: Doc = { type: 'redis', url: url ?? 'redis://localhost:6379/0' };
    const connect = int('REDIS_CONNECTION_TIMEOUT');
    const socket = int('REDIS_SOCKET_TIMEOUT');
    const pool = int('REDIS_MAX_CONNECTIONS');
    if (connect !== undefined) store.connectTimeout = `${connect}s`;
    if (socket !== undefined) store.commandTimeout = `${socket}s`;
    if (pool !== undefined) store.maxConnections = pool;
    doc.store = store;
  } else if (distributed === false) {
    doc.store = { type: 'memory' };
  }

  // The multi-window API limiter's hybrid mode: Redis enforces, an in-process memory limiter decides beside it.
  const hybrid = bool('HYBRID_RATE_LIMITING');
  if (hybrid === true) {
    if ((doc.store as Doc | undefined)?.type !== 'redis') {
      issues.push({
        path: 'HYBRID_RATE_LIMITING',
        message:
          'compares the Redis store with an in-process memory limiter: it needs the Redis store (DISTRIBUTED_RATE_LIMITING_ENABLED=true, REDIS_ENABLED=true, AURUM_API_CACHE_REDIS_URL, or store.type redis in the document)',
      });
    } else doc.compare = { store: { type: 'memory' } };
  } else if (hybrid === false) {
    delete doc.compare;
  }

  // The tenant-tier limiter's circuit breaker settings (the reset timeout in seconds).
  const threshold = int('AURUM_API_RATE_LIMIT_CIRCUIT_THRESHOLD') ?? int('RATE_LIMIT_CIRCUIT_THRESHOLD');
  const reset = int('AURUM_API_RATE_LIMIT_CIRCUIT_RESET_TIMEOUT') ?? int('RATE_LIMIT_CIRCUIT_RESET_TIMEOUT');
  if (threshold !== undefined || reset !== undefined) {
    doc.failure = {
      ...((doc.failure as Doc | undefined) ?? {}),
      ...(threshold !== undefined ? { circuitThreshold: threshold } : {}),
      ...(reset !== undefined ? { circuitResetTimeout: `${reset}s` } : {}),
    };
  }

  const tiers = { ...((doc.tiers as Doc | undefined) ?? DEFAULT_TIER_DOC) } as Record<string, Doc>;
  for (const tier of Object.keys(tiers)) {
    const upper = tier.toUpperCase();
    const rps = int(`AURUM_API_RATE_LIMIT_${upper}_RPS`) ?? int(`RATE_LIMIT_${upper}_RPS`);
    const tierBurst = int(`AURUM_API_RATE_LIMIT_${upper}_BURST`) ?? int(`RATE_LIMIT_${upper}_BURST`);
    if (rps !== undefined || tierBurst !== undefined) {
      tiers[tier] = { ...tiers[tier], ...(rps ? { rps } : {}), ...(tierBurst ? { burst: tierBurst } : {}) };
    }
  }
  doc.tiers = tiers;

  if (issues.length > 0) throw new ConfigError(issues, 'environment');
  return doc;
}

/** Names of HTTP headers (RFC 9110 tokens), at most this long. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;

/**
 * The tenant-tier limiter's AURUM_API_RATE_LIMIT_TENANT_HEADERS (or RATE_LIMIT_TENANT_HEADERS): the headers the HTTP
 * middleware reads the tenant from, comma-separated ("X-Tenant-ID,X-Aurum-Tenant"), as adapter options
 * to spread into the adapter's: `sluice({ limiter, ...tenantHeadersFromEnv() })`. Returns `{}` when
 * neither is set (the adapter's default: no tenant headers), `{ tenantHeaders: [...] }` otherwise.
 * Throws ConfigError naming the variable when a name is not a header name, repeated, or none is given.
 */
export function tenantHeadersFromEnv(env: Env = process.env): { tenantHeaders?: string[] } {
  const name =
    env.AURUM_API_RATE_LIMIT_TENANT_HEADERS !== undefined
      ? 'AURUM_API_RATE_LIMIT_TENANT_HEADERS'
      : 'RATE_LIMIT_TENANT_HEADERS';
  const raw = env[name];
  if (raw === undefined) return {};
  const issues: ConfigIssue[] = [];
  const names = raw.split(',').map((h) => h.trim());
  const seen = new Set<string>();
  for (const header of names) {
    if (!HEADER_NAME.test(header)) {
      issues.push({
        path: name,
        message:
          header === ''
            ? `${JSON.stringify(raw)} has an empty header name: give comma-separated header names (e.g. X-Tenant-ID,X-Aurum-Tenant)`
            : `${JSON.stringify(header)} is not a header name (letters, digits and !#$%&'*+.^_\`|~-, at most 256)`,
      });
    } else if (seen.has(header.toLowerCase())) {
      issues.push({ path: name, message: `${JSON.stringify(header)} is listed twice` });
    }
    seen.add(header.toLowerCase());
  }
  if (issues.length > 0) throw new ConfigError(issues, 'environment');
  return { tenantHeaders: names };
}

/** The multi-window API limiter's window variables: when one is set, its windows stay beside RATE_LIMIT_DEFAULT. */
const SEED_001_LIMITS = [
  'RATE_LIMIT_PER_SECOND',
  'RATE_LIMIT_PER_MINUTE',
  'RATE_LIMIT_PER_HOUR',
  'RATE_LIMIT_BURST',
  'RATE_LIMIT_BURST_WINDOW',
  'PRODUCTION_RATE_LIMIT_PER_MINUTE',
  'PRODUCTION_RATE_LIMIT_PER_HOUR',
  'PRODUCTION_BURST_LIMIT',
];

const UNITS: Readonly<Record<string, string>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, string>, {
    s: '1s',
    sec: '1s',
    secs: '1s',
    second: '1s',
    seconds: '1s',
    m: '1m',
    min: '1m',
    mins: '1m',
    minute: '1m',
    minutes: '1m',
    h: '1h',
    hour: '1h',
    hours: '1h',
    d: '1d',
    day: '1d',
    days: '1d',
  }),
);

/** The API + LLM limiter's RATE_LIMIT_DEFAULT, "N/unit" (10/minute, 100/hour, 5/s...), as a limit. */
function defaultLimit(raw: string | undefined, issues: ConfigIssue[]): Doc | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const match = /^\s*(\d+)\s*\/\s*([a-z]+)\s*$/i.exec(raw);
  const window = match ? UNITS[(match[2] as string).toLowerCase()] : undefined;
  const limit = match ? Number(match[1]) : 0;
  if (!window || !(limit >= 1)) {
    issues.push({
      path: 'RATE_LIMIT_DEFAULT',
      message: `${JSON.stringify(raw)} must be N/unit, N a positive whole number and unit second, minute, hour or day (e.g. 10/minute)`,
    });
    return undefined;
  }
  return { name: 'default', algorithm: 'sliding-window', limit, window };
}

/** DISTRIBUTED_RATE_LIMITING_ENABLED (the multi-window API limiter) and REDIS_ENABLED (the API + LLM limiter) mean the same: one answer. */
function redisSwitch(
  seed001: boolean | undefined,
  seed004: boolean | undefined,
  issues: ConfigIssue[],
): boolean | undefined {
  if (seed001 !== undefined && seed004 !== undefined && seed001 !== seed004) {
    issues.push({
      path: 'REDIS_ENABLED',
      message: `contradicts DISTRIBUTED_RATE_LIMITING_ENABLED (${seed001}): set one of them`,
    });
  }
  return seed001 ?? seed004;
}

/** The API + LLM limiter's REDIS_HOST, REDIS_PORT, REDIS_PASSWORD and REDIS_DB as a URL (undefined: none given). */
function redisUrlFromParts(env: Env, issues: ConfigIssue[]): string | undefined {
  const given = ['REDIS_HOST', 'REDIS_PORT', 'REDIS_PASSWORD', 'REDIS_DB'].filter(
    (n) => env[n] !== undefined,
  );
  if (given.length === 0) return undefined;
  const host = env.REDIS_HOST?.trim() || 'localhost';
  if (!/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/.test(host)) {
    issues.push({
      path: 'REDIS_HOST',
      message: `${JSON.stringify(env.REDIS_HOST)} is not a host name or address`,
    });
  }
  const whole = (name: string, fallback: number, max: number): number => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value > max) {
      issues.push({
        path: name,
        message: `${JSON.stringify(env[name])} must be a whole number from 0 to ${max}`,
      });
      return fallback;
    }
    return value;
  };
  const port = whole('REDIS_PORT', 6379, 65_535);
  const db = whole('REDIS_DB', 0, 1_000_000);
  const password = env.REDIS_PASSWORD ?? '';
  const auth = password === '' ? '' : `:${encodeURIComponent(password)}@`;
  return `redis://${auth}${host}:${port}/${db}`;
}

const DEFAULT_TIER_DOC: Doc = {
  free: { rps: 5, burst: 10, maxConcurrent: 50, priority: 0.5 },
  basic: { rps: 20, burst: 40, maxConcurrent: 100, priority: 0.8 },
  premium: { rps: 100, burst: 200, maxConcurrent: 500, priority: 1.0 },
  enterprise: { rps: 500, burst: 1000, maxConcurrent: 1000, priority: 1.2 },
};
