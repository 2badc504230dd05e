import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../src/limiter.js';
import type { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { freshPrefix, useBackends } from './support.js';

/**
 * Issue 10: sliding-log and concurrency stored one entry per cost unit: one decision of cost 1e6 held
 * Redis for 2.9 s in one script and used 103 MB (memory store: 587 ms, 109 MB), and a release whose
 * lease said cost 1e6 looped 0.7 s in Redis. A log now holds one entry per decision, weighted.
 */
describe('regression: a decision costs the same whatever its cost', () => {
  const backends = useBackends();

  for (const algorithm of ['sliding-log', 'concurrency'] as const) {
    it(`${algorithm}: cost 1e6 is one entry, counted as 1e6, on both stores`, async () => {
      for (const { name, store, admin } of backends.each()) {
        const prefix = freshPrefix();
        const l = createLimiter({
          store,
          guard: false,
          prefix,
          limits: [{ name: 'x', algorithm, limit: 1_000_000_000, window: '1h' }],
        });
        const d = await l.limit({ tenant: 't', key: 'k', cost: 1_000_000 });
        expect([name, d.allowed, d.remaining]).toEqual([name, true, 999_000_000]);
        const peek = await l.peek({ tenant: 't', key: 'k' });
        expect([name, peek.remaining]).toEqual([name, 999_000_000]);
        const key = `${prefix}:{t}:s:k:x:${algorithm === 'concurrency' ? 'cc' : 'sl'}3600000`;
        if (admin) {
          expect(await admin.zcard(key)).toBe(2); // the entry and the running total's sentinel
          expect(await admin.memory('USAGE', key)).toBeLessThan(1024);
        } else {
          const state = (store as MemoryStore).stored('t', key) as { times: number[] } | undefined;
          expect(state?.times.length).toBe(1);
        }
        if (d.lease) {
          // A lease that claims another cost frees exactly what it holds: its one entry.
          await l.release({ ...d.lease, cost: 5 });
          expect([name, (await l.peek({ tenant: 't', key: 'k' })).remaining]).toEqual([name, 1_000_000_000]);
        }
      }
    });
  }
});
