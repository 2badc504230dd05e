import type { Decision } from '../core/types.js';

/** Which header families to send. All on by default except `ietf`'s optional items. */
export interface HeaderOptions {
  /** X-RateLimit-Limit / -Remaining / -Reset (epoch seconds, seeds 001 and 004) / -Type (binding window). */
  legacy?: boolean;
  /** The IETF `RateLimit` and `RateLimit-Policy` fields (draft-ietf-httpapi-ratelimit-headers), one item per limit. */
  ietf?: boolean;
  /** X-RateLimit-Tenant and X-RateLimit-Tier (seed 003). */
  tenant?: boolean;
  /** X-Rate-Limit-Backend (seed 001): which store (or failure path) decided. */
  backend?: boolean;
  /** X-RateLimit-Shadow-Rejected: shadow policies that would have rejected the request. */
  shadow?: boolean;
}

/** What the headers are computed from: a Decision, with the policy layer's extras when present. */
export type HeaderSource = Decision & { tier?: string; shadowRejections?: string[] };

/**
 * The rate-limit response headers of a decision. `Retry-After` (seconds) is sent on every rejection
 * (429 and 503) whatever the options.
 */
export function rateLimitHeaders(
  d: HeaderSource,
  now: number,
  options: HeaderOptions = {},
): Record<string, string> {
  const headers: Record<string, string> = {};
  // On a failure path nothing was counted: quota headers would be made up, so only Retry-After is sent.
  const counted = d.path === 'store' || d.path === 'local';
  const limited = counted && Number.isFinite(d.binding.limit);
  if (options.legacy !== false && limited) {
    headers['X-RateLimit-Limit'] = String(d.binding.limit);
    headers['X-RateLimit-Remaining'] = String(Math.max(0, d.remaining));
    headers['X-RateLimit-Reset'] = String(Math.ceil(d.resetAt / 1000));
    headers['X-RateLimit-Type'] = d.binding.name;
  }
  if (options.ietf !== false && counted && d.limits.length > 0) {
    headers['RateLimit-Policy'] = d.limits
      .map((l) => {
        const unit = l.algorithm === 'concurrency' ? ';qu="concurrent-requests"' : '';
        // A token bucket's quota is its sustained rate (refill per window), not its burst.
        return `${sfString(l.name)};q=${l.refill ?? l.limit};w=${Math.max(1, Math.ceil(l.windowMs / 1000))}${unit}`;
      })
      .join(', ');
    headers.RateLimit = d.limits
      .map(
        (l) =>
          `${sfString(l.name)};r=${Math.max(0, l.remaining)};t=${Math.max(0, Math.ceil((l.resetAt - now) / 1000))}`,
      )
      .join(', ');
  }
  if (options.tenant !== false) {
    headers['X-RateLimit-Tenant'] = d.tenant;
    if (d.tier !== undefined) headers['X-RateLimit-Tier'] = d.tier;
  }
  if (options.backend !== false) headers['X-Rate-Limit-Backend'] = backendLabel(d);
  if (options.shadow !== false && d.shadowRejections && d.shadowRejections.length > 0) {
    headers['X-RateLimit-Shadow-Rejected'] = d.shadowRejections.join(', ');
  }
  if (!d.allowed) headers['Retry-After'] = String(retryAfterSeconds(d));
  return headers;
}

/** Seconds for Retry-After: never earlier than the decision allows (rounded up), at least 1. */
export function retryAfterSeconds(d: Decision): number {
  if (!Number.isFinite(d.retryAfterMs)) return Math.max(1, Math.ceil((d.binding.windowMs || 60_000) / 1000));
  return Math.max(1, Math.ceil(d.retryAfterMs / 1000));
}

/** Seed 001's backend label. */
export function backendLabel(d: Decision): string {
  if (d.path === 'local') return 'local-fallback';
  if (d.path === 'fail-open') return 'fail-open';
  if (d.path === 'fail-closed') return 'unavailable';
  return d.backend === 'redis' ? 'redis-distributed' : d.backend;
}

/** An RFC 8941 String: quoted, with `"` and `\` escaped; other non-printable characters dropped. */
function sfString(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, '').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}
