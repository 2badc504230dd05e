/**
 * Fastify plugin (Fastify 4 and 5) over HttpLimiterCore.
 *
 * ```ts
 * import { sluice } from 'sluice/fastify';
 *
 * await app.register(sluice, { limit: 100, window: '1m' });          // one line: 100/min per client IP
 * // or, with policies and tenants:
 * await app.register(sluice, { limiter: policyLimiter, tenant: (request) => request.auth?.tenant });
 * app.get('/campaigns', handler);                                     // endpoint '/campaigns'
 * app.post('/reports', { config: { sluice: { limits: [{ limit: 3, window: '1m' }] } } }, handler);
 * app.get('/health', { config: { sluice: { skip: true } } }, handler);
 * const d = await app.sluice.check({ tenant: 'acme', endpoint: 'llm:openai' }); // manual rate limiting
 * ```
 *
 * The plugin is not encapsulated (fastify-plugin semantics, via `Symbol.for('skip-override')`): its hook
 * applies to every route of the context it is registered in, including routes added after it. It
 * decides in an `onRequest` hook (or `hook: 'preValidation' | 'preHandler'` when authentication runs
 * later, or the cost depends on the body), with the route pattern from `request.routeOptions.url`
 * (never the raw URL; `'*'` for the 404 handler), and the route's own limits from its config
 * (`config: { sluice: { limits, skip } }`). Register authentication hooks first: hooks run in
 * registration order. Admitted requests carry their decision in `request.sluice`; concurrency leases
 * are released `onResponse` (or when the connection closes first).
 *
 * Fastify is an optional peer dependency: this module imports its types only.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ValidationError } from '../core/errors.js';
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

/** A route's settings: `config: { sluice: { limits, skip } }` in the route options. */
export interface SluiceRouteConfig {
  /** The route's own limits: the additive policy `route:<pattern>`, counted per endpoint and identity. */
  limits?: readonly PolicyLimit[];
  /** Leave this route alone (health checks, metrics...). */
  skip?: boolean;
}

export interface FastifySluiceOptions extends AdapterOptions<FastifyRequest> {
  /** The hook that decides. Default `onRequest` (before the body is read). */
  hook?: 'onRequest' | 'preValidation' | 'preHandler';
}

/** What the plugin adds to the Fastify instance: `app.sluice`. */
export interface SluiceFastifyApi {
  /**
   * Manual rate limiting (the tenant-tier limiter) for code outside a route's hook (jobs, websockets, a costly branch
   * of a handler): the same decision as the hook, for a context you build. Release `lease` if any.
   */
  check(ctx: RequestContext): Promise<PolicyDecision>;
  /** Frees a concurrency lease returned by `check`. */
  release(lease: Lease): Promise<void>;
  /** The PolicyLimiter deciding (the caller's, or the one built by the one-line start). */
  readonly limiter: PolicyLimiter;
  /** The shared core (its `counters`: missing tenants, ignored X-Forwarded-For). */
  readonly core: HttpLimiterCore<FastifyRequest>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    sluice?: SluiceRouteConfig;
  }
  interface FastifyRequest {
    /** The decision that admitted this request (null when it was skipped or not decided). */
    sluice: PolicyDecision | null;
  }
  interface FastifyInstance {
    sluice: SluiceFastifyApi;
  }
}

/** Route options as Fastify 4.10+ and 5 expose them; older 4.x had `routerPath` / `routeConfig`. */
interface RouteInfo {
  url: string | undefined;
  config: object | undefined;
}

/** The plugin's own options; Fastify's registration options (prefix, logLevel...) are Fastify's. */
const FASTIFY_KEYS = ['hook'] as const;
const REGISTER_KEYS = ['prefix', 'logLevel', 'logSerializers'] as const;

