/**
 * #12: the simplest case took the most steps (build a config, a PolicyLimiter, pick a tenant). Every
 * adapter starts in one line: limits given inline, the PolicyLimiter built for you (memory store, or
 * `store`), every client counted by IP under one default tenant when no tenant is configured (no 400),
 * and the same factory grows into tenants (`tenantHeaders`) and configuration documents.
 */
import { describe, expect, it } from 'vitest';
import { ADAPTERS, decisionOf, serveQuick } from './http-adapters.js';
import { useBackends } from './support.js';

const statuses = async (request: () => Promise<{ status: number }>, n: number) => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await request()).status);
  return out;
};

describe.each(ADAPTERS)('%s: the one-line start', (name) => {
  const backends = useBackends();

  it('{ limit: 3, window: "1m" }: 3 x 200 then 429, by client IP, with the headers', async () => {
    const server = await serveQuick(name, { limit: 3, window: '1m' });
    try {
      const replies = [];
      for (let i = 0; i < 4; i++) replies.push(await server.request('/items'));
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 429]);
      expect(replies.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['2', '1', '0', '0']);
      expect(replies.map((r) => r.headers['x-ratelimit-limit'])).toEqual(['3', '3', '3', '3']);
      expect(replies[3]?.headers['retry-after']).toMatch(/^\d+$/);
      expect(JSON.parse(replies[3]?.body as string).error.code).toBe('RATE_5001');
      const first = decisionOf(replies[0] as never);
      expect(first?.tenant).toBe('default');
      expect(first?.policies.map((p) => [p.name, p.key])).toEqual([['client-ip', 'ip=127.0.0.1']]);
    } finally {
      await server.close();
    }
  });

  it('{ limits: [...] }: every limit checked (2 per minute binds before 10 per hour)', async () => {
    const server = await serveQuick(name, {
      limits: [
        { name: 'minute', limit: 2, window: '1m' },
        { name: 'hour', limit: 10, window: '1h' },
      ],
    });
    try {
      expect(await statuses(() => server.request('/items'), 3)).toEqual([200, 200, 429]);
    } finally {
      await server.close();
    }
  });

  it('a connected RedisStore as `store`: the same counts', async () => {
    const { store } = backends.redis();
    // Each adapter's block has its own redis-server (useBackends), so the default prefix is this test's.
    const server = await serveQuick(name, { limit: 3, window: '1m', store });
    try {
      const replies = [];
      for (let i = 0; i < 4; i++) replies.push(await server.request('/items'));
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 429]);
      expect(replies[0]?.headers['x-rate-limit-backend']).toBe('redis-distributed');
    } finally {
      await server.close();
    }
  });

  it('grows into tenants: with tenantHeaders each tenant counts on its own (and a request without one is 400)', async () => {
    const server = await serveQuick(name, { limit: 2, window: '1m', tenantHeaders: ['x-tenant-id'] });
    try {
      const acme = () => server.request('/items', { headers: { 'x-tenant-id': 'acme' } });
      const globex = () => server.request('/items', { headers: { 'x-tenant-id': 'globex' } });
      expect(await statuses(acme, 3)).toEqual([200, 200, 429]);
      expect(await statuses(globex, 3)).toEqual([200, 200, 429]);
      expect((await server.request('/items')).status).toBe(400);
    } finally {
      await server.close();
    }
  });

  it('grows into a configuration document: `config` builds the PolicyLimiter with its policies', async () => {
    const server = await serveQuick(
      name,
      {
        config: {
          store: { type: 'memory' },
          tierPolicy: { enabled: false },
          policies: [
            { name: 'items', scope: 'endpoint', match: ['/items'], limits: [{ limit: 1, window: '1m' }] },
          ],
        },
        missingTenant: { tenant: 'public' },
      },
      ['/items', '/other'],
    );
    try {
      expect(await statuses(() => server.request('/items'), 2)).toEqual([200, 429]);
      const other = await server.request('/other');
      expect(other.status).toBe(200);
      expect(decisionOf(other)?.tenant).toBe('public');
    } finally {
      await server.close();
    }
  });

  it('a broken inline limit is an error at setup, not a 503 per request', async () => {
    await expect(serveQuick(name, { limit: 3, window: '1m', algorithm: 'leaky' })).rejects.toThrow(
      /algorithm/,
    );
  });
});
