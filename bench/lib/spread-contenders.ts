/**
 * The spread bench's contenders: the same ones as the decisions bench (see contenders.ts), but each
 * decision is on the key (and tenant) the scenario picks, and every window is short (1-3 s) so the up to
 * a million keys a scenario writes expire. Limits are the scenario's: 1e9 (all admitted) or 1 (the
 * hot-key scenario, about 90 % rejected).
 */
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import {
  createLimiter,
  type LimitDefinition,
  MemoryStore,
  PolicyLimiter,
  RedisStore,
  type Store,
} from '../../dist/index.js';
import { FIXED_WINDOW_LUA, KEY_ROOT } from './contenders.js';
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
  create(redisUrl: string, limit: number, tenantPerKey: boolean): Promise<SpreadContender>;
}

export const SPREAD_BASELINE = 'raw-evalsha';
export const RLF_REDIS = 'rlf-redis';
export const RLF_MEMORY = 'rlf-memory';

const PREFIX = `${KEY_ROOT}:spread`;

/** rate-limiter-flexible rejects with a RateLimiterRes when over the limit: a decision, not admitted. */
const rlfOutcome = (promise: Promise<unknown>): Promise<boolean> =>
  promise.then(
    () => true,
    (rejection: unknown) => {
      if (rejection instanceof RateLimiterRes) return false;
      throw rejection;
    },
  );

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
): Promise<SpreadContender> {
  await connected(store);
  const limiter = createLimiter({ limits, store, prefix: `${PREFIX}:${name}` });
  return {
    name,
    what,
    store: kind,
    decide: async (pick) => (await limiter.limit({ tenant: pick.tenant, key: pick.key })).allowed,
    close: () => limiter.close(),
  };
}

/** An IPv4 address per key number, so the policy's per-IP windows spread like the keys. */
function ipOf(index: number): string {
  return `10.${(index >>> 16) & 255}.${(index >>> 8) & 255}.${index & 255}`;
}

export const SPREAD_CONTENDERS: SpreadContenderFactory[] = [
  {
    name: SPREAD_BASELINE,
    store: 'redis',
    create: async (redisUrl, limit) => {
      const client = new Redis(redisUrl);
      const sha = (await client.script('LOAD', FIXED_WINDOW_LUA)) as string;
      return {
        name: SPREAD_BASELINE,
        what: 'ioredis EVALSHA of the 4-line fixed-window script (INCR, PEXPIRE on first hit, compare), 1 s window, on the picked key',
        store: 'redis',
        decide: async (pick) =>
          (await client.evalsha(sha, 1, `${PREFIX}:raw:${pick.key}`, 1000, limit)) === 1,
        close: async () => {
          await client.quit();
        },
      };
    },
  },
  {
    name: 'sluice-redis-1',
    store: 'redis',
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
    name: 'sluice-redis-4',
    store: 'redis',
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
    create: async (redisUrl, limit, tenantPerKey) => {
      const window = (algorithm: LimitDefinition['algorithm'], w: string) => ({
        algorithm,
        limit,
        window: w,
      });
      // The tier bucket is per tenant: in the hot-key scenario (one tenant) it stays at 1e9, as a
      // tenant-wide quota would, and only the per-key policies carry the limit of 1.
      const tierQuota = limit === 1 && !tenantPerKey ? 1_000_000_000 : limit;
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
        decide: async (pick) =>
          (
            await limiter.check({
              tenant: pick.tenant,
              user: pick.key,
              ip: ipOf(pick.index),
              endpoint: '/search',
            })
          ).allowed,
        close: () => limiter.close(),
      };
    },
  },
  {
    name: 'sluice-memory',
    store: 'memory',
    create: async (_redisUrl, limit) =>
      sluice(
        'sluice-memory',
        'Sluice, MemoryStore, one sliding-log limit (1 s)',
        new MemoryStore(),
        [{ name: 'per-second', algorithm: 'sliding-log', limit, window: '1s' }],
        'memory',
      ),
  },
  {
    name: RLF_REDIS,
    store: 'redis',
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
    create: async (_redisUrl, limit) => {
      const limiter = new RateLimiterMemory({
        keyPrefix: `${PREFIX}:rlf-memory`,
        points: limit,
        duration: 1,
      });
      return {
        name: RLF_MEMORY,
        what: 'rate-limiter-flexible RateLimiterMemory.consume(), 1 s duration, on the picked key',
        store: 'memory',
        decide: (pick) => rlfOutcome(limiter.consume(pick.key)),
        close: async () => {},
      };
    },
  },
];
