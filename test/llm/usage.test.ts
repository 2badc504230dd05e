/**
 * LLM usage per identity, provider and model, kept in the store by epoch hour (seed 004's
 * `get_llm_usage(user, hours=24)`): exact figures on memory and on a real redis-server, the hours
 * window at real epoch instants on a driven clock, the bounds (identities and models per tenant-hour,
 * the memory store's keys), two instances on one Redis seeing each other's calls, the key layout
 * (one hash tag, a TTL on every key), the scripts (EVALSHA, EVAL only after NOSCRIPT) and the ACL user.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { StoreError, ValidationError } from '../../src/core/errors.js';
import { createLimiter } from '../../src/index.js';
import { LlmConfigError, LlmLimiter, type LlmLimiterOptions, UsageBook } from '../../src/llm/index.js';
import { HOUR_MS } from '../../src/llm/usage.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { MemoryUsage } from '../../src/stores/memory/usage.js';
import { redisAclRules } from '../../src/stores/redis/acl.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import type { Store } from '../../src/stores/store.js';
import type { UsageWrite } from '../../src/stores/usage.js';
import { EPOCH, freshPrefix, useRedis } from '../regressions/support.js';
import { createAclUser } from '../support/redis-servers.js';

const PRICES = {
  'gpt-4o': { input: 2.5, output: 10, cachedInput: 1.25 },
  'claude-sonnet-4-5': { input: 3, output: 15 },
};
/** The start of EPOCH's hour: EPOCH is 123 ms into it. */
const HOUR0 = EPOCH - 123;

const redis = useRedis();

interface Setup {
  llm: LlmLimiter;
  clock: ManualClock;
  store: Store;
  prefix: string;
}

/** An LlmLimiter on memory (the store and the limiter on one driven clock) or on the file's Redis. */
function setup(backend: 'memory' | 'redis', options: LlmLimiterOptions = {}): Setup {
  const clock = new ManualClock(EPOCH);
  const store =
    backend === 'memory'
      ? new MemoryStore({ clock: clock.now })
      : (Object.create(redis.store, { close: { value: async () => {} } }) as RedisStore);
  const prefix = freshPrefix();
  const limiter = createLimiter({ store, prefix, guard: false });
  return {
    llm: new LlmLimiter({ prices: PRICES, ...options, limiter, clock: clock.now }),
    clock,
    store,
    prefix,
  };
}

/** One call reserved and settled with this usage. */
async function call(
  llm: LlmLimiter,
  who: { user: string; tenant?: string },
  model: string,
  usage: { inputTokens: number; outputTokens: number; cachedInputTokens?: number },
): Promise<void> {
  const provider = model.startsWith('claude') ? 'anthropic' : 'openai';
  const reservation = await llm.reserve(
    { ...who, tier: 'enterprise' },
    { provider, model, inputTokens: usage.inputTokens, maxOutputTokens: 1000 },
  );
  await reservation.settle(usage);
}

// gpt-4o: 600 fresh x 2.5 + 400 cached x 1.25 + 200 out x 10 = 4000 per 1M tokens = $0.004.
const GPT = { inputTokens: 1000, outputTokens: 200, cachedInputTokens: 400 };
// claude-sonnet-4-5: 100 x 3 + 50 x 15 = 1050 per 1M = $0.00105.
const CLAUDE = { inputTokens: 100, outputTokens: 50 };

