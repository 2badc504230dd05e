/**
 * The contenders: each makes one rate-limit decision per `decide()` call, on a single key, under its own
 * key prefix (all under {@link KEY_ROOT}). Limits are 1e9 per window (Sluice's largest), so every decision
 * is admitted and the admitting path is what is measured; a rejection would still count as a decision.
 * Token buckets refill 1e9 per day (11.6k tokens/s), slower than they are drained here, so their state
 * stays in Redis as an active bucket's would; refilling 1e9 per second would refill the bucket between
 * two decisions and the script would delete the key each time.
 */

import { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import {
  createLimiter,
  type LimitDefinition,
  type Limiter,
  type LimiterOptions,
  MemoryStore,
  normalizeLimit,
  PolicyLimiter,
  RedisStore,
  type Store,
} from '../../dist/index.js';
import { DecisionLog, observers, SluiceMetrics } from '../../dist/metrics.js';
import type { Decide } from './driver.js';

export interface Contender {
  name: string;
  /** What one decision is, in a line (goes into the report). */
  what: string;
  decide: Decide;
  close(): Promise<void>;
}

/** Every key the bench writes starts with this, so it can be found (and cleaned up) by SCAN. */
export const KEY_ROOT = 'sluice-bench';
/** Never reached during a run: every decision is admitted. */
export const HUGE = 1_000_000_000;
const TENANT = 'bench';
const KEY = 'k';

/** The contenders in report order; `raw-evalsha` first: every ratio is to it. */
export async function createContenders(redisUrl: string): Promise<Contender[]> {
  return [
    await rawEvalsha(redisUrl),
    sluiceMemory(),
    sluiceRedisOne(redisUrl, 'sluice-redis-1', 'fixed-window', '1m'),
    sluiceUnguarded(redisUrl),
    sluiceCircuitOpen(redisUrl),
    sluiceRedisOne(redisUrl, 'sluice-redis-1-sliding-log', 'sliding-log', '1s'),
    sluiceRedisOne(redisUrl, 'sluice-redis-1-token-bucket', 'token-bucket', '1d'),
    sluiceRedisFour(redisUrl),
    sluicePolicy(redisUrl),
    sluicePolicy(redisUrl, true),
    sluicePolicyLimitsDirect(redisUrl),
    rlfRedis(redisUrl),
  ];
}

/**
 * sluice-redis-5: the same five windows (and keys) as sluice-policy, decided through Limiter.decide
 * without policy resolution: the difference between the two is what resolution costs.
 */
function sluicePolicyLimitsDirect(redisUrl: string): Contender {
  const limiter = createLimiter({
    store: new RedisStore({ url: redisUrl }),
    prefix: `${KEY_ROOT}:sluice-redis-5`,
  });
  const w = (
    name: string,
    algorithm: LimitDefinition['algorithm'],
    window: string,
    scope: 'key' | 'tenant' = 'key',
  ) =>
    normalizeLimit(
      {
        name,
        algorithm,
        limit: HUGE,
        window,
        scope,
        ...(algorithm === 'token-bucket' ? { burst: HUGE } : {}),
      },
      name,
    );
  const request = {
    tenant: TENANT,
    key: 'u1',
    checks: [
      { limit: w('search.a', 'sliding-window', '1m'), key: 'e=/search|u=u1' },
      { limit: w('search.b', 'fixed-window', '1h'), key: 'e=/search|u=u1' },
      { limit: w('tier.rps', 'token-bucket', '1s', 'tenant') },
      { limit: w('per-ip.a', 'sliding-window', '1s'), key: 'ip=203.0.113.7' },
      { limit: w('per-ip.b', 'sliding-window', '1h'), key: 'ip=203.0.113.7' },
    ],
    blockedBy: ['u=u1'],
  };
  return {
    name: 'sluice-redis-5',
    what: 'the five windows of sluice-policy through Limiter.decide, without policy resolution',
    decide: async () => (await limiter.decide(request)).allowed,
    close: () => limiter.close(),
  };
}

/**
 * sluice-policy: a request resolved through policies (tenant + endpoint + IP): the tenant's tier bucket
 * (1 window), an endpoint policy (2 windows) and an additive IP policy (2 windows) — three matching
 * policies, five windows, one decision, one round trip. Resolution is in process and cached.
 */
function sluicePolicy(redisUrl: string, observed = false): Contender {
  const window = (algorithm: LimitDefinition['algorithm'], w: string) => ({
    algorithm,
    limit: HUGE,
    window: w,
  });
  const limiter = new PolicyLimiter({
    config: {
      prefix: `${KEY_ROOT}:sluice-policy`,
      tiers: { free: { rps: HUGE, burst: HUGE } },
      policies: [
        {
          name: 'search',
          scope: 'endpoint',
          match: ['/search'],
          limits: [window('sliding-window', '1m'), window('fixed-window', '1h')],
        },
        {
          name: 'per-ip',
          scope: 'ip',
          additive: true,
          limits: [window('sliding-window', '1s'), window('sliding-window', '1h')],
        },
      ],
    },
    store: new RedisStore({ url: redisUrl }),
    // The observability layer's cost (issue 14: at most 3 %): metrics with tenant labels, and decision logs.
    ...(observed
      ? {
          observer: observers(
            new SluiceMetrics({ tenantLabels: { top: 20 } }),
            new DecisionLog({ logger: { warn: () => undefined } }),
          ),
        }
      : {}),
  });
  const request = { tenant: TENANT, user: 'u1', ip: '203.0.113.7', endpoint: '/search' };
  return {
    name: observed ? 'sluice-policy-metrics' : 'sluice-policy',
    what: observed
      ? 'The same PolicyLimiter decision observed by SluiceMetrics (tenant labels on) and a DecisionLog (sluice/metrics)'
      : 'Sluice PolicyLimiter: tenant tier + endpoint + additive IP policy resolved per request, 5 windows, one decision',
    decide: async () => (await limiter.check(request)).allowed,
    close: () => limiter.close(),
  };
}

/** A minimal fixed window: INCR, PEXPIRE on the first hit, compare. No Sluice can be faster per trip. */
export const FIXED_WINDOW_LUA = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n <= tonumber(ARGV[2]) then return 1 end
return 0
`;

/** raw-evalsha: the baseline, ioredis EVALSHA of {@link FIXED_WINDOW_LUA} per decision (1 min window). */
async function rawEvalsha(redisUrl: string): Promise<Contender> {
  const client = new Redis(redisUrl);
  const sha = (await client.script('LOAD', FIXED_WINDOW_LUA)) as string;
  const key = `${KEY_ROOT}:raw:${KEY}`;
  return {
    name: 'raw-evalsha',
    what: 'ioredis EVALSHA of a 4-line fixed-window script (INCR, PEXPIRE on first hit, compare)',
    decide: async () => (await client.evalsha(sha, 1, key, 60_000, HUGE)) === 1,
    close: async () => {
      await client.quit();
    },
  };
}

/** sluice-memory: Sluice on its in-process MemoryStore, one sliding-log limit (1e9 per second). */
function sluiceMemory(): Contender {
  return sluice('sluice-memory', 'Sluice, MemoryStore, one sliding-log limit (1e9 / 1s)', new MemoryStore(), [
    { name: 'per-second', algorithm: 'sliding-log', limit: HUGE, window: '1s' },
  ]);
}

/**
 * sluice-redis-1[-<algorithm>]: Sluice on RedisStore (its own connection to the bench Redis), one limit:
 * fixed-window (comparable with the baseline), or the sliding-log / token-bucket variants.
 */
function sluiceRedisOne(
  redisUrl: string,
  name: string,
  algorithm: 'fixed-window' | 'sliding-log' | 'token-bucket',
  window: string,
): Contender {
  return sluice(
    name,
    `Sluice, RedisStore, one ${algorithm} limit (1e9 / ${window})`,
    new RedisStore({ url: redisUrl }),
    [{ algorithm, limit: HUGE, window }],
  );
}

/** sluice-redis-4: Sluice on RedisStore, four limits decided together in one script call (one round trip). */
function sluiceRedisFour(redisUrl: string): Contender {
  return sluice(
    'sluice-redis-4',
    'Sluice, RedisStore, 4 limits in one decision: sliding-window 1s, fixed-window 1m, sliding-window 1h, token-bucket 1d (burst 1e9)',
    new RedisStore({ url: redisUrl }),
    [
      { name: 'per-second', algorithm: 'sliding-window', limit: HUGE, window: '1s' },
      { name: 'per-minute', algorithm: 'fixed-window', limit: HUGE, window: '1m' },
      { name: 'per-hour', algorithm: 'sliding-window', limit: HUGE, window: '1h' },
      { name: 'burst', algorithm: 'token-bucket', limit: HUGE, window: '1d', burst: HUGE },
    ],
  );
}

/** A Sluice limiter deciding `limit({ tenant, key })` on one key; its prefix is the contender's name. */
/**
 * sluice-redis-1-no-guard: sluice-redis-1 without the time budget and circuit breaker (`guard: false`),
 * to measure what they cost on the healthy path (target: <= 3 %).
 */
function sluiceUnguarded(redisUrl: string): Contender {
  return sluice(
    'sluice-redis-1-no-guard',
    'sluice-redis-1 without its time budget and circuit breaker (guard: false)',
    new RedisStore({ url: redisUrl }),
    [{ algorithm: 'fixed-window', limit: HUGE, window: '1m' }],
    { guard: false },
  );
}

/**
 * sluice-circuit-open: the circuit forced open (as after an outage), failure mode `local`: every decision
 * is made in process without waiting on Redis (target: near memory speed).
 */
function sluiceCircuitOpen(redisUrl: string): Contender {
  const contender = sluice(
    'sluice-circuit-open',
    'Sluice, RedisStore with the circuit forced open, failure mode local (decided in process)',
    new RedisStore({ url: redisUrl }),
    [{ algorithm: 'sliding-log', limit: HUGE, window: '1s' }],
    { failureMode: 'local' },
    (limiter) => limiter.guard?.breaker.force('open'),
  );
  return contender;
}

function sluice(
  name: string,
  what: string,
  store: Store,
  limits: LimitDefinition[],
  options: Partial<LimiterOptions> = {},
  setup?: (limiter: Limiter) => void,
): Contender {
  const limiter = createLimiter({ limits, store, prefix: `${KEY_ROOT}:${name}`, ...options });
  setup?.(limiter);
  const request = { tenant: TENANT, key: KEY };
  return {
    name,
    what,
    decide: async () => (await limiter.limit(request)).allowed,
    close: () => limiter.close(),
  };
}

/**
 * rlf-redis: rate-limiter-flexible RateLimiterRedis.consume() on an ioredis client (1e9 points per 60 s).
 * It rejects the promise with a RateLimiterRes when over the limit: that is a decision (not admitted);
 * any other rejection is a real error.
 */
function rlfRedis(redisUrl: string): Contender {
  const client = new Redis(redisUrl);
  const limiter = new RateLimiterRedis({
    storeClient: client,
    useRedisPackage: false,
    keyPrefix: `${KEY_ROOT}:rlf`,
    points: HUGE,
    duration: 60,
  });
  return {
    name: 'rlf-redis',
    what: 'rate-limiter-flexible RateLimiterRedis.consume() (ioredis, EVALSHA via defineCommand)',
    decide: () =>
      limiter.consume(KEY).then(
        () => true,
        (rejection: unknown) => {
          if (rejection instanceof RateLimiterRes) return false;
          throw rejection;
        },
      ),
    close: async () => {
      await client.quit();
    },
  };
}
