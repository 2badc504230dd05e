import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FastifySluiceOptions, sluice } from '../../src/adapters/fastify.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import type { RequestContext } from '../../src/policy/types.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';
import { type App, type AppSpec, type Auth, parseAuth, type Reply, ROUTES, runSuite } from './suite.js';

declare module 'fastify' {
  interface FastifyRequest {
    auth: Auth | null;
  }
}

/** The auth stub, as an onRequest hook registered before the plugin (hooks run in order). */
function withAuth(app: FastifyInstance): void {
  app.decorateRequest('auth', null);
  app.addHook('onRequest', async (request) => {
    request.auth = parseAuth(request.headers.authorization) ?? null;
  });
}

function optionsOf(spec: AppSpec): FastifySluiceOptions {
  const { skip, cost, onError, ...common } = spec.options;
  return {
    ...common,
    limiter: spec.limiter,
    ...(spec.auth
      ? {
          tenant: (request: FastifyRequest) => request.auth?.tenant,
          user: (request: FastifyRequest) => request.auth?.user,
        }
      : {}),
    ...(skip ? { skip: () => skip() } : {}),
    ...(cost ? { cost: () => cost() } : {}),
    ...(onError ? { onError: (e: unknown) => onError(e) } : {}),
  };
}

async function inject(
  app: FastifyInstance,
  path: string,
  init: { headers?: Record<string, string>; remoteAddress?: string } = {},
): Promise<Reply> {
  const res = await app.inject({
    method: 'GET',
    url: path,
    headers: init.headers ?? {},
    ...(init.remoteAddress ? { remoteAddress: init.remoteAddress } : {}),
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value !== undefined)
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return { status: res.statusCode, headers, body: res.body };
}

runSuite({
  name: 'fastify',
  socketAddress: true,
  async build(spec): Promise<App> {
    const app = Fastify();
    withAuth(app);
    await app.register(sluice, optionsOf(spec));
    for (const route of ROUTES) {
      app.get(
        route.path,
        { config: route.limits ? { sluice: { limits: route.limits } } : {} },
        async (request) => {
          if (route.slow) await spec.slow();
          return { decision: request.sluice };
        },
      );
    }
    await app.ready();
    return {
      request: (path, init) => inject(app, path, init),
      check: (ctx) => app.sluice.check(ctx),
      close: () => app.close(),
    };
  },
});

describe('fastify: plugin specifics', () => {
  let redis: RedisServer;
  let limiter: PolicyLimiter;
  beforeAll(async () => {
    redis = await startRedis();
    limiter = await PolicyLimiter.create({
      config: {
        prefix: 'fastify-plugin',
        store: { type: 'redis', url: redis.url },
        tierPolicy: { enabled: false },
        policies: [{ name: 'default', scope: 'global', limits: [{ limit: 5, window: '1m' }] }],
      },
    });
  });
  afterAll(async () => {
    await limiter?.close();
    await redis?.stop();
  });

  it('is not encapsulated: registered in a child context it decides there, in preHandler if asked, and skips routes with config.sluice.skip', async () => {
    const app = Fastify();
    withAuth(app);
    // skip-override puts the hook and `sluice` on the registering (child) context, not on a new one.
    await app.register(async (child) => {
      await child.register(sluice, {
        limiter,
        tenant: (request) => request.auth?.tenant,
        user: (request) => request.auth?.user ?? undefined,
        hook: 'preHandler',
      });
      child.get('/health', { config: { sluice: { skip: true } } }, async (request) => ({
        decision: request.sluice,
      }));
      child.post('/items/:id', async (request) => ({ decision: request.sluice }));
      expect(typeof child.sluice.check).toBe('function');
    });
    app.get('/outside', async (request) => ({ decision: request.sluice }));
    await app.ready();
    try {
      const headers = { authorization: 'Bearer skip:u1' };
      const health = await inject(app, '/health', { headers });
      expect([health.status, health.headers['x-ratelimit-limit'], JSON.parse(health.body).decision]).toEqual([
        200,
        undefined,
        null,
      ]);
      const res = await app.inject({ method: 'POST', url: '/items/7', headers, payload: { a: 1 } });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-ratelimit-remaining']).toBe('4');
      expect(res.json().decision.policies).toEqual([
        expect.objectContaining({ name: 'default', key: 'u=u1' }),
      ]);
      // The parent context's routes are outside the child's hooks.
      const outside = await inject(app, '/outside', { headers });
      expect([outside.status, outside.headers['x-ratelimit-limit']]).toEqual([200, undefined]);
    } finally {
      await app.close();
    }
  });

  it("decides with the route pattern from routeOptions.url, and 404s with the endpoint '*'", async () => {
    // A spy on the limiter records the context the plugin decided with.
    const contexts: RequestContext[] = [];
    const spy = Object.create(limiter, {
      check: {
        value: (ctx: RequestContext) => {
          contexts.push(ctx);
          return limiter.check(ctx);
        },
      },
    }) as PolicyLimiter;
    const app = Fastify();
    withAuth(app);
    await app.register(sluice, {
      limiter: spy,
      tenant: (request) => request.auth?.tenant,
      user: (request) => request.auth?.user ?? undefined,
    });
    await app.register(async (api) => api.get('/posts/:id', async () => 'ok'), { prefix: '/api' });
    await app.ready();
    try {
      const headers = { authorization: 'Bearer notfound:u1' };
      const missing = await inject(app, '/nowhere/42', { headers });
      const found = await inject(app, '/api/posts/9', { headers });
      expect([missing.status, missing.headers['x-ratelimit-remaining']]).toEqual([404, '4']);
      expect([found.status, found.headers['x-ratelimit-remaining']]).toEqual([200, '3']);
      expect(contexts.map((c) => c.endpoint)).toEqual(['*', '/api/posts/:id']);
    } finally {
      await app.close();
    }
  });
});
