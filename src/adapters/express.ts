/**
 * Express middleware (Express 4 and 5) over HttpLimiterCore.
 *
 * ```ts
 * import { sluice } from 'sluice/express';
 *
 * const limiter = sluice({ limiter: policyLimiter, tenant: (req) => req.auth?.tenant });
 * app.use(limiter);                                                 // every request, endpoint '*'
 * app.get('/campaigns', limiter, handler);                          // endpoint '/campaigns'
 * app.post('/reports', limiter.route([{ limit: 3, window: '1m' }]), handler); // + the route's own limit
 * ```
 *
 * **Route patterns.** Middleware added with `app.use` runs before Express has routed the request, so
 * it cannot know the route pattern: it decides with the endpoint `'*'`. Put the middleware on the route
 * (`app.get(path, limiter, handler)` or `limiter.route(limits)`) to decide with the pattern
 * (`req.baseUrl + req.route.path`, e.g. `/api/users/:id`; never the raw URL) and with route limits.
 * A request is decided at most once per limiter: when an app-wide middleware of the same limiter has
 * already decided it, a per-route one lets it through (and reports `already-decided` to `onWarning`,
 * since the route's own limits were not checked). `req.baseUrl` holds the matched mount path: for
 * routers mounted on a parameterised path (`app.use('/t/:id', router)`) pass `endpoint` to name the
 * pattern yourself.
 *
 * **Client address.** The socket's peer address, and X-Forwarded-For only per Sluice's own `trustProxy`
 * option (Express's `trust proxy` setting is not used).
 *
 * Express is an optional peer dependency: this module imports its types only.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Lease } from '../core/types.js';
import { HttpLimiterCore, type RequestView, type Verdict } from '../http/core.js';
import type { PolicyDecision, PolicyLimit, RequestContext } from '../policy/types.js';
import { type AdapterOptions, errorVerdict, headerString, once, ownLimits } from './shared.js';

export type { AdapterWarning } from './shared.js';

export interface ExpressSluiceOptions extends AdapterOptions<Request> {
  /**
   * The endpoint (route pattern) of a request. Default: `req.baseUrl + req.route.path` when a route
   * matched (per-route use), else undefined, decided as `'*'`.
   */
  endpoint?: (req: Request) => string | undefined;
}

/** An Express middleware `(req, res, next)`. */
export type ExpressMiddleware = (req: Request, res: Response, next: NextFunction) => void;

export interface SluiceExpressMiddleware extends ExpressMiddleware {
  /**
   * A middleware for one route, with the route's own limits (checked as the additive policy
   * `route:<pattern>`, counted per endpoint and identity, in the same decision as every other policy).
   */
  route(limits: readonly PolicyLimit[]): ExpressMiddleware;
  /**
   * Manual rate limiting (seed 003) for code outside a route (jobs, websockets, a costly branch of a
   * handler): the same decision as the middleware, for a context you build. Release `lease` if any.
   */
  check(ctx: RequestContext): Promise<PolicyDecision>;
  /** Frees a concurrency lease returned by `check`. */
  release(lease: Lease): Promise<void>;
  /** The shared core (its `counters`: missing tenants, ignored X-Forwarded-For). */
  readonly core: HttpLimiterCore<Request>;
}

/** `res.locals` key holding the request's decision (when it was decided and admitted). */
export const LOCALS_KEY = 'sluice';

/** Express middleware deciding each request through a PolicyLimiter. */
export function sluice(options: ExpressSluiceOptions): SluiceExpressMiddleware {
  const core = new HttpLimiterCore<Request>(options);
  const decided = new WeakSet<Request>();

  const handle = (req: Request, res: Response, next: NextFunction, routeLimits?: PolicyLimit[]) => {
    if (decided.has(req)) {
      if (routeLimits) {
        try {
          options.onWarning?.({
            kind: 'already-decided',
            message: `${req.method} ${String((req.route as { path?: unknown } | undefined)?.path)}: already decided by an app-wide middleware of this limiter; the route's own limits were not checked`,
          });
        } catch {
          // A reporting callback must not change the answer.
        }
      }
      next();
      return;
    }
    decided.add(req);
    decide(req, res, next, routeLimits).catch(() => {
      // Last resort (decide handles its own errors): still no 500, and no request left hanging.
      if (!res.headersSent) {
        res.statusCode = 503;
        res.end();
      }
    });
  };

  const decide = async (req: Request, res: Response, next: NextFunction, routeLimits?: PolicyLimit[]) => {
    let verdict: Verdict;
    try {
      const view: RequestView = {
        method: req.method,
        route: endpointOf(req, options),
        header: (name) => headerString(req.headers[name.toLowerCase()]),
        remoteAddress: req.socket?.remoteAddress,
      };
      verdict = await core.evaluate(req, view, routeLimits);
    } catch (error) {
      verdict = failed(error, req);
    }
    let proceed: boolean;
    try {
      proceed = act(verdict, res, core);
    } catch (error) {
      // Acting can throw too (a header value Node refuses, such as a tenant id with a newline).
      if (verdict.action === 'continue') void core.release(verdict.lease);
      if (verdict.action !== 'skip' && !res.headersSent) {
        for (const name of Object.keys(verdict.headers)) res.removeHeader(name);
      }
      proceed = res.headersSent ? false : act(failed(error, req), res, core);
    }
    if (proceed) next();
  };

  const failed = (error: unknown, req: Request): Verdict => {
    try {
      options.onError?.(error, req);
    } catch {
      // A reporting callback must not change the answer.
    }
    return errorVerdict(options.body);
  };

  const middleware = ((req: Request, res: Response, next: NextFunction) =>
    handle(req, res, next)) as SluiceExpressMiddleware;
  Object.defineProperty(middleware, 'core', { value: core, enumerable: true });
  middleware.route = (limits) => {
    const own = ownLimits(limits);
    return (req, res, next) => handle(req, res, next, own);
  };
  middleware.check = (ctx) => options.limiter.check(ctx);
  middleware.release = (lease) => options.limiter.release(lease);
  return middleware;
}

/** Applies a verdict to the response; true when the request goes on to the next handler. */
function act(verdict: Verdict, res: Response, core: HttpLimiterCore<Request>): boolean {
  if (verdict.action === 'skip') return true;
  if (res.headersSent) {
    // Someone answered while we were deciding: nothing left to say.
    if (verdict.action === 'continue') void core.release(verdict.lease);
    return false;
  }
  const headers = verdict.headers;
  for (const name in headers) res.setHeader(name, headers[name] as string);
  if (verdict.action === 'reject') {
    res.statusCode = verdict.status;
    res.setHeader('Content-Type', verdict.contentType);
    res.end(verdict.body);
    return false;
  }
  res.locals[LOCALS_KEY] = verdict.decision;
  if (verdict.lease) {
    const lease = verdict.lease;
    const release = once(() => void core.release(lease));
    res.once('finish', release);
    res.once('close', release);
  }
  return true;
}

function endpointOf(req: Request, options: ExpressSluiceOptions): string | undefined {
  if (options.endpoint) return options.endpoint(req);
  const route = req.route as { path?: unknown } | undefined;
  if (!route || route.path === undefined) return undefined;
  const path = Array.isArray(route.path) ? route.path.map(String).join(',') : String(route.path);
  const base = req.baseUrl ?? '';
  if (!base) return path;
  return path === '/' ? base : `${base}${path}`;
}

export default sluice;
