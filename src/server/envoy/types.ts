import type { Unit } from './units.js';

/** One key/value pair of a descriptor. */
export interface DescriptorEntry {
  key: string;
  value: string;
}

/** A descriptor of a rate limit request, validated. */
export interface RlsDescriptor {
  entries: DescriptorEntry[];
  /** A limit Envoy sends for this descriptor, replacing the configured one. */
  limit?: { requestsPerUnit: number; unit: Unit };
  /** This descriptor's own hits (0 already read as 1); absent: the request's. */
  hitsAddend?: number;
}

/** A rate limit request (envoy.service.ratelimit.v3.RateLimitRequest), validated. */
export interface RlsRequest {
  domain: string;
  descriptors: RlsDescriptor[];
  /** The request's hits, 0 already read as 1. */
  hitsAddend: number;
}

export type RlsCode = 'OK' | 'OVER_LIMIT';

/** The limit a descriptor was decided against (RateLimitResponse.RateLimit). */
export interface RlsLimit {
  name: string;
  requestsPerUnit: number;
  unit?: Unit;
}

/** One descriptor's outcome (RateLimitResponse.DescriptorStatus). */
export interface RlsStatus {
  code: RlsCode;
  currentLimit?: RlsLimit;
  limitRemaining: number;
  /** Absent for descriptors without a limit. */
  durationUntilResetMs?: number;
}

/** A rate limit response (envoy.service.ratelimit.v3.RateLimitResponse), before its wire form. */
export interface RlsResponse {
  overallCode: RlsCode;
  /** One per descriptor of the request, in its order. */
  statuses: RlsStatus[];
  responseHeadersToAdd: Array<{ key: string; value: string }>;
}

/** Largest uint32: what envoyproxy/ratelimit reports as the remaining quota of `unlimited` descriptors. */
export const MAX_UINT32 = 4_294_967_295;
