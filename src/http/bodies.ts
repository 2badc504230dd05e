import type { Decision } from '../core/types.js';
import { retryAfterSeconds } from './headers.js';

/** The body of a 429 / 503: the API + LLM limiter's JSON, RFC 9457 problem details (the tenant-tier limiter), or your own. */
export type BodyFormat =
  | 'json'
  | 'problem'
  | ((d: Decision, status: number) => { contentType: string; body: string });

/** HTTP status of a rejected decision: 503 when the store could not decide and the policy fails closed. */
export function statusOf(d: Decision): 429 | 503 {
  return d.reason === 'store_unavailable' ? 503 : 429;
}

export function rejectionBody(
  d: Decision,
  format: BodyFormat = 'json',
  instance?: string,
): { status: number; contentType: string; body: string } {
  const status = statusOf(d);
  if (typeof format === 'function') return { status, ...format(d, status) };
  const retryAfter = retryAfterSeconds(d);
  if (format === 'problem') {
    const unavailable = status === 503;
    const problem: Record<string, unknown> = {
      type: `https://iana.org/assignments/http-problem-types#${unavailable ? 'temporary-reduced-capacity' : 'quota-exceeded'}`,
      title: unavailable ? 'Rate limiter unavailable' : 'Rate Limit Exceeded',
      status,
      detail: unavailable
        ? 'The rate limiter cannot decide right now; retry later.'
        : `Too many requests for tenant ${d.tenant}`,
      retry_after: retryAfter,
    };
    if (!unavailable) problem['violated-policies'] = d.limits.filter((l) => !l.allowed).map((l) => l.name);
    if (instance !== undefined) problem.instance = instance;
    return { status, contentType: 'application/problem+json', body: JSON.stringify(problem) };
  }
  const body = {
    error: {
      code: status === 503 ? 'RATE_5003' : 'RATE_5001',
      message: status === 503 ? 'Rate limiter unavailable' : 'Rate limit exceeded',
      details: {
        limit: Number.isFinite(d.binding.limit) ? d.binding.limit : null,
        window_seconds: Math.ceil(d.binding.windowMs / 1000),
        reset_at: Math.ceil(d.resetAt / 1000),
        retry_after: retryAfter,
      },
    },
  };
  return { status, contentType: 'application/json', body: JSON.stringify(body) };
}
