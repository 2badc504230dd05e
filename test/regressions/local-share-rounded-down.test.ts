/**
 * Issue 10, defect 2: the `local` failure mode's share of a limit was clamped to at least 1, so a fleet
 * of 3 instances with limit 2 admitted 3. The share is floor(limit × fraction) (and floor(burst ×
 * fraction) for a token bucket): a fleet in local mode never admits more than the limit, and a share
 * of 0 admits nothing locally. Three limiters, each with its own local fallback, on a Redis that is down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision, LimitDefinition } from '../../src/core/types.js';
import { createLimiter, type Limiter } from '../../src/limiter.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';

const INSTANCES = 3;
const REQUESTS = 5;

let server: RedisServer;

beforeAll(async () => {
  server = await startRedis();
  // The port stays reserved by the harness and nothing listens on it: every store call fails.
  await server.kill();
});

afterAll(async () => {
  await server?.stop();
});

function fleet(limits: LimitDefinition[]): Limiter[] {
  return Array.from({ length: INSTANCES }, () =>
    createLimiter({
      store: new RedisStore({ url: server.url }),
      limits,
      failureMode: 'local',
      localShare: { instances: INSTANCES },
    }),
  );
}

/** REQUESTS decisions per instance, one after the other; every one must be decided locally. */
async function run(limiters: Limiter[], tenant: string): Promise<Decision[][]> {
  try {
    const all: Decision[][] = [];
    for (const limiter of limiters) {
      const decisions: Decision[] = [];
      for (let i = 0; i < REQUESTS; i++) decisions.push(await limiter.limit({ tenant, key: 'k' }));
      all.push(decisions);
    }
    for (const d of all.flat()) expect(d.path).toBe('local');
    return all;
  } finally {
    for (const limiter of limiters) await limiter.close();
  }
}

const admittedPerInstance = (all: Decision[][]) => all.map((ds) => ds.filter((d) => d.allowed).length);

describe.each(['sliding-log', 'sliding-window', 'fixed-window', 'concurrency'] as const)(
  'local share rounded down (%s, 3 instances)',
  (algorithm) => {
    it('limit 2 per minute: the fleet admits 0, every decision rate_limited with a retry time', async () => {
      const all = await run(fleet([{ name: 'm', algorithm, limit: 2, window: '1m' }]), `zero-${algorithm}`);
      expect(admittedPerInstance(all)).toEqual([0, 0, 0]);
      for (const d of all.flat()) {
        expect(d.reason).toBe('rate_limited');
        expect(d.retryAfterMs).toBeGreaterThan(0);
        expect(d.retryAfterMs).toBeLessThanOrEqual(60_000);
        expect([d.binding.name, d.binding.limit, d.binding.remaining, d.binding.allowed]).toEqual([
          'm',
          0,
          0,
          false,
        ]);
      }
    });

    it('limit 7 per minute: 2 per instance, 6 in all', async () => {
      const all = await run(fleet([{ name: 'm', algorithm, limit: 7, window: '1m' }]), `seven-${algorithm}`);
      expect(admittedPerInstance(all)).toEqual([2, 2, 2]);
      expect(all.flat().filter((d) => d.allowed)[0]?.binding.limit).toBe(2);
    });
  },
);

describe('local share rounded down (token bucket, 3 instances)', () => {
  it('refill 2, burst 2: the fleet admits 0', async () => {
    const all = await run(fleet([{ algorithm: 'token-bucket', limit: 2, window: '1m' }]), 'tb-zero');
    expect(admittedPerInstance(all)).toEqual([0, 0, 0]);
  });

  it('refill 7, burst 7: 2 per instance; refill 2, burst 6: burst 2 each (refill 2/3 per minute)', async () => {
    const seven = await run(fleet([{ algorithm: 'token-bucket', limit: 7, window: '1m' }]), 'tb-seven');
    expect(admittedPerInstance(seven)).toEqual([2, 2, 2]);
    const slow = await run(
      fleet([{ algorithm: 'token-bucket', limit: 2, window: '1m', burst: 6 }]),
      'tb-slow',
    );
    expect(admittedPerInstance(slow)).toEqual([2, 2, 2]);
    const limit = slow[0]?.[0]?.binding;
    expect([limit?.limit, limit?.refill, limit?.windowMs]).toEqual([2, 1, 90_000]);
  });
});

describe('a zero share beside a limit that has room', () => {
  it('rejects without charging the other limit; a peek is allowed', async () => {
    const limiters = fleet([
      { name: 'small', limit: 2, window: '1m' },
      { name: 'large', limit: 30, window: '1h' },
    ]);
    const [first] = limiters as [Limiter];
    try {
      for (let i = 0; i < 3; i++) {
        const d = await first.limit({ tenant: 'mixed', key: 'k' });
        expect([d.allowed, d.reason, d.path, d.binding.name]).toEqual([
          false,
          'rate_limited',
          'local',
          'small',
        ]);
        expect(d.limits.map((l) => [l.name, l.limit, l.remaining, l.allowed])).toEqual([
          ['small', 0, 0, false],
          ['large', 10, 10, true],
        ]);
      }
      const peek = await first.peek({ tenant: 'mixed', key: 'k' });
      expect([peek.allowed, peek.reason, peek.retryAfterMs]).toEqual([true, 'allowed', 0]);
    } finally {
      for (const limiter of limiters) await limiter.close();
    }
  });
});
