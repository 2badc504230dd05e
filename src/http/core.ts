import { type DecisionObserver, notify, type ObservedRequest } from '../core/observer.js';
import type { Lease } from '../core/types.js';
import type { PolicyLimiter } from '../policy/policy-limiter.js';
import type { PolicyDecision, PolicyLimit, RequestContext } from '../policy/types.js';
import { type BodyFormat, rejectionBody } from './bodies.js';
import { correlationIdOf } from './correlation.js';
import { type HeaderOptions, rateLimitHeaders } from './headers.js';
import { clientAddress, INVALID_IP, ipKey, type TrustProxy, UNKNOWN_IP } from './ip.js';

/** What the shared core needs of a request, whatever the framework. */
export interface RequestView {
  method: string;
  /** The route pattern ("/users/:id"), never the raw URL; undefined when no route matched. */
  route: string | undefined;
  header(name: string): string | undefined;
  /** The socket's peer address (undefined once the socket closed, unless it was read before). */
  remoteAddress: string | undefined;
}

/** Options shared by the Express, Fastify and Hono adapters. */
export interface HttpLimiterOptions<Req> {
  /**
   * The limiter that decides (policies, tiers, overrides...), or the promise of the one being built
   * (the adapters' one-line start, see setup.ts).
   */
  limiter: PolicyLimiter | Promise<PolicyLimiter>;
  /**
   * Decide a request without a tenant as `DEFAULT_TENANT`, silently (set by the one-line start when
   * no tenant is configured: every client counted by IP under one tenant).
   */
  implicitTenant?: boolean;
  /**
   * The tenant from the authenticated context (the adaptive XORB policies: from verified claims, never from a header a
   * client could forge). Tried first.
   */
  tenant?: (req: Req) => string | undefined;
  /**
   * Headers to read the tenant from when the context has none (the tenant-tier limiter). Default: none. Next to a
   * `tenant` resolver, a tenant read from a header is only claimed: it is decided as the tenant
   * `claimed/<value>` (CLAIMED_TENANT_PREFIX), never sharing counters, overrides or tier with the
   * authenticated tenant `<value>`. Without a resolver the header is the tenant (set by a gateway that
   * authenticated the request).
   */
  tenantHeaders?: string[];
  /** Accepted tenant ids from headers (default /^[A-Za-z0-9._:-]{1,128}$/): others count as missing. */
  tenantPattern?: RegExp;
  /** A request without a tenant: rejected (400), or decided as a default tenant (the per-tenant guards' warning). */
  missingTenant?: 'reject' | { tenant: string };
  /** The authenticated user and roles, from the context. */
  user?: (req: Req) => string | undefined;
  roles?: (req: Req) => string[] | undefined;
  /**
   * Trust X-Forwarded-For: false (default), a hop count, or trusted proxy addresses/CIDRs. The chain is
   * read only when the socket's peer address is known.
   */
  trustProxy?: TrustProxy;
  /** IPv6 addresses are grouped by this prefix (default 56). */
  ipv6Prefix?: number;
  /** Requests to leave alone (health checks, internal callers...). */
  skip?: (req: Req) => boolean;
  /** Units a request costs (default 1). */
  cost?: (req: Req) => number;
  headers?: HeaderOptions;
  /** Rejection body: the API + LLM limiter's JSON (default), RFC 9457 problem details, or a function. */
  body?: BodyFormat;
  /** Told about anomalies worth a log line or a counter (missing tenant, proxy misconfiguration). */
  onWarning?: (warning: HttpWarning) => void;
  /**
   * Told of every decision the middleware makes, with the request's user, IP, route and correlation
   * id (`x-request-id`, else the trace id of `traceparent`): metrics, decision logs, traces (see
   * `sluice/metrics`). Its `watch` is given the middleware's counters and the limiter's state. Pass
   * it here or to the PolicyLimiter, not both (each would count the decision).
   */
  observer?: DecisionObserver;
}

export type HttpWarning =
  | { kind: 'missing-tenant'; defaultTenant: string }
  | { kind: 'untrusted-forwarded-for'; message: string }
  | {
      /**
       * The client address was unknown (`unknown`: the socket closed before its address was read) or
       * is no address (`invalid`): the request was counted under that fixed IP bucket, shared by every
       * such request. Reported once per kind; `core.counters` counts them all.
       */
      kind: 'unknown-address' | 'invalid-address';
      message: string;
    }
  | {
      /**
       * A header left out because its value cannot be sent in HTTP (e.g. X-RateLimit-Tenant for a
       * tenant id from the context with characters beyond Latin-1, or a newline). The decision stands.
       */
      kind: 'invalid-header';
      header: string;
      message: string;
    };

