/**
 * One autocannon run against one server. Latency of every response (2xx or not) goes into our own HDR
 * histogram in microseconds (autocannon's own keeps whole milliseconds, too coarse for a p99 ratio).
 */
import autocannon from 'autocannon';
import { build } from 'hdr-histogram-js';
import { TENANT, TENANT_HEADER } from './config.js';

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
}

export interface LoadResult {
  requests: number;
  requestsPerSec: number;
  p50Us: number;
  p99Us: number;
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
