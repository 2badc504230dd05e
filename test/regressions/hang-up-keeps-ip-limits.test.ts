/**
 * Regression (#11.2): a client that closed its connection right after sending, while an async step
 * ran before the limiter (an awaited auth check; Fastify's `preValidation` hook), had no socket
 * address left: every IP policy was skipped (the handler ran 10 of 10 times against a limit of 3, on
 * every adapter), and with `trustProxy: N` the client chose its own IP bucket from X-Forwarded-For.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { ADAPTERS, memoryLimiter, type Served, serveWith } from './http-adapters.js';

const PER_IP = { name: 'per-ip', scope: 'ip', limits: [{ limit: 3, window: '1m' }] };
const headers = { authorization: 'Bearer acme' };

describe.each(ADAPTERS)('%s: a client that hangs up keeps its IP limits', (name) => {
  const open: Array<Served | PolicyLimiter> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  it('10 abandoned requests after an async auth step: the handler runs as the IP limit of 3 allows', async () => {
    const limiter = await memoryLimiter({ policies: [PER_IP] });
    const app = await serveWith(name, {
      limiter,
      authDelayMs: 25,
      ...(name === 'fastify' ? { fastifyHook: 'preValidation' as const } : {}),
    });
    open.push(limiter, app);
    // One ordinary request first (Express and Hono start reading addresses on arrival once they have
    // seen the server; Fastify from registration).
    const first = await app.request('/items', headers);
    expect([first.status, first.headers['x-ratelimit-remaining']]).toEqual([200, '2']);
    for (let i = 0; i < 10; i++) await app.hangUp('/items', headers);
    await app.settle(11);
    // Every request counted in the client's own bucket: 3 ran in all, the other 8 were refused.
    expect(app.runs).toBe(3);
    expect(new Set(app.decided.map((c) => c.ip))).toEqual(new Set(['127.0.0.1']));
  });

  it('the very first request of a server, abandoned, counts under the fixed "unknown" IP bucket', async () => {
    const limiter = await memoryLimiter({ policies: [PER_IP] });
    const app = await serveWith(name, {
      limiter,
      authDelayMs: 25,
      ...(name === 'fastify' ? { fastifyHook: 'preValidation' as const } : {}),
    });
    open.push(limiter, app);
    await app.hangUp('/items', headers);
    await app.settle(1);
    expect(app.runs).toBe(1);
    // Fastify reads addresses on arrival from the start; Express and Hono had not seen the server yet.
    expect(app.decided.map((c) => c.ip)).toEqual([name === 'fastify' ? '127.0.0.1' : 'unknown']);
  });
});

describe('hono: an unknown peer address never lets X-Forwarded-For choose the bucket', () => {
  it('trustProxy: 1 without a peer address: one "unknown" bucket, 3 of 10 admitted', async () => {
    const { Hono } = await import('hono');
    const { sluice } = await import('../../src/adapters/hono.js');
    const limiter = await memoryLimiter({ policies: [PER_IP] });
    try {
      const app = new Hono();
      // A runtime (or a closed socket) that gives no address.
      app.use(sluice({ limiter, tenant: () => 'acme', trustProxy: 1, remoteAddress: () => undefined }));
      app.get('/items', (c) => c.text('ok'));
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) {
        const res = await app.request('/items', { headers: { 'x-forwarded-for': `203.0.113.${i + 1}` } });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
    } finally {
      await limiter.close();
    }
  });
});
