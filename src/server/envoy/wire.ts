import type { RlsResponse, RlsStatus } from './types.js';

/**
 * A response as @grpc/proto-loader serializes it (proto field names, enums by name, int64 seconds as
 * a string). Fields at their default are left out, as proto3 does on the wire.
 */
export function toGrpcResponse(response: RlsResponse): Record<string, unknown> {
  return {
    overall_code: response.overallCode,
    statuses: response.statuses.map(grpcStatus),
    response_headers_to_add: response.responseHeadersToAdd.map(({ key, value }) => ({ key, value })),
  };
}

function grpcStatus(s: RlsStatus): Record<string, unknown> {
  const out: Record<string, unknown> = { code: s.code, limit_remaining: s.limitRemaining };
  if (s.currentLimit) {
    out.current_limit = {
      name: s.currentLimit.name,
      requests_per_unit: s.currentLimit.requestsPerUnit,
      unit: s.currentLimit.unit ?? 'UNKNOWN',
    };
  }
  if (s.durationUntilResetMs !== undefined) {
    const ms = Math.max(0, Math.round(s.durationUntilResetMs));
    out.duration_until_reset = { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
  }
  return out;
}

/**
 * A response in proto3's JSON mapping, as envoyproxy/ratelimit's `/json` endpoint answers: lowerCamelCase
 * names, enums by name, Durations as "1.250s", fields at their default (0, empty) omitted.
 */
export function toJsonResponse(response: RlsResponse): Record<string, unknown> {
  const out: Record<string, unknown> = {
    overallCode: response.overallCode,
    statuses: response.statuses.map(jsonStatus),
  };
  if (response.responseHeadersToAdd.length > 0) out.responseHeadersToAdd = response.responseHeadersToAdd;
  return out;
}

function jsonStatus(s: RlsStatus): Record<string, unknown> {
  const out: Record<string, unknown> = { code: s.code };
  if (s.currentLimit) {
    const limit: Record<string, unknown> = {};
    if (s.currentLimit.name) limit.name = s.currentLimit.name;
    if (s.currentLimit.requestsPerUnit !== 0) limit.requestsPerUnit = s.currentLimit.requestsPerUnit;
    if (s.currentLimit.unit) limit.unit = s.currentLimit.unit;
    out.currentLimit = limit;
  }
  if (s.limitRemaining !== 0) out.limitRemaining = s.limitRemaining;
  if (s.durationUntilResetMs !== undefined) out.durationUntilReset = jsonDuration(s.durationUntilResetMs);
  return out;
}

/** proto3 JSON Duration: seconds with 0 or 3 fractional digits and an "s". */
export function jsonDuration(ms: number): string {
  const whole = Math.max(0, Math.round(ms));
  const fraction = whole % 1000;
  return `${Math.floor(whole / 1000)}${fraction === 0 ? '' : `.${String(fraction).padStart(3, '0')}`}s`;
}
