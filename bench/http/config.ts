/**
 * What the HTTP bench compares: per framework, a hello-world server with no limiter (`none`), with the
 * Sluice middleware (`sluice`) and with the framework's usual Redis-backed limiter (`incumbent`), all on
 * the bench's own Redis. Every limit is 1e9 per window, so no request is ever rejected and the admitting
 * path is what is measured.
 */

export const FRAMEWORKS = ['express', 'fastify', 'hono'] as const;
export type Framework = (typeof FRAMEWORKS)[number];

/**
 * `sluice-legacy`: Sluice with only the legacy header family (4 headers, like the incumbents' 3-4),
 * to tell what the decision costs from what the default nine headers cost. The target is judged on
 * `sluice`, with its default headers.
 */
export const VARIANTS = ['none', 'sluice', 'sluice-legacy', 'incumbent'] as const;
export type Variant = (typeof VARIANTS)[number];

/** Every Redis key the bench writes starts with this (found and deleted by SCAN on an external Redis). */
export const KEY_ROOT = 'sluice-bench-http';
/** Never reached: every request is admitted. */
export const HUGE = 1_000_000_000;
/** The tenant header the load generator sends and the limiters key by. */
export const TENANT_HEADER = 'X-Tenant-ID';
export const TENANT = 'bench';
export const BODY = 'hello world';
export const HOST = '127.0.0.1';

/** The framework's incumbent Redis-backed limiter; null when our dev dependencies have none. */
export const INCUMBENTS: Record<Framework, { name: string; what: string } | null> = {
  express: {
    name: 'express-rate-limit',
    what: 'express-rate-limit + rate-limit-redis (ioredis `call` as sendCommand), 1e9 per 1 min fixed window, keyed by X-Tenant-ID, default headers',
  },
  fastify: {
    name: '@fastify/rate-limit',
    what: '@fastify/rate-limit with `redis` (an ioredis client), 1e9 per 1 min fixed window, keyed by X-Tenant-ID, default headers',
  },
  hono: {
    name: 'hono-rate-limiter',
    what: "hono-rate-limiter with its RedisStore (ioredis behind the store's `scriptLoad`/`evalsha` client interface), 1e9 per 1 min fixed window, keyed by X-Tenant-ID, default headers",
  },
};

export const SLUICE_LEGACY_WHAT =
  'the same, with only the legacy header family (`headers: { ietf: false, tenant: false, backend: false }`: x-ratelimit-limit, -remaining, -reset, -type)';

export const SLUICE_WHAT =
  'Sluice middleware over PolicyLimiter.create: Redis store, one tenant policy of two windows (sliding-window 1e9 / 1s + fixed-window 1e9 / 1m) in one decision, tier policy disabled, tenant from the X-Tenant-ID header, default headers';

/** Label of a variant in the report: the incumbent is named by its package. */
export function variantLabel(framework: Framework, variant: Variant): string {
  if (variant === 'incumbent') return INCUMBENTS[framework]?.name ?? 'incumbent';
  return variant;
}

export function variantsOf(framework: Framework): Variant[] {
  return VARIANTS.filter((v) => v !== 'incumbent' || INCUMBENTS[framework] !== null);
}

export function isFramework(value: string | undefined): value is Framework {
  return (FRAMEWORKS as readonly string[]).includes(value ?? '');
}

export function isVariant(value: string | undefined): value is Variant {
  return (VARIANTS as readonly string[]).includes(value ?? '');
}
