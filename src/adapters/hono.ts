/**
 * Hono middleware (Hono 4) over HttpLimiterCore, on Web-standard Request/Response.
 *
 * ```ts
 * import { sluice } from 'sluice/hono';
 *
 * app.use(sluice({ limit: 100, window: '1m' }));                      // one line: 100/min per client IP
 *
 * const limiter = sluice({ limiter: policyLimiter, tenant: (c) => c.get('auth')?.tenant });
 * app.use(limiter);                                                    // endpoint: the matched route
 * app.post('/reports', limiter.route([{ limit: 3, window: '1m' }]), handler); // + the route's own limit
 * const d = await limiter.check({ tenant: 'acme', endpoint: 'llm:openai' });  // manual rate limiting
 * ```
 *
 * **Route patterns.** Hono routes a request before any middleware runs, so even an app-wide middleware
 * knows the pattern: the endpoint is the path of the matched handler route (the last of
 * `c.req.matchedRoutes` whose handler is not a middleware, e.g. `/posts/:id`; never the raw URL), or
 * `'*'` when no handler matched (404). `endpoint` overrides it (e.g. `(c) => routePath(c, -1)` from
 * `hono/route`).
 *
 * **Per-route limits.** `limiter.route(limits)` on a route adds the route's own limits. With an
 * app-wide `limiter` in front, the app-wide middleware finds the route's limits among the matched
 * routes and decides once with them; the route middleware then lets the request through. Without one,
 * the route middleware decides. One `route(limits)` per route (when several match, the one nearest to
 * the handler applies and the others report `already-decided`).
 *
 * **Client address.** `c.env.incoming.socket.remoteAddress` (@hono/node-server); on other runtimes pass
 * `remoteAddress` (e.g. `(c) => getConnInfo(c).remote.address`). X-Forwarded-For only per `trustProxy`.
 *
 * Admitted requests carry their decision in `c.get('sluice')`; the rate-limit headers are set before the
 * handler runs (and again on a raw Response it returns), and a concurrency lease is released when
 * `await next()` returns (for a streamed body, before the stream ends).
 *
 * Hono is an optional peer dependency: this module imports its types only.
 */
import type { Context, MiddlewareHandler, Next } from 'hono';
import type { Lease } from '../core/types.js';
import { HttpLimiterCore, type RequestView, type Verdict } from '../http/core.js';
import type { PolicyLimiter } from '../policy/policy-limiter.js';
import type { PolicyDecision, PolicyLimit, RequestContext } from '../policy/types.js';
import {
  type AdapterOptions,
  closeOwned,
  errorVerdict,
  ownLimits,
  setupAdapter,
  watchAddresses,
} from './shared.js';

export type { AdapterWarning } from './shared.js';

export interface HonoSluiceOptions extends AdapterOptions<Context> {
  /** The client's socket address. Default: @hono/node-server's `c.env.incoming.socket.remoteAddress`. */
  remoteAddress?: (c: Context) => string | undefined;
  /** The endpoint (route pattern). Default: the matched handler route's path; undefined (`'*'`) on 404. */
  endpoint?: (c: Context) => string | undefined;
}

/** Variables the middleware sets: `c.get('sluice')`, the decision that admitted the request. */
export interface SluiceHonoEnv {
  Variables: { sluice: PolicyDecision };
}

export type SluiceHonoHandler = MiddlewareHandler<SluiceHonoEnv>;

export interface SluiceHonoMiddleware extends SluiceHonoHandler {
  /** A middleware for one route, with the route's own limits (the additive policy `route:<pattern>`). */
  route(limits: readonly PolicyLimit[]): SluiceHonoHandler;
  /**
   * Manual rate limiting (the tenant-tier limiter) for code outside a route (jobs, websockets, a costly branch of a
   * handler): the same decision as the middleware, for a context you build. Release `lease` if any.
   */
  check(ctx: RequestContext): Promise<PolicyDecision>;
  /** Frees a concurrency lease returned by `check`. */
  release(lease: Lease): Promise<void>;
  /** The shared core (its `counters`: missing tenants, ignored X-Forwarded-For). */
  readonly core: HttpLimiterCore<Context>;
  /** The PolicyLimiter deciding (built in the background in the one-line start: resolves once built). */
  ready(): Promise<PolicyLimiter>;
  /** Closes the limiter when the middleware built it (one passed as `limiter` is yours to close). */
  close(): Promise<void>;
}

