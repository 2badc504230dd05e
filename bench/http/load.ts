/**
 * One autocannon run against one server. Latency of every response (2xx or not) goes into our own HDR
 * histogram in microseconds (autocannon's own keeps whole milliseconds, too coarse for a p99 ratio).
 * With one tenant every request sends `X-Tenant-ID: bench`; with more, the header rotates per request
 * over `t0` ... `t<tenants - 1>` (one counter shared by all connections, so requests in flight at once
 * name different tenants, as a busy multi-tenant API's do).
 */
import autocannon from 'autocannon';
import { build } from 'hdr-histogram-js';
import { TENANT, TENANT_HEADER } from './config.js';

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  /** 1: the one tenant `bench`; more: the tenant header rotated per request over this many. */
  tenants: number;
}

export interface LoadResult {
  requests: number;
  requestsPerSec: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  non2xx: number;
  /** Responses by status code, when any was not 2xx (e.g. { "503": 63 }). */
  non2xxStatuses?: Record<string, number>;
  errors: number;
  timeouts: number;
  elapsedMs: number;
}

export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const histogram = build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
  let responses = 0;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.seconds,
        pipelining: 1,
        headers: { [TENANT_HEADER]: TENANT },
        ...(options.tenants > 1 ? { requests: [{ setupRequest: rotatingTenant(options.tenants) }] } : {}),
      },
      (error: unknown, result: autocannon.Result) => {
        if (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        const elapsedMs = performance.now() - started;
        const non2xxStatuses = Object.fromEntries(
          Object.entries(result.statusCodeStats ?? {})
            .filter(([status]) => !status.startsWith('2'))
            .map(([status, stat]) => [status, stat.count ?? 0]),
        );
        resolve({
          requests: responses,
          // Completed responses over autocannon's own measured duration (10 ms resolution).
          requestsPerSec: result.requests.total / result.duration,
          p50Us: histogram.getValueAtPercentile(50),
          p99Us: histogram.getValueAtPercentile(99),
          p999Us: histogram.getValueAtPercentile(99.9),
          maxUs: histogram.maxValue,
          non2xx: result.non2xx,
          ...(result.non2xx > 0 ? { non2xxStatuses } : {}),
          errors: result.errors,
          timeouts: result.timeouts,
          elapsedMs,
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, responseTimeMs) => {
      responses++;
      histogram.recordValue(Math.max(1, Math.round(responseTimeMs * 1000)));
    });
  });
}

/**
 * autocannon rebuilds a request that has a `setupRequest` before every send: each one gets the next
 * tenant. (The rebuild costs the load generator a little; `none` pays it too, so ratios stay fair.)
 */
function rotatingTenant(tenants: number) {
  let next = 0;
  return (request: autocannon.Request): autocannon.Request => {
    request.headers = { ...request.headers, [TENANT_HEADER]: `t${next}` };
    next = (next + 1) % tenants;
    return request;
  };
}
