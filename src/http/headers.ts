import type { Decision } from '../core/types.js';
import { decidedByStore } from '../engine/decision.js';

/** Which header families to send. All on by default except `ietf`'s optional items. */
export interface HeaderOptions {
  /** X-RateLimit-Limit / -Remaining / -Reset (epoch seconds, the multi-window API limiter, the API + LLM limiter) / -Type (binding window). */
  legacy?: boolean;
  /** The IETF `RateLimit` and `RateLimit-Policy` fields (draft-ietf-httpapi-ratelimit-headers), one item per limit. */
  ietf?: boolean;
  /** X-RateLimit-Tenant and X-RateLimit-Tier (the tenant-tier limiter). */
  tenant?: boolean;
  /** X-Rate-Limit-Backend (the multi-window API limiter): which store (or failure path) decided. */
  backend?: boolean;
  /** X-RateLimit-Shadow-Rejected: shadow policies that would have rejected the request. */
  shadow?: boolean;
}

/** What Node and the Fetch API's Headers accept in a header value (bytes 0x80-0xff as Latin-1). */
const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** What the headers are computed from: a Decision, with the policy layer's extras when present. */
export type HeaderSource = Decision & { tier?: string; shadowRejections?: string[] };

/**
 * The rate-limit response headers of a decision. `Retry-After` (seconds) is sent on every rejection
 * (429 and 503) whatever the options.
 *
 * Names are lowercase, as HTTP/2 sends them and Node stores them: header names are case-insensitive
 * (RFC 9110), and a lowercase name spares the framework and Node a lowercased copy per header per
 * response (measured: about 3 µs of server CPU per Fastify response with the default nine).
 */
export function rateLimitHeaders(
  d: HeaderSource,
  now: number,
  options: HeaderOptions = {},
  unsendable?: (name: string) => void,
): Record<string, string> {
  const headers: Record<string, string> = {};
  // On a failure path nothing was counted: quota headers would be made up, so only Retry-After is sent.
  const counted = decidedByStore(d) || d.path === 'local';
  const limited = counted && Number.isFinite(d.binding.limit);
  if (options.legacy !== false && limited) {
    headers['x-ratelimit-limit'] = String(d.binding.limit);
    headers['x-ratelimit-remaining'] = String(Math.max(0, d.remaining));
    headers['x-ratelimit-reset'] = String(Math.ceil(d.resetAt / 1000));
    text(headers, 'x-ratelimit-type', d.binding.name, unsendable);
  }
  if (options.ietf !== false && counted && d.limits.length > 0) {
    let policy = '';
    let state = '';
    for (const l of d.limits) {
      const sep = policy === '' ? '' : ', ';
      const item = policyItem(l);
      policy += sep + item.policy;
      state += `${sep}${item.name};r=${Math.max(0, l.remaining)};t=${Math.max(0, Math.ceil((l.resetAt - now) / 1000))}`;
    }
    headers['ratelimit-policy'] = policy;
    headers.ratelimit = state;
  }
  if (options.tenant !== false) {
    text(headers, 'x-ratelimit-tenant', d.tenant, unsendable);
    if (d.tier !== undefined) text(headers, 'x-ratelimit-tier', d.tier, unsendable);
  }
  if (options.backend !== false) headers['x-rate-limit-backend'] = backendLabel(d);
  if (options.shadow !== false && d.shadowRejections && d.shadowRejections.length > 0) {
    text(headers, 'x-ratelimit-shadow-rejected', d.shadowRejections.join(', '), unsendable);
  }
  if (!d.allowed) headers['retry-after'] = String(retryAfterSeconds(d));
  return headers;
}

/**
 * Values made of names or identifiers (the rest are numbers or sanitised RFC 8941 Strings) are sent
 * only if HTTP can carry them: a tenant id from the context may hold anything. Left out, and told.
 */
function text(
  headers: Record<string, string>,
  name: string,
  value: string,
  unsendable: ((name: string) => void) | undefined,
): void {
  if (!INVALID_HEADER_VALUE.test(value)) headers[name] = value;
  else unsendable?.(name);
}

/** Seconds for Retry-After: never earlier than the decision allows (rounded up), at least 1. */
export function retryAfterSeconds(d: Decision): number {
  if (!Number.isFinite(d.retryAfterMs)) return Math.max(1, Math.ceil((d.binding.windowMs || 60_000) / 1000));
  return Math.max(1, Math.ceil(d.retryAfterMs / 1000));
}

/** The multi-window API limiter's backend label. */
export function backendLabel(d: Decision): string {
  if (d.path === 'local') return 'local-fallback';
  if (d.path === 'fail-open') return 'fail-open';
  if (d.path === 'fail-closed') return 'unavailable';
  return d.backend === 'redis' ? 'redis-distributed' : d.backend;
}

interface PolicyItem {
  /** What the item was made from: reused only while they match. */
  quota: number;
  windowMs: number;
  concurrent: boolean;
  /** The limit's name as an RFC 8941 String. */
  name: string;
  /** Its RateLimit-Policy item. */
  policy: string;
}

/**
 * RateLimit-Policy items by limit name. Limits come from the configuration, so a few names recur on
 * every response: each item (and its quoted name) is built once, not per response. Bounded all the same.
 */
const policyItems = new Map<string, PolicyItem>();
const MAX_POLICY_ITEMS = 1024;

function policyItem(l: Decision['limits'][number]): PolicyItem {
  // A token bucket's quota is its sustained rate (refill per window), not its burst.
  const quota = l.refill ?? l.limit;
  const concurrent = l.algorithm === 'concurrency';
  let item = policyItems.get(l.name);
  if (item && item.quota === quota && item.windowMs === l.windowMs && item.concurrent === concurrent) {
    return item;
  }
  const name = sfString(l.name);
  const unit = concurrent ? ';qu="concurrent-requests"' : '';
  const policy = `${name};q=${quota};w=${Math.max(1, Math.ceil(l.windowMs / 1000))}${unit}`;
  item = { quota, windowMs: l.windowMs, concurrent, name, policy };
  if (policyItems.size >= MAX_POLICY_ITEMS) policyItems.clear();
  policyItems.set(l.name, item);
  return item;
}

/** An RFC 8941 String: quoted, with `"` and `\` escaped; other non-printable characters dropped. */
function sfString(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, '').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}
