/**
 * HTTP load on the decision API: autocannon from the bench process, every request a JSON body of its
 * own (tenant and user rotated over `tenants` tenants), latency into an HDR histogram in µs. With
 * `rate`, an open loop at that many requests/s (the p99 at half of the maximum); without, as fast as
 * `connections` allow.
 */
import autocannon from 'autocannon';
import { build } from 'hdr-histogram-js';

export interface HttpLoadOptions {
  url: string;
  /** `/v1/check` (a query allowed, e.g. `?answer=compact`) or `/v1/check/batch`. */
  path: string;
  connections: number;
  seconds: number;
  tenants: number;
  /** Decisions per request (a batch); 1 for /v1/check. */
  batch: number;
  /** Requests/s in all (open loop); undefined: closed loop, as fast as it goes. */
  rate?: number;
}

export interface LoadFigures {
  decisionsPerSec: number;
  requestsPerSec: number;
  p50Us: number;
  p99Us: number;
  non2xx: number;
  errors: number;
}

/** The request contexts of the bench: tenant t<i mod tenants>, user u<i mod 997>. */
export function contextOf(i: number, tenants: number): { tenant: string; user: string } {
  return { tenant: `t${i % tenants}`, user: `u${i % 997}` };
}

export function runHttpLoad(o: HttpLoadOptions): Promise<LoadFigures> {
  const histogram = build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
  let next = 0;
  const body = (): string => {
    if (o.batch === 1) return JSON.stringify(contextOf(next++, o.tenants));
    const requests = Array.from({ length: o.batch }, () => contextOf(next++, o.tenants));
    return JSON.stringify({ requests });
  };
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: o.url + o.path,
        method: 'POST',
        connections: o.connections,
        duration: o.seconds,
        headers: { 'content-type': 'application/json' },
        ...(o.rate ? { overallRate: o.rate } : {}),
        requests: [{ method: 'POST', setupRequest: (req) => ({ ...req, body: body() }) }],
      },
      (error: unknown, result: autocannon.Result) => {
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        const requestsPerSec = result.requests.total / result.duration;
        resolve({
          decisionsPerSec: requestsPerSec * o.batch,
          requestsPerSec,
          p50Us: histogram.getValueAtPercentile(50),
          p99Us: histogram.getValueAtPercentile(99),
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts,
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, ms) => {
      histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
    });
  });
}
