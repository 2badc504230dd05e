import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../src/limiter.js';
import { freshPrefix, useBackends } from './support.js';

/**
 * Issue 10: lease ids were a process nonce plus a counter and release() trusted every field it was
 * given: a holder of one lease derived the next id and freed another tenant's slot; and a release with
 * a mismatched cost freed different slots on memory and on Redis. Ids are now 96 random bits, and a
 * release frees exactly the slots of the lease it names (id and instant), whatever cost it states.
 */
describe('regression: leases cannot be forged', () => {
  const backends = useBackends();
  const limits = [{ name: 'inflight', algorithm: 'concurrency' as const, limit: 3, window: '1h' }];

  it('ids share nothing a holder could derive the next one from', async () => {
    const l = createLimiter({ limits });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await l.limit({ tenant: 'a', key: 'k' })).lease?.id as string);
    expect(ids.every((id) => /^[A-Za-z0-9_-]{16}$/.test(id))).toBe(true);
    // No common prefix beyond chance (the old ids shared an 8-character nonce).
    const common = (x: string, y: string) => [...x].findIndex((c, i) => c !== y[i]);
    expect(Math.max(common(ids[0]!, ids[1]!), common(ids[1]!, ids[2]!))).toBeLessThan(4);
  });

  it("a lease derived from one's own frees nothing of another tenant, on both stores", async () => {
    for (const { name, store } of backends.each()) {
      const l = createLimiter({ store, guard: false, prefix: freshPrefix(), limits });
      const own = await l.limit({ tenant: 'attacker', key: 'k' });
      const victim = await l.limit({ tenant: 'victim', key: 'k', cost: 3 });
      // The old ids were an 8-character process nonce and a base-36 counter: the next one was derivable.
      const nonce = own.lease!.id.slice(0, 8);
      const next = nonce + (Number.parseInt(own.lease!.id.slice(8), 36) + 1).toString(36);
      const forged = { ...own.lease!, tenant: 'victim', acquiredAt: victim.lease!.acquiredAt, cost: 3 };
      await l.release({ ...forged, id: next.replace(/[^A-Za-z0-9_-]/g, 'x') });
      await l.release({ ...forged });
      expect([name, (await l.peek({ tenant: 'victim', key: 'k' })).remaining]).toEqual([name, 0]);
    }
  });

  it('a release stating another cost frees exactly the lease, the same on both stores', async () => {
    for (const { name, store } of backends.each()) {
      const l = createLimiter({ store, guard: false, prefix: freshPrefix(), limits });
      const big = await l.limit({ tenant: 't', key: 'k', cost: 2 });
      const small = await l.limit({ tenant: 't', key: 'k', cost: 1 });
      await l.release({ ...big.lease!, cost: 1 });
      expect([name, (await l.peek({ tenant: 't', key: 'k' })).remaining]).toEqual([name, 2]);
      await l.release({ ...small.lease!, cost: 3 });
      expect([name, (await l.peek({ tenant: 't', key: 'k' })).remaining]).toEqual([name, 3]);
    }
  });
});
