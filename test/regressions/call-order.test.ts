/**
 * Issue 10, defect 4: call order. With coalescing, a `block` issued after a decision in the same turn
 * ran on Redis before it (the decision waited for the end of the turn, the block was sent at once); the
 * same for reset, resetTenant, refund and the rest. Every other operation of the Redis store now sends
 * the decisions queued before it first, so one caller's operations take effect in the order it made
 * them, on every store.
 */
import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLimiter, type LimitDefinition, type Limiter, type RedisStore } from '../../src/index.js';
import { logEntries, useRedis } from './support.js';

const LIMITS: LimitDefinition[] = [
  { name: 'log', algorithm: 'sliding-log', limit: 5, window: '1h' },
  { name: 'fixed', algorithm: 'fixed-window', limit: 5, window: '1h' },
];

let admin: Redis;
let store: RedisStore;
const redis = useRedis();
beforeAll(() => {
  ({ admin, store } = redis);
});

describe.each(['memory', 'redis'] as const)('%s store: operations take effect in call order', (kind) => {
  let limiter: Limiter;
  let n = 0;
  const fresh = () => ({ tenant: `${kind}-t${++n}`, key: 'k' });
  beforeAll(() => {
    limiter = createLimiter({
      limits: LIMITS,
      prefix: 'order',
      ...(kind === 'redis' ? { store } : {}),
    });
  });

  it('limit, then block: the decision is admitted (the block came after it)', async () => {
    const request = fresh();
    const a = limiter.limit(request);
    const b = limiter.block(request, '1m');
    const [decision] = await Promise.all([a, b]);
    expect(decision.path).toBe('store');
    expect(decision.allowed).toBe(true);
    expect(decision.remaining).toBe(4);
    const after = await limiter.peek(request);
    expect(after.allowed).toBe(false);
    expect(after.reason).toBe('blocked');
  });

  it('limit, then reset: the reset clears the charge', async () => {
    const request = fresh();
    const [decision] = await Promise.all([limiter.limit(request), limiter.reset(request)]);
    expect(decision.allowed).toBe(true);
    expect(decision.remaining).toBe(4);
    expect((await limiter.peek(request)).remaining).toBe(5);
  });

  it('limit, then resetTenant, in one millisecond: the reset clears the charge (every algorithm)', async () => {
    const request = fresh();
    const all = createLimiter({
      limits: [
        ...LIMITS,
        { name: 'bucket', algorithm: 'token-bucket', limit: 5, window: '1h' },
        { name: 'counter', algorithm: 'sliding-window', limit: 5, window: '1h' },
        { name: 'inflight', algorithm: 'concurrency', limit: 5, window: '1h' },
      ],
      prefix: 'order-all',
      ...(kind === 'redis' ? { store } : {}),
    });
    const [decision] = await Promise.all([all.limit(request), all.resetTenant(request.tenant)]);
    expect(decision.allowed).toBe(true);
    expect(decision.remaining).toBe(4);
    expect((await all.peek(request)).limits.map((r) => r.remaining)).toEqual([5, 5, 5, 5, 5]);
  });

  it('refund, then limit: the decision sees the refunded units', async () => {
    const request = fresh();
    const taken = await limiter.limit({ ...request, cost: 2 });
    const [, decision] = await Promise.all([limiter.refund(taken), limiter.limit({ ...request, cost: 4 })]);
    expect(decision.allowed).toBe(true);
    expect(decision.remaining).toBe(1);
  });

  it('block, unblock, limit: the decision sees the unblocked key', async () => {
    const request = fresh();
    await limiter.block(request, '1m');
    const [decision] = await Promise.all([
      limiter.limit(request),
      limiter.unblock(request),
      limiter.limit(request),
    ]).then(([first, , second]) => [first, second]);
    expect(decision?.allowed).toBe(false);
    expect(decision?.reason).toBe('blocked');
    expect((await limiter.peek(request)).remaining).toBe(4);
  });

  if (kind === 'redis') {
    it('the counts in Redis follow the call order', async () => {
      const request = fresh();
      const key = `order:{${request.tenant}}:s:k:log:sl3600000`;
      await Promise.all([limiter.limit(request), limiter.limit(request), limiter.reset(request)]);
      expect(await admin.exists(key)).toBe(0);
      await Promise.all([limiter.reset(request), limiter.limit(request), limiter.limit(request)]);
      expect(await logEntries(admin, key)).toBe(2);
    });
  }
});