/** The outcome the adapters act on. */
export type Verdict =
  | { action: 'skip' }
  | { action: 'continue'; headers: Record<string, string>; decision: PolicyDecision; lease?: Lease }
  | {
      action: 'reject';
      status: number;
      headers: Record<string, string>;
      contentType: string;
      body: string;
      decision?: PolicyDecision;
    };

/** The tenant of every request in the one-line start when no tenant is configured. */
export const DEFAULT_TENANT = 'default';

const DEFAULT_TENANT_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The namespace of tenants read from `tenantHeaders` next to a `tenant` resolver: claimed, not
 * authenticated. A resolver returning an id in it is an error (the request is answered 503).
 */
export const CLAIMED_TENANT_PREFIX = 'claimed/';

/**
 * Counts of anomalies, per core (one per middleware instance). The per-tenant guards' "tenant_id missing or
 * default" warning becomes `missingTenant`.
 */
export interface HttpCounters {
  missingTenant: number;
  forwardedForIgnored: number;
  /** Requests counted under the `unknown` IP bucket (peer address gone). */
  unknownAddress: number;
  /** Requests counted under the `invalid` IP bucket (an address that does not parse). */
  invalidAddress: number;
}

/**
 * The framework-independent half of the middleware: identity extraction, the decision, headers and
 * the rejection. Adapters translate their request into a RequestView and act on the Verdict.
 */
export class HttpLimiterCore<Req> {
  readonly counters: HttpCounters = {
    missingTenant: 0,
    forwardedForIgnored: 0,
    unknownAddress: 0,
    invalidAddress: 0,
  };
  private warnedProxy = false;
  private readonly warnedAddress = new Set<string>();

  private current: PolicyLimiter | undefined;
  private readonly pending: Promise<PolicyLimiter> | undefined;

  constructor(readonly options: HttpLimiterOptions<Req>) {
    const l = options.limiter;
    if (l instanceof Promise) {
      this.pending = l;
      l.then(
        (built) => {
          this.current = built;
        },
        () => undefined,
      );
    } else {
      this.current = l;
    }
    const observer = options.observer;
    if (observer?.watch) {
      observer.watch({ http: () => ({ ...this.counters }) });
      Promise.resolve(l).then(
        (built) => observer.watch?.(built.observedSource()),
        () => undefined,
      );
    }
  }

  /** The limiter (awaiting the one being built, when it is not ready yet). */
  limiter(): PolicyLimiter | Promise<PolicyLimiter> {
    return this.current ?? (this.pending as Promise<PolicyLimiter>);
  }

  async evaluate(req: Req, view: RequestView, routeLimits?: PolicyLimit[]): Promise<Verdict> {
    const o = this.options;
    if (o.skip?.(req)) return { action: 'skip' };
    const tenant = this.tenantOf(req, view);
    if (tenant === undefined) return missingTenantAnswer(o.body);
    const ctx: RequestContext = { tenant, endpoint: view.route ?? '*' };
    const user = o.user?.(req);
    if (user !== undefined) ctx.user = user;
    const roles = o.roles?.(req);
    if (roles !== undefined) ctx.roles = roles;
    // Always set: an unknown or unparseable address is a fixed bucket, never a skipped IP policy.
    ctx.ip = this.ipOf(view);
    const cost = o.cost?.(req);
    if (cost !== undefined) ctx.cost = cost;
    if (routeLimits) ctx.routeLimits = routeLimits;

    const limiter = this.current ?? (await this.pending);
    const started = o.observer ? performance.now() : 0;
    const decision = await (limiter as PolicyLimiter).check(ctx);
    if (o.observer) this.observe(decision, started, ctx, view);
    const headers = rateLimitHeaders(decision, Date.now(), o.headers, this.unsendable);
    if (decision.allowed) {
      return decision.lease
        ? { action: 'continue', headers, decision, lease: decision.lease }
        : { action: 'continue', headers, decision };
    }
    const rejection = rejectionBody(decision, o.body);
    return { action: 'reject', headers, decision, ...rejection };
  }

