import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../src/limiter.js';
import { freshPrefix, useBackends } from './support.js';

/**
 * Issue 13 (found while reworking the memory store's index): a refund that emptied a tenant's only
 * state dropped the tenant's bucket, and the refund's ledger was then written into the dropped bucket:
 * lost. The same decision could be refunded again once a later decision had counted, admitting more
 * than the limit (here two decisions of a limit of 1 in one window, neither refunded twice by right).
 * The ledger is now kept whatever the refund left in the tenant.
 */
describe('regression: a refund that empties a tenant keeps its ledger', () => {
  const backends = useBackends();

  for (const name of ['memory', 'redis'] as const) {
    it(`${name}: refunding a decision twice gives back its cost once`, async () => {
      const { store } = name === 'memory' ? backends.memory() : backends.redis();
      const l = createLimiter({
        store,
        guard: false,
        prefix: freshPrefix(),
        limits: [{ name: 'h', algorithm: 'fixed-window', limit: 1, window: '1h' }],
      });
      const request = { tenant: 'alone', key: 'k' };
      const first = await l.limit(request);
      expect(first.allowed).toBe(true);
      await l.refund(first); // the window's only unit given back: the tenant holds no counter
      expect((await l.limit(request)).allowed).toBe(true);
      await l.refund(first); // already refunded in full: nothing more to give back
      const third = await l.limit(request);
      expect([third.allowed, third.remaining]).toEqual([false, 0]);
    });
  }
});
