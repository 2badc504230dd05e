import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError, ValidationError } from '../../src/core/errors.js';
import type { LimitDefinition } from '../../src/core/types.js';
import { createLimiter } from '../../src/limiter.js';
import { redisAclRules } from '../../src/stores/redis/acl.js';
import { MAX_BATCH, RedisStore } from '../../src/stores/redis/redis-store.js';
import {
  ADMIN_SOURCE,
  decideBatchSource,
  decideSource,
  refundSource,
  releaseSource,
  script,
} from '../../src/stores/redis/scripts.js';
import { createAclUser, keySlot, type RedisServer, startRedis } from '../support/redis-servers.js';

const ALL_ALGORITHMS: LimitDefinition[] = [
  { name: 'log', algorithm: 'sliding-log', limit: 5, window: '2s' },
  { name: 'fixed', algorithm: 'fixed-window', limit: 5, window: '3s' },
  { name: 'counter', algorithm: 'sliding-window', limit: 5, window: '4s' },
  { name: 'bucket', algorithm: 'token-bucket', limit: 5, window: '5s' },
  { name: 'inflight', algorithm: 'concurrency', limit: 5, window: '6s' },
  { name: 'tenant', algorithm: 'fixed-window', limit: 50, window: '7s', scope: 'tenant' },
];

async function keysOf(admin: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  return found.sort();
}

async function commandCalls(admin: Redis, command: string): Promise<number> {
  const stats = await admin.info('commandstats');
  const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats);
  return match ? Number(match[1]) : 0;
}

async function readsProcessed(admin: Redis): Promise<number> {
  const stats = await admin.info('stats');
  return Number(/total_reads_processed:(\d+)/.exec(stats)?.[1]);
}

