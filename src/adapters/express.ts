/**
 * Express middleware (Express 4 and 5) over HttpLimiterCore.
 *
 * ```ts
 * import { sluice } from 'sluice/express';
 *
 * app.use(sluice({ limit: 100, window: '1m' }));                   // one line: 100/min per client IP
 *
 * const limiter = sluice({ limiter: policyLimiter, tenant: (req) => req.auth?.tenant });
 * app.use(limiter);                                                 // endpoint: the route ahead
 * app.get('/campaigns', limiter, handler);                          // endpoint '/campaigns'
 * app.post('/reports', limiter.route([{ limit: 3, window: '1m' }]), handler); // + the route's own limit
 * ```
 *
 * **Route patterns.** Middleware added with `app.use` runs before Express has routed the request: it
 * finds the route Express will dispatch to by matching the app's router layers against the request's
 * path and method (the first matching route, through mounted routers, see routeAhead), and decides with
 * its pattern and its `limiter.route(limits)` limits. On the route (`app.get(path, limiter, handler)`
 * or `limiter.route(limits)`) the pattern is the mount patterns + `req.route.path` (e.g.
 * `/api/users/:id` or `/t/:tenant/items`; never the raw URL nor `req.baseUrl`, see mountPattern).
 * A request no route matches is decided with the endpoint `'*'`. A request is decided at most once per
 * limiter: a later middleware of the same limiter lets it through (and reports `already-decided` to
 * `onWarning` when it carries route limits the decision did not include). A mount whose pattern cannot
 * be known is named `/<mount>` (UNKNOWN_MOUNT); pass `endpoint` to name it yourself.
 *
 * **Client address.** The socket's peer address, and X-Forwarded-For only per Sluice's own `trustProxy`
 * option (Express's `trust proxy` setting is not used).
 *
 * Express is an optional peer dependency: this module imports its types only.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Lease } from '../core/types.js';
import { HttpLimiterCore, type RequestView, type Verdict } from '../http/core.js';
import type { PolicyLimiter } from '../policy/policy-limiter.js';
import type { PolicyDecision, PolicyLimit, RequestContext } from '../policy/types.js';
import {
  type AdapterOptions,
  closeOwned,
  errorVerdict,
  headerString,
  once,
  ownLimits,
  setupAdapter,
  watchAddresses,
} from './shared.js';

export type { AdapterWarning } from './shared.js';

export interface ExpressSluiceOptions extends AdapterOptions<Request> {
  /**
   * The endpoint (route pattern) of a request. Default: the mount patterns + `req.route.path` when a
   * route matched (per-route use), else undefined, decided as `'*'`.
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
   * Manual rate limiting (the tenant-tier limiter) for code outside a route (jobs, websockets, a costly branch of a
   * handler): the same decision as the middleware, for a context you build. Release `lease` if any.
   */
  check(ctx: RequestContext): Promise<PolicyDecision>;
  /** Frees a concurrency lease returned by `check`. */
  release(lease: Lease): Promise<void>;
  /** The shared core (its `counters`: missing tenants, ignored X-Forwarded-For). */
  readonly core: HttpLimiterCore<Request>;
  /** The PolicyLimiter deciding (built in the background in the one-line start: resolves once built). */
  ready(): Promise<PolicyLimiter>;
  /** Closes the limiter when the middleware built it (one passed as `limiter` is yours to close). */
  close(): Promise<void>;
}

/** `res.locals` key holding the request's decision (when it was decided and admitted). */
export const LOCALS_KEY = 'sluice';

/** The adapter's own options (beside every adapter's). */
const EXPRESS_KEYS = ['endpoint'] as const;

/**
 * Express middleware deciding each request through a PolicyLimiter: the caller's (`limiter`), or one
 * built from inline limits (`sluice({ limit: 100, window: '1m' })`, per client IP) or a configuration
 * document (`config`). Options are validated here: an unknown key or a wrong type throws.
 */
