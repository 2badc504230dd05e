import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALGORITHM_NAMES } from '../../src/algorithms/index.js';
import { mulDivMod, TICKS_LUA } from '../../src/algorithms/token-bucket/ticks.js';
import { ManualClock } from '../../src/core/clock.js';
import type { AlgorithmName, Decision, Lease, LimitDefinition } from '../../src/core/types.js';
import { createLimiter, type Limiter } from '../../src/limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { type Script, SERVER_CLOCK_LUA, script } from '../../src/stores/redis/scripts.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';

/**
 * Differential test of the two halves of every algorithm: the TypeScript step functions (memory store)
 * and the Lua fragments (Redis store) must give identical decisions for the same calls at the same
 * instants. Redis takes its time from TIME in production; here a copy of the scripts reads a pinned
 * instant instead, so both stores see exactly the same (fractional) milliseconds.
 */
const NOW_KEY = 'differential:now';

class PinnedClockRedisStore extends RedisStore {
  protected override compile(name: string, source: string): Script {
    expect(source).toContain(SERVER_CLOCK_LUA);
    const pinnedClock = source.replace(
      SERVER_CLOCK_LUA,
      `local now = math.floor(tonumber(redis.call('GET', '${NOW_KEY}')))`,
    );
    // Key TTLs still run on real time, which here is unrelated to the pinned instants: lengthen them by
    // an hour so no state expires behind the test's back (TTLs are checked in the Redis store tests).
    // Every TTL is written as `'PX', <ms>` or `'PEXPIRE', KEYS[<i>], <ms>`: all writes but KEEPTTL ones.
    const ttlSites = /'PX', |'PEXPIRE', KEYS\[[^\]]+\], /g;
    const count = (pattern: RegExp) => pinnedClock.match(pattern)?.length ?? 0;
    expect(count(ttlSites)).toBe(count(/redis\.call\('(SET|PEXPIRE)'/g) - count(/'KEEPTTL'/g));
    const longTtls = pinnedClock.replace(ttlSites, (site) => `${site}3600000 + `);
    return script(name, longTtls);
  }
}

/** Small deterministic PRNG so a failing seed can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every algorithm Sluice has: a new one is tested without touching this file. */
const ALGORITHMS = ALGORITHM_NAMES;
// Windows that make fractional emission intervals (7 ms, 333 ms, 1700 ms for limits up to 8...).
const WINDOWS = [7, 100, 250, 333, 1000, 1500, 1700, 3000];

function randomLimits(rand: () => number, index: number): LimitDefinition[] {
  const count = 1 + Math.floor(rand() * 3);
  return Array.from({ length: count }, (_, i) => {
    const algorithm = ALGORITHMS[Math.floor(rand() * ALGORITHMS.length)] as AlgorithmName;
    const def: LimitDefinition = {
      name: `l${index}-${i}`,
      algorithm,
      // Mostly small limits (rejections are frequent), sometimes huge ones (weighted costs, tiny ticks).
      limit: rand() < 0.2 ? 1 + Math.floor(rand() * 1_000_000_000) : 1 + Math.floor(rand() * 8),
      window: WINDOWS[Math.floor(rand() * WINDOWS.length)] as number,
      scope: rand() < 0.25 ? 'tenant' : 'key',
    };
    if (algorithm === 'token-bucket' && rand() < 0.6) {
      def.burst = rand() < 0.2 ? 1 + Math.floor(rand() * 1_000_000_000) : 1 + Math.floor(rand() * 10);
      // A bucket must refill within 10 years.
      if ((def.burst / def.limit) * (def.window as number) > 3650 * 86_400_000) def.burst = def.limit;
    }
    return def;
  });
}

/** The parts of a decision both stores must agree on (the lease id is per call, the backend differs). */
function comparable(d: Decision): unknown {
  const { backend: _b, id: _id, lease, ...rest } = d;
  return { ...rest, lease: lease && { ...lease, id: 'x' } };
}

