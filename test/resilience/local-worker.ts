/**
 * Child process for local-fleet.test.ts: one limiter instance of a fleet, with failureMode 'local' and
 * its share of the limit, on a Redis that is (or goes) down.
 * Usage: node --import tsx test/resilience/local-worker.ts '<LocalWorkerConfig as JSON>'
 *
 * Protocol on stdio (as test/concurrency/worker.ts): prints `ready` (after connecting, if asked to), waits
 * for a `go` line on stdin, fires `requests` limit() calls at once, prints one JSON line
 * ({@link LocalWorkerReport}) and exits 0. Any error goes to stderr with exit code 1.
 */
import { createInterface } from 'node:readline';
import { createLimiter, type LimitDefinition, RedisStore } from '../../src/index.js';
import { warmUp } from './support.js';

export interface LocalWorkerConfig {
  url: string;
  prefix: string;
  tenant: string;
  key: string;
  limits: LimitDefinition[];
  instances: number;
  requests: number;
  /** Connect (one store decision) before reporting ready: the server is then killed under a live client. */
  connectFirst: boolean;
}

export interface LocalWorkerReport {
  pid: number;
  admitted: number;
  /** How many decisions took each path, and why the store could not decide. */
  paths: Record<string, number>;
  reasons: Record<string, number>;
  storeErrors: Record<string, number>;
  /** Slowest decision, ms. */
  maxLatencyMs: number;
  /** When connectFirst: peeks that failed over before the new client's store decided (cold start). */
  coldStartFailovers?: number;
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('usage: local-worker.ts <json config>');
  const config = JSON.parse(raw) as LocalWorkerConfig;
  const store = new RedisStore({ url: config.url });
  const limiter = createLimiter({
    store,
    limits: config.limits,
    prefix: config.prefix,
    failureMode: 'local',
    localShare: { instances: config.instances },
  });
  try {
    let coldStartFailovers: number | undefined;
    if (config.connectFirst) {
      // Peeks on another tenant until the store decides: connected and the script loaded, nothing of the
      // counted key touched.
      coldStartFailovers = (await warmUp(limiter, { tenant: `${config.tenant}-warmup`, key: config.key }))
        .failedOver;
    }
    await waitForGo();
    const count = (into: Record<string, number>, k: string | undefined) => {
      const key = String(k);
      into[key] = (into[key] ?? 0) + 1;
    };
    const paths: Record<string, number> = {};
    const reasons: Record<string, number> = {};
    const storeErrors: Record<string, number> = {};
    let maxLatencyMs = 0;
    const decisions = await Promise.all(
      Array.from({ length: config.requests }, async () => {
        const started = performance.now();
        const d = await limiter.limit({ tenant: config.tenant, key: config.key });
        maxLatencyMs = Math.max(maxLatencyMs, performance.now() - started);
        return d;
      }),
    );
    for (const d of decisions) {
      count(paths, d.path);
      count(reasons, d.reason);
      count(storeErrors, d.storeError?.code);
    }
    const report: LocalWorkerReport = {
      pid: process.pid,
      admitted: decisions.filter((d) => d.allowed).length,
      paths,
      reasons,
      storeErrors,
      maxLatencyMs: Math.round(maxLatencyMs),
    };
    if (coldStartFailovers !== undefined) report.coldStartFailovers = coldStartFailovers;
    await new Promise<void>((resolve) =>
      process.stdout.write(`${JSON.stringify(report)}\n`, () => resolve()),
    );
  } finally {
    // The server is down: do not wait for a QUIT that cannot be answered.
    store.client.disconnect();
  }
}

/** Prints `ready` and resolves on the first `go` line; rejects if stdin closes first (parent gone). */
function waitForGo(): Promise<void> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: process.stdin });
    let go = false;
    lines.on('line', (line) => {
      if (line.trim() === 'go') {
        go = true;
        lines.close();
        resolve();
      }
    });
    lines.on('close', () => {
      if (!go) reject(new Error('stdin closed before the start signal'));
    });
    process.stdout.write('ready\n');
  });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`worker ${process.pid} failed: ${error instanceof Error ? error.stack : error}\n`);
    process.exit(1);
  },
);
