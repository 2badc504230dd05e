import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { type Context, Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HonoSluiceOptions, sluice } from '../../src/adapters/hono.js';
import type { AdapterWarning } from '../../src/adapters/shared.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import type { PolicyDecision, RequestContext } from '../../src/policy/types.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';
import { type App, type AppSpec, type Auth, parseAuth, type Reply, ROUTES, runSuite } from './suite.js';

type Env = { Variables: { auth?: Auth; sluice: PolicyDecision } };

function newApp(): Hono<Env> {
  const app = new Hono<Env>();
  // The auth stub: a middleware before the limiter puts the verified identity in the context.
  app.use(async (c, next) => {
    const auth = parseAuth(c.req.header('authorization'));
    if (auth) c.set('auth', auth);
    await next();
  });
  return app;
}

const authOf = (c: Context) => c.get('auth') as Auth | undefined;

function optionsOf(spec: AppSpec): HonoSluiceOptions {
  const { skip, cost, onError, ...common } = spec.options;
  return {
    ...common,
    limiter: spec.limiter,
    ...(spec.auth
      ? { tenant: (c: Context) => authOf(c)?.tenant, user: (c: Context) => authOf(c)?.user }
      : {}),
    ...(skip ? { skip: () => skip() } : {}),
    ...(cost ? { cost: () => cost() } : {}),
    ...(onError ? { onError: (e: unknown) => onError(e) } : {}),
  };
}

/** In-process request through app.request, with @hono/node-server's bindings as the env. */
async function request(
  app: Hono<Env>,
  path: string,
  init: { headers?: Record<string, string>; remoteAddress?: string } = {},
): Promise<Reply> {
  const env = { incoming: { socket: { remoteAddress: init.remoteAddress ?? '192.0.2.1' } } };
  const res = await app.request(path, { headers: init.headers ?? {} }, env);
  const headers: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    headers[name.toLowerCase()] = value;
  });
  return { status: res.status, headers, body: await res.text() };
}

runSuite({
  name: 'hono',
  socketAddress: true,
  async build(spec): Promise<App> {
    const app = newApp();
    const limiter = sluice(optionsOf(spec));
    // App-wide: Hono has routed before middleware runs, so the pattern (and a route's limits) is known.
    app.use(limiter);
    for (const route of ROUTES) {
      const handler = async (c: Context<Env>) => {
        if (route.slow) await spec.slow();
        return c.json({ decision: c.get('sluice') ?? null });
      };
      if (route.limits) app.get(route.path, limiter.route(route.limits), handler);
      else app.get(route.path, handler);
    }
    return {
      request: (path, init) => request(app, path, init),
      check: (ctx) => limiter.check(ctx),
      close: async () => undefined,
    };
  },
});