  private observe(decision: PolicyDecision, started: number, ctx: RequestContext, view: RequestView): void {
    const request: ObservedRequest = { ip: ctx.ip as string, endpoint: ctx.endpoint as string };
    if (ctx.user !== undefined) request.user = ctx.user;
    const correlationId = correlationIdOf({
      'x-request-id': view.header('x-request-id'),
      traceparent: view.header('traceparent'),
    });
    if (correlationId !== undefined) request.correlationId = correlationId;
    notify(this.options.observer, { decision, durationMs: performance.now() - started, request });
  }

  private readonly unsendable = (header: string): void => {
    try {
      this.options.onWarning?.({
        kind: 'invalid-header',
        header,
        message: `${header} left out: its value cannot be sent`,
      });
    } catch {
      // A reporting callback must not change the answer.
    }
  };

  /** Frees a request's concurrency lease (adapters call it when the response is done). */
  async release(lease: Lease | undefined): Promise<void> {
    if (lease)
      await Promise.resolve(this.limiter())
        .then((l) => l.release(lease))
        .catch(() => undefined);
  }

  private tenantOf(req: Req, view: RequestView): string | undefined {
    const o = this.options;
    const fromContext = o.tenant?.(req);
    const headers = o.tenantHeaders ?? [];
    if (fromContext) {
      if (headers.length > 0 && fromContext.startsWith(CLAIMED_TENANT_PREFIX)) {
        throw new Error(
          `tenant(req) returned "${fromContext}": tenant ids starting with "${CLAIMED_TENANT_PREFIX}" are reserved for tenants claimed in tenantHeaders`,
        );
      }
      return fromContext;
    }
    const pattern = o.tenantPattern ?? DEFAULT_TENANT_PATTERN;
    for (const name of headers) {
      const value = view.header(name)?.trim();
      // Next to an authenticated resolver a header is a claim: its own namespace.
      if (value && pattern.test(value)) return o.tenant ? `${CLAIMED_TENANT_PREFIX}${value}` : value;
    }
    if (o.implicitTenant) return DEFAULT_TENANT;
    const missing = o.missingTenant ?? 'reject';
    if (missing === 'reject') return undefined;
    this.counters.missingTenant++;
    o.onWarning?.({ kind: 'missing-tenant', defaultTenant: missing.tenant });
    return missing.tenant;
  }

  private ipOf(view: RequestView): string {
    const o = this.options;
    const forwarded = view.header('x-forwarded-for');
    const trust = o.trustProxy ?? false;
    if (forwarded && trust === false) {
      this.counters.forwardedForIgnored++;
      if (!this.warnedProxy) {
        this.warnedProxy = true;
        o.onWarning?.({
          kind: 'untrusted-forwarded-for',
          message:
            "X-Forwarded-For is present but trustProxy is off: limiting by the socket address. Behind a proxy, set trustProxy to its address or hop count, or every client shares the proxy's bucket.",
        });
      }
    }
    const address = clientAddress(view.remoteAddress || undefined, forwarded, trust);
    if (address === undefined) return this.fixedBucket(UNKNOWN_IP);
    return ipKey(address, o.ipv6Prefix ?? 56) ?? this.fixedBucket(INVALID_IP);
  }

  /** Counts (and reports once) a request decided under the `unknown` or `invalid` IP bucket. */
  private fixedBucket(ip: typeof UNKNOWN_IP | typeof INVALID_IP): string {
    const unknown = ip === UNKNOWN_IP;
    if (unknown) this.counters.unknownAddress++;
    else this.counters.invalidAddress++;
    if (!this.warnedAddress.has(ip)) {
      this.warnedAddress.add(ip);
      try {
        this.options.onWarning?.({
          kind: unknown ? 'unknown-address' : 'invalid-address',
          message: unknown
            ? 'The client address is unknown (the connection closed before it was read): counted under the IP bucket "unknown", shared by every such request'
            : 'The client address does not parse: counted under the IP bucket "invalid", shared by every such request',
        });
      } catch {
        // A reporting callback must not change the answer.
      }
    }
    return ip;
  }
}

/** 400 for a request without a tenant, in the configured body format (custom formats get the API + LLM limiter's JSON). */
function missingTenantAnswer(format: BodyFormat | undefined): Verdict {
  if (format === 'problem') {
    const body = JSON.stringify({
      type: 'about:blank',
      title: 'Tenant required',
      status: 400,
      detail: 'A tenant is required for this request',
    });
    return { action: 'reject', status: 400, headers: {}, contentType: 'application/problem+json', body };
  }
  const body = JSON.stringify({
    error: { code: 'TENANT_REQUIRED', message: 'A tenant is required for this request' },
  });
  return { action: 'reject', status: 400, headers: {}, contentType: 'application/json', body };
}