export function sluice(options: ExpressSluiceOptions): SluiceExpressMiddleware {
  const setup = setupAdapter<Request>(options, 'sluice(express)', EXPRESS_KEYS);
  const core = new HttpLimiterCore<Request>(setup.core);
  /** Requests this limiter decided, with the route limits they were decided with (null: none). */
  const decided = new WeakMap<Request, PolicyLimit[] | null>();
  /** This limiter's route middlewares (`limiter.route(limits)`) and their limits. */
  const routeHandlers = new WeakMap<object, PolicyLimit[]>();

  const handle = (req: Request, res: Response, next: NextFunction, routeLimits?: PolicyLimit[]) => {
    const already = decided.get(req);
    if (already !== undefined) {
      if (routeLimits && already !== routeLimits) {
        try {
          options.onWarning?.({
            kind: 'already-decided',
            message: `${req.method} ${String((req.route as { path?: unknown } | undefined)?.path)}: already decided by another middleware of this limiter; these route limits were not checked`,
          });
        } catch {
          // A reporting callback must not change the answer.
        }
      }
      next();
      return;
    }
    let route: string | undefined;
    let limits = routeLimits;
    try {
      if (options.endpoint) route = options.endpoint(req);
      else if (req.route) route = endpointOf(req);
      if (req.route) {
        // On the route: a `limiter.route(limits)` further along it is part of this decision.
        limits ??= routeLimitsOf(req.route as RouteLike, routeHandlers);
      } else {
        // Before routing (app.use): the route Express will dispatch to, read from the router's layers.
        const ahead = routeAhead(req);
        if (ahead) {
          if (!options.endpoint) route = ahead.pattern;
          limits ??= routeLimitsOf(ahead.route, routeHandlers);
        }
      }
    } catch (error) {
      decided.set(req, limits ?? null);
      act(failed(error, req), res, core);
      return;
    }
    decided.set(req, limits ?? null);
    decide(req, res, next, route, limits).catch(() => {
      // Last resort (decide handles its own errors): still no 500, and no request left hanging.
      if (!res.headersSent) {
        res.statusCode = 503;
        res.end();
      }
    });
  };

  const decide = async (
    req: Request,
    res: Response,
    next: NextFunction,
    route: string | undefined,
    routeLimits?: PolicyLimit[],
  ) => {
    let verdict: Verdict;
    try {
      const socket = req.socket as (typeof req.socket & { server?: unknown }) | undefined;
      const view: RequestView = {
        method: req.method,
        route,
        header: (name) => headerString(req.headers[name.toLowerCase()]),
        remoteAddress: socket?.remoteAddress,
      };
      // Later requests on this server get their address read on arrival (see watchAddresses).
      watchAddresses(socket?.server);
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
    const routeMiddleware: ExpressMiddleware = (req, res, next) => handle(req, res, next, own);
    routeHandlers.set(routeMiddleware, own);
    return routeMiddleware;
  };
  middleware.check = async (ctx) => (await core.limiter()).check(ctx);
  middleware.release = async (lease) => (await core.limiter()).release(lease);
  middleware.ready = async () => core.limiter();
  middleware.close = () => closeOwned(core.limiter(), setup.owned);
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

function endpointOf(req: Request): string | undefined {
  const route = req.route as RouteLike | undefined;
  if (!route || route.path === undefined) return undefined;
  const path = patternText(route.path);
  const base = req.baseUrl ? mountPattern(req, route) : '';
  if (!base) return path;
  return path === '/' ? base : `${base}${path}`;
}

/** What Express tells about a route (Express 4's and 5's Route). */
interface RouteLike {
  path?: unknown;
  stack?: Array<{ handle?: unknown }>;
  _handlesMethod?(method: string): boolean;
  _handles_method?(method: string): boolean;
}

/**
 * The route Express will dispatch a request to, for a middleware running before routing (`app.use`):
 * the app's router layers matched against the request's path and method, the way Express matches them
 * (first matching route, through mounted routers), with its pattern (the mount patterns + the route
 * path, as endpointOf gives it once routed). Undefined when no route matches (a 404: endpoint `'*'`).
 */
function routeAhead(req: Request): { route: RouteLike; pattern: string } | undefined {
  const app = req.app as unknown as AppLike | undefined;
  if (!app) return undefined;
  const prefix = appPrefix(app);
  const router = routerOf(app);
  if (prefix === undefined || !router) return undefined;
  const url = req.originalUrl ?? req.url;
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  if (prefix) {
    if (path.slice(0, prefix.length).toLowerCase() !== prefix.toLowerCase()) return undefined;
    path = path.slice(prefix.length) || '/';
  }
  const found = findRoute(router, path, req.method, 0);
  if (!found) return undefined;
  const pattern = prefix ? (found.pattern === '/' ? prefix : `${prefix}${found.pattern}`) : found.pattern;
  return { route: found.route, pattern };
}

function findRoute(
  router: { stack: LayerLike[] },
  path: string,
  method: string,
  depth: number,
): { route: RouteLike; pattern: string } | undefined {
  if (depth > 16) return undefined;
  for (const layer of router.stack) {
    const route = layer.route;
    if (route) {
      if (handlesMethod(route, method) && layerMatches(layer, path)) {
        return { route, pattern: patternText(route.path) };
      }
      continue;
    }
    const inner = layer.handle as { stack?: unknown } | undefined;
    if (!inner || !Array.isArray(inner.stack)) continue;
    const m = matchLayer(layer, path);
    if (!m) continue;
    const text = m.text.endsWith('/') ? m.text.slice(0, -1) : m.text;
    const rest = path.slice(text.length);
    if (rest && !rest.startsWith('/')) continue;
    const sub = findRoute(inner as { stack: LayerLike[] }, rest || '/', method, depth + 1);
    if (!sub) continue;
    const mount = m.pattern === '/' ? '' : m.pattern.endsWith('/') ? m.pattern.slice(0, -1) : m.pattern;
    return { route: sub.route, pattern: mount && sub.pattern === '/' ? mount : `${mount}${sub.pattern}` };
  }
  return undefined;
}

function handlesMethod(route: RouteLike, method: string): boolean {
  try {
    if (typeof route._handlesMethod === 'function') return route._handlesMethod(method);
    if (typeof route._handles_method === 'function') return route._handles_method(method);
  } catch {
    return false;
  }
  return false;
}

function layerMatches(layer: LayerLike, path: string): boolean {
  try {
    return Boolean(layer.match(path));
  } catch {
    return false;
  }
}

/** The limits of this limiter's `route(limits)` middleware on a route, nearest to the handler. */
function routeLimitsOf(route: RouteLike, ours: WeakMap<object, PolicyLimit[]>): PolicyLimit[] | undefined {
  const stack = Array.isArray(route.stack) ? route.stack : [];
  for (let i = stack.length - 1; i >= 0; i--) {
    const handle = stack[i]?.handle;
    const limits = typeof handle === 'function' ? ours.get(handle) : undefined;
    if (limits) return limits;
  }
  return undefined;
}

/**
 * A layer of an Express router stack. Express 5 (router 2) keeps the pattern it was made from in
 * `rawPath` and matches without side effects; Express 4 keeps only `regexp` and `keys`, and `match`
 * stores the matched text in `path`.
 */
interface LayerLike {
  route?: RouteLike;
  handle?: { stack?: unknown };
  rawPath?: unknown;
  regexp?: RegExp & { fast_slash?: boolean };
  keys?: Array<{ name: string | number }>;
  path?: unknown;
  match(path: string): unknown;
}

/** The mount part of an endpoint whose mount pattern cannot be known (see mountPattern). */
export const UNKNOWN_MOUNT = '/<mount>';

/** Chains of mount layers from an app's router to each route (found once per route, kept per route). */
const chainsOfRoute = new WeakMap<object, LayerLike[][]>();

/**
 * The pattern of `req.baseUrl`: the mount paths as the application wrote them (`/api`, `/t/:tenant`),
 * never the URL text (which Express matched case-insensitively, and which holds parameter values). The
 * route is looked up in the app's router tree; the mount layers leading to it are matched against
 * `req.baseUrl` to tell apart a router mounted at several paths. When no chain explains `req.baseUrl`
 * (a pattern Sluice cannot read back), the mount is named `UNKNOWN_MOUNT`: a fixed placeholder, so
 * the endpoint stays one per route.
 */
function mountPattern(req: Request, route: RouteLike): string {
  const base = req.baseUrl;
  const app = req.app as unknown as AppLike | undefined;
  if (!app) return UNKNOWN_MOUNT;
  // A sub-app (app.use('/x', subApp)) routes with its own router below its mount paths.
  const prefix = appPrefix(app);
  if (prefix === undefined) return UNKNOWN_MOUNT;
  if (base.slice(0, prefix.length).toLowerCase() !== prefix.toLowerCase()) return UNKNOWN_MOUNT;
  const rest = base.slice(prefix.length);
  if (!rest) return prefix;
  let chains = chainsOfRoute.get(route);
  let found = chains ? explain(chains, rest) : undefined;
  if (found === undefined) {
    // Not seen yet, or routers were mounted since: look again.
    const router = routerOf(app);
    chains = router ? chainsTo(router, route, 0) : [];
    chainsOfRoute.set(route, chains);
    found = explain(chains, rest);
  }
  return found === undefined ? UNKNOWN_MOUNT : `${prefix}${found}`;
}

interface AppLike {
  _router?: unknown;
  router?: unknown;
  mountpath?: unknown;
  parent?: AppLike;
}

function routerOf(app: AppLike): { stack: LayerLike[] } | undefined {
  try {
    // Express 4: `_router` (its `router` getter throws); Express 5: `router`.
    const router = (app._router ?? app.router) as { stack?: unknown } | undefined;
    return router && Array.isArray(router.stack) ? (router as { stack: LayerLike[] }) : undefined;
  } catch {
    return undefined;
  }
}

/** The mount path of a sub-app (static paths only), '' for the main app; undefined when unknown. */
function appPrefix(app: AppLike): string | undefined {
  let prefix = '';
  for (let a: AppLike | undefined = app; a?.parent; a = a.parent) {
    const mount = a.mountpath;
    if (typeof mount !== 'string' || !isStaticPath(mount)) return undefined;
    prefix = `${mount === '/' ? '' : mount.replace(/\/+$/, '')}${prefix}`;
  }
  return prefix;
}

function isStaticPath(path: string): boolean {
  return /^\/[A-Za-z0-9._~\-/]*$/.test(path);
}

/** Every chain of mount layers (routers) from `router` down to the layer of `route`. */
function chainsTo(router: { stack: LayerLike[] }, route: RouteLike, depth: number): LayerLike[][] {
  const out: LayerLike[][] = [];
  if (depth > 16) return out;
  for (const layer of router.stack) {
    if (layer.route === route) {
      out.push([]);
      continue;
    }
    const inner = layer.handle as { stack?: unknown } | undefined;
    if (!layer.route && inner && Array.isArray(inner.stack)) {
      for (const chain of chainsTo(inner as { stack: LayerLike[] }, route, depth + 1)) {
        out.push([layer, ...chain]);
        if (out.length > 64) return out;
      }
    }
  }
  return out;
}

/** The one mount pattern the chains give `base`; undefined when none (or several) explain it. */
function explain(chains: LayerLike[][], base: string): string | undefined {
  let found: string | undefined;
  for (const chain of chains) {
    const pattern = consume(chain, base);
    if (pattern === undefined) continue;
    if (found !== undefined && found !== pattern) return undefined;
    found = pattern;
  }
  return found;
}

/** The pattern of `base` when the chain's layers match all of it, one after the other. */
function consume(chain: LayerLike[], base: string): string | undefined {
  let rest = base;
  let pattern = '';
  for (const layer of chain) {
    const m = matchLayer(layer, rest || '/');
    if (!m) return undefined;
    const text = m.text.endsWith('/') ? m.text.slice(0, -1) : m.text;
    if (rest.slice(0, text.length) !== text) return undefined;
    rest = rest.slice(text.length);
    if (rest && !rest.startsWith('/')) return undefined;
    if (m.pattern !== '/') pattern += m.pattern.endsWith('/') ? m.pattern.slice(0, -1) : m.pattern;
  }
  return rest === '' ? pattern : undefined;
}

function matchLayer(layer: LayerLike, path: string): { text: string; pattern: string } | undefined {
  try {
    if (layer.rawPath !== undefined) {
      // Express 5: { path, pattern } without side effects.
      const m = layer.match(path) as { path?: unknown; pattern?: unknown } | false;
      if (!m || typeof m.path !== 'string') return undefined;
      return { text: m.path, pattern: m.pattern === undefined ? '/' : patternText(m.pattern) };
    }
    // Express 4: a boolean, the matched text in layer.path; the pattern read back from the regexp.
    if (!layer.match(path) || typeof layer.path !== 'string') return undefined;
    const pattern = express4Pattern(layer);
    return pattern === undefined ? undefined : { text: layer.path, pattern };
  } catch {
    return undefined;
  }
}

/**
 * An Express 4 mount path read back from its path-to-regexp 0.1 expression (`^\/t\/(?:([^\/]+?))\/?(?=\/|$)`
 * for `/t/:tenant`): static segments and named parameters only; undefined for anything else.
 */
export function express4Pattern(layer: Pick<LayerLike, 'regexp' | 'keys'>): string | undefined {
  const re = layer.regexp;
  if (!re) return undefined;
  if (re.fast_slash) return '/';
  const m = /^\^(.*)\\\/\?\(\?=\\\/\|\$\)$/.exec(re.source);
  if (!m) return undefined;
  const keys = layer.keys ?? [];
  let k = 0;
  let failed = false;
  const body = (m[1] as string).replace(/\(\?:\(\[\^\\\/\]\+\?\)\)|\\\/|[^\\]/g, (token) => {
    if (token === '\\/') return '/';
    if (token.startsWith('(')) {
      const key = keys[k++];
      if (!key) failed = true;
      return `:${String(key?.name)}`;
    }
    if (!/[A-Za-z0-9._~-]/.test(token)) failed = true;
    return token;
  });
  return failed || k !== keys.length || body.includes('\\') || !body.startsWith('/') ? undefined : body;
}

/** A route or mount path as text: a string, a RegExp's source form, or an array's entries joined. */
function patternText(path: unknown): string {
  return Array.isArray(path) ? path.map(String).join(',') : String(path);
}

export default sluice;
