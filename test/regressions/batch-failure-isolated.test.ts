/**
 * Issue 10, defect 2: a failing decision must not fail or charge others. In a coalesced batch, one
 * decision's Redis error failed every decision of the batch (other tenants' too), and the writes made
 * before the error persisted. Each decision of a batch now runs under pcall: the one that fails gets an
 * error marker in the reply and only its caller sees a StoreError (its limiter's failure mode answers);
 * its own deferred writes are discarded; the others commit and are answered as usual.
 */
import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/core/errors.js';
import { createLimiter, type LimitDefinition, RedisStore } from '../../src/index.js';
import { rawDecision } from '../../src/stores/redis/coalescer.js';
import type { RedisServer } from '../support/redis-servers.js';
import { logEntries, useRedis } from './support.js';

async function evalshaCalls(admin: Redis): Promise<number> {
  const stats = await admin.info('commandstats');
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

/** The count of a fixed-window state string ("start|count|reset marker"). */
async function fixedCount(admin: Redis, key: string): Promise<number | null> {
  const value = await admin.get(key);
  return value === null ? null : Number(value.split('|')[1]);
}

/** A store whose batch scripts fail a decision of tenant "poison" after its writes (string states). */
class PoisonedBatch extends RedisStore {
  protected override compile(name: string, source: string) {
    const reply = "-- The decision's reply.";
    if (!source.includes(reply)) return super.compile(name, source);
    const poisoned = source.replace(
      reply,
      `  if string.find(KEYS[k_ + 1], '{poison}', 1, true) then error('injected failure') end\n${reply}`,
    );
    return super.compile(name, poisoned);
  }
}

describe('one failing decision of a batch fails alone', () => {
  let server: RedisServer;
  let admin: Redis;
  let store: RedisStore;
  const redis = useRedis();
  beforeAll(() => {
    ({ server, admin, store } = redis);
  });

  it('a key of the wrong type fails its own decision; the other tenants are admitted and charged once', async () => {
    const limits: LimitDefinition[] = [
      { name: 'fixed', algorithm: 'fixed-window', limit: 10, window: '1h' },
      { name: 'log', algorithm: 'sliding-log', limit: 10, window: '1h' },
    ];
    const closed = createLimiter({ store, limits, prefix: 'iso', failureMode: 'closed' });
    const open = createLimiter({ store, limits, prefix: 'iso', failureMode: 'open' });
    // Scripts loaded (one decision: the single script; two: the batch script) before counting calls.
    await Promise.all([closed.peek({ tenant: 'warm', key: 'k' }), closed.peek({ tenant: 'warm', key: 'k' })]);
    // Tenant "bad": a string where its sliding log (a sorted set) is expected.
    await admin.set('iso:{bad}:s:k:log:sl3600000', 'not a sorted set');
    await admin.set('iso:{bad2}:s:k:log:sl3600000', 'not a sorted set');

    // What the store answered the limiters (before their failure modes): the rejections, recorded.
    const storeErrors: unknown[] = [];
    const decideWithin = store.decideWithin as NonNullable<RedisStore['decideWithin']>;
    (store as { decideWithin: RedisStore['decideWithin'] }).decideWithin = (plan, deadlines) => {
      const decided = decideWithin(plan, deadlines);
      decided.catch((error: unknown) => storeErrors.push(error));
      return decided;
    };
    const calls = await evalshaCalls(admin);
    const [a, bad, c, bad2] = await Promise.all([
      closed.limit({ tenant: 'a', key: 'k' }),
      closed.limit({ tenant: 'bad', key: 'k' }),
      closed.limit({ tenant: 'c', key: 'k' }),
      open.limit({ tenant: 'bad2', key: 'k' }),
    ]);
    // One batch: one script call for the four decisions.
    expect((await evalshaCalls(admin)) - calls).toBe(1);

    for (const ok of [a, c]) {
      expect(ok.path).toBe('store');
      expect(ok.allowed).toBe(true);
      expect(ok.remaining).toBe(9);
    }
    for (const tenant of ['a', 'c']) {
      expect(await logEntries(admin, `iso:{${tenant}}:s:k:log:sl3600000`)).toBe(1);
      expect(await fixedCount(admin, `iso:{${tenant}}:s:k:fixed:fw3600000`)).toBe(1);
    }
    // The failing decisions: a StoreError with Redis' message, answered by their failure modes.
    expect(bad.path).toBe('fail-closed');
    expect(bad.allowed).toBe(false);
    expect(bad.storeError?.code).toBe('ERR_SLUICE_STORE');
    expect(bad.storeError?.message).toMatch(/WRONGTYPE/);
    expect(bad2.path).toBe('fail-open');
    expect(bad2.allowed).toBe(true);
    expect(bad2.storeError?.message).toMatch(/WRONGTYPE/);
    // ...which wrote nothing.
    for (const tenant of ['bad', 'bad2']) {
      expect(await admin.exists(`iso:{${tenant}}:s:k:fixed:fw3600000`)).toBe(0);
      expect(await admin.get(`iso:{${tenant}}:s:k:log:sl3600000`)).toBe('not a sorted set');
    }
    // The store itself rejected only those two decisions, each with a StoreError of its own.
    expect(storeErrors).toHaveLength(2);
    for (const error of storeErrors) {
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toMatch(
        /WRONGTYPE Operation against a key holding the wrong kind/,
      );
    }
  });

  it('a decision failing after its writes leaves none of them; the others commit', async () => {
    const poisoned = new PoisonedBatch({ url: server.url });
    await poisoned.ready();
    const limits: LimitDefinition[] = [
      { name: 'fixed', algorithm: 'fixed-window', limit: 10, window: '1h' },
      { name: 'bucket', algorithm: 'token-bucket', limit: 10, window: '1h' },
    ];
    const l = createLimiter({ store: poisoned, limits, prefix: 'poi' });
    try {
      const decisions = await Promise.all(
        ['ok1', 'poison', 'ok2', 'ok1'].map((tenant) => l.limit({ tenant, key: 'k' })),
      );
      expect(decisions.map((d) => d.path)).toEqual(['store', 'fail-closed', 'store', 'store']);
      expect(decisions.map((d) => d.remaining)).toEqual([9, 0, 9, 8]);
      expect(decisions[1]?.storeError?.message).toMatch(/injected failure/);
      expect(await fixedCount(admin, 'poi:{ok1}:s:k:fixed:fw3600000')).toBe(2);
      expect(await fixedCount(admin, 'poi:{ok2}:s:k:fixed:fw3600000')).toBe(1);
      expect(
        await admin.exists('poi:{poison}:s:k:fixed:fw3600000', 'poi:{poison}:s:k:bucket:tb3600000'),
      ).toBe(0);
      expect(await admin.exists('poi:{ok1}:s:k:bucket:tb3600000', 'poi:{ok2}:s:k:bucket:tb3600000')).toBe(2);
    } finally {
      await poisoned.close();
    }
  });

  it('client side, a decision reply holding the error marker reads as a StoreError', () => {
    const marker = [
      Buffer.from('WRONGTYPE Operation against a key holding the wrong kind of value'),
      0,
      0,
      0,
      0,
    ];
    expect(() => rawDecision(marker as unknown as number[], 0, 5)).toThrow(StoreError);
    expect(() => rawDecision(marker as unknown as number[], 0, 5)).toThrow(/WRONGTYPE/);
    expect(rawDecision([0, 1000, 0, 4, 2000], 0, 5).admitted).toBe(true);
  });
});