/** What Hono tells about a matched route (RouterRoute). */
interface MatchedRoute {
  path: string;
  method: string;
  handler: (...args: never[]) => unknown;
}

/** The adapter's own options (beside every adapter's). */
const HONO_KEYS = ['remoteAddress', 'endpoint'] as const;

/**
 * Hono middleware deciding each request through a PolicyLimiter: the caller's (`limiter`), or one
 * built from inline limits (`sluice({ limit: 100, window: '1m' })`, per client IP) or a configuration
 * document (`config`). Options are validated here: an unknown key or a wrong type throws.
 */
export function sluice(options: HonoSluiceOptions): SluiceHonoMiddleware {
  const setup = setupAdapter<Context>(options, 'sluice(hono)', HONO_KEYS);
  const core = new HttpLimiterCore<Context>(setup.core);
  // Requests decided by this limiter, with the route limits they were decided with: a property of the
  // context under this middleware's own symbol (cheaper than a WeakMap entry per request).
  const DECIDED = Symbol('sluice.decided');
  type Marked = Context & { [DECIDED]?: PolicyLimit[] | null };
  /** This limiter's route middlewares and their limits. */
  const routeHandlers = new WeakMap<object, PolicyLimit[]>();

  const report = (error: unknown, c: Context): void => {
    try {
      options.onError?.(error, c);
    } catch {
      // A reporting callback must not change the answer.
    }
  };
  const failed = (error: unknown, c: Context): Verdict => {
    report(error, c);
    return errorVerdict(options.body);
  };

  const handle = async (c: Context, next: Next, own?: PolicyLimit[]): Promise<Response | undefined> => {
    const marked = c as Marked;
    if (marked[DECIDED] !== undefined) {
      if (own && marked[DECIDED] !== own) {
        try {
          options.onWarning?.({
            kind: 'already-decided',
            message: `${c.req.method} ${endpointOf(c, routeHandlers) ?? '*'}: already decided by another middleware of this limiter; these route limits were not checked`,
          });
        } catch {
          // A reporting callback must not change the answer.
        }
      }
      await next();
      return undefined;
    }
    let verdict: Verdict;
    let limits: PolicyLimit[] | undefined = own;
    try {
      const routes = matchedRoutes(c);
      if (!limits && routes) limits = nearestRouteLimits(routes, routeHandlers);
      marked[DECIDED] = limits ?? null;
      const view: RequestView = {
        method: c.req.method,
        route: options.endpoint ? options.endpoint(c) : endpointOf(c, routeHandlers),
        header: (name) => c.req.header(name),
        remoteAddress: options.remoteAddress ? options.remoteAddress(c) : nodeRemoteAddress(c),
      };
      verdict = await core.evaluate(c, view, limits);
    } catch (error) {
      marked[DECIDED] = limits ?? null;
      verdict = failed(error, c);
    }
    if (verdict.action === 'skip') {
      await next();
      return undefined;
    }
    if (verdict.action === 'reject') return reject(c, verdict);
    c.set('sluice', verdict.decision);
    const sendable = verdict.headers;
    const outgoing = nodeOutgoing(c);
    if (outgoing) {
      // On @hono/node-server: straight onto Node's response, which merges them into whatever Response
      // the handler returns, without a Fetch Headers object per response (the costliest part of a
      // header on Hono: measured in bench/results/http.md).
      for (const name in sendable) outgoing.setHeader(name, sendable[name] as string);
      try {
        await next();
      } finally {
        if (verdict.lease) void core.release(verdict.lease);
      }
      return undefined;
    }
    const headers = Object.entries(sendable);
    // Set before the handler runs: responses built with c.json()/c.text()/c.body() take them as they are
    // created, which costs far less than rewriting a finished response's headers afterwards.
    for (const [name, value] of headers) c.header(name, value);
    try {
      await next();
    } finally {
      if (verdict.lease) void core.release(verdict.lease);
      const first = headers[0];
      // A handler that returned its own Response replaced them: set them on that response.
      if (first && c.res.headers.get(first[0]) === null) {
        try {
          for (const [name, value] of headers) c.header(name, value);
        } catch (error) {
          // Headers Hono cannot set (an immutable response whose body was read): the answer stands.
          report(error, c);
        }
      }
    }
    return undefined;
  };

  const middleware = (async (c: Context, next: Next) => handle(c, next)) as SluiceHonoMiddleware;
  Object.defineProperty(middleware, 'core', { value: core, enumerable: true });
  middleware.route = (limits) => {
    const own = ownLimits(limits);
    const routeMiddleware: SluiceHonoHandler = async (c, next) => handle(c, next, own);
    routeHandlers.set(routeMiddleware, own);
    return routeMiddleware;
  };
  middleware.check = async (ctx) => (await core.limiter()).check(ctx);
  middleware.release = async (lease) => (await core.limiter()).release(lease);
  middleware.ready = async () => core.limiter();
  middleware.close = () => closeOwned(core.limiter(), setup.owned);
  return middleware;
}

