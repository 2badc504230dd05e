import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLimiter } from '../../src/limiter.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';

/**
 * Issue 10: in failureMode 'local' the lease came from the in-process fallback but release() went to
 * the (down) shared store, and the HTTP core swallowed the error: slots stayed taken for their TTL. A
 * lease is now released where it was granted.
 */
describe('regression: a lease of the local fallback is released locally', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
    await server.kill(); // nothing listens: every store call fails
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('release frees the local slot at once, while the store is still down', async () => {
    const l = createLimiter({
      store: new RedisStore({ url: server.url }),
      failureMode: 'local',
      limits: [{ name: 'inflight', algorithm: 'concurrency', limit: 1, window: '1h' }],
    });
    try {
      const first = await l.limit({ tenant: 't', key: 'k' });
      expect([first.allowed, first.path, first.lease?.local]).toEqual([true, 'local', true]);
      expect((await l.limit({ tenant: 't', key: 'k' })).allowed).toBe(false);
      await l.release(first.lease!);
      const next = await l.limit({ tenant: 't', key: 'k' });
      expect([next.allowed, next.path]).toEqual([true, 'local']);
      // A JSON copy of the lease (another module of the app) is released the same way.
      await l.release(JSON.parse(JSON.stringify(next.lease)));
      expect((await l.limit({ tenant: 't', key: 'k' })).allowed).toBe(true);
    } finally {
      await l.close();
    }
  });
});
