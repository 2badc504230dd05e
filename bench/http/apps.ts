/**
 * The hello-world servers: one per framework and variant, each answering GET / with a short text body.
 * Every variant closes what it opened (HTTP server, limiter, Redis connections) in `close()`.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import rateLimitFastify from '@fastify/rate-limit';
import { serve } from '@hono/node-server';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { RedisStore as HonoRedisStore, rateLimiter as honoRateLimiter } from 'hono-rate-limiter';
import { Redis } from 'ioredis';
import { RedisStore as ExpressRedisStore, type RedisReply } from 'rate-limit-redis';
import { sluice as sluiceExpress } from '../../dist/express.js';
import { sluice as sluiceFastify } from '../../dist/fastify.js';
import { sluice as sluiceHono } from '../../dist/hono.js';
import type { PolicyLimiter } from '../../dist/index.js';
import { BODY, type Framework, HOST, HUGE, KEY_ROOT, TENANT_HEADER, type Variant } from './config.js';
import { createSluiceLimiter } from './sluice.js';

export interface RunningServer {
  port: number;
  /** Sluice variants: times the limiter's circuit breaker opened so far (each opening = fail-over). */
  circuitOpened?: () => Promise<number>;
  close(): Promise<void>;
}

type Closer = () => Promise<unknown>;

export function startApp(
  framework: Framework,
  variant: Variant,
  redisUrl: string,
  port: number,
): Promise<RunningServer> {
  switch (framework) {
    case 'express':
      return startExpress(variant, redisUrl, port);
    case 'fastify':
      return startFastify(variant, redisUrl, port);
    case 'hono':
      return startHono(variant, redisUrl, port);
  }
}

const tenantHeader = TENANT_HEADER.toLowerCase();

async function startExpress(variant: Variant, redisUrl: string, port: number): Promise<RunningServer> {
  const app = express();
  const closers: Closer[] = [];
  let limiter: PolicyLimiter | undefined;
  if (isSluice(variant)) {
    limiter = await createSluiceLimiter(redisUrl);
    closers.push(() => (limiter as PolicyLimiter).close());
    app.use(sluiceExpress({ limiter, tenantHeaders: [TENANT_HEADER], ...headersOf(variant) }));
  } else if (variant === 'incumbent') {
    const client = new Redis(redisUrl);
    closers.push(() => client.quit());
    app.use(
      rateLimit({
        windowMs: 60_000,
        limit: HUGE,
        keyGenerator: (req) => req.get(tenantHeader) ?? 'anonymous',
        store: new ExpressRedisStore({
          prefix: `${KEY_ROOT}-erl:`,
          sendCommand: (command: string, ...args: string[]) =>
            client.call(command, ...args) as Promise<RedisReply>,
        }),
      }),
    );
  }
  app.get('/', (_req, res) => {
    res.type('text/plain').send(BODY);
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, HOST, (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  return running(server, closers, limiter);
}

async function startFastify(variant: Variant, redisUrl: string, port: number): Promise<RunningServer> {
  const app = Fastify({ logger: false });
  const closers: Closer[] = [];
  let limiter: PolicyLimiter | undefined;
  if (isSluice(variant)) {
    limiter = await createSluiceLimiter(redisUrl);
    closers.push(() => (limiter as PolicyLimiter).close());
    await app.register(sluiceFastify, { limiter, tenantHeaders: [TENANT_HEADER], ...headersOf(variant) });
  } else if (variant === 'incumbent') {
    // The client options @fastify/rate-limit's README recommends.
    const client = new Redis(redisUrl, { connectTimeout: 500, maxRetriesPerRequest: 1 });
    closers.push(() => client.quit());
    await app.register(rateLimitFastify, {
      max: HUGE,
      timeWindow: 60_000,
      redis: client,
      nameSpace: `${KEY_ROOT}-frl-`,
      keyGenerator: (req) => String(req.headers[tenantHeader] ?? 'anonymous'),
    });
  }
  app.get('/', async (_req, reply) => reply.type('text/plain').send(BODY));
  await app.listen({ port, host: HOST });
  return {
    port: (app.server.address() as AddressInfo).port,
    ...circuitOf(limiter),
    close: async () => {
      await app.close();
      await closeAll(closers);
    },
  };
}

async function startHono(variant: Variant, redisUrl: string, port: number): Promise<RunningServer> {
  const app = new Hono();
  const closers: Closer[] = [];
  let limiter: PolicyLimiter | undefined;
  if (isSluice(variant)) {
    limiter = await createSluiceLimiter(redisUrl);
    closers.push(() => (limiter as PolicyLimiter).close());
    app.use(sluiceHono({ limiter, tenantHeaders: [TENANT_HEADER], ...headersOf(variant) }));
  } else if (variant === 'incumbent') {
    const client = new Redis(redisUrl);
    closers.push(() => client.quit());
    app.use(
      honoRateLimiter({
        windowMs: 60_000,
        limit: HUGE,
        keyGenerator: (c) => c.req.header(TENANT_HEADER) ?? 'anonymous',
        store: new HonoRedisStore({ client: honoRedisClient(client), prefix: `${KEY_ROOT}-hrl:` }),
      }),
    );
  }
  app.get('/', (c) => c.text(BODY));
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port, hostname: HOST }, () => resolve(s as Server));
    s.once('error', reject);
  });
  return running(server, closers, limiter);
}

function isSluice(variant: Variant): boolean {
  return variant === 'sluice' || variant === 'sluice-legacy';
}

/** The header families of a Sluice variant (see VARIANTS). */
function headersOf(variant: Variant): { headers?: { ietf: false; tenant: false; backend: false } } {
  return variant === 'sluice-legacy' ? { headers: { ietf: false, tenant: false, backend: false } } : {};
}

/** ioredis behind hono-rate-limiter's Redis client interface (the one @upstash/redis has). */
function honoRedisClient(client: Redis) {
  return {
    scriptLoad: (script: string) => client.script('LOAD', script) as Promise<string>,
    evalsha: <TArgs extends unknown[], TData = unknown>(sha: string, keys: string[], args: TArgs) =>
      client.evalsha(sha, keys.length, ...keys, ...args.map(String)) as Promise<TData>,
    decr: (key: string) => client.decr(key),
    del: (key: string) => client.del(key),
  };
}

function running(server: Server, closers: Closer[], limiter: PolicyLimiter | undefined): RunningServer {
  return {
    port: (server.address() as AddressInfo).port,
    ...circuitOf(limiter),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await closeAll(closers);
    },
  };
}

function circuitOf(limiter: PolicyLimiter | undefined): Pick<RunningServer, 'circuitOpened'> {
  if (!limiter) return {};
  return { circuitOpened: async () => (await limiter.health()).circuit?.opened ?? 0 };
}

async function closeAll(closers: Closer[]): Promise<void> {
  await Promise.allSettled(closers.map((close) => close()));
}
