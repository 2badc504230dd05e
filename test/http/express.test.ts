import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express, { type Request, type RequestHandler } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExpressSluiceOptions, LOCALS_KEY, sluice } from '../../src/adapters/express.js';
import type { AdapterWarning } from '../../src/adapters/shared.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';
import { type App, type AppSpec, type Auth, parseAuth, type Reply, ROUTES, runSuite } from './suite.js';

type AuthedRequest = Request & { auth?: Auth };

/** Starts an Express app on a free port; requests go through real sockets with fetch. */
async function serve(app: express.Express): Promise<{ base: string; close(): Promise<void> }> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function fetchReply(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(url, { headers });
  const out: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    out[name.toLowerCase()] = value;
  });
  return { status: res.status, headers: out, body: await res.text() };
}

const authStub: RequestHandler = (req, _res, next) => {
  const auth = parseAuth(req.headers.authorization);
  if (auth) (req as AuthedRequest).auth = auth;
  next();
};

function optionsOf(spec: AppSpec): ExpressSluiceOptions {
  const { skip, cost, onError, ...common } = spec.options;
  return {
    ...common,
    limiter: spec.limiter,
    ...(spec.auth
      ? {
          tenant: (req: Request) => (req as AuthedRequest).auth?.tenant,
          user: (req: Request) => (req as AuthedRequest).auth?.user,
        }
      : {}),
    ...(skip ? { skip: () => skip() } : {}),
    ...(cost ? { cost: () => cost() } : {}),
    ...(onError ? { onError: (e: unknown) => onError(e) } : {}),
  };
}

runSuite({
  name: 'express',
  socketAddress: false,
  async build(spec): Promise<App> {
    const app = express();
    app.use(authStub);
    const limiter = sluice(optionsOf(spec));
    // Per-route use: Express routes after app-level middleware, so only here is the pattern known.
    for (const route of ROUTES) {
      app.get(route.path, route.limits ? limiter.route(route.limits) : limiter, async (_req, res) => {
        if (route.slow) await spec.slow();
        res.json({ decision: res.locals[LOCALS_KEY] ?? null });
      });
    }
    const server = await serve(app);
    return {
      request: (path, init = {}) => {
        if (init.remoteAddress) throw new Error('express: the client address cannot be chosen');
        return fetchReply(`${server.base}${path}`, init.headers);
      },
      check: (ctx) => limiter.check(ctx),
      close: () => server.close(),
    };
  },
});

describe('express: app-wide use', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('app.use before the routes decides with the route Express will dispatch to: its pattern and its route limits (#12)', async () => {
    const limiter = await PolicyLimiter.create({
      config: {
        prefix: 'express-app',
        store: { type: 'redis', url: redis.url },
        tierPolicy: { enabled: false },
        policies: [
          {
            name: 'campaigns',
            scope: 'endpoint',
            match: ['/campaigns'],
            limits: [{ limit: 1, window: '1m' }],
          },
          { name: 'default', scope: 'global', limits: [{ limit: 5, window: '1m' }] },
        ],
      },
    });
    const warnings: AdapterWarning[] = [];
    const mw = sluice({
      limiter,
      tenant: (req) => (req as AuthedRequest).auth?.tenant,
      onWarning: (w) => warnings.push(w),
    });
    const app = express();
    app.use(authStub, mw);
    app.get('/campaigns', (_req, res) => {
      res.json({ decision: res.locals[LOCALS_KEY] });
    });
    app.get('/reports', mw.route([{ limit: 1, window: '1m' }]), (_req, res) => {
      res.json({ decision: res.locals[LOCALS_KEY] });
    });
    const server = await serve(app);
    try {
      const headers = { authorization: 'Bearer acme' };
      const a = await fetchReply(`${server.base}/campaigns`, headers);
      const b = await fetchReply(`${server.base}/campaigns`, headers);
      // The endpoint policy matched '/campaigns' (limit 1).
      expect([a.status, b.status]).toEqual([200, 429]);
      expect(JSON.parse(a.body).decision.policies.map((p: { name: string }) => p.name)).toContain(
        'campaigns',
      );
      const c = await fetchReply(`${server.base}/reports`, headers);
      const d = await fetchReply(`${server.base}/reports`, headers);
      // The route's own limit (1 per minute) was checked by the app-wide middleware.
      expect([c.status, d.status]).toEqual([200, 429]);
      expect(warnings).toEqual([]);
    } finally {
      await server.close();
      await limiter.close();
    }
  });
});
