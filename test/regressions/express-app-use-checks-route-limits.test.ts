/**
 * #12: with the usual order (`app.use(limiter)` before the routes), Express ran the limiter before
 * routing: `limiter.route([...])` limits were never checked and endpoint policies never matched (the
 * endpoint was `*`): `POST /reports` with a 3-per-minute route limit was admitted 6 of 6. The app-wide
 * middleware now decides with the route Express will dispatch to (its pattern, through mounts, and
 * its `limiter.route` limits), once; the order with the limiter on the route keeps working.
 */
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { type SluiceExpressMiddleware, sluice } from '../../src/adapters/express.js';
import type { AdapterWarning } from '../../src/adapters/shared.js';
import type { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { memoryLimiter } from './http-adapters.js';

type Build = (app: express.Express, mw: SluiceExpressMiddleware, ok: express.RequestHandler) => void;

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn();
});

async function serve(limiter: PolicyLimiter, build: Build, warnings: AdapterWarning[] = []) {
  const mw = sluice({ limiter, missingTenant: { tenant: 'acme' }, onWarning: (w) => warnings.push(w) });
  const app = express();
  build(app, mw, (_req, res) => {
    res.json({ decision: res.locals.sluice ?? null });
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as { port: number };
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await limiter.close();
  });
  return async (method: string, path: string, n: number) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await fetch(`http://127.0.0.1:${port}${path}`, { method })).status);
    return out;
  };
}

const noPolicies = () => memoryLimiter({ policies: [] });

describe('express: route limits and endpoint policies whatever the order', () => {
  it('app.use(limiter) before the routes: POST /reports with a 3-per-minute route limit admits 3 of 6', async () => {
    const warnings: AdapterWarning[] = [];
    const send = await serve(
      await noPolicies(),
      (app, mw, ok) => {
        app.use(mw);
        app.post('/reports', mw.route([{ limit: 3, window: '1m' }]), ok);
        app.get('/reports', ok);
      },
      warnings,
    );
    expect(await send('POST', '/reports', 6)).toEqual([200, 200, 200, 429, 429, 429]);
    // GET /reports is another route, without the route limit.
    expect(await send('GET', '/reports', 4)).toEqual([200, 200, 200, 200]);
    expect(warnings.filter((w) => w.kind === 'already-decided')).toEqual([]);
  });

  it('the limiter on the route only: the same 3 of 6', async () => {
    const send = await serve(await noPolicies(), (app, mw, ok) => {
      app.post('/reports', mw.route([{ limit: 3, window: '1m' }]), ok);
    });
    expect(await send('POST', '/reports', 6)).toEqual([200, 200, 200, 429, 429, 429]);
  });

  it('app.use(limiter) before a mounted router: route limits and endpoint policies use the mount pattern', async () => {
    const limiter = await memoryLimiter({
      policies: [
        { name: 'items', scope: 'endpoint', match: ['/api/items/:id'], limits: [{ limit: 2, window: '1m' }] },
      ],
    });
    const send = await serve(limiter, (app, mw, ok) => {
      app.use(mw);
      const router = express.Router();
      router.get('/items/:id', ok);
      router.post('/reports/:id', mw.route([{ limit: 3, window: '1m' }]), ok);
      app.use('/api', router);
    });
    // One endpoint per pattern: /api/items/1 and /api/items/2 share the endpoint's count.
    expect([...(await send('GET', '/api/items/1', 2)), ...(await send('GET', '/api/items/2', 1))]).toEqual([
      200, 200, 429,
    ]);
    expect([
      ...(await send('POST', '/api/reports/1', 4)),
      ...(await send('POST', '/API/reports/9', 1)),
    ]).toEqual([200, 200, 200, 429, 429]);
  });

  it('endpoint policies match with app.use before the routes (as with the limiter on the route)', async () => {
    for (const onRoute of [false, true]) {
      const limiter = await memoryLimiter({
        policies: [
          { name: 'reports', scope: 'endpoint', match: ['/reports'], limits: [{ limit: 3, window: '1m' }] },
        ],
      });
      const send = await serve(limiter, (app, mw, ok) => {
        if (onRoute) app.post('/reports', mw, ok);
        else {
          app.use(mw);
          app.post('/reports', ok);
        }
      });
      expect(await send('POST', '/reports', 6)).toEqual([200, 200, 200, 429, 429, 429]);
    }
  });

  it('app.use and the route middleware of one limiter decide once: the route limit counted once per request', async () => {
    const warnings: AdapterWarning[] = [];
    const send = await serve(
      await noPolicies(),
      (app, mw, ok) => {
        app.use(mw);
        app.post('/reports', mw, mw.route([{ limit: 2, window: '1m' }]), ok);
      },
      warnings,
    );
    expect(await send('POST', '/reports', 3)).toEqual([200, 200, 429]);
    expect(warnings.filter((w) => w.kind === 'already-decided')).toEqual([]);
  });

  it('a request no route matches is decided as endpoint "*" (a 404 still counts)', async () => {
    const limiter = await memoryLimiter({
      policies: [{ name: 'all', scope: 'global', limits: [{ limit: 2, window: '1m' }] }],
    });
    const send = await serve(limiter, (app, mw, ok) => {
      app.use(mw);
      app.get('/items', ok);
    });
    expect(await send('GET', '/nowhere', 3)).toEqual([404, 404, 429]);
  });
});

describe('express: the one-line start with route limits, both orders', () => {
  for (const order of ['app.use first', 'on the route'] as const) {
    it(`${order}: 100 per minute per IP, POST /reports 3 per minute: 3 of 6`, async () => {
      const mw = sluice({ limit: 100, window: '1m' });
      const app = express();
      const ok: express.RequestHandler = (_req, res) => {
        res.json({ tenant: (res.locals.sluice as { tenant?: string } | undefined)?.tenant ?? null });
      };
      if (order === 'app.use first') app.use(mw);
      app.post('/reports', order === 'app.use first' ? [] : [mw], mw.route([{ limit: 3, window: '1m' }]), ok);
      const server = app.listen(0, '127.0.0.1');
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      cleanup.push(async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await mw.close();
      });
      const { port } = server.address() as { port: number };
      const replies = [];
      for (let i = 0; i < 6; i++)
        replies.push(await fetch(`http://127.0.0.1:${port}/reports`, { method: 'POST' }));
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 429, 429, 429]);
      expect(replies.map((r) => r.headers.get('x-ratelimit-remaining'))).toEqual([
        '2',
        '1',
        '0',
        '0',
        '0',
        '0',
      ]);
      expect(await replies[0]?.json()).toEqual({ tenant: 'default' });
    });
  }
});