describe('hono: middleware specifics', () => {
  let redis: RedisServer;
  let limiter: PolicyLimiter;
  beforeAll(async () => {
    redis = await startRedis();
    limiter = await PolicyLimiter.create({
      config: {
        prefix: 'hono-mw',
        store: { type: 'redis', url: redis.url },
        tierPolicy: { enabled: false },
        failure: { budget: '2s' },
        policies: [{ name: 'default', scope: 'global', limits: [{ limit: 5, window: '1m' }] }],
      },
    });
  });
  afterAll(async () => {
    await limiter?.close();
    await redis?.stop();
  });

  it("without an app-wide middleware the route middleware decides; 404s are decided as '*'", async () => {
    const app = newApp();
    const mw = sluice({ limiter, tenant: (c) => authOf(c)?.tenant, user: (c) => authOf(c)?.user });
    app.get('/only/:id', mw.route([{ name: 'own', limit: 1, window: '1m' }]), (c) =>
      c.json({ decision: c.get('sluice') }),
    );
    const headers = { authorization: 'Bearer route-only:u1' };
    const first = await request(app, '/only/1', { headers });
    const second = await request(app, '/only/2', { headers });
    expect([first.status, second.status]).toEqual([200, 429]);
    expect(second.headers['x-ratelimit-type']).toBe('route:/only/:id.own');
    expect(JSON.parse(first.body).decision.policies.map((p: { key: string }) => p.key)).toEqual([
      'e=/only/:id|u=u1',
      'u=u1',
    ]);

    // A spy on the limiter records the context the middleware decided with.
    const contexts: RequestContext[] = [];
    const spy = Object.create(limiter, {
      check: {
        value: (ctx: RequestContext) => {
          contexts.push(ctx);
          return limiter.check(ctx);
        },
      },
    }) as PolicyLimiter;
    const wide = newApp();
    wide.use(sluice({ limiter: spy, tenant: (c) => authOf(c)?.tenant, user: (c) => authOf(c)?.user }));
    wide.get('/posts/:id', (c) => c.text('ok'));
    const missing = await request(wide, '/nowhere', { headers: { authorization: 'Bearer nf:u1' } });
    const found = await request(wide, '/posts/9', { headers: { authorization: 'Bearer nf:u1' } });
    expect([missing.status, missing.headers['x-ratelimit-remaining']]).toEqual([404, '4']);
    expect([found.status, found.headers['x-ratelimit-remaining']]).toEqual([200, '3']);
    expect(contexts.map((c) => c.endpoint)).toEqual(['*', '/posts/:id']);
  });

  it('a second route middleware of the same limiter on a route reports already-decided', async () => {
    const warnings: AdapterWarning[] = [];
    const app = newApp();
    const mw = sluice({ limiter, tenant: (c) => authOf(c)?.tenant, onWarning: (w) => warnings.push(w) });
    app.use(mw);
    app.use('/admin/*', mw.route([{ name: 'admin', limit: 10, window: '1m' }]));
    app.get('/admin/x', mw.route([{ name: 'x', limit: 2, window: '1m' }]), (c) => c.text('ok'));
    const reply = await request(app, '/admin/x', { headers: { authorization: 'Bearer twice' } });
    expect([reply.status, reply.headers['x-ratelimit-type']]).toEqual([200, 'route:/admin/x.x']);
    expect(warnings.map((w) => w.kind)).toEqual(['already-decided']);
  });

  it('on a real @hono/node-server: the socket address by default, or getConnInfo', async () => {
    const app = newApp();
    const byDefault = sluice({ limiter, tenant: (c) => authOf(c)?.tenant });
    const byConnInfo = sluice({
      limiter,
      tenant: (c) => authOf(c)?.tenant,
      remoteAddress: (c) => getConnInfo(c).remote.address,
    });
    app.get('/default', byDefault, (c) => c.json({ decision: c.get('sluice') }));
    app.get('/conninfo', byConnInfo, (c) => c.json({ decision: c.get('sluice') }));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      for (const path of ['/default', '/conninfo']) {
        const res = await fetch(`http://127.0.0.1:${port}${path}`, {
          headers: { authorization: 'Bearer node' },
        });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { decision: PolicyDecision };
        expect(body.decision.policies.map((p) => p.key)).toEqual(['ip=127.0.0.1']);
      }
    } finally {
      (server as Server).closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("on a real @hono/node-server the headers reach the client, also on a handler's own Response", async () => {
    const app = newApp();
    const mw = sluice({ limiter, tenant: (c) => authOf(c)?.tenant });
    app.use(mw);
    app.get('/built', (c) => c.text('built'));
    app.get('/own', () => new Response('own', { headers: { 'x-own': '1' } }));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const get = (path: string) =>
      fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: 'Bearer node-headers' } });
    try {
      const replies = [];
      for (const path of ['/built', '/own', '/built', '/own', '/built', '/own']) {
        const res = await get(path);
        replies.push([
          res.status,
          res.headers.get('x-ratelimit-remaining'),
          res.headers.get('ratelimit'),
          res.headers.get('x-own'),
          res.headers.get('retry-after') !== null,
          await res.text(),
        ]);
      }
      expect(replies.slice(0, 5)).toEqual([
        [200, '4', '"default.sliding-log-1m";r=4;t=60', null, false, 'built'],
        [200, '3', '"default.sliding-log-1m";r=3;t=60', '1', false, 'own'],
        [200, '2', '"default.sliding-log-1m";r=2;t=60', null, false, 'built'],
        [200, '1', '"default.sliding-log-1m";r=1;t=60', '1', false, 'own'],
        [200, '0', '"default.sliding-log-1m";r=0;t=60', null, false, 'built'],
      ]);
      const limited = replies[5] as unknown[];
      expect([limited[0], limited[1], limited[3], limited[4]]).toEqual([429, '0', null, true]);
      expect(JSON.parse(limited[5] as string).error.code).toBe('RATE_5001');
    } finally {
      (server as Server).closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