describe.each(['memory', 'redis'] as const)('LLM usage on %s', (backend) => {
  it('counts calls, input, output and cached tokens and cost per user, provider and model, exactly', async () => {
    const { llm } = setup(backend);
    const alice = { user: 'alice', tenant: 'acme' };
    await call(llm, alice, 'gpt-4o', GPT);
    await call(llm, alice, 'gpt-4o', GPT);
    await call(llm, alice, 'claude-sonnet-4-5', CLAUDE);
    await call(llm, { user: 'bob', tenant: 'acme' }, 'claude-sonnet-4-5', CLAUDE);
    await call(llm, { user: 'alice', tenant: 'other' }, 'gpt-4o', GPT);
    expect(await llm.usage(alice)).toEqual([
      {
        provider: 'openai',
        model: 'gpt-4o',
        calls: 2,
        inputTokens: 2000,
        outputTokens: 400,
        cachedInputTokens: 800,
        costUsd: 8_000_000 / 1e9,
      },
      {
        provider: 'anthropic',
        model: 'claude-sonnet-4-5',
        calls: 1,
        inputTokens: 100,
        outputTokens: 50,
        cachedInputTokens: 0,
        costUsd: 1_050_000 / 1e9,
      },
    ]);
    expect(await llm.tenantUsage('acme')).toEqual({
      tenant: 'acme',
      hours: 24,
      since: HOUR0 - 23 * HOUR_MS,
      totals: {
        calls: 4,
        inputTokens: 2200,
        outputTokens: 500,
        cachedInputTokens: 800,
        costUsd: 10_100_000 / 1e9,
      },
      models: [
        {
          provider: 'openai',
          model: 'gpt-4o',
          calls: 2,
          inputTokens: 2000,
          outputTokens: 400,
          cachedInputTokens: 800,
          costUsd: 0.008,
        },
        {
          provider: 'anthropic',
          model: 'claude-sonnet-4-5',
          calls: 2,
          inputTokens: 200,
          outputTokens: 100,
          cachedInputTokens: 0,
          costUsd: 2_100_000 / 1e9,
        },
      ],
      identities: 2,
      top: [
        { user: 'alice', tokens: 2550 },
        { user: 'bob', tokens: 150 },
      ],
    });
    expect((await llm.tenantUsage('other')).totals.calls).toBe(1);
    expect(await llm.usage({ user: 'nobody', tenant: 'acme' })).toEqual([]);
    expect(llm.usageWrites()).toEqual({ recorded: 5, identityOverflow: 0, modelOverflow: 0, failed: 0 });
  });

  it('reads the last N hours at real epoch instants: the current hour and the N - 1 before it', async () => {
    const { llm, clock } = setup(backend);
    const who = { user: 'u', tenant: 't' };
    await call(llm, who, 'gpt-4o', GPT); // hour 0, 123 ms in
    clock.set(HOUR0 + HOUR_MS - 1);
    await call(llm, who, 'gpt-4o', GPT); // hour 0, its last ms
    clock.set(HOUR0 + HOUR_MS);
    await call(llm, who, 'claude-sonnet-4-5', CLAUDE); // hour 1, its first ms
    const calls = async (hours: number) => (await llm.usage(who, hours)).map((r) => [r.model, r.calls]);
    expect(await calls(1)).toEqual([['claude-sonnet-4-5', 1]]);
    expect(await calls(2)).toEqual([
      ['gpt-4o', 2],
      ['claude-sonnet-4-5', 1],
    ]);
    clock.set(HOUR0 + 24 * HOUR_MS);
    expect(await calls(24)).toEqual([['claude-sonnet-4-5', 1]]);
    expect((await llm.tenantUsage('t', 24)).since).toBe(HOUR0 + HOUR_MS);
    if (backend === 'memory') {
      // Kept 24 hours after the last write (the store's clock): hour 0's keys are gone 24 h after its last call.
      expect(await calls(25)).toEqual([
        ['gpt-4o', 2],
        ['claude-sonnet-4-5', 1],
      ]);
      clock.set(HOUR0 + HOUR_MS - 1 + 24 * HOUR_MS);
      expect(await calls(25)).toEqual([['claude-sonnet-4-5', 1]]);
    }
  });

  it('bounds identities and models per tenant and hour; the tenant totals stay exact', async () => {
    const { llm, clock } = setup(backend, { maxUsageIdentities: 2, maxUsageModels: 2 });
    const a = { user: 'a', tenant: 't' };
    const b = { user: 'b', tenant: 't' };
    const c = { user: 'c', tenant: 't' };
    await call(llm, a, 'gpt-4o', GPT);
    await call(llm, b, 'claude-sonnet-4-5', CLAUDE);
    await call(llm, c, 'claude-sonnet-4-5', CLAUDE); // a third identity: totals only
    await call(llm, a, 'gpt-4o-mini', { inputTokens: 10, outputTokens: 5 }); // a third model: `*`
    expect(await llm.usage(c)).toEqual([]);
    expect((await llm.usage(a)).map((r) => [r.provider, r.model, r.calls])).toEqual([
      ['openai', 'gpt-4o', 1],
      ['openai', 'gpt-4o-mini', 1],
    ]);
    const tenant = await llm.tenantUsage('t');
    expect(tenant.models.map((r) => [r.provider, r.model, r.calls, r.inputTokens])).toEqual([
      ['openai', 'gpt-4o', 1, 1000],
      ['anthropic', 'claude-sonnet-4-5', 2, 200],
      ['openai', '*', 1, 10],
    ]);
    expect([tenant.totals.calls, tenant.identities, tenant.top.map((t) => t.user)]).toEqual([
      4,
      2,
      ['a', 'b'],
    ]);
    expect(llm.usageWrites()).toEqual({ recorded: 2, identityOverflow: 1, modelOverflow: 1, failed: 0 });
    // A new hour has room again.
    clock.set(HOUR0 + HOUR_MS);
    await call(llm, c, 'claude-sonnet-4-5', CLAUDE);
    expect((await llm.usage(c)).map((r) => r.calls)).toEqual([1]);
  });

  it('refuses bad reads with an error naming the field, and bad options', async () => {
    const { llm } = setup(backend);
    for (const hours of [0, 745, 1.5]) {
      const error = await llm.usage({ user: 'u' }, hours).catch((e: unknown) => e);
      expect([error instanceof ValidationError, (error as ValidationError).field]).toEqual([true, 'hours']);
    }
    expect(((await llm.tenantUsage('', 24).catch((e: unknown) => e)) as ValidationError).field).toBe(
      'tenant',
    );
    expect(() => setup(backend, { maxUsageIdentities: 0 })).toThrow(/maxUsageIdentities/);
    expect(() => setup(backend, { maxUsageModels: 10_001 })).toThrow(/maxUsageModels/);
    expect(() => setup(backend, { observer: {} as never })).toThrow(LlmConfigError);
    expect(() => new UsageBook(new MemoryStore(), { hour: 1 } as never)).toThrow(/usage\.hour.*hours/);
  });
});

