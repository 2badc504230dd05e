import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../src/limiter.js';
import { freshPrefix, useBackends } from './support.js';

/**
 * Issue 10: a sliding-log refund removed the newest entries rather than the refunded decision's, and
 * a fixed/sliding-window refund was applied to the current window whatever window admitted the units:
 * 15 units stayed in a window of limit 10. A refund now gives back what that admitted decision took,
 * where it took it, never more. Memory runs on a driven clock; Redis with a pinned-window layout.
 */
describe('regression: a refund gives back what its decision took, where it took it', () => {
  const backends = useBackends();

  it('fixed window: refunding a decision of the previous window frees nothing in this one', async () => {
    const { store, clock } = backends.memory(1_800_000_000_000); // a window boundary of 1 s
    const l = createLimiter({ store, limits: [{ algorithm: 'fixed-window', limit: 10, window: '1s' }] });
    const old = await l.limit({ tenant: 't', key: 'k', cost: 5 });
    clock?.advance(1000);
    expect((await l.limit({ tenant: 't', key: 'k', cost: 10 })).allowed).toBe(true);
    await l.refund(old);
    const after = await l.limit({ tenant: 't', key: 'k', cost: 5 });
    expect([after.allowed, after.remaining]).toEqual([false, 0]);
  });

  it('sliding window: a refund lands in the window that admitted it (previous window: its weight)', async () => {
    const { store, clock } = backends.memory(1_800_000_000_000);
    const l = createLimiter({ store, limits: [{ algorithm: 'sliding-window', limit: 10, window: '1s' }] });
    const old = await l.limit({ tenant: 't', key: 'k', cost: 8 });
    clock?.advance(1500); // half of the previous window still weighs: 4 of its 8 units
    expect((await l.peek({ tenant: 't', key: 'k' })).remaining).toBe(6);
    await l.refund(old, 4); // the previous window now holds 4: half of it weighs 2
    expect((await l.peek({ tenant: 't', key: 'k' })).remaining).toBe(8);
    clock?.advance(1000); // the decision's window no longer weighs: nothing left to give back
    await l.refund(old);
    expect((await l.peek({ tenant: 't', key: 'k' })).remaining).toBe(10);
  });

  for (const name of ['memory', 'redis'] as const) {
    it(`${name}: sliding log: the refunded decision's own entry leaves, not the newest`, async () => {
      const backend = name === 'memory' ? backends.memory() : backends.redis();
      const l = createLimiter({
        store: backend.store,
        guard: false,
        prefix: freshPrefix(),
        limits: [{ limit: 3, window: '1s' }],
      });
      const first = await l.limit({ tenant: 't', key: 'k' });
      backend.clock?.advance(400);
      if (!backend.clock) await new Promise((r) => setTimeout(r, 400));
      const second = await l.limit({ tenant: 't', key: 'k', cost: 2 });
      await l.refund(second, 1);
      await l.refund(second, 1);
      await l.refund(second, 1); // more than it took: nothing more
      const peek = await l.peek({ tenant: 't', key: 'k' });
      expect(peek.remaining).toBe(2);
      // What is left is the first decision's entry: it leaves the window 1 s after it was made.
      expect(peek.resetAt).toBe(first.at + 1000);
    });

    it(`${name}: token bucket: a decision whose tokens have refilled gives nothing back`, async () => {
      const backend = name === 'memory' ? backends.memory() : backends.redis();
      const l = createLimiter({
        store: backend.store,
        guard: false,
        prefix: freshPrefix(),
        limits: [{ algorithm: 'token-bucket', limit: 10, window: 200 }],
      });
      const old = await l.limit({ tenant: 't', key: 'k', cost: 5 });
      backend.clock?.advance(300);
      if (!backend.clock) await new Promise((r) => setTimeout(r, 300)); // refilled: 10 per 200 ms
      const now = await l.limit({ tenant: 't', key: 'k', cost: 10 });
      expect(now.allowed).toBe(true);
      // The bucket's reset instant (its TAT) is independent of the time the test takes: a refund
      // that gives nothing back leaves it where it is.
      await l.refund(old);
      expect((await l.peek({ tenant: 't', key: 'k' })).resetAt).toBe(now.resetAt);
      // The newer decision's own refund does give its tokens back: 4 tokens of 20 ms each.
      await l.refund(now, 4);
      expect((await l.peek({ tenant: 't', key: 'k' })).resetAt).toBe(now.resetAt - 80);
    });
  }
});
