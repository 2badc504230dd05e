/**
 * One behavioural suite for the HTTP adapters, run unchanged against Express, Fastify and Hono with
 * real HTTP requests (in-process injection where the framework offers it) and a real Redis started
 * here (never port 6379).
 *
 * A framework file gives a factory: build an app for an AppSpec (the limiter, the adapter options
 * every adapter takes, whether an auth stub provides the tenant) with the routes of ROUTES, and return
 * a `request(path, { headers, remoteAddress })` function. Every route answers `{ decision }`: the
 * decision the adapter exposes to handlers (null when none), so headers can be checked against it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AdapterOptions, AdapterWarning } from '../../src/adapters/shared.js';
import type { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { PolicyLimiter as Limiter } from '../../src/policy/policy-limiter.js';
import type { PolicyDecision, PolicyLimit, RequestContext } from '../../src/policy/types.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';

/** The identity an authentication middleware put in the request context (trusted). */
export interface Auth {
  tenant: string;
  user?: string;
}

/**
 * The auth stub: `Authorization: Bearer <tenant>[:<user>]` (percent-encoded) stands for a verified
 * token. Every app runs it before the limiter and stores the result where the adapter's `tenant` /
 * `user` callbacks read it.
 */
export function parseAuth(header: string | undefined): Auth | undefined {
  const m = /^Bearer ([^:\s]+)(?::(\S+))?$/.exec(header ?? '');
  if (!m) return undefined;
  const tenant = decodeURIComponent(m[1] as string);
  return m[2] === undefined ? { tenant } : { tenant, user: decodeURIComponent(m[2]) };
}

/** Adapter options that do not depend on the framework's request type. */
export type CommonOptions = Omit<
  AdapterOptions<unknown>,
  'limiter' | 'tenant' | 'user' | 'roles' | 'skip' | 'cost' | 'onError'
> & {
  skip?: () => boolean;
  cost?: () => number;
  onError?: (error: unknown) => void;
};

export interface AppSpec {
  limiter: PolicyLimiter;
  options: CommonOptions;
  /** Tenant and user from the auth stub's context (else only from `tenantHeaders`). */
  auth: boolean;
  /** What `/slow` waits for before answering. */
  slow: () => Promise<void>;
}

/** A route of every test app. */
export interface RouteSpec {
  path: string;
  /** The route's own limits (per-route middleware or route config). */
  limits?: PolicyLimit[];
  /** Waits for `AppSpec.slow` before answering. */
  slow?: boolean;
}

export const REPORT_LIMITS: PolicyLimit[] = [{ name: 'reports', limit: 3, window: '1m' }];

export const ROUTES: RouteSpec[] = [
  { path: '/campaigns' },
  { path: '/users/:id' },
  { path: '/reports', limits: REPORT_LIMITS },
  { path: '/slow', slow: true },
];

export interface Reply {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
}

export interface RequestInit {
  headers?: Record<string, string>;
  /** The client's socket address (only where `Framework.socketAddress`). */
  remoteAddress?: string;
}

export interface App {
  request(path: string, init?: RequestInit): Promise<Reply>;
  /** The adapter's manual check (seed 003's "manual rate limiting"). */
  check(ctx: RequestContext): Promise<PolicyDecision>;
  close(): Promise<void>;
}

export interface Framework {
  name: string;
  /**
   * Whether `request` can choose the client's socket address. Express is driven through real sockets
   * from loopback, so it cannot: address tests go through a trusted loopback proxy instead.
   */
  socketAddress: boolean;
  build(spec: AppSpec): Promise<App>;
}

const CAMPAIGNS = {
  name: 'campaigns',
  scope: 'endpoint',
  match: ['/campaigns'],
  limits: [{ limit: 10, window: '1m' }],
};
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const json = (r: Reply) => JSON.parse(r.body) as Record<string, unknown>;
const decisionOf = (r: Reply) => json(r).decision as PolicyDecision | null;

