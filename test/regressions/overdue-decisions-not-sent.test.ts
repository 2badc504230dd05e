/**
 * Issue 10, defect 3: overdue decisions are not sent. A decision whose time budget ran out before its
 * coalesced batch left (the deciding turn stalled) was answered ERR_SLUICE_STORE_TIMEOUT and still sent
 * and counted. The coalescer now expires such decisions, with the guard's timeout error, instead of
 * sending them.
 */
import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLimiter, type LimitDefinition, type RedisStore } from '../../src/index.js';
import { logEntries, useRedis } from './support.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // a synchronous stall of the deciding turn
  }
}

describe('a decision overdue before its batch leaves is not sent', () => {
  let admin: Redis;
  let store: RedisStore;
  const redis = useRedis();
  beforeAll(() => {
    ({ admin, store } = redis);
  });

  it.each([
    ['sliding-log', 'sl'],
    ['fixed-window', 'fw'],
  ] as const)('%s: answered ERR_SLUICE_STORE_TIMEOUT, and nothing counted', async (algorithm, code) => {
    const limits: LimitDefinition[] = [{ name: 'l', algorithm, limit: 10, window: '1h' }];
    // The default guard: a 50 ms budget.
    const limiter = createLimiter({ store, limits, prefix: `late-${code}` });
    const request = { tenant: 't', key: 'k' };
    // Scripts loaded, on another tenant.
    expect((await limiter.peek({ tenant: 'warm', key: 'k' })).path).toBe('store');

    const pending = [limiter.limit(request), limiter.limit(request), limiter.limit(request)];
    busyWait(120);
    const decisions = await Promise.all(pending);
    for (const decision of decisions) {
      expect(decision.path).toBe('fail-closed');
      expect(decision.allowed).toBe(false);
      expect(decision.storeError?.code).toBe('ERR_SLUICE_STORE_TIMEOUT');
    }
    await sleep(50); // anything sent would have run by now
    const key = `late-${code}:{t}:s:k:l:${code}3600000`;
    if (code === 'sl') expect(await logEntries(admin, key)).toBe(0);
    expect(await admin.exists(key)).toBe(0);

    // The next decision is the first one counted.
    const next = await limiter.limit(request);
    expect(next.path).toBe('store');
    expect(next.remaining).toBe(9);
  });
});
