import { describe, expect, it } from 'vitest';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { freshPrefix, useBackends } from './support.js';

// Concurrency leases taken by shadow decisions were dropped, never released: a shadow rollout of
// `tierPolicy.concurrency` reported rejections with nothing in flight. A shadow decision's lease is
// now released with the request's: carried on the decision's lease (or, when the enforced policies
// hold none, as the decision's lease) and freed by PolicyLimiter.release; at once when the request
// was rejected.

describe('shadow decisions release their concurrency leases', () => {
  const backends = useBackends();

  for (const name of ['memory', 'redis'] as const) {
    const tiers = { free: { rps: 1000, burst: 1000, maxConcurrent: 2 } };
    const build = (
      config: Record<string, unknown> = {
        tiers,
        tierPolicy: { concurrency: true, mode: 'shadow' },
        policies: [{ name: 'per-user', scope: 'user', limits: [{ limit: 1000, window: '1h' }] }],
      },
    ) => {
      const backend = name === 'memory' ? backends.memory() : backends.redis();
      return PolicyLimiter.create({
        config: { prefix: freshPrefix(), ...config },
        store: backend.store,
        ...(backend.clock ? { clock: backend.clock.now } : {}),
      });
    };

    it(`a shadow rollout of tier concurrency: released requests never count as in flight (${name})`, async () => {
      const limiter = await build();
      try {
        for (let i = 0; i < 5; i++) {
          const d = await limiter.check({ tenant: 'acme', user: 'u' });
          expect([d.allowed, d.shadowRejections]).toEqual([true, []]);
          expect(d.lease?.slots.map((s) => s.limit)).toEqual(['tier.concurrent:cc60000']);
          await limiter.release(d.lease!);
        }
        // Two held: the third would be rejected by the shadow policy (and is not blocked).
        const held = [
          await limiter.check({ tenant: 'acme', user: 'u' }),
          await limiter.check({ tenant: 'acme', user: 'u' }),
        ];
        const third = await limiter.check({ tenant: 'acme', user: 'u' });
        expect([third.allowed, third.shadowRejections, third.lease]).toEqual([true, ['tier'], undefined]);
        for (const d of held) await limiter.release(d.lease!);
        const next = await limiter.check({ tenant: 'acme', user: 'u' });
        expect([next.allowed, next.shadowRejections]).toEqual([true, []]);
        await limiter.release(next.lease!);
      } finally {
        await limiter.close();
      }
    });

    it(`a shadow lease beside an enforced one is released with it (${name})`, async () => {
      const limiter = await build({
        tiers,
        tierPolicy: { concurrency: true },
        policies: [
          {
            name: 'per-user',
            scope: 'user',
            additive: true,
            mode: 'shadow',
            limits: [{ name: 'inflight', algorithm: 'concurrency', limit: 1, window: '1m' }],
          },
        ],
      });
      try {
        for (let i = 0; i < 4; i++) {
          const d = await limiter.check({ tenant: 'acme', user: 'u' });
          expect([d.allowed, d.shadowRejections]).toEqual([true, []]);
          await limiter.release(d.lease!);
        }
        // A rejected request's shadow lease is released at once.
        const a = await limiter.check({ tenant: 'acme', user: 'a' });
        const b = await limiter.check({ tenant: 'acme', user: 'b' });
        const rejected = await limiter.check({ tenant: 'acme', user: 'c' });
        expect([rejected.allowed, rejected.bindingPolicy, rejected.lease]).toEqual([
          false,
          'tier',
          undefined,
        ]);
        await limiter.release(a.lease!);
        const c = await limiter.check({ tenant: 'acme', user: 'c' });
        expect([c.allowed, c.shadowRejections]).toEqual([true, []]);
        await limiter.release(b.lease!);
        await limiter.release(c.lease!);
      } finally {
        await limiter.close();
      }
    });
  }
});
