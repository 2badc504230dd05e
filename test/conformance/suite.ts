import { beforeAll, describe, expect, it } from 'vitest';
import { ALGORITHM_NAMES } from '../../src/algorithms/index.js';
import type { AlgorithmName, Decision, LimitDefinition } from '../../src/core/types.js';
import { createLimiter, type LimiterOptions } from '../../src/limiter.js';
import type { Harness } from './harness.js';

/** Every algorithm Sluice has: a new one is tested without touching this file. */
const ALGORITHMS = ALGORITHM_NAMES;
/** Algorithms whose windows are aligned to the epoch: their tests start at a window boundary. */
const ALIGNED = new Set<AlgorithmName>(['fixed-window', 'sliding-window']);

let sequence = 0;
/** A tenant no other test uses, so tests share one store (and one Redis) without interfering. */
const freshTenant = () => `tenant-${process.pid}-${Date.now().toString(36)}-${++sequence}`;

/**
 * The behaviour every store must have, written once and run unchanged against each store
 * (memory with a driven clock; Redis and Redis Cluster on real time with a tolerance).
 */
export function conformanceSuite(getHarness: () => Harness): void {
  let h: Harness;
  beforeAll(() => {
    h = getHarness();
  });

  const limiter = (limits: LimitDefinition[], extra: Partial<LimiterOptions> = {}) =>
    createLimiter({ limits, store: h.store, prefix: 'conf', ...extra });

  /** |actual - expected| within the harness tolerance (exact on memory). */
  const expectTime = (actual: number, expected: number) => {
    expect(Math.abs(actual - expected), `time ${actual} vs expected ${expected}`).toBeLessThanOrEqual(
      h.tolerance,
    );
  };

  const start = async (algorithm: AlgorithmName, windowMs: number) => {
    if (ALIGNED.has(algorithm)) await h.alignTo(windowMs);
  };

  describe.each(ALGORITHMS)('%s', (algorithm) => {
    const one = (limit: number, window: string | number, extra: Partial<LimitDefinition> = {}) =>
      limiter([{ name: 'only', algorithm, limit, window, ...extra }]);

    it('admits exactly the limit, then rejects without consuming anything', async () => {
      const l = one(5, '1s');
      const tenant = freshTenant();
      await start(algorithm, 1000);
      const first = h.now();
      const seen: Array<[boolean, number]> = [];
      for (let i = 0; i < 7; i++) {
        const d = await l.limit({ tenant, key: 'user' });
        seen.push([d.allowed, d.remaining]);
      }
      expect(seen).toEqual([
        [true, 4],
        [true, 3],
        [true, 2],
        [true, 1],
        [true, 0],
        [false, 0],
        [false, 0],
      ]);
      const rejected = await l.limit({ tenant, key: 'user' });
      expect(rejected.reason).toBe('rate_limited');
      expect(rejected.binding.name).toBe('only');
      const elapsed = h.now() - first;
      // Each algorithm's wait for one more unit after 5 units at one instant (1 s window):
      const expectedWait: Record<AlgorithmName, number> = {
        'sliding-log': 1000, // the oldest entry leaves the window
        concurrency: 1000, // the oldest lease expires
        'fixed-window': 1000, // the window ends
        'sliding-window': 1200, // next window, once this one's weight falls to 4/5
        'token-bucket': 200, // one token refills (5 per second)
      };
      expectTime(rejected.retryAfterMs, expectedWait[algorithm] - elapsed);
    });

    it('waits exactly retryAfterMs: one ms earlier still rejects, then admits', async () => {
      const l = one(3, '1s');
      const tenant = freshTenant();
      await start(algorithm, 1000);
      for (let i = 0; i < 3; i++) expect((await l.limit({ tenant, key: 'k' })).allowed).toBe(true);
      const rejected = await l.limit({ tenant, key: 'k' });
      expect(rejected.allowed).toBe(false);
      if (h.exactTime) {
        await h.advance(rejected.retryAfterMs - 1);
        expect((await l.limit({ tenant, key: 'k' })).allowed).toBe(false);
        await h.advance(1);
      } else {
        await h.advance(rejected.retryAfterMs + h.tolerance);
      }
      expect((await l.limit({ tenant, key: 'k' })).allowed).toBe(true);
    });

    it('reports resetAt as the instant the limit is full again', async () => {
      const l = one(5, '1s');
      const tenant = freshTenant();
      await start(algorithm, 1000);
      let last: Decision | undefined;
      for (let i = 0; i < 3; i++) last = await l.limit({ tenant, key: 'k' });
      const resetAt = (last as Decision).resetAt;
      if (h.exactTime) {
        await h.advance(resetAt - h.now() - 1);
        expect((await l.peek({ tenant, key: 'k' })).remaining).toBeLessThan(5);
        await h.advance(1);
      } else {
        await h.advance(resetAt - h.now() + h.tolerance);
      }
      expect((await l.peek({ tenant, key: 'k' })).remaining).toBe(5);
    });

    it('charges weighted costs; a rejected cost consumes nothing', async () => {
      const l = one(5, '1m');
      const tenant = freshTenant();
      await start(algorithm, 60_000);
      const a = await l.limit({ tenant, key: 'k', cost: 3 });
      expect([a.allowed, a.remaining]).toEqual([true, 2]);
      const b = await l.limit({ tenant, key: 'k', cost: 3 });
      expect([b.allowed, b.remaining, b.reason]).toEqual([false, 2, 'rate_limited']);
      const c = await l.limit({ tenant, key: 'k', cost: 2 });
      expect([c.allowed, c.remaining]).toEqual([true, 0]);
    });

    it('peeks with cost 0 without consuming', async () => {
      const l = one(5, '1m');
      const tenant = freshTenant();
      await start(algorithm, 60_000);
      await l.limit({ tenant, key: 'k', cost: 2 });
      for (let i = 0; i < 3; i++) {
        const p = await l.peek({ tenant, key: 'k' });
        expect([p.allowed, p.remaining, p.cost]).toEqual([true, 3, 0]);
      }
      expect((await l.limit({ tenant, key: 'k' })).remaining).toBe(2);
    });

    it('rejects a cost above capacity as cost_exceeds_limit, consuming nothing', async () => {
      const l = one(5, '1m');
      const tenant = freshTenant();
      const d = await l.limit({ tenant, key: 'k', cost: 6 });
      expect(d.allowed).toBe(false);
      expect(d.reason).toBe('cost_exceeds_limit');
      expect(d.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
      expect(d.remaining).toBe(5);
    });

    if (algorithm !== 'concurrency') {
      it('refunds what a decision took, never more than its cost, across refunds', async () => {
        const l = one(5, '1m');
        const tenant = freshTenant();
        await start(algorithm, 60_000);
        const d = await l.limit({ tenant, key: 'k', cost: 4 });
        await l.refund(d, 2);
        expect((await l.peek({ tenant, key: 'k' })).remaining).toBe(3);
        await expect(l.refund(d, 100)).rejects.toMatchObject({ field: 'units' });
        await l.refund(d); // the 2 units left of its cost
        expect((await l.peek({ tenant, key: 'k' })).remaining).toBe(5);
        // Spent: refunding it again gives nothing back, even after another decision took a unit.
        await l.limit({ tenant, key: 'k' });
        await l.refund(d);
        await l.refund(JSON.parse(JSON.stringify(d)));
        expect((await l.peek({ tenant, key: 'k' })).remaining).toBe(4);
        // A rejected decision or a peek took nothing: nothing to give back.
        const peek = await l.peek({ tenant, key: 'k' });
        await l.refund(peek);
        expect((await l.peek({ tenant, key: 'k' })).remaining).toBe(4);
      });
    }

    it('keeps tenants and keys apart', async () => {
      const l = one(2, '1m');
      const [a, b] = [freshTenant(), freshTenant()];
      await start(algorithm, 60_000);
      await l.limit({ tenant: a, key: 'k', cost: 2 });
      expect((await l.limit({ tenant: a, key: 'k' })).allowed).toBe(false);
      expect((await l.limit({ tenant: b, key: 'k' })).remaining).toBe(1);
      expect((await l.limit({ tenant: a, key: 'other' })).remaining).toBe(1);
    });
  });

  describe('several limits in one decision', () => {
    const limits: LimitDefinition[] = [
      { name: 'burst', algorithm: 'token-bucket', limit: 10, window: '1s', burst: 3 },
      { name: 'minute', algorithm: 'sliding-log', limit: 5, window: '1m' },
    ];

    it('is all-or-nothing: a limit that rejects leaves every other limit untouched', async () => {
      const l = limiter(limits);
      const tenant = freshTenant();
      for (let i = 0; i < 3; i++) expect((await l.limit({ tenant, key: 'k' })).allowed).toBe(true);
      const d = await l.limit({ tenant, key: 'k' });
      expect(d.allowed).toBe(false);
      expect(d.binding.name).toBe('burst');
      expect(d.limits.map((x) => [x.name, x.allowed, x.remaining])).toEqual([
        ['burst', false, 0],
        ['minute', true, 2],
      ]);
      expect((await l.peek({ tenant, key: 'k' })).limits[1]?.remaining).toBe(2);
    });

    it('names the binding limit: least room when admitted, longest wait when rejected', async () => {
      const l = limiter(limits);
      const tenant = freshTenant();
      const first = await l.limit({ tenant, key: 'k', cost: 2 });
      expect(first.binding.name).toBe('burst'); // 1 left of 3, against 3 left of 5
      expect(first.remaining).toBe(1);
      await h.advance(300 + h.tolerance); // the bucket refills: 3 tokens
      await l.limit({ tenant, key: 'k', cost: 3 });
      await h.advance(100 + h.tolerance);
      const d = await l.limit({ tenant, key: 'k', cost: 1 });
      expect(d.allowed).toBe(false);
      expect(d.binding.name).toBe('minute');
      expect(d.limits[0]?.allowed).toBe(true);
      expect(d.retryAfterMs).toBe(d.limits[1]?.retryAfterMs);
      expect(d.retryAfterMs).toBeGreaterThan(59_000);
    });

    it('counts tenant-wide limits across every key of the tenant', async () => {
      const l = limiter([
        { name: 'tenant', algorithm: 'fixed-window', limit: 3, window: '1h', scope: 'tenant' },
        { name: 'user', algorithm: 'sliding-log', limit: 2, window: '1h' },
      ]);
      const tenant = freshTenant();
      await h.alignTo(3_600_000);
      const results = [];
      for (const key of ['a', 'a', 'a', 'b', 'c']) results.push((await l.limit({ tenant, key })).allowed);
      expect(results).toEqual([true, true, false, true, false]);
      const blocked = await l.limit({ tenant, key: 'd' });
      expect(blocked.binding.name).toBe('tenant');
      expect(blocked.limits.find((x) => x.name === 'user')?.remaining).toBe(2);
    });
  });

  describe('limits asked costs of their own (checks[].cost): one atomic decision', () => {
    const requests: LimitDefinition = { name: 'rpm', algorithm: 'sliding-log', limit: 3, window: '1m' };
    const tokens: LimitDefinition = { name: 'tpd', algorithm: 'fixed-window', limit: 100, window: '1h' };
    const slots: LimitDefinition = { name: 'inflight', algorithm: 'concurrency', limit: 2, window: '1m' };
    const call = (tenant: string, tokenCost: number) =>
      createLimiter({ store: h.store, prefix: 'conf' }).decide({
        tenant,
        key: 'u',
        checks: [
          { limit: requests, key: 'u', cost: 1 },
          { limit: tokens, key: 'u', cost: tokenCost },
        ],
      });

    it('charges each limit its own cost, and a refusal by one charges none', async () => {
      const tenant = freshTenant();
      await h.alignTo(3_600_000);
      const a = await call(tenant, 40);
      expect(a.allowed).toBe(true);
      expect(a.limits.map((l) => [l.name, l.cost, l.remaining])).toEqual([
        ['rpm', 1, 2],
        ['tpd', 40, 60],
      ]);
      expect(a.cost).toBe(40); // the largest
      expect((await call(tenant, 40)).limits.map((l) => l.remaining)).toEqual([1, 20]);
      const refused = await call(tenant, 40);
      expect([refused.allowed, refused.reason, refused.binding.name]).toEqual([false, 'rate_limited', 'tpd']);
      expect(refused.limits.map((l) => [l.allowed, l.remaining])).toEqual([
        [true, 1],
        [false, 20],
      ]);
      // Nothing was charged: the request still fits with a cost that fits the tokens left.
      expect((await call(tenant, 20)).limits.map((l) => l.remaining)).toEqual([0, 0]);
    });

    it('refunds per limit: the tokens a call did not use, its request stays counted', async () => {
      const tenant = freshTenant();
      await h.alignTo(3_600_000);
      const l = createLimiter({ store: h.store, prefix: 'conf' });
      const d = await call(tenant, 70);
      await l.refund(d, [0, 50]);
      const after = await l.decide({
        tenant,
        checks: [
          { limit: requests, key: 'u', cost: 0 },
          { limit: tokens, key: 'u', cost: 0 },
        ],
      });
      expect(after.limits.map((x) => x.remaining)).toEqual([2, 80]);
      // Never more than each limit's own cost, across refunds: 20 tokens left to give back.
      await l.refund(d, [0, 20]);
      await l.refund(d, 1); // 1 unit on every limit: the request's, no token is left to refund
      const last = await l.decide({
        tenant,
        checks: [
          { limit: requests, key: 'u', cost: 0 },
          { limit: tokens, key: 'u', cost: 0 },
        ],
      });
      expect(last.limits.map((x) => x.remaining)).toEqual([3, 100]);
      await expect(l.refund(d, [0, 71])).rejects.toMatchObject({ field: 'units[1]' });
      await expect(l.refund(d, [1])).rejects.toMatchObject({ field: 'units' });
    });

    it('takes a concurrency slot only where asked, and the lease frees it', async () => {
      const tenant = freshTenant();
      const l = createLimiter({ store: h.store, prefix: 'conf' });
      const decide = (slot: number) =>
        l.decide({
          tenant,
          checks: [
            { limit: slots, key: 'u', cost: slot },
            { limit: requests, key: 'u', cost: 1 },
          ],
        });
      const a = await decide(1);
      expect(a.lease?.cost).toBe(1);
      expect(a.limits[0]?.remaining).toBe(1);
      const b = await decide(0); // no slot asked: no lease, the slot count unchanged
      expect(b.lease).toBeUndefined();
      expect(b.limits[0]?.remaining).toBe(1);
      await l.release(a.lease as NonNullable<Decision['lease']>);
      expect((await decide(0)).limits[0]?.remaining).toBe(2);
    });

    it('rejects a bad cost naming the check', async () => {
      const l = createLimiter({ store: h.store, prefix: 'conf' });
      await expect(
        l.decide({ tenant: freshTenant(), checks: [{ limit: requests, key: 'u', cost: -1 }] }),
      ).rejects.toMatchObject({ code: 'ERR_SLUICE_INVALID_COST', field: 'checks[0].cost' });
      // A misspelt cost would silently ask the decision's: refused, with the likely name.
      const misspelt = await l
        .decide({ tenant: freshTenant(), checks: [{ limit: requests, key: 'u', costs: 5 } as never] })
        .catch((e: Error) => e);
      expect(misspelt).toMatchObject({ code: 'ERR_SLUICE_INVALID_OPTION', field: 'checks[0].costs' });
      expect((misspelt as Error).message).toMatch(/did you mean "cost"/);
      const topLevel = await l
        .decide({ tenant: freshTenant(), costs: [5], checks: [{ limit: requests, key: 'u' }] } as never)
        .catch((e: Error) => e);
      expect(topLevel).toMatchObject({ code: 'ERR_SLUICE_INVALID_OPTION', field: 'request.costs' });
    });
  });

  describe('decisions started together (one event-loop turn: the Redis store coalesces them)', () => {
    it('decides each in order, exactly as one by one: per tenant, key and layout', async () => {
      const twoLimits = limiter([
        { name: 'user', algorithm: 'fixed-window', limit: 3, window: '1h' },
        { name: 'tenant', algorithm: 'sliding-log', limit: 5, window: '1h', scope: 'tenant' },
      ]);
      const oneLimit = limiter([{ name: 'only', algorithm: 'token-bucket', limit: 2, window: '1h' }]);
      const tenants = [freshTenant(), freshTenant(), freshTenant()];
      await h.alignTo(3_600_000);
      const started: Array<Promise<Decision>> = [];
      for (let i = 0; i < 4; i++) {
        for (const tenant of tenants) {
          started.push(twoLimits.limit({ tenant, key: 'a' }));
          started.push(twoLimits.limit({ tenant, key: 'b' }));
          started.push(oneLimit.limit({ tenant, key: 'a' }));
        }
      }
      const decisions = await Promise.all(started);
      const of = (tenant: string, which: number) =>
        decisions
          .filter((d, n) => d.tenant === tenant && n % 3 === which)
          .map((d) => [d.allowed, d.remaining, d.path]);
      for (const tenant of tenants) {
        // key a, two limits: 3 per user, 5 per tenant shared with key b (interleaved a, b, a, b...).
        expect(of(tenant, 0)).toEqual([
          [true, 2, 'store'],
          [true, 1, 'store'],
          [true, 0, 'store'],
          [false, 0, 'store'],
        ]);
        expect(of(tenant, 1)).toEqual([
          [true, 2, 'store'],
          [true, 1, 'store'],
          [false, 0, 'store'], // the tenant's 5 units went to a, b, a, b, a
          [false, 0, 'store'],
        ]);
        expect(of(tenant, 2)).toEqual([
          [true, 1, 'store'],
          [true, 0, 'store'],
          [false, 0, 'store'],
          [false, 0, 'store'],
        ]);
      }
    });
  });

  describe('concurrency leases', () => {
    const limits: LimitDefinition[] = [
      { name: 'inflight', algorithm: 'concurrency', limit: 2, window: '1s' },
    ];

    it('holds a slot until released, and releasing twice is harmless', async () => {
      const l = limiter(limits);
      const tenant = freshTenant();
      const a = await l.limit({ tenant, key: 'k' });
      const b = await l.limit({ tenant, key: 'k' });
      expect([a.allowed, b.allowed]).toEqual([true, true]);
      expect((await l.limit({ tenant, key: 'k' })).allowed).toBe(false);
      expect(a.lease?.slots).toEqual([{ limit: 'inflight:cc1000', key: 'k' }]);
      await l.release(a.lease!);
      await l.release(a.lease!);
      const c = await l.limit({ tenant, key: 'k' });
      expect([c.allowed, c.remaining]).toEqual([true, 0]);
    });

    it('frees the slot of a holder that never releases when its lease expires', async () => {
      const l = limiter(limits);
      const tenant = freshTenant();
      const a = await l.limit({ tenant, key: 'k', cost: 2 });
      expect(a.lease?.cost).toBe(2);
      expectTime(a.lease!.expiresAt, h.now() + 1000);
      expect((await l.limit({ tenant, key: 'k' })).allowed).toBe(false);
      await h.advance(1000 + h.tolerance);
      expect((await l.limit({ tenant, key: 'k' })).allowed).toBe(true);
    });

    it('renews a lease: its slot outlives its first TTL, and a released or expired lease renews nothing', async () => {
      const l = limiter(limits);
      const tenant = freshTenant();
      const a = await l.limit({ tenant, key: 'k', cost: 2 });
      await h.advance(700);
      const renewed = await l.renew(a.lease!);
      expect(renewed?.slots).toEqual(a.lease?.slots);
      expect(renewed?.cost).toBe(2);
      expectTime(renewed!.acquiredAt, h.now());
      expect(renewed!.expiresAt).toBe(renewed!.acquiredAt + 1000);
      await h.advance(700); // 1.4 s after it was taken: held, thanks to the renewal
      expect((await l.limit({ tenant, key: 'k' })).allowed).toBe(false);
      // The renewed lease is the one to release (the first names an entry that moved).
      await l.release(a.lease!);
      expect((await l.limit({ tenant, key: 'k', cost: 0 })).remaining).toBe(0);
      await l.release(renewed!);
      expect((await l.limit({ tenant, key: 'k', cost: 0 })).remaining).toBe(2);
      expect(await l.renew(renewed!)).toBeUndefined(); // released: nothing to renew
      const b = await l.limit({ tenant, key: 'k' });
      await h.advance(1000 + h.tolerance);
      expect(await l.renew(b.lease!)).toBeUndefined(); // expired: its slot is gone
      await expect(l.renew({ ...b.lease!, id: 'not an id' })).rejects.toMatchObject({ field: 'lease' });
    });

    it('gives no lease to rejected decisions or to limiters without concurrency limits', async () => {
      const l = limiter(limits);
      const tenant = freshTenant();
      await l.limit({ tenant, key: 'k', cost: 2 });
      expect((await l.limit({ tenant, key: 'k' })).lease).toBeUndefined();
      const plain = limiter([{ limit: 5, window: '1s' }]);
      expect((await plain.limit({ tenant, key: 'k' })).lease).toBeUndefined();
    });
  });

  describe('resets and blocks', () => {
    const limits: LimitDefinition[] = [
      { name: 'user', algorithm: 'sliding-log', limit: 2, window: '1h' },
      { name: 'tenant', algorithm: 'token-bucket', limit: 10, window: '1h', scope: 'tenant' },
    ];

    it('reset of a key restores its limits and leaves other keys and tenant-wide limits alone', async () => {
      const l = limiter(limits);
      const tenant = freshTenant();
      await l.limit({ tenant, key: 'a', cost: 2 });
      await l.limit({ tenant, key: 'b', cost: 1 });
      await l.reset({ tenant, key: 'a' });
      const a = await l.peek({ tenant, key: 'a' });
      expect(a.limits.map((x) => x.remaining)).toEqual([2, 7]);
      expect((await l.peek({ tenant, key: 'b' })).limits[0]?.remaining).toBe(1);
      await l.reset({ tenant });
      expect((await l.peek({ tenant, key: 'b' })).limits.map((x) => x.remaining)).toEqual([1, 10]);
    });

    it('reset of a tenant restores all its keys and no other tenant', async () => {
      const l = limiter(limits);
      const [t1, t2] = [freshTenant(), freshTenant()];
      for (const tenant of [t1, t2]) {
        await l.limit({ tenant, key: 'a', cost: 2 });
        await l.limit({ tenant, key: 'b', cost: 2 });
      }
      await h.advance(2);
      await l.resetTenant(t1);
      await h.advance(2);
      expect((await l.peek({ tenant: t1, key: 'a' })).limits.map((x) => x.remaining)).toEqual([2, 10]);
      expect((await l.limit({ tenant: t1, key: 'b' })).limits.map((x) => x.remaining)).toEqual([1, 9]);
      expect((await l.peek({ tenant: t2, key: 'a' })).limits.map((x) => x.remaining)).toEqual([0, 6]);
    });

    it('blocks a key for a duration without consuming, then lets it through', async () => {
      const l = limiter(limits);
      const tenant = freshTenant();
      await l.block({ tenant, key: 'a' }, '1s');
      const d = await l.limit({ tenant, key: 'a' });
      expect([d.allowed, d.reason]).toEqual([false, 'blocked']);
      expectTime(d.retryAfterMs, 1000);
      expect(d.limits.map((x) => x.remaining)).toEqual([2, 10]);
      expect((await l.limit({ tenant, key: 'b' })).allowed).toBe(true);
      await h.advance(1000 + h.tolerance);
      expect((await l.limit({ tenant, key: 'a' })).allowed).toBe(true);
    });

    it('resets forget counters but keep blocks', async () => {
      const l = limiter(limits);
      const tenant = freshTenant();
      await l.block({ tenant, key: 'a' }, '1h');
      await l.reset({ tenant, key: 'a' });
      await l.resetTenant(tenant);
      await h.advance(2);
      expect((await l.limit({ tenant, key: 'a' })).reason).toBe('blocked');
    });

    it('blocks a whole tenant, and unblock lifts it at once', async () => {
      const l = limiter(limits);
      const [tenant, other] = [freshTenant(), freshTenant()];
      await l.block({ tenant }, '1h');
      expect((await l.limit({ tenant, key: 'x' })).reason).toBe('blocked');
      expect((await l.limit({ tenant: other, key: 'x' })).allowed).toBe(true);
      await l.unblock({ tenant });
      expect((await l.limit({ tenant, key: 'x' })).allowed).toBe(true);
    });
  });

  describe('decisions over blocks alone (prepareBlocks)', () => {
    const limits: LimitDefinition[] = [{ name: 'user', algorithm: 'sliding-log', limit: 2, window: '1h' }];

    it("refuse exactly while the tenant's or a key's block lasts, count nothing, alone or batched", async () => {
      const l = limiter(limits);
      const [tenant, other] = [freshTenant(), freshTenant()];
      const a = l.prepareBlocks({ tenant, key: 'a', blockedBy: ['a'] });
      const b = l.prepareBlocks({ tenant, blockedBy: ['b', 'c'] });
      const elsewhere = l.prepareBlocks({ tenant: other });
      const free = await l.decidePrepared(a);
      expect([free.allowed, free.reason, free.limits, free.binding.name, free.remaining, free.key]).toEqual([
        true,
        'allowed',
        [],
        'none',
        Number.POSITIVE_INFINITY,
        'a',
      ]);
      await l.block({ tenant, key: 'a' }, '1h');
      const blocked = await l.decidePrepared(a);
      expect([blocked.allowed, blocked.reason, blocked.binding.name]).toEqual([false, 'blocked', 'blocked']);
      expectTime(blocked.retryAfterMs, 3_600_000);
      expect(blocked.blockedUntil).toBe(blocked.at + blocked.retryAfterMs);
      // In one turn (one batch script call per layout on Redis; per tenant on a Cluster).
      const reasons = async () =>
        (
          await Promise.all(
            [a, b, elsewhere, a, b, elsewhere, a].map((p, i) => l.decidePrepared(p, i % 2 === 0 ? 1 : 3)),
          )
        ).map((d) => d.reason);
      const one = ['blocked', 'allowed', 'allowed', 'blocked', 'allowed', 'allowed', 'blocked'];
      expect(await reasons()).toEqual(one);
      await l.block({ tenant }, '1h');
      expect(await reasons()).toEqual(one.map((r, i) => (i % 3 === 2 ? r : 'blocked')));
      await l.unblock({ tenant });
      await l.unblock({ tenant, key: 'a' });
      expect(await reasons()).toEqual(one.map(() => 'allowed'));
      // Nothing was counted: the key's limit is untouched.
      expect((await l.peek({ tenant, key: 'a' })).remaining).toBe(2);
    });
  });

  describe('penalty mode', () => {
    const limits: LimitDefinition[] = [
      { name: 'short', algorithm: 'sliding-log', limit: 2, window: '1h' },
      { name: 'long', algorithm: 'sliding-log', limit: 5, window: '1d' },
    ];

    it('off (default): rejected requests are free', async () => {
      const l = limiter(limits);
      const tenant = freshTenant();
      for (let i = 0; i < 4; i++) await l.limit({ tenant, key: 'k' });
      expect((await l.peek({ tenant, key: 'k' })).limits.map((x) => x.remaining)).toEqual([0, 3]);
    });

    it('on: rejected requests still spend the limits that had room', async () => {
      const l = limiter(limits, { penalty: true });
      const tenant = freshTenant();
      for (let i = 0; i < 4; i++) await l.limit({ tenant, key: 'k' });
      expect((await l.peek({ tenant, key: 'k' })).limits.map((x) => x.remaining)).toEqual([0, 1]);
    });
  });

  describe('untrusted identifiers', () => {
    it('cannot collide by embedding separators or hash-tag braces', async () => {
      const l = limiter([{ limit: 1, window: '1h' }]);
      const base = freshTenant();
      expect((await l.limit({ tenant: `${base}:x`, key: 'y' })).allowed).toBe(true);
      expect((await l.limit({ tenant: base, key: 'x:y' })).allowed).toBe(true);
      expect((await l.limit({ tenant: `${base}}{x`, key: 'y' })).allowed).toBe(true);
      expect((await l.limit({ tenant: `${base}`, key: '*' })).allowed).toBe(true);
      expect((await l.limit({ tenant: `${base}\n`, key: 'a b' })).allowed).toBe(true);
      expect((await l.limit({ tenant: base, key: 'a%20b' })).allowed).toBe(true);
      expect((await l.limit({ tenant: base, key: 'a b' })).allowed).toBe(true);
    });
  });
}
