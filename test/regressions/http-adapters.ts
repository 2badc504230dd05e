/**
 * Per-adapter harness of the HTTP regressions: each adapter behind a real HTTP server on loopback (a
 * free port), a limiter on the memory store (or the caller's), and an auth stub that may be async
 * (an await before the limiter, as a token check would be). Every request goes through a real socket,
 * including ones the client abandons right after sending them (`hangUp`).
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { serve as honoServe } from '@hono/node-server';
import express, { type Request } from 'express';
import Fastify, { type FastifyRequest } from 'fastify';
import { type Context, Hono } from 'hono';
import { sluice as expressSluice } from '../../src/adapters/express.js';
import { sluice as fastifySluice } from '../../src/adapters/fastify.js';
import { sluice as honoSluice } from '../../src/adapters/hono.js';
import type { AdapterOptions } from '../../src/adapters/shared.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import type { PolicyDecision, RequestContext } from '../../src/policy/types.js';

export type AdapterName = 'express' | 'fastify' | 'hono';
export const ADAPTERS: AdapterName[] = ['express', 'fastify', 'hono'];

/**
 * What the auth stub verified: `Authorization: Bearer <tenant>[:<user>]`, roles as a JSON array in
 * `X-Roles` (standing for verified claims).
 */
export interface Auth {
  tenant: string;
  user?: string;
  roles?: string[];
}

function parseAuth(header: string | undefined, roles: string | undefined): Auth | undefined {
  const m = /^Bearer ([^:\s]+)(?::(\S+))?$/.exec(header ?? '');
  if (!m) return undefined;
  const auth: Auth = { tenant: decodeURIComponent(m[1] as string) };
  if (m[2] !== undefined) auth.user = decodeURIComponent(m[2]);
  if (roles !== undefined) auth.roles = JSON.parse(roles) as string[];
  return auth;
}

/** Adapter options that do not depend on the framework's request type. */
export type Common = Omit<AdapterOptions<unknown>, 'limiter' | 'tenant' | 'user' | 'roles'>;