describe('LLM usage in Redis', () => {
  const keys = async (admin: Redis, pattern: string) => (await admin.keys(pattern)).sort();

  it('lays out its keys under the tenant hash tag, each with a TTL of usageHours', async () => {
    const { llm, prefix } = setup('redis', { usageHours: 6 });
    await call(llm, { user: 'a b', tenant: 'acme corp' }, 'gpt-4o', GPT);
    const hour = Math.floor(EPOCH / HOUR_MS);
    const tag = `${prefix}:{acme%20corp}:u:${hour}`;
    const usage = await keys(redis.admin, `${prefix}:*:u:*`);
    expect(usage).toEqual([`${tag}:i`, `${tag}:i:a%20b`, `${tag}:t`]);
    for (const key of usage) {
      const ttl = await redis.admin.pttl(key);
      expect(ttl).toBeGreaterThan(6 * HOUR_MS - 60_000);
      expect(ttl).toBeLessThanOrEqual(6 * HOUR_MS);
    }
    expect(await redis.admin.hgetall(`${tag}:t`)).toEqual({
      'openai:gpt-4o|c': '1',
      'openai:gpt-4o|i': '1000',
      'openai:gpt-4o|o': '200',
      'openai:gpt-4o|k': '400',
      'openai:gpt-4o|n': '4000000',
    });
    expect(await redis.admin.zrange(`${tag}:i`, 0, -1, 'WITHSCORES')).toEqual(['a%20b', '1200']);
  });

  it('runs its scripts by EVALSHA, and by EVAL only after NOSCRIPT (once per script)', async () => {
    const { llm } = setup('redis');
    await call(llm, { user: 'u' }, 'gpt-4o', GPT);
    await llm.usage({ user: 'u' });
    const evals = async () =>
      Number(/cmdstat_eval:calls=(\d+)/.exec(await redis.admin.info('commandstats'))?.[1] ?? 0);
    const before = await evals();
    await call(llm, { user: 'u' }, 'gpt-4o', GPT);
    expect((await llm.usage({ user: 'u' }))[0]?.calls).toBe(2);
    expect(await evals()).toBe(before);
    await redis.admin.script('FLUSH');
    await llm.usage({ user: 'u' });
    expect(await evals()).toBe(before + 1);
    expect((await llm.usage({ user: 'u' }))[0]?.calls).toBe(2);
    expect(await evals()).toBe(before + 1);
  });

  it('two instances on one Redis see each other’s usage', async () => {
    const prefix = freshPrefix();
    const stores = [new RedisStore({ url: redis.server.url }), new RedisStore({ url: redis.server.url })];
    await Promise.all(stores.map((s) => s.ready()));
    const [one, two] = stores.map(
      (store) => new LlmLimiter({ prices: PRICES, limiter: createLimiter({ store, prefix, guard: false }) }),
    ) as [LlmLimiter, LlmLimiter];
    await call(one, { user: 'u', tenant: 't' }, 'gpt-4o', GPT);
    await call(two, { user: 'u', tenant: 't' }, 'gpt-4o', GPT);
    await call(two, { user: 'v', tenant: 't' }, 'claude-sonnet-4-5', CLAUDE);
    for (const llm of [one, two]) {
      expect((await llm.usage({ user: 'u', tenant: 't' })).map((r) => [r.calls, r.costUsd])).toEqual([
        [2, 0.008],
      ]);
      expect((await llm.tenantUsage('t')).totals.calls).toBe(3);
    }
    await Promise.all([one.close(), two.close()]);
  });

  it('works as the least-privilege ACL user of its prefix', async () => {
    const prefix = freshPrefix();
    await createAclUser(redis.server, `u${prefix}`, 'secret', redisAclRules(prefix));
    const store = new RedisStore({ url: `redis://u${prefix}:secret@127.0.0.1:${redis.server.port}` });
    await store.ready();
    const llm = new LlmLimiter({ prices: PRICES, limiter: createLimiter({ store, prefix }) });
    await call(llm, { user: 'u', tenant: 't' }, 'gpt-4o', GPT);
    expect(llm.usageWrites()).toEqual({ recorded: 1, identityOverflow: 0, modelOverflow: 0, failed: 0 });
    expect((await llm.usage({ user: 'u', tenant: 't' }))[0]?.calls).toBe(1);
    expect((await llm.tenantUsage('t')).top).toEqual([{ user: 'u', tokens: 1200 }]);
    await llm.close();
  });

  it('a store that hangs holds no settlement: the write keeps the guard’s budget, and lands late', async () => {
    const prefix = freshPrefix();
    const store = new RedisStore({ url: redis.server.url });
    await store.ready();
    const limiter = createLimiter({ store, prefix, guard: { budgetMs: 200 } });
    const llm = new LlmLimiter({ prices: PRICES, limiter });
    const reservation = await llm.reserve(
      { user: 'u', tier: 'enterprise' },
      { provider: 'openai', model: 'gpt-4o', inputTokens: 1000, maxOutputTokens: 1000 },
    );
    // Enterprise has a requests limit only: the settlement's one store call is the usage write.
    await redis.admin.call('CLIENT', 'PAUSE', '3000', 'WRITE');
    await reservation.settle(GPT);
    expect(llm.usageWrites()).toEqual({ recorded: 0, identityOverflow: 0, modelOverflow: 0, failed: 1 });
    expect(limiter.guard?.breaker.state).toBe('closed');
    await redis.admin.call('CLIENT', 'UNPAUSE');
    await expect.poll(async () => (await llm.usage({ user: 'u' }))[0]?.calls).toBe(1);
    await llm.close();
  });

  it('a usage write the store refuses does not fail the settlement: counted as failed', async () => {
    const prefix = freshPrefix();
    // An ACL user that may decide but not write usage (no HINCRBY): every settlement still resolves.
    const rules = redisAclRules(prefix).filter((r) => r !== '+hincrby');
    await createAclUser(redis.server, `n${prefix}`, 'secret', rules);
    const store = new RedisStore({ url: `redis://n${prefix}:secret@127.0.0.1:${redis.server.port}` });
    await store.ready();
    const llm = new LlmLimiter({ prices: PRICES, limiter: createLimiter({ store, prefix }) });
    await call(llm, { user: 'u' }, 'gpt-4o', GPT);
    expect(llm.usageWrites()).toEqual({ recorded: 0, identityOverflow: 0, modelOverflow: 0, failed: 1 });
    await expect(llm.usage({ user: 'u' })).resolves.toEqual([]);
    await llm.close();
  });
});

