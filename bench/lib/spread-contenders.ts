/**
 * The spread bench's contenders: the same ones as the decisions bench (see contenders.ts), plus Sluice
 * Redis with its local cache of denials and Sluice memory on a fixed window (like-for-like with
 * rate-limiter-flexible's memory limiter, a fixed window), but each decision is on the key (and tenant)
 * the scenario picks, and every window is short (1-3 s) so the up to a million keys a scenario writes
 * expire. Limits are the scenario's: 1e9 (all admitted) or 100 (the hot-key scenario, ~90 % rejected).
 */
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import {
  createLimiter,
  type LimitDefinition,
  type LimiterOptions,
  MemoryStore,
  PolicyLimiter,
  RedisStore,
  type Store,
  ValidationError,
} from '../../dist/index.js';
import { FIXED_WINDOW_LUA, HUGE, KEY_ROOT } from './contenders.js';
import type { Pick } from './spread-keys.js';

export interface SpreadContender {
  name: string;
  what: string;
  /** Redis contenders are compared with rlf-redis, memory ones with rlf-memory. */
  store: 'redis' | 'memory';
  decide(pick: Pick): Promise<boolean>;
  close(): Promise<void>;
}

/** Builds a fresh contender (own connection, own prefix) for one measured run. */
export interface SpreadContenderFactory {
  name: string;
  store: 'redis' | 'memory';
  /** Its longest window (all of a contender's windows have the scenario's limit): see admission.ts. */
  longestWindowMs: number;
  /** Why it cannot run with this build (an option the library lacks yet), or null when it can. */
  unavailable?: () => string | null;
  create(redisUrl: string, limit: number, tenantPerKey: boolean): Promise<SpreadContender>;
}

export const SPREAD_BASELINE = 'raw-evalsha';
export const RLF_REDIS = 'rlf-redis';
export const RLF_MEMORY = 'rlf-memory';

const PREFIX = `${KEY_ROOT}:spread`;

/*
 * Every contender's promise is turned into its outcome the same way: one `then` with module-level
 * handlers (no closure, no async function per decision), so the harness costs each the same.
 */
const admitted = (): boolean => true;
/** rate-limiter-flexible rejects with a RateLimiterRes when over the limit: a decision, not admitted. */
const rlfRejected = (rejection: unknown): boolean => {
  if (rejection instanceof RateLimiterRes) return false;
  throw rejection;
};
const rlfOutcome = (promise: Promise<unknown>): Promise<boolean> => promise.then(admitted, rlfRejected);
const allowedOf = (decision: { allowed: boolean }): boolean => decision.allowed;
const isOne = (reply: unknown): boolean => reply === 1;

/**
 * A RedisStore fails fast (store_unavailable) until its client is ready, and the failures would open
 * its circuit: wait for the connection before the first decision, as the decisions bench's warm-up does.
 */
async function connected<S extends Store>(store: S): Promise<S> {
  if (store instanceof RedisStore) await store.ready();
  return store;
}

async function sluice(
  name: string,
  what: string,
  store: Store,
  limits: LimitDefinition[],
  kind: 'redis' | 'memory',
  options: Record<string, unknown> = {},
): Promise<SpreadContender> {
  await connected(store);
  // A variable, not a literal: options this build's types may not know yet (denialCache) pass through
  // to the limiter's own validation.
  const all: LimiterOptions = {
    limits,
    store,
    prefix: `${PREFIX}:${name.replace(/[^\w-]/g, '_')}`,
    ...options,
  };
  const limiter = createLimiter(all);
  return {
    name,
    what,
    store: kind,
    decide: (pick) => limiter.limit({ tenant: pick.tenant, key: pick.key }).then(allowedOf),
    close: () => limiter.close(),
  };
}

/** Sluice's local cache of denials, at its default bounds. */
const DENIAL_CACHE = { denialCache: true };

/**
 * Null when this build's createLimiter accepts `denialCache`; else the note to print. Any other error
 * is a real one and is thrown.
 */
export function denialCacheUnavailable(): string | null {
  try {
    const options = { limits: [{ algorithm: 'fixed-window', limit: 1, window: '1s' }], ...DENIAL_CACHE };
    void createLimiter(options as LimiterOptions).close();
    return null;
  } catch (error) {
    if (
      error instanceof ValidationError &&
      error.code === 'ERR_SLUICE_INVALID_OPTION' &&
      error.field === 'denialCache'
    ) {
      return `this build's createLimiter rejects denialCache (${error.message})`;
    }
    throw error;
  }
}

