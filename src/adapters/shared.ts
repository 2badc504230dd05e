/**
 * What the Express, Fastify and Hono adapters share beyond HttpLimiterCore: the options every adapter
 * takes, and the answer when deciding throws. Framework-free (bundled into each adapter entry).
 */
import type { Decision } from '../core/types.js';
import { rejectionBody } from '../http/bodies.js';
import type { HttpLimiterOptions, HttpWarning, Verdict } from '../http/core.js';
import { type LimiterSource, resolveLimiter, validateAdapterOptions } from '../http/setup.js';
import type { PolicyLimiter } from '../policy/policy-limiter.js';
import type { PolicyLimit } from '../policy/types.js';

/** Anomalies the adapters report beside the core's. */
export type AdapterWarning =
  | HttpWarning
  | {
      /**
       * A per-route middleware met a request its limiter had already decided (an app-wide middleware
       * of the same limiter ran first): the request is not decided twice, so the route's own limits
       * were not checked. Use one of the two per request.
       */
      kind: 'already-decided';
      message: string;
    };

/**
 * Options of every adapter: where the limiter comes from (`limiter`, or the one-line start's `limit` /
 * `limits` / `config`, with `store`), the core's, plus error reporting.
 */
export interface AdapterOptions<Req>
  extends Omit<HttpLimiterOptions<Req>, 'onWarning' | 'limiter' | 'implicitTenant'>,
    LimiterSource {
  /** Told about anomalies worth a log line or a counter (missing tenant, proxy misconfiguration...). */
  onWarning?: (warning: AdapterWarning) => void;
  /**
   * Told when deciding a request threw (a callback that throws, an invalid identifier or cost, a bug).
   * The request has been answered 503 with `RATE_5003` and `Retry-After: 1`: never a 500, and never
   * admitted unchecked.
   */
  onError?: (error: unknown, req: Req) => void;
}

/** Seconds a client is asked to wait when deciding failed with an exception. */
export const ERROR_RETRY_AFTER_SECONDS = 1;

/**
 * The verdict when `evaluate` throws: 503 with the configured body format (the API + LLM limiter's JSON: code
 * `RATE_5003`, `limit: null`, `window_seconds: 0`) and `Retry-After: 1`.
 */
export function errorVerdict(format: HttpLimiterOptions<unknown>['body'], now = Date.now()): Verdict {
  const retryAfterMs = ERROR_RETRY_AFTER_SECONDS * 1000;
  const binding = {
    name: 'unavailable',
    id: 'unavailable:fw0',
    algorithm: 'fixed-window' as const,
    limit: Number.POSITIVE_INFINITY,
    windowMs: 0,
    allowed: false,
    remaining: 0,
    resetAt: now + retryAfterMs,
    retryAfterMs,
  };
  const decision: Decision = {
    id: '',
    at: now,
    allowed: false,
    reason: 'store_unavailable',
    tenant: '',
    cost: 0,
    binding,
    limits: [],
    remaining: 0,
    resetAt: binding.resetAt,
    retryAfterMs,
    backend: 'none',
    path: 'fail-closed',
  };
  let rejection: { status: number; contentType: string; body: string };
  try {
    rejection = rejectionBody(decision, format);
  } catch {
    // A custom body function that throws must not turn this into a 500 either.
    rejection = rejectionBody(decision, 'json');
  }
  return {
    action: 'reject',
    ...rejection,
    status: 503,
    headers: { 'retry-after': String(ERROR_RETRY_AFTER_SECONDS) },
  };
}

/** A header's value as one string (repeated headers joined the way Node joins them). */
export function headerString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * A route's own copy of its limits. The policy layer caches the compiled route policy per limits
 * array and names it after the first endpoint it saw, so two routes sharing one array would share a
 * name; a copy per route keeps `route:<pattern>` right.
 */
export function ownLimits(limits: readonly PolicyLimit[]): PolicyLimit[] {
  return limits.map((l) => ({ ...l }));
}

/** Calls a once-only function at most once (lease release from several response events). */
export function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

/** A Node server as the adapters see it (net.Server / http.Server), or anything else. */
interface ServerLike {
  prependListener?(
    event: 'request',
    listener: (req: { socket?: { remoteAddress?: string } }) => void,
  ): unknown;
}

const watched = new WeakSet<object>();

/**
 * Reads each request's peer address as soon as the server emits the request. Node remembers a
 * socket's address once read, so an async step before the limiter (authentication, a body parser)
 * no longer loses it when the client closes the connection right after sending. Added once per
 * server, ahead of the framework's own listener; a request that arrived before (or a server that is
 * not a Node one) falls back to the core's `unknown` IP bucket when its address is gone.
 */
export function watchAddresses(server: unknown): void {
  if (!server || typeof server !== 'object' || watched.has(server)) return;
  const s = server as ServerLike;
  if (typeof s.prependListener !== 'function') return;
  watched.add(server);
  s.prependListener('request', (req) => {
    void req.socket?.remoteAddress;
  });
}

/** What an adapter's setup gives: the core's options, and whether the limiter was built for it. */
export interface AdapterSetup<Req> {
  core: HttpLimiterOptions<Req>;
  /** Whether the middleware built its limiter (and closes it). */
  owned: boolean;
}

/**
 * Validates an adapter's options (unknown keys, wrong types, a plain Limiter as `limiter`: errors at
 * setup) and resolves its limiter (the caller's, or one built from inline limits or a document).
 */
export function setupAdapter<Req>(
  options: AdapterOptions<Req>,
  field: string,
  extra: readonly string[],
  ignored: readonly string[] = [],
): AdapterSetup<Req> {
  validateAdapterOptions(options, field, extra, ignored);
  const resolved = resolveLimiter(options);
  const core: HttpLimiterOptions<Req> = { ...options, limiter: resolved.limiter };
  if (resolved.implicitTenant) core.implicitTenant = true;
  for (const key of ['limit', 'window', 'algorithm', 'limits', 'config', 'store']) {
    delete (core as unknown as Record<string, unknown>)[key];
  }
  return { core, owned: resolved.owned };
}

/** Closes a limiter the middleware built (one passed in is the caller's to close). */
export async function closeOwned(
  limiter: PolicyLimiter | Promise<PolicyLimiter>,
  owned: boolean,
): Promise<void> {
  if (!owned) return;
  const built = await Promise.resolve(limiter).catch(() => undefined);
  await built?.close();
}