describe('Redis store', () => {
  let server: RedisServer;
  let admin: Redis;
  let store: RedisStore;
  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
    store = new RedisStore({ url: server.url });
    await store.ready();
  });
  afterAll(async () => {
    await store?.close();
    admin?.disconnect();
    await server?.stop();
  });

  it('script hashes computed at load time are the ones Redis computes, for every layout of up to two limits', async () => {
    const codes = ['fw', 'sw', 'sl', 'cc', 'tb'];
    const layouts = [[], ...codes.map((c) => [c]), ...codes.flatMap((a) => codes.map((b) => [a, b]))];
    // A long layout too: its limits' variables live in a table, its MGET takes a table of keys.
    const long = Array.from({ length: 60 }, (_, i) => codes[i % codes.length] as string);
    const sources = [
      ADMIN_SOURCE,
      // The empty layout too: a decision over blocks alone (Limiter.prepareBlocks).
      ...[...layouts, long].flatMap((layout) =>
        [0, 1, 2].flatMap((blockKeys) =>
          [false, true].map((penalty) => decideSource({ codes: layout, blockKeys, penalty })),
        ),
      ),
      decideSource({ codes: ['fw'], blockKeys: 80, penalty: false }),
      ...[...layouts, long].flatMap((layout) =>
        [0, 2].map((blockKeys) => decideBatchSource({ codes: layout, blockKeys, penalty: blockKeys > 0 })),
      ),
      ...[...layouts, long].map((layout) => refundSource(layout)),
      ...[[], ['cc'], ['cc', 'cc'], ['sl', 'cc']].map((layout) => releaseSource(layout)),
    ];
    expect(sources.length).toBe(1 + 32 * 6 + 1 + 32 * 2 + 32 + 4);
    for (const source of sources) {
      // Every script declares its flags (a Redis 7 shebang on its first line), hashed and sent as is.
      const sent = script('x', source);
      expect(sent.source.split('\n')[0]).toBe('#!lua');
      expect(await admin.script('LOAD', sent.source)).toBe(sent.sha);
    }
  });

  it('lays keys out as documented, all of a tenant in one Cluster slot', async () => {
    const l = createLimiter({ limits: ALL_ALGORITHMS, store, prefix: 'layout' });
    await l.limit({ tenant: 'acme{x}:y', key: 'user 1' });
    await l.block({ tenant: 'acme{x}:y', key: 'user 1' }, '1m');
    await l.resetTenant('acme{x}:y');
    const keys = await keysOf(admin, 'layout:*');
    expect(keys).toEqual([
      'layout:{acme%7Bx%7D%3Ay}:b:user%201',
      'layout:{acme%7Bx%7D%3Ay}:m',
      'layout:{acme%7Bx%7D%3Ay}:s:*:tenant:fw7000',
      'layout:{acme%7Bx%7D%3Ay}:s:user%201:bucket:tb5000',
      'layout:{acme%7Bx%7D%3Ay}:s:user%201:counter:sw4000',
      'layout:{acme%7Bx%7D%3Ay}:s:user%201:fixed:fw3000',
      'layout:{acme%7Bx%7D%3Ay}:s:user%201:inflight:cc6000',
      'layout:{acme%7Bx%7D%3Ay}:s:user%201:log:sl2000',
    ]);
    const slots = new Set(keys.map(keySlot));
    expect(slots.size).toBe(1);
    expect([...slots][0]).toBe(keySlot('{acme%7Bx%7D%3Ay}'));
  });

  it('puts a TTL on every key it writes, no longer than the state needs', async () => {
    const l = createLimiter({ limits: ALL_ALGORITHMS, store, prefix: 'ttl' });
    const d = await l.limit({ tenant: 't', key: 'k', cost: 2 });
    await l.refund(d, 1);
    await l.block({ tenant: 't', key: 'k' }, '90s');
    await l.block({ tenant: 't' }, '30s');
    await l.resetTenant('t');
    const ttls = Object.fromEntries(
      await Promise.all((await keysOf(admin, 'ttl:*')).map(async (k) => [k, await admin.pttl(k)] as const)),
    );
    const expectedMax: Record<string, number> = {
      'ttl:{t}:s:k:log:sl2000': 2000,
      'ttl:{t}:s:k:fixed:fw3000': 3000,
      'ttl:{t}:s:k:counter:sw4000': 8000,
      'ttl:{t}:s:k:bucket:tb5000': 1000, // one unit outstanding after the refund: 1 s at 5 per 5 s
      'ttl:{t}:s:k:inflight:cc6000': 6000,
      'ttl:{t}:s:*:tenant:fw7000': 7000,
      'ttl:{t}:b:k': 90_000,
      // The refund ledgers of the decision: as long as a refund of it can change each state.
      [`ttl:{t}:r:${d.id}:k:log:sl2000`]: 0,
      [`ttl:{t}:r:${d.id}:k:fixed:fw3000`]: 3000,
      [`ttl:{t}:r:${d.id}:k:counter:sw4000`]: 8000,
      [`ttl:{t}:r:${d.id}:k:bucket:tb5000`]: 2000,
      [`ttl:{t}:r:${d.id}:*:tenant:fw7000`]: 7000,
      // Longer than any state can live: twice the longest window.
      'ttl:{t}:m': 2 * 10 * 365 * 86_400_000,
    };
    delete expectedMax[`ttl:{t}:r:${d.id}:k:log:sl2000`]; // logs keep no ledger: the entry itself
    expect(Object.keys(ttls).sort()).toEqual(Object.keys(expectedMax).sort());
    for (const [key, ttl] of Object.entries(ttls)) {
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(expectedMax[key] as number);
    }
  });

  it('heals a key that lost its TTL the next time it is read', async () => {
    const l = createLimiter({ limits: [{ name: 'h', limit: 1, window: '10s' }], store, prefix: 'heal' });
    await l.limit({ tenant: 't', key: 'k' });
    const key = 'heal:{t}:s:k:h:sl10000';
    await admin.persist(key);
    expect(await admin.pttl(key)).toBe(-1);
    expect((await l.limit({ tenant: 't', key: 'k' })).allowed).toBe(false); // rejected: no write
    const ttl = await admin.pttl(key);
    expect(ttl).toBeGreaterThan(9000);
    expect(ttl).toBeLessThanOrEqual(10_000);
  });

  it('a batch writes each key once, with its TTL, and heals a key that lost its TTL', async () => {
    const string = ALL_ALGORITHMS.filter((l) =>
      ['fixed', 'counter', 'bucket', 'tenant'].includes(l.name ?? ''),
    );
    const l = createLimiter({ limits: string, store, prefix: 'batch-ttl' });
    const sets = await commandCalls(admin, 'set');
    const decisions = await Promise.all(Array.from({ length: 8 }, () => l.limit({ tenant: 't', key: 'k' })));
    // 5 admitted (the smallest limit), 3 rejected; one SET per key for the whole batch, not per decision.
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false, false]);
    expect(await commandCalls(admin, 'set')).toBe(sets + 4);
    const expectedMax: Record<string, number> = {
      'batch-ttl:{t}:s:k:fixed:fw3000': 3000,
      'batch-ttl:{t}:s:k:counter:sw4000': 8000,
      'batch-ttl:{t}:s:k:bucket:tb5000': 5000,
      'batch-ttl:{t}:s:*:tenant:fw7000': 7000,
    };
    for (const [key, max] of Object.entries(expectedMax)) {
      const ttl = await admin.pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(max);
    }
    // A key that lost its TTL: a batch of rejected decisions gives it back.
    await admin.persist('batch-ttl:{t}:s:k:counter:sw4000');
    const rejected = await Promise.all(Array.from({ length: 4 }, () => l.limit({ tenant: 't', key: 'k' })));
    expect(rejected.every((d) => !d.allowed)).toBe(true);
    expect(await admin.pttl('batch-ttl:{t}:s:k:counter:sw4000')).toBeGreaterThan(0);
  });

  it('reloads its scripts after SCRIPT FLUSH and counts the decision once', async () => {
    const l = createLimiter({ limits: [{ limit: 10, window: '1m' }], store, prefix: 'flush' });
    const evalsBefore = await commandCalls(admin, 'eval');
    await l.limit({ tenant: 't', key: 'k' });
    await admin.script('FLUSH');
    const d = await l.limit({ tenant: 't', key: 'k' });
    expect([d.allowed, d.remaining]).toEqual([true, 8]);
    expect(await commandCalls(admin, 'eval')).toBe(evalsBefore + 1);
    expect((await l.limit({ tenant: 't', key: 'k' })).remaining).toBe(7); // EVALSHA again
    expect(await commandCalls(admin, 'eval')).toBe(evalsBefore + 1);
  });

  it('coalesces the decisions made in one event-loop turn into one script call, each counted once', async () => {
    const wide = new RedisStore({ url: server.url, maxBatch: 64 });
    await wide.ready();
    const l = createLimiter({ limits: [{ limit: 100, window: '1m' }], store: wide, prefix: 'batch' });
    await l.limit({ tenant: 't', key: 'warm-up' });
    const [reads, calls] = [await readsProcessed(admin), await commandCalls(admin, 'evalsha')];
    // Keys of two users and two tenants: one layout, so one batch, decided in the order made.
    const made = Array.from({ length: 40 }, (_, i) => ({ tenant: `t${i % 2}`, key: `k${i % 4}` }));
    const decisions = await Promise.all(made.map((r) => l.limit(r)));
    expect(await commandCalls(admin, 'evalsha')).toBe(calls + 1);
    // One read for the call (the rest are this test's INFO commands), not one per decision.
    expect((await readsProcessed(admin)) - reads).toBeLessThanOrEqual(6);
    expect(decisions.map((d) => d.remaining)).toEqual(
      Array.from({ length: 40 }, (_, i) => 99 - Math.floor(i / 4)),
    );
  });

  it('sends a full call at once, during the turn: Redis runs it while the rest of the turn is made', async () => {
    const l = createLimiter({ limits: [{ limit: 1000, window: '1m' }], store, prefix: 'pipelined' });
    await l.limit({ tenant: 't', key: 'k' });
    const before = store.roundTrips;
    const decisions: Array<ReturnType<typeof l.limit>> = [];
    for (let i = 0; i < 2 * MAX_BATCH; i++) {
      decisions.push(l.limit({ tenant: 't', key: 'k' }));
      // The first call leaves with its last decision, before the next decision of the turn is made.
      if (i === MAX_BATCH - 2) expect(store.roundTrips).toBe(before);
      if (i === MAX_BATCH - 1) expect(store.roundTrips).toBe(before + 1);
    }
    expect(store.roundTrips).toBe(before + 2);
    const remaining = (await Promise.all(decisions)).map((d) => d.remaining);
    expect(remaining).toEqual(Array.from({ length: 2 * MAX_BATCH }, (_, i) => 998 - i));
  });

  it(`sends at most ${MAX_BATCH} decisions per script call`, async () => {
    const l = createLimiter({ limits: [{ limit: 1000, window: '1m' }], store, prefix: 'batch-cap' });
    await l.limit({ tenant: 't', key: 'k' });
    const calls = await commandCalls(admin, 'evalsha');
    const decisions = await Promise.all(
      Array.from({ length: 100 }, () => l.limit({ tenant: 't', key: 'k' })),
    );
    expect(await commandCalls(admin, 'evalsha')).toBe(calls + Math.ceil(100 / MAX_BATCH));
    expect(decisions.map((d) => d.remaining)).toEqual(Array.from({ length: 100 }, (_, i) => 998 - i));
    const bigger = new RedisStore({ url: server.url, maxBatch: 50 });
    await bigger.ready();
    const l50 = createLimiter({
      limits: [{ limit: 1000, window: '1m' }],
      store: bigger,
      prefix: 'batch-cap',
    });
    const before = await commandCalls(admin, 'evalsha');
    await Promise.all(Array.from({ length: 100 }, () => l50.limit({ tenant: 't', key: 'k' })));
    expect(await commandCalls(admin, 'evalsha')).toBe(before + 2);
    expect(() => new RedisStore({ url: server.url, maxBatch: 0 })).toThrow(/maxBatch/);
    await bigger.close();
  });

  it('a batch that cannot be sent fails its decisions at once, not after their budget', async () => {
    class UnbuildableBatch extends RedisStore {
      protected override compile(name: string, source: string) {
        if (name.endsWith(' batch')) throw new Error('cannot build this script');
        return super.compile(name, source);
      }
    }
    const broken = new UnbuildableBatch({ url: server.url });
    await broken.ready();
    const l = createLimiter({
      limits: [{ limit: 5, window: '1m' }],
      store: broken,
      prefix: 'unbuildable',
      guard: { budgetMs: 5000 },
    });
    const started = Date.now();
    const decisions = await Promise.all(Array.from({ length: 3 }, () => l.limit({ tenant: 't', key: 'k' })));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(decisions.map((d) => [d.allowed, d.path, d.storeError?.code])).toEqual(
      Array.from({ length: 3 }, () => [false, 'fail-closed', 'ERR_SLUICE_STORE']),
    );
    expect(decisions[0]?.storeError?.message).toContain('cannot build this script');
    await broken.close();
  });

  it('coalesce: false sends one script call per decision, pipelined in one write', async () => {
    const single = new RedisStore({ url: server.url, coalesce: false });
    await single.ready();
    const l = createLimiter({ limits: [{ limit: 100, window: '1m' }], store: single, prefix: 'no-batch' });
    await l.limit({ tenant: 't', key: 'k' });
    const [reads, calls] = [await readsProcessed(admin), await commandCalls(admin, 'evalsha')];
    const decisions = await Promise.all(Array.from({ length: 40 }, () => l.limit({ tenant: 't', key: 'k' })));
    expect(await commandCalls(admin, 'evalsha')).toBe(calls + 40);
    // ioredis auto-pipelining: one write of 40 calls (the rest are this test's INFO commands).
    expect((await readsProcessed(admin)) - reads).toBeLessThanOrEqual(6);
    expect(decisions.map((d) => d.remaining).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 40 }, (_, i) => 59 + i),
    );
    await single.close();
  });

  it('a batch that met NOSCRIPT is sent again once with EVAL, each decision counted once', async () => {
    const l = createLimiter({ limits: [{ limit: 100, window: '1m' }], store, prefix: 'batch-flush' });
    await l.limit({ tenant: 't', key: 'k' });
    await admin.script('FLUSH');
    const evalsBefore = await commandCalls(admin, 'eval');
    const decisions = await Promise.all(Array.from({ length: 20 }, () => l.limit({ tenant: 't', key: 'k' })));
    expect(decisions.every((d) => d.allowed && d.path === 'store')).toBe(true);
    expect(decisions.map((d) => d.remaining).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => 79 + i),
    );
    // One EVAL per batch (20 decisions: ceil(20 / MAX_BATCH) batches), not one per decision.
    expect(await commandCalls(admin, 'eval')).toBe(evalsBefore + Math.ceil(20 / MAX_BATCH));
    expect((await l.limit({ tenant: 't', key: 'k' })).remaining).toBe(78);
  });

  it('never falls back to EVAL after an error other than NOSCRIPT', async () => {
    // A user that may not run EVALSHA gets NOPERM: the store must report it, not retry with EVAL.
    await createAclUser(server, 'no-evalsha', 'pw', ['~*', '+@all', '-evalsha']);
    const denied = new RedisStore({ url: `redis://no-evalsha:pw@127.0.0.1:${server.port}` });
    await denied.ready();
    const l = createLimiter({ limits: [{ limit: 10, window: '1m' }], store: denied, prefix: 'noperm' });
    const evalsBefore = await commandCalls(admin, 'eval');
    const d = await l.limit({ tenant: 't', key: 'k' });
    expect([d.allowed, d.reason, d.storeError?.code]).toEqual([
      false,
      'store_unavailable',
      'ERR_SLUICE_STORE',
    ]);
    expect(d.storeError?.message).toContain('NOPERM');
    expect(await commandCalls(admin, 'eval')).toBe(evalsBefore);
    expect(await keysOf(admin, 'noperm:*')).toEqual([]);
    await denied.close();
  });

  it('works as the documented least-privilege ACL user, confined to its prefix', async () => {
    await createAclUser(server, 'sluice', 'secret', redisAclRules('acl'));
    const confined = new RedisStore({ url: `redis://sluice:secret@127.0.0.1:${server.port}` });
    await confined.ready();
    const l = createLimiter({ limits: ALL_ALGORITHMS, store: confined, prefix: 'acl' });
    const d = await l.limit({ tenant: 't', key: 'k' });
    expect(d.allowed).toBe(true);
    await l.peek({ tenant: 't', key: 'k' });
    await l.refund(d, 1);
    await l.release(d.lease!);
    await l.block({ tenant: 't', key: 'k' }, '1s');
    await l.unblock({ tenant: 't', key: 'k' });
    await l.block({ tenant: 't' }, '1s');
    await l.unblock({ tenant: 't' });
    await l.reset({ tenant: 't', key: 'k' });
    await l.resetTenant('t');
    expect((await l.limit({ tenant: 't', key: 'k' })).remaining).toBe(4);
    // Outside its prefix, the same user is refused.
    await admin.set('other:secret', 'x');
    const raw = confined.client as Redis;
    await expect(raw.get('other:secret')).rejects.toThrow(/NOPERM/);
    const otherPrefix = createLimiter({
      limits: [{ limit: 1, window: '1s' }],
      store: confined,
      prefix: 'other',
    });
    expect((await otherPrefix.limit({ tenant: 't', key: 'k' })).storeError?.message).toContain('NOPERM');
    await expect(otherPrefix.reset({ tenant: 't', key: 'k' })).rejects.toBeInstanceOf(StoreError);
    await confined.close();
  });

  it('accepts an existing ioredis client and leaves it open on close', async () => {
    const client = new Redis(server.url, { autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 1 });
    const shared = new RedisStore({ client });
    await shared.ready();
    const l = createLimiter({ limits: [{ limit: 2, window: '1m' }], store: shared, prefix: 'shared' });
    expect((await l.limit({ tenant: 't', key: 'k' })).remaining).toBe(1);
    await l.close();
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
  });

  it('rejects ambiguous or malformed connection options', () => {
    expect(() => new RedisStore({})).toThrow(ValidationError);
    expect(() => new RedisStore({ url: server.url, client: admin })).toThrow(/exactly one of client, url/);
    expect(() => new RedisStore({ url: 'http://localhost:1' })).toThrow(/redis\.url/);
  });

  it('reports an unreachable server as a store failure, never as a rate-limit rejection', async () => {
    const dead = await startRedis();
    const doomed = new RedisStore({ url: dead.url, redisOptions: { retryStrategy: () => null } });
    await doomed.ready();
    const l = createLimiter({ limits: [{ limit: 1, window: '1s' }], store: doomed, prefix: 'dead' });
    expect((await l.limit({ tenant: 't', key: 'k' })).allowed).toBe(true);
    await dead.kill();
    const d = await l.limit({ tenant: 't', key: 'k' });
    expect([d.allowed, d.reason, d.path]).toEqual([false, 'store_unavailable', 'fail-closed']);
    // Sent and failed, or (the client saw the connection close) not sent at all.
    expect(['ERR_SLUICE_STORE', 'ERR_SLUICE_STORE_UNAVAILABLE']).toContain(d.storeError?.code);
    const error = await l.block({ tenant: 't', key: 'k' }, '1s').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).backend).toBe('redis');
    await doomed.close();
    await dead.stop();
  });
});