/** `"name";k=v;k=v, ...` (RFC 8941 list of strings with parameters) as objects. */
function parseItems(value: string | undefined): Array<Record<string, string | number>> {
  if (value === undefined) return [];
  return value.split(/,\s*(?=")/).map((item) => {
    const [name, ...params] = item.split(';');
    const out: Record<string, string | number> = { name: JSON.parse(name as string) as string };
    for (const p of params) {
      const [k, v] = p.split('=') as [string, string];
      out[k] = v.startsWith('"') ? (JSON.parse(v) as string) : Number(v);
    }
    return out;
  });
}

export function runSuite(framework: Framework): void {
  describe(`${framework.name}: HTTP middleware`, () => {
    let redis: RedisServer;
    let prefixes = 0;
    const cleanups: Array<() => Promise<unknown>> = [];

    beforeAll(async () => {
      redis = await startRedis();
    });
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });
    afterAll(async () => {
      await redis?.stop();
    });

    /** A limiter on the suite's Redis (its own prefix: every test starts from empty counters). */
    async function limiterFor(config: Record<string, unknown>, url = redis.url): Promise<PolicyLimiter> {
      const limiter = await Limiter.create({
        config: {
          prefix: `${framework.name}${++prefixes}`,
          store: { type: 'redis', url },
          tierPolicy: { enabled: false },
          // A generous time budget: these tests are not about latency, and a loaded CI machine can
          // stall a store call past the default 50 ms (fail-closed 503s would follow).
          failure: { budget: '2s' },
          ...config,
        },
      });
      cleanups.push(() => limiter.close());
      return limiter;
    }

    async function appFor(
      limiter: PolicyLimiter,
      options: CommonOptions = {},
      extra: Partial<Pick<AppSpec, 'auth' | 'slow'>> = {},
    ): Promise<App> {
      const app = await framework.build({
        limiter,
        options,
        auth: extra.auth ?? true,
        slow: extra.slow ?? (() => Promise.resolve()),
      });
      cleanups.push(() => app.close());
      return app;
    }

    async function times(n: number, send: (i: number) => Promise<Reply>): Promise<Reply[]> {
      const out: Reply[] = [];
      for (let i = 0; i < n; i++) out.push(await send(i));
      return out;
    }

    it("seed 004: 11 requests in a minute, the 11th is 429 with seed 004's body and Retry-After", async () => {
      const app = await appFor(await limiterFor({ policies: [CAMPAIGNS] }));
      const t0 = Date.now();
      const replies = await times(11, () =>
        app.request('/campaigns', { headers: bearer('startup:user123') }),
      );
      const t1 = Date.now();
      expect(replies.map((r) => r.status)).toEqual([...Array(10).fill(200), 429]);
      expect(replies.map((r) => r.headers['x-ratelimit-remaining'])).toEqual([
        '9',
        '8',
        '7',
        '6',
        '5',
        '4',
        '3',
        '2',
        '1',
        '0',
        '0',
      ]);
      const last = replies[10] as Reply;
      const reset = Number(last.headers['x-ratelimit-reset']);
      expect(reset).toBeGreaterThanOrEqual(Math.ceil((t0 + 60_000) / 1000));
      expect(reset).toBeLessThanOrEqual(Math.ceil((t1 + 60_000) / 1000));
      expect(last.headers['content-type']).toMatch(/^application\/json/);
      // The 11th waits for the 1st to leave the window: 60 s less the time the 11 requests took.
      const retry = Number(last.headers['retry-after']);
      expect(retry).toBeLessThanOrEqual(60);
      expect(retry).toBeGreaterThanOrEqual(60 - Math.ceil((t1 - t0) / 1000));
      expect(json(last)).toEqual({
        error: {
          code: 'RATE_5001',
          message: 'Rate limit exceeded',
          details: { limit: 10, window_seconds: 60, reset_at: reset, retry_after: retry },
        },
      });
      expect(last.headers['x-ratelimit-limit']).toBe('10');
      expect(last.headers['x-ratelimit-type']).toBe('campaigns.sliding-log-1m');
      expect(last.headers['x-ratelimit-tenant']).toBe('startup');
      expect(last.headers['x-rate-limit-backend']).toBe('redis-distributed');
    });

    it('decides with the route pattern, never the raw URL', async () => {
      const users = {
        name: 'users',
        scope: 'endpoint',
        match: ['/users/:id'],
        limits: [{ limit: 2, window: '1m' }],
      };
      const app = await appFor(await limiterFor({ policies: [users] }));
      const replies = await times(3, (i) => app.request(`/users/${i + 1}`, { headers: bearer('acme:u1') }));
      expect(replies.map((r) => r.status)).toEqual([200, 200, 429]);
      expect(decisionOf(replies[0] as Reply)?.bindingPolicy).toBe('users');
      expect(decisionOf(replies[0] as Reply)?.policies.map((p) => p.key)).toEqual(['e=/users/:id|u=u1']);
      expect(replies[2]?.headers['x-ratelimit-type']).toBe('users.sliding-log-1m');
    });

    it('per-route limits: a route declaring its own 3/min limit', async () => {
      const global = { name: 'default', scope: 'global', limits: [{ limit: 100, window: '1m' }] };
      const app = await appFor(await limiterFor({ policies: [CAMPAIGNS, global] }));
      const replies = await times(4, () => app.request('/reports', { headers: bearer('acme:u1') }));
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 429]);
      expect(replies.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['2', '1', '0', '0']);
      const first = decisionOf(replies[0] as Reply) as PolicyDecision;
      expect(first.policies.map((p) => [p.name, p.key])).toEqual([
        ['route:/reports', 'e=/reports|u=u1'],
        ['default', 'u=u1'],
      ]);
      expect(first.bindingPolicy).toBe('route:/reports');
      expect(replies[0]?.headers['ratelimit-policy']).toBe(
        '"route:/reports.reports";q=3;w=60, "default.sliding-log-1m";q=100;w=60',
      );
      const rejected = replies[3] as Reply;
      expect(rejected.headers['x-ratelimit-type']).toBe('route:/reports.reports');
      expect(json(rejected)).toMatchObject({
        error: { code: 'RATE_5001', details: { limit: 3, window_seconds: 60, retry_after: 60 } },
      });
      // Counted once per admitted request (the global policy saw 3, no more), per endpoint and user.
      const third = decisionOf(replies[2] as Reply) as PolicyDecision;
      expect(third.limits.map((l) => [l.name, l.remaining])).toEqual([
        ['route:/reports.reports', 0],
        ['default.sliding-log-1m', 97],
      ]);
      const other = await app.request('/reports', { headers: bearer('acme:u2') });
      expect([other.status, other.headers['x-ratelimit-remaining']]).toEqual([200, '2']);
      // Other routes do not get the route's limits.
      const campaigns = await app.request('/campaigns', { headers: bearer('acme:u1') });
      expect([campaigns.status, campaigns.headers['x-ratelimit-type']]).toEqual([
        200,
        'campaigns.sliding-log-1m',
      ]);
      expect(decisionOf(campaigns)?.policies.map((p) => p.name)).toEqual(['campaigns']);
    });

    it('tenant isolation: tenants from the authenticated context have separate quotas', async () => {
      const app = await appFor(await limiterFor({ policies: [CAMPAIGNS] }));
      const acme = await times(11, () => app.request('/campaigns', { headers: bearer('acme:u1') }));
      expect(acme.map((r) => r.status)).toEqual([...Array(10).fill(200), 429]);
      const globex = await app.request('/campaigns', { headers: bearer('globex:u1') });
      expect(globex.status).toBe(200);
      expect(globex.headers['x-ratelimit-tenant']).toBe('globex');
      expect(globex.headers['x-ratelimit-remaining']).toBe('9');
      expect(decisionOf(globex)?.tenant).toBe('globex');
    });

    it('tenant isolation: tenants from the X-Tenant-ID header have separate quotas', async () => {
      const app = await appFor(
        await limiterFor({ policies: [CAMPAIGNS] }),
        { tenantHeaders: ['X-Tenant-ID'] },
        { auth: false },
      );
      const acme = await times(11, () => app.request('/campaigns', { headers: { 'x-tenant-id': 'acme' } }));
      expect(acme.map((r) => r.status)).toEqual([...Array(10).fill(200), 429]);
      expect(acme[0]?.headers['x-ratelimit-tenant']).toBe('acme');
      const globex = await app.request('/campaigns', { headers: { 'x-tenant-id': 'globex' } });
      expect([
        globex.status,
        globex.headers['x-ratelimit-tenant'],
        globex.headers['x-ratelimit-remaining'],
      ]).toEqual([200, 'globex', '9']);
    });

    it('headers parsed back match the decision', async () => {
      const limiter = await limiterFor({
        policies: [CAMPAIGNS],
        tiers: { free: { rps: 1, burst: 100 } },
        tierPolicy: { enabled: true },
      });
      const app = await appFor(limiter);
      await times(2, () => app.request('/campaigns', { headers: bearer('acme:u1') }));
      const t0 = Date.now();
      const reply = await app.request('/campaigns', { headers: bearer('acme:u1') });
      const t1 = Date.now();
      const d = decisionOf(reply) as PolicyDecision;
      const h = reply.headers;
      expect(reply.status).toBe(200);
      // Legacy headers: the binding limit (least room), reset in epoch seconds.
      expect(d.binding.name).toBe('campaigns.sliding-log-1m');
      expect([h['x-ratelimit-limit'], h['x-ratelimit-remaining'], h['x-ratelimit-type']]).toEqual([
        '10',
        '7',
        'campaigns.sliding-log-1m',
      ]);
      expect(Number(h['x-ratelimit-limit'])).toBe(d.binding.limit);
      expect(Number(h['x-ratelimit-remaining'])).toBe(d.remaining);
      expect(Number(h['x-ratelimit-reset'])).toBe(Math.ceil(d.resetAt / 1000));
      expect(d.resetAt).toBeGreaterThan(t0 + 59_000);
      expect(d.resetAt).toBeLessThanOrEqual(t1 + 60_000);
      // IETF fields: one item per limit of the decision.
      expect(parseItems(h['ratelimit-policy'])).toEqual([
        { name: 'campaigns.sliding-log-1m', q: 10, w: 60 },
        // A token bucket's quota is its sustained rate (refill per window), not its burst.
        { name: 'tier.rps', q: d.limits[1]?.refill, w: 1 },
      ]);
      expect(parseItems(h['ratelimit-policy'])).toEqual(
        d.limits.map((l) => ({
          name: l.name,
          q: l.refill ?? l.limit,
          w: Math.max(1, Math.ceil(l.windowMs / 1000)),
        })),
      );
      const items = parseItems(h.ratelimit);
      expect(items.map((i) => i.r)).toEqual(d.limits.map((l) => l.remaining));
      expect(items.map((i) => i.name)).toEqual(['campaigns.sliding-log-1m', 'tier.rps']);
      expect(items[0]?.r).toBe(7);
      // The bucket refills 1 token a second: 97 unless a second went by during the three requests.
      expect(items[1]?.r).toBeGreaterThanOrEqual(97);
      expect(items[1]?.r).toBeLessThanOrEqual(98);
      d.limits.forEach((l, i) => {
        const t = items[i]?.t as number;
        expect(t).toBeGreaterThanOrEqual(Math.max(0, Math.ceil((l.resetAt - t1) / 1000)));
        expect(t).toBeLessThanOrEqual(Math.max(0, Math.ceil((l.resetAt - t0) / 1000)));
      });
      expect(items[0]?.t).toBe(60);
      // Tenant, tier, backend.
      expect([h['x-ratelimit-tenant'], h['x-ratelimit-tier'], h['x-rate-limit-backend']]).toEqual([
        'acme',
        'free',
        'redis-distributed',
      ]);
      expect([d.tenant, d.tier, d.backend]).toEqual(['acme', 'free', 'redis']);
      expect(h['retry-after']).toBeUndefined();
      expect(h['x-ratelimit-shadow-rejected']).toBeUndefined();
    });

    it('503 with Retry-After when a fail-closed store is down, never 429 or 500', async () => {
      const second = await startRedis();
      cleanups.push(() => second.stop());
      const limiter = await limiterFor(
        { policies: [CAMPAIGNS], failureMode: 'closed', failure: { budget: '150ms' } },
        second.url,
      );
      const app = await appFor(limiter);
      const before = await app.request('/campaigns', { headers: bearer('acme:u1') });
      expect([before.status, before.headers['x-rate-limit-backend']]).toEqual([200, 'redis-distributed']);
      await second.kill();
      const down = await app.request('/campaigns', { headers: bearer('acme:u1') });
      expect(down.status).toBe(503);
      expect(down.headers['retry-after']).toBe('1');
      expect(down.headers['x-rate-limit-backend']).toBe('unavailable');
      // Nothing was counted: no quota headers are made up.
      expect([down.headers['x-ratelimit-remaining'], down.headers.ratelimit]).toEqual([undefined, undefined]);
      const resetAt = Number(
        (json(down) as { error: { details: { reset_at: number } } }).error.details.reset_at,
      );
      expect(down.headers['content-type']).toMatch(/^application\/json/);
      expect(Math.abs(resetAt - (Date.now() + 1000) / 1000)).toBeLessThan(5);
      expect(json(down)).toEqual({
        error: {
          code: 'RATE_5003',
          message: 'Rate limiter unavailable',
          details: {
            limit: 10,
            window_seconds: 60,
            reset_at: resetAt,
            retry_after: 1,
          },
        },
      });
    });

    it('a forged X-Forwarded-For does not move a client to another bucket when trustProxy is off', async () => {
      const warnings: AdapterWarning[] = [];
      const app = await appFor(await limiterFor({ policies: [CAMPAIGNS] }), {
        onWarning: (w) => warnings.push(w),
      });
      const replies = await times(12, (i) =>
        app.request('/campaigns', {
          headers: { ...bearer('acme'), 'x-forwarded-for': `203.0.113.${i + 1}` },
        }),
      );
      expect(replies.map((r) => r.status)).toEqual([...Array(10).fill(200), 429, 429]);
      // One bucket: the socket's address (no user), whatever the header said.
      const keys = replies.slice(0, 10).map((r) => decisionOf(r)?.policies[0]?.key);
      expect(new Set(keys).size).toBe(1);
      expect(keys[0]).not.toContain('203.0.113');
      expect(warnings.map((w) => w.kind)).toEqual(['untrusted-forwarded-for']);
    });

    it('a forged X-Tenant-ID is ignored when the tenant comes from the authenticated context', async () => {
      const app = await appFor(await limiterFor({ policies: [CAMPAIGNS] }), {
        tenantHeaders: ['X-Tenant-ID'],
      });
      const replies = await times(11, (i) =>
        app.request('/campaigns', { headers: { ...bearer('acme:u1'), 'x-tenant-id': `victim${i % 2}` } }),
      );
      expect(replies.map((r) => r.status)).toEqual([...Array(10).fill(200), 429]);
      expect(new Set(replies.map((r) => r.headers['x-ratelimit-tenant']))).toEqual(new Set(['acme']));
      const victim = await app.request('/campaigns', { headers: bearer('victim0:u1') });
      expect([victim.status, victim.headers['x-ratelimit-remaining']]).toEqual([200, '9']);
    });

    it('IPv6 addresses rotating inside one /56 stay in one bucket', async () => {
      const perIp = { name: 'per-ip', scope: 'ip', limits: [{ limit: 5, window: '1m' }] };
      const limiter = await limiterFor({ policies: [perIp] });
      // Express is driven through real sockets from loopback: the client address cannot be chosen, so
      // loopback is a trusted proxy and X-Forwarded-For carries the rotating addresses.
      const viaProxy = !framework.socketAddress;
      const app = await appFor(limiter, viaProxy ? { trustProxy: ['127.0.0.1', '::1'] } : {});
      const from = (address: string) =>
        app.request(
          '/campaigns',
          viaProxy
            ? { headers: { ...bearer('acme'), 'x-forwarded-for': address } }
            : { headers: bearer('acme'), remoteAddress: address },
        );
      const rotating = await times(6, (i) =>
        from(`2001:db8:abcd:12${((i * 37) % 256).toString(16).padStart(2, '0')}::${i + 1}`),
      );
      expect(rotating.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429]);
      expect(rotating.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['4', '3', '2', '1', '0', '0']);
      expect(decisionOf(rotating[0] as Reply)?.policies.map((p) => p.key)).toEqual([
        'ip=2001:db8:abcd:1200:0:0:0:0/56',
      ]);
      expect(rotating[5]?.headers['x-ratelimit-type']).toBe('per-ip.sliding-log-1m');
      const neighbour = await from('2001:db8:abcd:1300::1');
      expect([neighbour.status, neighbour.headers['x-ratelimit-remaining']]).toEqual([200, '4']);
    });

    it('a request without a tenant is rejected with 400 when missingTenant is reject', async () => {
      const limiter = await limiterFor({ policies: [CAMPAIGNS] });
      const app = await appFor(limiter, { missingTenant: 'reject', tenantHeaders: ['X-Tenant-ID'] });
      for (const headers of [{}, { 'x-tenant-id': 'not a tenant!' }] as Array<Record<string, string>>) {
        const reply = await app.request('/campaigns', { headers });
        expect(reply.status).toBe(400);
        expect(reply.headers['content-type']).toMatch(/^application\/json/);
        expect(json(reply)).toEqual({
          error: { code: 'TENANT_REQUIRED', message: 'A tenant is required for this request' },
        });
        expect(reply.headers['x-ratelimit-limit']).toBeUndefined();
      }
      const warnings: AdapterWarning[] = [];
      const lenient = await appFor(limiter, {
        missingTenant: { tenant: 'public' },
        onWarning: (w) => warnings.push(w),
      });
      const reply = await lenient.request('/campaigns');
      expect([reply.status, reply.headers['x-ratelimit-tenant']]).toEqual([200, 'public']);
      expect(warnings).toEqual([{ kind: 'missing-tenant', defaultTenant: 'public' }]);
    });

    it('shadow mode adds X-RateLimit-Shadow-Rejected without blocking', async () => {
      const trial = {
        name: 'trial',
        scope: 'global',
        additive: true,
        mode: 'shadow',
        limits: [{ limit: 2, window: '1m' }],
      };
      const app = await appFor(await limiterFor({ policies: [CAMPAIGNS, trial] }));
      const replies = await times(4, () => app.request('/campaigns', { headers: bearer('acme:u1') }));
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect(replies.map((r) => r.headers['x-ratelimit-shadow-rejected'])).toEqual([
        undefined,
        undefined,
        'trial',
        'trial',
      ]);
      expect(replies.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['9', '8', '7', '6']);
      expect(decisionOf(replies[2] as Reply)?.shadowRejections).toEqual(['trial']);
    });

    it('releases concurrency leases when the response is done', async () => {
      const limiter = await limiterFor({
        tiers: { free: { rps: 1000, burst: 1000, maxConcurrent: 1 } },
        tierPolicy: { enabled: true, concurrency: true },
      });
      let open!: () => void;
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const app = await appFor(limiter, {}, { slow: () => gate });
      // Releases are fire-and-forget when the response is done. The first one after Redis started
      // costs a NOSCRIPT round trip more (EVALSHA, then EVAL), enough for an in-process client's next
      // request to overtake it; load the release script first so each release is one command, sent
      // on the limiter's connection before the next request's decision.
      const warm = await app.check({ tenant: 'warm-up' });
      await limiter.release(warm.lease!);
      const sequential = await times(3, () => app.request('/campaigns', { headers: bearer('acme:u1') }));
      expect(sequential.map((r) => r.status)).toEqual([200, 200, 200]);
      const slow = app.request('/slow', { headers: bearer('acme:u1') });
      // The slow request holds the only slot while it waits.
      let busy: Reply | undefined;
      for (let i = 0; i < 50 && busy?.status !== 429; i++) {
        busy = await app.request('/campaigns', { headers: bearer('acme:u1') });
      }
      expect(busy?.status).toBe(429);
      expect(busy?.headers['x-ratelimit-type']).toBe('tier.concurrent');
      open();
      expect((await slow).status).toBe(200);
      const after = await app.request('/campaigns', { headers: bearer('acme:u1') });
      expect(after.status).toBe(200);
    });

    it('answers 503 RATE_5003 (never 500) when deciding throws, and reports the error', async () => {
      const errors: unknown[] = [];
      const app = await appFor(await limiterFor({ policies: [CAMPAIGNS] }), {
        cost: () => -1,
        onError: (e) => errors.push(e),
      });
      const t0 = Date.now();
      const reply = await app.request('/campaigns', { headers: bearer('acme:u1') });
      const t1 = Date.now();
      expect(reply.status).toBe(503);
      expect(reply.headers['retry-after']).toBe('1');
      const body = json(reply) as { error: { details: { reset_at: number } } };
      expect(body).toEqual({
        error: {
          code: 'RATE_5003',
          message: 'Rate limiter unavailable',
          details: { limit: null, window_seconds: 0, reset_at: body.error.details.reset_at, retry_after: 1 },
        },
      });
      expect(body.error.details.reset_at).toBeGreaterThanOrEqual(Math.ceil((t0 + 1000) / 1000));
      expect(body.error.details.reset_at).toBeLessThanOrEqual(Math.ceil((t1 + 1000) / 1000));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'ERR_SLUICE_INVALID_COST' });
    });

    it('skipped requests get no decision and no headers', async () => {
      const app = await appFor(await limiterFor({ policies: [CAMPAIGNS] }), { skip: () => true });
      const reply = await app.request('/campaigns', { headers: bearer('acme:u1') });
      expect([reply.status, reply.headers['x-ratelimit-limit'], decisionOf(reply)]).toEqual([
        200,
        undefined,
        null,
      ]);
    });

    it('a header that cannot carry its value is left out and reported; the decision stands', async () => {
      const warnings: AdapterWarning[] = [];
      const app = await appFor(await limiterFor({ policies: [CAMPAIGNS] }), {
        onWarning: (w) => warnings.push(w),
      });
      // A tenant id from the (trusted) context beyond Latin-1: X-RateLimit-Tenant cannot carry it.
      const tenant = '\u79df\u6237';
      const reply = await app.request('/campaigns', { headers: bearer(`${encodeURIComponent(tenant)}:u1`) });
      expect(reply.status).toBe(200);
      expect(decisionOf(reply)?.tenant).toBe(tenant);
      expect([reply.headers['x-ratelimit-tenant'], reply.headers['x-ratelimit-remaining']]).toEqual([
        undefined,
        '9',
      ]);
      expect(warnings).toEqual([
        {
          kind: 'invalid-header',
          header: 'x-ratelimit-tenant',
          message: 'x-ratelimit-tenant left out: its value cannot be sent',
        },
      ]);
    });

    it('manual rate limiting: check(ctx) shares the middleware counters', async () => {
      const app = await appFor(await limiterFor({ policies: [CAMPAIGNS] }));
      await times(2, () => app.request('/campaigns', { headers: bearer('acme:u1') }));
      const d = await app.check({ tenant: 'acme', user: 'u1', endpoint: '/campaigns' });
      expect([d.allowed, d.remaining, d.bindingPolicy]).toEqual([true, 7, 'campaigns']);
      const next = await app.request('/campaigns', { headers: bearer('acme:u1') });
      expect(next.headers['x-ratelimit-remaining']).toBe('6');
    });
  });
}