describe('differential: memory store vs Redis scripts at the same instants', () => {
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`agrees on 400 random operations (seed ${seed})`, async () => {
      const rand = mulberry32(seed);
      const clock = new ManualClock(1_700_000_000_000 + rand() * 1000);
      const memory = new MemoryStore({ clock: clock.now });
      const redis = new PinnedClockRedisStore({ url: server.url });
      await redis.ready();
      const definitions = [0, 1, 2, 3].map((i) => randomLimits(rand, i));
      // The last limiter is in penalty mode: rejected requests charge the limits that had room.
      const pairs: Array<[Limiter, Limiter]> = definitions.map((limits, i) => [
        createLimiter({ limits, store: memory, prefix: `diff${seed}`, penalty: i === 3 }),
        // A budget far above any stall of this machine: what is compared is the scripts' arithmetic.
        createLimiter({
          limits,
          store: redis,
          prefix: `diff${seed}`,
          penalty: i === 3,
          guard: { budgetMs: 5000 },
        }),
      ]);
      const leases: Array<[Lease, Lease]> = [];
      const admitted: Array<[Decision, Decision]> = [];
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
      const both = async <T>(op: (l: Limiter, side: 0 | 1) => Promise<T>, pair: [Limiter, Limiter]) => {
        await admin.set(NOW_KEY, String(clock.now()));
        return [await op(pair[0], 0), await op(pair[1], 1)] as const;
      };

      try {
        for (let step = 0; step < 400; step++) {
          const pair = pick(pairs);
          const tenant = pick(['t1', 't2']);
          const key = pick(['a', 'b']);
          const roll = rand();
          const where = `seed ${seed} step ${step} roll ${roll.toFixed(3)}`;
          if (roll < 0.55) {
            const cost = pick([0, 1, 1, 1, 2, 3, 5, 1000, 250_000, 999_999_999]);
            const [m, r] = await both((l) => l.limit({ tenant, key, cost }), pair);
            expect(comparable(r), where).toEqual(comparable(m));
            if (m.lease && r.lease) leases.push([m.lease, r.lease]);
            if (m.allowed && cost > 0) admitted.push([m, r]);
          } else if (roll < 0.65 && admitted.length > 0) {
            const [m, r] = pick(admitted);
            const units = 1 + Math.floor(rand() * m.cost);
            await both((l, side) => l.refund(side === 0 ? m : r, units), pair);
          } else if (roll < 0.72 && leases.length > 0) {
            const [m, r] = leases.splice(Math.floor(rand() * leases.length), 1)[0] as [Lease, Lease];
            if (rand() < 0.5) {
              await both((l, side) => l.release(side === 0 ? m : r), pair);
            } else {
              // Renewed: both stores re-time the same slots (or both find the lease gone).
              const [rm, rr] = await both((l, side) => l.renew(side === 0 ? m : r), pair);
              expect(rr && { ...rr, id: 'x' }, where).toEqual(rm && { ...rm, id: 'x' });
              if (rm && rr) leases.push([rm, rr]);
            }
          } else if (roll < 0.75) {
            await both((l) => l.reset({ tenant, key }), pair);
          } else if (roll < 0.77) {
            // In the same millisecond as the decisions around it, sometimes twice.
            await both((l) => l.resetTenant(tenant), pair);
            if (rand() < 0.3) await both((l) => l.resetTenant(tenant), pair);
          } else if (roll < 0.79) {
            const duration = pick([50, 400]);
            await both((l) => l.block({ tenant, key }, duration), pair);
          } else if (roll < 0.8) {
            await both((l) => l.unblock({ tenant, key }), pair);
          } else {
            // Mostly small steps (including sub-millisecond ones), sometimes past whole windows.
            clock.advance(rand() < 0.8 ? Math.round(rand() * 60_000) / 1000 : rand() * 4000);
          }
        }
      } finally {
        await redis.close();
      }
    });
  }

  it('agrees on the token bucket ticks arithmetic (muldivmod) over whole numbers up to its bounds', async () => {
    // The Lua half takes one division while n*b is exact (below 2^52) and splits the product past
    // that: both must give the TypeScript quotient and remainder, on either side of the boundary.
    const rand = mulberry32(99);
    const whole = (max: number) => Math.floor(rand() * max) + 1;
    const cases: Array<[number, number, number]> = [];
    for (let i = 0; i < 3000; i++) {
      const l = rand() < 0.5 ? whole(2 ** 30) : whole(1000);
      const w = rand() < 0.5 ? whole(3650 * 86_400_000) : whole(10_000);
      const b = w % l;
      // n around 2^52 / b (the boundary of the one-division path), or anywhere up to 2^30.
      const n =
        rand() < 0.5 && b > 0
          ? Math.max(0, Math.min(2 ** 30, Math.floor(2 ** 52 / b) + Math.floor(rand() * 5) - 2))
          : whole(2 ** 30);
      if ((n * w) / l < 2 ** 53) cases.push([n, w, l]);
    }
    const lua = `local floor = math.floor\n${TICKS_LUA}\nlocal out = {}\nfor i = 1, #ARGV, 3 do
  local q, r = muldivmod(tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]))
  out[#out + 1] = string.format('%d', q)
  out[#out + 1] = string.format('%d', r)
end
return out`;
    const reply = (await admin.eval(lua, 0, ...cases.flat().map(String))) as string[];
    cases.forEach(([n, w, l], i) => {
      expect([Number(reply[2 * i]), Number(reply[2 * i + 1])], `${n} * ${w} / ${l}`).toEqual(
        mulDivMod(n, w, l),
      );
    });
  });

  // Decisions started together reach Redis as one batch script call per layout (write-behind, shared
  // arguments): each must still come out exactly as the memory store decides them one by one.
  for (const seed of [11, 12, 13, 14]) {
    it(`agrees on bursts decided together: Redis batch scripts (seed ${seed})`, async () => {
      const rand = mulberry32(seed);
      const clock = new ManualClock(1_700_000_000_000 + rand() * 1000);
      const memory = new MemoryStore({ clock: clock.now });
      const redis = new PinnedClockRedisStore({ url: server.url });
      await redis.ready();
      const definitions = [0, 1].map((i) => randomLimits(rand, i));
      // A budget far above any stall of this machine: what is compared is the scripts' arithmetic.
      const pairs: Array<[Limiter, Limiter]> = definitions.map((limits) => [
        createLimiter({ limits, store: memory, prefix: `burst${seed}` }),
        createLimiter({ limits, store: redis, prefix: `burst${seed}`, guard: { budgetMs: 5000 } }),
      ]);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
      const calls = await commandCalls(admin);
      try {
        for (let step = 0; step < 150; step++) {
          const where = `seed ${seed} step ${step}`;
          if (rand() < 0.7) {
            const burst = Array.from({ length: 2 + Math.floor(rand() * 7) }, () => ({
              pair: pick(pairs),
              request: {
                tenant: pick(['t1', 't2', 't3']),
                key: pick(['a', 'b']),
                cost: pick([0, 1, 1, 2, 3, 100_000]),
              },
            }));
            await admin.set(NOW_KEY, String(clock.now()));
            const fromMemory: Decision[] = [];
            for (const { pair, request } of burst) fromMemory.push(await pair[0].limit(request));
            const fromRedis = await Promise.all(burst.map(({ pair, request }) => pair[1].limit(request)));
            expect(fromRedis.map(comparable), where).toEqual(fromMemory.map(comparable));
          } else {
            // Between bursts, sometimes a tenant reset or a block: batches then mix tenants whose
            // meta keys differ (each tenant's parsed once per run of its decisions).
            const roll = rand();
            const [m, r] = pick(pairs);
            const tenant = pick(['t1', 't2', 't3']);
            await admin.set(NOW_KEY, String(clock.now()));
            if (roll < 0.1) await Promise.all([m.resetTenant(tenant), r.resetTenant(tenant)]);
            else if (roll < 0.17) {
              const target = { tenant, key: pick(['a', 'b']) };
              await Promise.all([m.block(target, 400), r.block(target, 400)]);
            } else if (roll < 0.22) await Promise.all([m.block({ tenant }, 300), r.block({ tenant }, 300)]);
            else if (roll < 0.25) await Promise.all([m.unblock({ tenant }), r.unblock({ tenant })]);
            clock.advance(rand() < 0.8 ? Math.round(rand() * 60_000) / 1000 : rand() * 4000);
          }
        }
        // The bursts did go out as batches: far fewer script calls than decisions.
        expect((await commandCalls(admin)) - calls).toBeLessThan(150 * 2);
      } finally {
        await redis.close();
      }
    });
  }

  // A decision whose limits are asked costs of their own (checks[].cost): the weighted scripts, single
  // and batched, and per-limit refunds, against the memory store.
  for (const seed of [21, 22, 23, 24]) {
    it(`agrees on decisions with a cost per limit, and their per-limit refunds (seed ${seed})`, async () => {
      const rand = mulberry32(seed);
      const clock = new ManualClock(1_800_000_000_000 + rand() * 1000);
      const memory = new MemoryStore({ clock: clock.now });
      const redis = new PinnedClockRedisStore({ url: server.url });
      await redis.ready();
      const pair: [Limiter, Limiter] = [
        createLimiter({ store: memory, prefix: `weighted${seed}` }),
        createLimiter({ store: redis, prefix: `weighted${seed}`, guard: { budgetMs: 5000 } }),
      ];
      const layouts = [0, 1, 2].map((i) => randomLimits(rand, i));
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
      const request = () => {
        const limits = pick(layouts);
        const key = pick(['a', 'b']);
        return {
          tenant: pick(['t1', 't2']),
          key,
          cost: pick([0, 1, 2]),
          // Some checks state no cost: they are asked the decision's.
          checks: limits.map((limit) =>
            rand() < 0.2 ? { limit, key } : { limit, key, cost: pick([0, 1, 2, 3, 7, 1000, 500_000]) },
          ),
        };
      };
      const admitted: Array<[Decision, Decision]> = [];
      const leases: Array<[Lease, Lease]> = [];
      const keep = (m: Decision, r: Decision) => {
        if (m.allowed) admitted.push([m, r]);
        if (m.lease && r.lease) leases.push([m.lease, r.lease]);
      };
      try {
        for (let step = 0; step < 300; step++) {
          const where = `seed ${seed} step ${step}`;
          const roll = rand();
          await admin.set(NOW_KEY, String(clock.now()));
          if (roll < 0.45) {
            const r0 = request();
            const m = await pair[0].decide(r0);
            const r = await pair[1].decide(r0);
            expect(comparable(r), where).toEqual(comparable(m));
            keep(m, r);
          } else if (roll < 0.6) {
            const burst = Array.from({ length: 2 + Math.floor(rand() * 6) }, request);
            const fromMemory: Decision[] = [];
            for (const r0 of burst) fromMemory.push(await pair[0].decide(r0));
            const fromRedis = await Promise.all(burst.map((r0) => pair[1].decide(r0)));
            expect(fromRedis.map(comparable), where).toEqual(fromMemory.map(comparable));
            fromMemory.forEach((m, i) => {
              keep(m, fromRedis[i] as Decision);
            });
          } else if (roll < 0.72 && admitted.length > 0) {
            const [m, r] = pick(admitted);
            const units =
              rand() < 0.5
                ? m.limits.map((l) => Math.floor(rand() * ((l.cost ?? m.cost) + 1)))
                : Math.floor(rand() * (m.cost + 1));
            await pair[0].refund(m, units);
            await pair[1].refund(r, units);
          } else if (roll < 0.78 && leases.length > 0) {
            const [m, r] = leases.splice(Math.floor(rand() * leases.length), 1)[0] as [Lease, Lease];
            await pair[0].release(m);
            await pair[1].release(r);
          } else {
            clock.advance(rand() < 0.8 ? Math.round(rand() * 60_000) / 1000 : rand() * 4000);
          }
        }
      } finally {
        await redis.close();
      }
    });
  }
});

async function commandCalls(admin: Redis): Promise<number> {
  const stats = await admin.info('commandstats');
  return (
    Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0) +
    Number(/cmdstat_eval:calls=(\d+)/.exec(stats)?.[1] ?? 0)
  );
}