function reject(c: Context, verdict: Extract<Verdict, { action: 'reject' }>): Response {
  const headers: Record<string, string> = { ...verdict.headers, 'Content-Type': verdict.contentType };
  // The core answers 400, 429 or 503 (a custom body function keeps the status).
  const status = verdict.status as 400 | 429 | 503;
  try {
    return c.body(verdict.body, { status, headers });
  } catch {
    // A header value the Headers class refuses: answer without the rate-limit headers.
    return c.body(verdict.body, {
      status,
      headers: { 'Content-Type': verdict.contentType },
    });
  }
}

function matchedRoutes(c: Context): MatchedRoute[] | undefined {
  return (c.req as unknown as { matchedRoutes?: MatchedRoute[] }).matchedRoutes;
}

/**
 * The matched handler route's path: the last matched route whose handler is not a middleware (takes
 * fewer than two arguments, Hono's own convention), else the last method-specific route that is not
 * one of ours; undefined when nothing but middleware matched (404).
 */
function endpointOf(c: Context, ours: WeakMap<object, PolicyLimit[]>): string | undefined {
  const routes = matchedRoutes(c);
  if (!routes) return undefined;
  let fallback: string | undefined;
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i] as MatchedRoute;
    if (ours.has(route.handler)) {
      fallback ??= route.path;
      continue;
    }
    if (route.handler.length < 2) return route.path;
    if (fallback === undefined && route.method !== 'ALL') fallback = route.path;
  }
  return fallback;
}

/** Limits of the matched route middleware of this limiter nearest to the handler. */
function nearestRouteLimits(
  routes: MatchedRoute[],
  ours: WeakMap<object, PolicyLimit[]>,
): PolicyLimit[] | undefined {
  for (let i = routes.length - 1; i >= 0; i--) {
    const limits = ours.get((routes[i] as MatchedRoute).handler);
    if (limits) return limits;
  }
  return undefined;
}

/** What @hono/node-server passes as the env: `{ incoming, outgoing }` (or `{ server: { ... } }`). */
type NodeBindings = {
  incoming?: { socket?: { remoteAddress?: string; server?: unknown } };
  outgoing?: { setHeader(name: string, value: string): unknown; headersSent?: boolean };
  server?: NodeBindings;
};

function nodeBindings(c: Context): NodeBindings | undefined {
  const env = c.env as NodeBindings | undefined;
  return env?.server ?? env;
}

function nodeRemoteAddress(c: Context): string | undefined {
  const socket = nodeBindings(c)?.incoming?.socket;
  const address = socket?.remoteAddress;
  // Later requests on this server get their address read on arrival (see watchAddresses).
  watchAddresses(socket?.server);
  return address;
}

/** Node's response on @hono/node-server, while its headers can still be set; undefined elsewhere. */
function nodeOutgoing(c: Context): NonNullable<NodeBindings['outgoing']> | undefined {
  const outgoing = nodeBindings(c)?.outgoing;
  return outgoing && typeof outgoing.setHeader === 'function' && !outgoing.headersSent ? outgoing : undefined;
}

export default sluice;