export interface Spec {
  limiter: PolicyLimiter;
  options?: Common;
  /** Milliseconds the auth stub awaits before the limiter runs (default 0: synchronous). */
  authDelayMs?: number;
  /** Whether tenant/user/roles come from the auth stub (default true). */
  auth?: boolean;
  /** GET routes (patterns) answering `{ decision }`; Express mounts are described by `express`. */
  routes?: string[];
  /** Express only: builds the app's routes itself (routers, mounts), with the limiter and a handler. */
  express?: (
    app: express.Express,
    limiter: ReturnType<typeof expressSluice>,
    handler: express.RequestHandler,
  ) => void;
  /** Fastify only: the deciding hook. */
  fastifyHook?: 'onRequest' | 'preValidation' | 'preHandler';
}

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface Served {
  readonly port: number;
  /** How many times a route handler ran. */
  readonly runs: number;
  /** Contexts the limiter decided, in order of completion. */
  readonly decided: RequestContext[];
  request(path: string, headers?: Record<string, string>): Promise<Reply>;
  /** Sends a request and closes the connection at once, without reading the answer. */
  hangUp(path: string, headers?: Record<string, string>): Promise<void>;
  /** Waits until the limiter decided `n` requests in all (and the handlers they admitted ran). */
  settle(n: number): Promise<void>;
  close(): Promise<void>;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The async step before the limiter: `delay` ms; for a request sent by `hangUp` (marked
 * `x-hang-up: 1`), until its connection is closed as well, so the limiter surely runs after the
 * client is gone.
 */
async function authStep(delay: number, hangUp: unknown, socket: { destroyed?: boolean } | undefined) {
  if (delay > 0) await sleep(delay);
  if (hangUp !== '1' || !socket) return;
  for (let i = 0; i < 200 && !socket.destroyed; i++) await sleep(5);
}

/** A limiter on the memory store (tier policy off): the regressions count exactly. */
export function memoryLimiter(config: Record<string, unknown>): Promise<PolicyLimiter> {
  return PolicyLimiter.create({
    config: { store: { type: 'memory' }, tierPolicy: { enabled: false }, ...config },
  });
}

export async function serveWith(name: AdapterName, spec: Spec): Promise<Served> {
  const decided: RequestContext[] = [];
  const real = spec.limiter;
  const limiter = Object.create(real, {
    check: {
      value: async (ctx: RequestContext) => {
        const d = await real.check(ctx);
        decided.push(ctx);
        return d;
      },
    },
  }) as PolicyLimiter;
  let runs = 0;
  const useAuth = spec.auth ?? true;
  const delay = spec.authDelayMs ?? 0;
  const routes = spec.routes ?? ['/items'];
  const common = spec.options ?? {};
  let server: Server;
  let closeApp: (() => Promise<void>) | undefined;

  if (name === 'express') {
    type Authed = Request & { auth?: Auth };
    const app = express();
    app.use(async (req, _res, next) => {
      await authStep(delay, req.headers['x-hang-up'], req.socket);
      const auth = parseAuth(req.headers.authorization, req.headers['x-roles'] as string | undefined);
      if (auth) (req as Authed).auth = auth;
      next();
    });
    const mw = expressSluice({
      ...common,
      limiter,
      ...(useAuth
        ? {
            tenant: (req: Request) => (req as Authed).auth?.tenant,
            user: (req: Request) => (req as Authed).auth?.user,
            roles: (req: Request) => (req as Authed).auth?.roles,
          }
        : {}),
    });
    const handler: express.RequestHandler = (_req, res) => {
      runs++;
      res.json({ decision: res.locals.sluice ?? null });
    };
    if (spec.express) spec.express(app, mw, handler);
    else for (const path of routes) app.get(path, mw, handler);
    server = app.listen(0, '127.0.0.1');
  } else if (name === 'fastify') {
    const app = Fastify();
    app.decorateRequest('auth', null);
    type Authed = FastifyRequest & { auth: Auth | null };
    app.addHook('onRequest', async (request) => {
      await authStep(delay, request.headers['x-hang-up'], request.raw.socket);
      (request as Authed).auth =
        parseAuth(request.headers.authorization, request.headers['x-roles'] as string | undefined) ?? null;
    });
    await app.register(fastifySluice, {
      ...common,
      limiter,
      ...(spec.fastifyHook ? { hook: spec.fastifyHook } : {}),
      ...(useAuth
        ? {
            tenant: (r: FastifyRequest) => (r as Authed).auth?.tenant,
            user: (r: FastifyRequest) => (r as Authed).auth?.user,
            roles: (r: FastifyRequest) => (r as Authed).auth?.roles,
          }
        : {}),
    });
    for (const path of routes) {
      app.get(path, async (request) => {
        runs++;
        return { decision: request.sluice };
      });
    }
    await app.listen({ port: 0, host: '127.0.0.1' });
    server = app.server;
    closeApp = () => app.close();
  } else {
    type Env = { Variables: { auth?: Auth; sluice: PolicyDecision } };
    const app = new Hono<Env>();
    app.use(async (c, next) => {
      const incoming = (c.env as { incoming?: { socket?: { destroyed?: boolean } } } | undefined)?.incoming;
      await authStep(delay, c.req.header('x-hang-up'), incoming?.socket);
      const auth = parseAuth(c.req.header('authorization'), c.req.header('x-roles'));
      if (auth) c.set('auth', auth);
      await next();
    });
    const authOf = (c: Context) => c.get('auth') as Auth | undefined;
    app.use(
      honoSluice({
        ...common,
        limiter,
        ...(useAuth
          ? {
              tenant: (c: Context) => authOf(c)?.tenant,
              user: (c: Context) => authOf(c)?.user,
              roles: (c: Context) => authOf(c)?.roles,
            }
          : {}),
      }),
    );
    for (const path of routes) {
      app.get(path, (c) => {
        runs++;
        return c.json({ decision: c.get('sluice') ?? null });
      });
    }
    server = honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  }
  if (!server.listening) await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;

  return {
    port,
    get runs() {
      return runs;
    },
    decided,
    async request(path, headers = {}) {
      const res = await fetch(`${base}${path}`, { headers });
      const out: Record<string, string> = {};
      res.headers.forEach((value, key) => {
        out[key.toLowerCase()] = value;
      });
      return { status: res.status, headers: out, body: await res.text() };
    },
    async hangUp(path, headers = {}) {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      const lines = Object.entries({ ...headers, 'x-hang-up': '1' }).map(([k, v]) => `${k}: ${v}\r\n`);
      await new Promise<void>((resolve) => {
        socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines.join('')}\r\n`, () => {
          socket.destroy();
          resolve();
        });
      });
    },
    async settle(n) {
      for (let i = 0; i < 500 && decided.length < n; i++) await sleep(10);
      if (decided.length < n) throw new Error(`only ${decided.length} of ${n} requests decided`);
      // The handlers of admitted requests run right after the decision.
      await sleep(30);
    },
    async close() {
      server.closeAllConnections();
      if (closeApp) await closeApp();
      else await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The JSON body's decision. */
export function decisionOf(reply: Reply): PolicyDecision | null {
  return (JSON.parse(reply.body) as { decision: PolicyDecision | null }).decision;
}

/** A server for adapter options given as they are (the one-line start): no auth stub, GET routes. */
export interface Quick {
  readonly base: string;
  request(path: string, init?: { method?: string; headers?: Record<string, string> }): Promise<Reply>;
  close(): Promise<void>;
}

/**
 * Serves `routes` (GET, answering `{ decision }`) behind the adapter built from `options` as they are:
 * `app.use(sluice(options))` on Express and Hono, `app.register(sluice, options)` on Fastify. Closes
 * the limiter the middleware built with the server.
 */
export async function serveQuick(
  name: AdapterName,
  options: Record<string, unknown>,
  routes: string[] = ['/items'],
): Promise<Quick> {
  let server: Server;
  let closeApp: () => Promise<void>;
  if (name === 'express') {
    const app = express();
    const mw = expressSluice(options as unknown as Parameters<typeof expressSluice>[0]);
    app.use(mw);
    for (const path of routes)
      app.get(path, (_req, res) => res.json({ decision: res.locals.sluice ?? null }));
    server = app.listen(0, '127.0.0.1');
    closeApp = async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await mw.close();
    };
  } else if (name === 'fastify') {
    const app = Fastify();
    await app.register(fastifySluice, options as unknown as Parameters<typeof fastifySluice>[1]);
    for (const path of routes) app.get(path, async (request) => ({ decision: request.sluice }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    server = app.server;
    closeApp = () => app.close();
  } else {
    const app = new Hono<{ Variables: { sluice: PolicyDecision } }>();
    const mw = honoSluice(options as unknown as Parameters<typeof honoSluice>[0]);
    app.use(mw);
    for (const path of routes) app.get(path, (c) => c.json({ decision: c.get('sluice') ?? null }));
    server = honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    closeApp = async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await mw.close();
    };
  }
  if (!server.listening) await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    async request(path, init = {}) {
      const res = await fetch(`${base}${path}`, {
        method: init.method ?? 'GET',
        headers: init.headers ?? {},
      });
      const out: Record<string, string> = {};
      res.headers.forEach((value, key) => {
        out[key.toLowerCase()] = value;
      });
      return { status: res.status, headers: out, body: await res.text() };
    },
    async close() {
      server.closeAllConnections();
      await closeApp();
    },
  };
}

/** Sets an adapter up with `options` (Fastify: registers it and waits until ready); resolves when accepted. */
export async function setUp(name: AdapterName, options: Record<string, unknown>): Promise<void> {
  if (name === 'express') {
    await expressSluice(options as unknown as Parameters<typeof expressSluice>[0]).close();
  } else if (name === 'fastify') {
    const app = Fastify();
    try {
      await app.register(fastifySluice, options as unknown as Parameters<typeof fastifySluice>[1]);
      await app.ready();
    } finally {
      await app.close().catch(() => undefined);
    }
  } else {
    await honoSluice(options as unknown as Parameters<typeof honoSluice>[0]).close();
  }
}
