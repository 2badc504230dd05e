/**
 * Issue 10, defect 1: scripts declare their flags. On a Redis at `maxmemory` with `noeviction`, a script
 * without a shebang is refused only at its first write: sliding-log and concurrency decisions still
 * trimmed and added to their sorted sets. Every script now starts with `#!lua` (no `no-writes`, no
 * `allow-oom`), so Redis refuses it before it runs: the decision is a store failure (the failure mode
 * decides) and nothing is written.
 */
import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLimiter, type LimitDefinition, type RedisStore } from '../../src/index.js';
import { logEntries, useRedis } from './support.js';

const PREFIX = 'oom';

/** Whether Redis refuses a write for lack of memory. */
async function refusesWrites(admin: Redis): Promise<boolean> {
  try {
    await admin.set('oom-probe', 'x');
    return false;
  } catch (error) {
    if (!/^OOM/.test((error as Error).message)) throw error;
    return true;
  }
}

/**
 * Fills memory with junk keys until Redis refuses writes: big values, then ever smaller ones, since a
 * refused write frees its request buffer (memory drops back under the limit) and the next one passes.
 */
async function fillUntilOom(admin: Redis, tag: string): Promise<void> {
  let i = 0;
  for (const size of [64 * 1024, 4096, 256, 16, 1]) {
    const junk = 'x'.repeat(size);
    for (let tries = 0; tries < 10_000; tries++, i++) {
      try {
        await admin.set(`junk:${tag}:${i}`, junk);
      } catch (error) {
        if (!/^OOM/.test((error as Error).message)) throw error;
        break;
      }
    }
    if (await refusesWrites(admin)) return;
  }
  throw new Error('Redis still takes writes after filling its memory');
}

describe('scripts are refused up front by an out-of-memory Redis', () => {
  let admin: Redis;
  let store: RedisStore;
  const redis = useRedis(['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction']);
  beforeAll(() => {
    ({ admin, store } = redis);
  });

  it.each([
    ['sliding-log', 'sl'],
    ['concurrency', 'cc'],
  ] as const)('%s: a store failure, and nothing written', async (algorithm, code) => {
    const limits: LimitDefinition[] = [{ name: 'l', algorithm, limit: 5, window: '1m' }];
    const limiter = createLimiter({ store, limits, prefix: `${PREFIX}-${code}` });
    // Scripts loaded while there is memory: under OOM the decision's EVALSHA finds its script.
    const warm = await limiter.limit({ tenant: 'warm', key: 'k' });
    expect(warm.path).toBe('store');
    expect(warm.allowed).toBe(true);

    await fillUntilOom(admin, code);
    const keysBefore = await admin.dbsize();

    expect(await refusesWrites(admin)).toBe(true);
    const decisions = await Promise.all([
      limiter.limit({ tenant: 't', key: 'k' }),
      limiter.limit({ tenant: 't', key: 'k' }),
    ]);
    for (const decision of decisions) {
      expect(decision.allowed).toBe(false);
      expect(decision.path).toBe('fail-closed');
      expect(decision.storeError?.code).toBe('ERR_SLUICE_STORE');
      expect(decision.storeError?.message).toMatch(/OOM/);
    }
    // Nothing written: no state key, no new key at all.
    const stateKey = `${PREFIX}-${code}:{t}:s:k:l:${code}60000`;
    expect(await admin.exists(stateKey)).toBe(0);
    expect(await admin.dbsize()).toBe(keysBefore);

    // Memory back: decisions go to the store again, and count from zero.
    await admin.flushall();
    const after = await limiter.limit({ tenant: 't', key: 'k' });
    expect(after.path).toBe('store');
    expect(after.remaining).toBe(4);
    expect(await logEntries(admin, stateKey)).toBe(1);
  });
});