describe('the memory store’s usage keys are bounded', () => {
  const write = (tenant: string, identity: string): UsageWrite => ({
    totalsKey: `p:{${tenant}}:u:1:t`,
    identitiesKey: `p:{${tenant}}:u:1:i`,
    identityKey: `p:{${tenant}}:u:1:i:${identity}`,
    identity,
    series: 'openai:m',
    overflowSeries: 'openai:*',
    counts: [1, 10, 5, 0, 7],
    score: 15,
    maxSeries: 10,
    maxIdentities: 10,
    ttlMs: 1000,
  });

  it('past its bound a new identity counts in the totals only, a new tenant fails STORE_FULL; expired keys make room', () => {
    const clock = new ManualClock(EPOCH);
    const usage = new MemoryUsage(clock.now, 4);
    expect(usage.add(write('t', 'a'))).toEqual({ identityKept: true, seriesKept: true }); // totals, index, a: 3 keys
    expect(usage.add(write('t', 'b'))).toEqual({ identityKept: true, seriesKept: true }); // 4
    expect(usage.add(write('t', 'c'))).toEqual({ identityKept: false, seriesKept: true }); // no room for c
    expect(usage.size).toBe(4);
    const full = (() => {
      try {
        usage.add(write('u', 'a'));
      } catch (error) {
        return error;
      }
    })() as StoreError;
    expect([full instanceof StoreError, full.code]).toEqual([true, 'ERR_SLUICE_STORE_FULL']);
    const read = usage.read({ seriesKeys: ['p:{t}:u:1:t'], identitiesKeys: ['p:{t}:u:1:i'], top: 5 });
    expect(read).toEqual({
      series: [['openai:m', [3, 30, 15, 0, 21]]],
      identities: [
        ['a', 15],
        ['b', 15],
      ],
      identityCount: 2,
    });
    clock.advance(1000);
    expect(usage.add(write('u', 'a'))).toEqual({ identityKept: true, seriesKept: true });
    expect(usage.size).toBe(3);
  });

  it('rejects a malformed write before changing anything', () => {
    const usage = new MemoryUsage(() => EPOCH);
    expect(() => usage.add({ ...write('t', 'a'), series: 'a|b' })).toThrow(/usage\.series/);
    expect(() => usage.add({ ...write('t', 'a'), counts: [1, 2, 3] })).toThrow(/usage\.counts/);
    expect(() => usage.add({ ...write('t', 'a'), counts: [1, -2, 3, 0, 0] })).toThrow(/usage\.counts/);
    expect(() => usage.add({ ...write('t', 'a'), maxIdentities: 0 })).toThrow(/usage\.maxIdentities/);
    expect(() => usage.read({ seriesKeys: [], top: 1001 })).toThrow(/usage\.top/);
    expect(usage.size).toBe(0);
  });
});