const plugin: FastifyPluginAsync<FastifySluiceOptions> = async (fastify, options) => {
  const setup = setupAdapter<FastifyRequest>(options, 'sluice(fastify)', FASTIFY_KEYS, REGISTER_KEYS);
  const hookName = options.hook ?? 'onRequest';
  if (!['onRequest', 'preValidation', 'preHandler'].includes(hookName)) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'sluice(fastify).hook',
      'must be one of onRequest, preValidation, preHandler',
    );
  }
  const core = new HttpLimiterCore<FastifyRequest>(setup.core);
  // A limiter built for the plugin (one-line start) is ready before the server listens, and closed with it.
  const limiter = await core.limiter();
  if (setup.owned) fastify.addHook('onClose', async () => closeOwned(limiter, true));
  // Each request's peer address is read on arrival, before any hook (an async hook before ours, or
  // `hook: 'preValidation'`, would otherwise find it gone when the client closed after sending).
  watchAddresses(fastify.server);
  const releases = new WeakMap<FastifyRequest, () => void>();
  const routeLimits = new WeakMap<object, PolicyLimit[]>();

  const api: SluiceFastifyApi = {
    check: (ctx) => limiter.check(ctx),
    release: (lease) => limiter.release(lease),
    limiter,
    core,
  };
  // A nested registration inherits the outer one's decorations.
  if (!fastify.hasRequestDecorator('sluice')) fastify.decorateRequest('sluice', null);
  if (!fastify.hasDecorator('sluice')) fastify.decorate('sluice', api);

  const failed = (error: unknown, request: FastifyRequest): Verdict => {
    try {
      options.onError?.(error, request);
    } catch {
      // A reporting callback must not change the answer.
    }
    return errorVerdict(options.body);
  };

  // The hook itself (one async layer per request): an async hook that sent a reply must return it,
  // so that Fastify stops the chain.
  const hook = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    let verdict: Verdict;
    try {
      const route = routeOf(request);
      const own = route.config ? sluiceConfigOf(route.config) : undefined;
      if (own?.skip) return undefined;
      let limits: PolicyLimit[] | undefined;
      if (own?.limits && own.limits.length > 0 && route.config) {
        // One copy per route (see ownLimits), kept for the route's lifetime.
        limits = routeLimits.get(route.config);
        if (!limits) {
          limits = ownLimits(own.limits);
          routeLimits.set(route.config, limits);
        }
      }
      verdict = await core.evaluate(request, new FastifyView(request, route.url), limits);
    } catch (error) {
      verdict = failed(error, request);
    }
    if (verdict.action === 'skip') return undefined;
    try {
      act(verdict, request, reply);
    } catch (error) {
      if (verdict.action === 'continue') void core.release(verdict.lease);
      if (!reply.sent) act(failed(error, request), request, reply);
    }
    return reply.sent ? reply : undefined;
  };

  const act = (verdict: Verdict, request: FastifyRequest, reply: FastifyReply): void => {
    if (verdict.action === 'skip') return;
    reply.headers(verdict.headers);
    if (verdict.action === 'reject') {
      reply.code(verdict.status).type(verdict.contentType).send(verdict.body);
      return;
    }
    request.sluice = verdict.decision;
    if (verdict.lease) {
      const lease = verdict.lease;
      const release = once(() => void core.release(lease));
      releases.set(request, release);
      // onResponse runs when the response finished; a client gone first only closes the socket.
      reply.raw.once('close', release);
    }
  };

  switch (hookName) {
    case 'onRequest':
      fastify.addHook('onRequest', hook);
      break;
    case 'preValidation':
      fastify.addHook('preValidation', hook);
      break;
    case 'preHandler':
      fastify.addHook('preHandler', hook);
      break;
  }
  // A callback hook, not an async one: it runs on every response, leases or not.
  fastify.addHook('onResponse', (request, _reply, done) => {
    releases.get(request)?.();
    done();
  });
};

/** A request as the core reads it (a class: no closure per request). */
class FastifyView implements RequestView {
  readonly method: string;
  readonly remoteAddress: string | undefined;
  constructor(
    private readonly request: FastifyRequest,
    readonly route: string | undefined,
  ) {
    this.method = request.method;
    this.remoteAddress = request.raw.socket?.remoteAddress;
  }

  header(name: string): string | undefined {
    return headerString(this.request.headers[name.toLowerCase()]);
  }
}

function routeOf(request: FastifyRequest): RouteInfo {
  const options = (request as { routeOptions?: { url?: string; config?: object } }).routeOptions;
  if (options) return { url: options.url, config: options.config };
  const legacy = request as unknown as { routerPath?: string; routeConfig?: object };
  return { url: legacy.routerPath, config: legacy.routeConfig };
}

function sluiceConfigOf(config: object): SluiceRouteConfig | undefined {
  return (config as { sluice?: SluiceRouteConfig }).sluice;
}

// fastify-plugin semantics without the dependency: not encapsulated, named, version-checked.
const meta = plugin as unknown as Record<symbol | string, unknown>;
meta[Symbol.for('skip-override')] = true;
meta[Symbol.for('fastify.display-name')] = 'sluice';
meta[Symbol.for('plugin-meta')] = { name: 'sluice', fastify: '>=4' };

/** The plugin: `await app.register(sluice, options)`. */
export const sluice: FastifyPluginAsync<FastifySluiceOptions> = plugin;
export default sluice;