/**
 * The memory stores' bounds, raised so that one tenant may hold every key of a scenario (a million):
 * at the defaults (1,000,000 keys, a tenth per tenant) one tenant's 1,000,000 keys would fill the
 * store and be denied, which rate-limiter-flexible's unbounded memory limiter never does.
 */
const MEMORY_BOUNDS = { maxKeys: 2_000_000, maxKeysPerTenant: 2_000_000 };
const BOUNDS_WHAT = 'maxKeys and maxKeysPerTenant 2,000,000';

/** An IPv4 address per key number, so the policy's per-IP windows spread like the keys. */
function ipOf(index: number): string {
  return `10.${(index >>> 16) & 255}.${(index >>> 8) & 255}.${index & 255}`;
}

export const SPREAD_CONTENDERS: SpreadContenderFactory[] = [
  {
    name: SPREAD_BASELINE,
    store: 'redis',
    longestWindowMs: 1000,
    create: async (redisUrl, limit) => {
      const client = new Redis(redisUrl);
      const sha = (await client.script('LOAD', FIXED_WINDOW_LUA)) as string;
      return {
        name: SPREAD_BASELINE,
        what: 'ioredis EVALSHA of the 4-line fixed-window script (INCR, PEXPIRE on first hit, compare), 1 s window, on the picked key',
        store: 'redis',
        decide: (pick) =>
          (client.evalsha(sha, 1, `${PREFIX}:raw:${pick.key}`, 1000, limit) as Promise<unknown>).then(isOne),
        close: async () => {
          await client.quit();
        },
      };
    },
  },
  {
    name: 'sluice-redis-1',
    store: 'redis',
    longestWindowMs: 1000,
    create: async (redisUrl, limit) =>
      sluice(
        'sluice-redis-1',
        'Sluice, RedisStore, one fixed-window limit (1 s)',
        new RedisStore({ url: redisUrl }),
        [{ algorithm: 'fixed-window', limit, window: '1s' }],
        'redis',
      ),
  },
  {
    name: 'sluice-redis-1-cached',
    store: 'redis',
    longestWindowMs: 1000,
    unavailable: denialCacheUnavailable,
    create: async (redisUrl, limit) =>
      sluice(
        'sluice-redis-1-cached',
        'sluice-redis-1 with its local cache of denials (`denialCache: true`, default bounds)',
        new RedisStore({ url: redisUrl }),
        [{ algorithm: 'fixed-window', limit, window: '1s' }],
        'redis',
        DENIAL_CACHE,
      ),
  },
  {
    name: 'sluice-redis-4',
    store: 'redis',
    longestWindowMs: 3000,
    create: async (redisUrl, limit) =>
      sluice(
        'sluice-redis-4',
        'Sluice, RedisStore, 4 limits in one decision: sliding-window 1s, fixed-window 2s, sliding-window 3s, token-bucket 1s (burst = limit)',
        new RedisStore({ url: redisUrl }),
        [
          { name: 'per-second', algorithm: 'sliding-window', limit, window: '1s' },
          { name: 'per-2s', algorithm: 'fixed-window', limit, window: '2s' },
          { name: 'per-3s', algorithm: 'sliding-window', limit, window: '3s' },
          { name: 'burst', algorithm: 'token-bucket', limit, window: '1s', burst: limit },
        ],
        'redis',
      ),
  },
  {
    name: 'sluice-policy',
    store: 'redis',
    // The per-key windows (1, 2, 1 and 3 s) carry the limit in the hot-key scenario.
    longestWindowMs: 3000,
    create: async (redisUrl, limit, tenantPerKey) => {
      const window = (algorithm: LimitDefinition['algorithm'], w: string) => ({
        algorithm,
        limit,
        window: w,
      });
      // The tier bucket is per tenant: in the hot-key scenario (one tenant) it stays at 1e9, as a
      // tenant-wide quota would, and only the per-key policies carry the scenario's limit.
      const tierQuota = limit < HUGE && !tenantPerKey ? HUGE : limit;
      const limiter = new PolicyLimiter({
        config: {
          prefix: `${PREFIX}:sluice-policy`,
          tiers: { free: { rps: tierQuota, burst: tierQuota } },
          policies: [
            {
              name: 'search',
              scope: 'endpoint',
              match: ['/search'],
              limits: [window('sliding-window', '1s'), window('fixed-window', '2s')],
            },
            {
              name: 'per-ip',
              scope: 'ip',
              additive: true,
              limits: [window('sliding-window', '1s'), window('sliding-window', '3s')],
            },
          ],
        },
        store: await connected(new RedisStore({ url: redisUrl })),
      });
      return {
        name: 'sluice-policy',
        what: "Sluice PolicyLimiter (as in the decisions bench, windows shortened to 1-3 s): the tenant's tier bucket + endpoint policy (2 windows) + additive IP policy (2 windows), user = the picked key, IP derived from it",
        store: 'redis',
        decide: (pick) =>
          limiter
            .check({ tenant: pick.tenant, user: pick.key, ip: ipOf(pick.index), endpoint: '/search' })
            .then(allowedOf),
        close: () => limiter.close(),
      };
    },
  },
  {
    name: 'sluice-memory',
    store: 'memory',
    longestWindowMs: 1000,
    create: async (_redisUrl, limit) =>
      sluice(
        'sluice-memory',
        `Sluice, MemoryStore (${BOUNDS_WHAT}), one sliding-log limit (1 s): exact, a log per key`,
        new MemoryStore(MEMORY_BOUNDS),
        [{ name: 'per-second', algorithm: 'sliding-log', limit, window: '1s' }],
        'memory',
      ),
  },
  {
    name: 'sluice-memory-fw',
    store: 'memory',
    longestWindowMs: 1000,
    create: async (_redisUrl, limit) =>
      sluice(
        'sluice-memory-fw',
        `Sluice, MemoryStore (${BOUNDS_WHAT}), one fixed-window limit (1 s): like-for-like with rlf-memory`,
        new MemoryStore(MEMORY_BOUNDS),
        [{ name: 'per-second', algorithm: 'fixed-window', limit, window: '1s' }],
        'memory',
      ),
  },
  {
    name: RLF_REDIS,
    store: 'redis',
    longestWindowMs: 1000,
    create: async (redisUrl, limit) => {
      const client = new Redis(redisUrl);
      const limiter = new RateLimiterRedis({
        storeClient: client,
        useRedisPackage: false,
        keyPrefix: `${PREFIX}:rlf`,
        points: limit,
        duration: 1,
      });
      return {
        name: RLF_REDIS,
        what: 'rate-limiter-flexible RateLimiterRedis.consume() (ioredis), 1 s duration, on the picked key',
        store: 'redis',
        decide: (pick) => rlfOutcome(limiter.consume(pick.key)),
        close: async () => {
          await client.quit();
        },
      };
    },
  },
  {
    name: RLF_MEMORY,
    store: 'memory',
    longestWindowMs: 1000,
    create: async (_redisUrl, limit) => {
      const limiter = new RateLimiterMemory({
        keyPrefix: `${PREFIX}:rlf-memory`,
        points: limit,
        duration: 1,
      });
      return {
        name: RLF_MEMORY,
        what: 'rate-limiter-flexible RateLimiterMemory.consume(), 1 s duration (a fixed window from the first hit), on the picked key',
        store: 'memory',
        decide: (pick) => rlfOutcome(limiter.consume(pick.key)),
        close: async () => {},
      };
    },
  },
];

/**
 * Extra contenders for trying RedisStore options side by side in one run: one sluice-redis-1 per
 * options object of BENCH_SPREAD_VARIANTS (a JSON array), named after its options, e.g.
 * BENCH_SPREAD_VARIANTS='[{"maxBatch":64}]' adds `sluice-redis-1 maxBatch=64`.
 */
export function variantContenders(json = process.env['BENCH_SPREAD_VARIANTS']): SpreadContenderFactory[] {
  if (!json) return [];
  const variants = JSON.parse(json) as unknown;
  if (!Array.isArray(variants))
    throw new Error('BENCH_SPREAD_VARIANTS: expected a JSON array of RedisStore options');
  return variants.map((options: Record<string, unknown>) => {
    const name = `sluice-redis-1 ${Object.entries(options)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ')}`;
    return {
      name,
      store: 'redis',
      longestWindowMs: 1000,
      create: async (redisUrl, limit) =>
        sluice(
          name,
          `sluice-redis-1 with RedisStore options ${JSON.stringify(options)}`,
          new RedisStore({ url: redisUrl, ...options }),
          [{ algorithm: 'fixed-window', limit, window: '1s' }],
          'redis',
        ),
    } satisfies SpreadContenderFactory;
  });
}
