/** A decision as the service answers it: the whole decision, and what a gateway copies to its client. */
import type { Decision } from '../core/types.js';
import { statusOf } from '../http/bodies.js';
import { rateLimitHeaders } from '../http/headers.js';

export interface Verdict {
  allowed: boolean;
  /** The status a gateway should answer its client: 200, 429 (limited, blocked) or 503 (store down, failing closed). */
  status: number;
  decision: Decision;
  /** IETF RateLimit and RateLimit-Policy, legacy X-RateLimit-*, tenant, backend and Retry-After. */
  headers: Record<string, string>;
}

/** The compact answer (`?answer=compact`): only what a gateway copies to its client. */
export type CompactVerdict = Pick<Verdict, 'allowed' | 'status' | 'headers'>;

export function verdictOf(decision: Decision, now = Date.now()): Verdict {
  return {
    allowed: decision.allowed,
    status: decision.allowed ? 200 : statusOf(decision),
    decision,
    headers: rateLimitHeaders(decision, now),
  };
}

export function compactVerdictOf(decision: Decision, now = Date.now()): CompactVerdict {
  return {
    allowed: decision.allowed,
    status: decision.allowed ? 200 : statusOf(decision),
    headers: rateLimitHeaders(decision, now),
  };
}
