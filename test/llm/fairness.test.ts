/**
 * (Redis limiters run without the guard's 50 ms budget: on a loaded machine an abandoned decision may
 * still land, which skews exact counts.)
 *
 * One provider pool shared by weight. Two tenants with weights 1 and 3 contending for a pool of 4,000
 * tokens a minute get 25 % and 75 % of what it admits (tolerance: 2 percentage points), on memory with
 * a driven clock over minutes of steady contention and on Redis with two instances in one burst; an
 * idle tenant's share is used by the other; a tenant that wakes up gets its share back within a window.
 */
import { describe, expect, it } from 'vitest';
import { createLimiter, ManualClock, MemoryStore } from '../../src/index.js';
import { LlmLimiter, type LlmLimiterOptions, RateLimitExceededError } from '../../src/llm/index.js';
import { EPOCH, freshPrefix, useRedis } from '../regressions/support.js';

const redis = useRedis();
const POOL = 4000;
const options = (refresh: string): LlmLimiterOptions => ({
  providers: {
    openai: {
      tiers: { pro: { requestsPerMinute: 1_000_000 } },
      defaultTier: 'pro',
      pool: { tokensPerMinute: POOL, weights: { light: 1, heavy: 3 }, activeWindow: '10s', refresh },
    },
  },
});
const call = { provider: 'openai' as const, model: 'gpt-4o', inputTokens: 50, maxOutputTokens: 50 };

/** Tries one call for the tenant; true if admitted (then settled with exactly its reservation). */
async function attempt(llm: LlmLimiter, tenant: string): Promise<boolean> {
  try {
    const r = await llm.reserve({ user: `${tenant}-user`, tenant }, call);
    await r.settle({ inputTokens: 50, outputTokens: 50 });
    return true;
  } catch (error) {
    if (error instanceof RateLimitExceededError) return false;
    throw error;
  }
}

describe('weighted fair shares of a provider pool', () => {
  it('memory, driven clock: 25 % / 75 % under steady contention; the idle share is reused; a returning tenant gets its share back', async () => {
    const clock = new ManualClock(EPOCH);
    const llm = new LlmLimiter({
      ...options('1s'),
      clock: clock.now,
      limiter: createLimiter({ store: new MemoryStore({ clock: clock.now }) }),
    });
    const admitted = { light: 0, heavy: 0 };
    /** Every 100 ms for `ms`, each tenant in `tenants` calls until refused; counts admissions after `countFrom`. */
    const run = async (ms: number, tenants: Array<'light' | 'heavy'>, countFrom: number) => {
      admitted.light = 0;
      admitted.heavy = 0;
      for (let t = 0; t < ms; t += 100) {
        for (const tenant of tenants) {
          while (await attempt(llm, tenant)) if (t >= countFrom) admitted[tenant] += 1;
        }
        clock.advance(100);
      }
    };
    await run(180_000, ['light', 'heavy'], 60_000); // contention; counted after the first minute
    const total = admitted.light + admitted.heavy;
    expect(total * 100).toBeGreaterThanOrEqual(2 * POOL * 0.98); // the pool is used: about 2 minutes' worth
    expect(Math.abs(admitted.light / total - 0.25)).toBeLessThanOrEqual(0.02);
    await run(120_000, ['heavy'], 60_000); // light idle: heavy uses the whole pool
    expect(admitted.heavy * 100).toBeGreaterThanOrEqual(POOL * 0.98);
    await run(120_000, ['light', 'heavy'], 60_000); // light is back: 25 % again after one window
    expect(Math.abs(admitted.light / (admitted.light + admitted.heavy) - 0.25)).toBeLessThanOrEqual(0.02);
  }, 60_000);

  it('Redis, two instances, one burst: 1,000 and 3,000 tokens of 4,000', async () => {
    const prefix = freshPrefix();
    const store = () => Object.create(redis.store, { close: { value: async () => {} } });
    const one = new LlmLimiter({
      ...options('1ms'),
      limiter: createLimiter({ store: store(), prefix, guard: false }),
    });
    const two = new LlmLimiter({
      ...options('1ms'),
      limiter: createLimiter({ store: store(), prefix, guard: false }),
    });
    // Both tenants become active (one call each), then contend from two instances at once.
    await Promise.all([attempt(one, 'light'), attempt(two, 'heavy')]);
    await new Promise((r) => setTimeout(r, 5));
    const burst = async (llm: LlmLimiter, tenant: string) => {
      let n = 1;
      for (let wave = 0; wave < 10; wave++) {
        const results = await Promise.all(Array.from({ length: 10 }, () => attempt(llm, tenant)));
        n += results.filter(Boolean).length;
      }
      return n;
    };
    const [light, heavy] = await Promise.all([burst(one, 'light'), burst(two, 'heavy')]);
    expect(light * 100).toBe(1000);
    expect(heavy * 100).toBe(3000);
    expect(one.shareOf('openai', 'light')).toBe(0.25);
    expect(two.shareOf('openai', 'heavy')).toBe(0.75);
  });
});
