/**
 * Child process for processes.test.ts: one OS process with its own RedisStore (its own connection) and
 * its own limiter. Usage: node --import tsx test/concurrency/worker.ts '<WorkerConfig as JSON>'
 *
 * Protocol on stdio: once connected it prints `ready`; it then waits for a `go <epoch ms>` line on stdin
 * (the parent sends it once every worker is ready), waits until that instant, so that all processes fire
 * together however late each one read its stdin, fires `requests` limit() calls at once (all in flight,
 * Promise.all), prints one JSON line ({@link WorkerReport}) and exits 0. Any error goes to stderr with
 * exit code 1.
 */
import { createInterface } from 'node:readline';
import { createLimiter, type LimitDefinition, RedisStore } from '../../src/index.js';

export interface WorkerConfig {
  /** Standalone server URL, or... */
  url?: string;
  /** ...the startup nodes of a Redis Cluster. */
  clusterNodes?: Array<{ host: string; port: number }>;
  prefix: string;
  tenant: string;
  key: string;
  limits: LimitDefinition[];
  /** limit() calls fired concurrently. */
  requests: number;
  /** Cost of each call (default 1). */
  cost?: number;
}

export interface WorkerReport {
  pid: number;
  admitted: number;
  rejected: number;
  /** Ms from the start signal until every call had resolved. */
  burstMs: number;
  /** Epoch ms (fractional) at which the burst started and at which its last call resolved. */
  startedAt: number;
  endedAt: number;
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('usage: worker.ts <json config>');
  const config = JSON.parse(raw) as WorkerConfig;
  const store = config.clusterNodes
    ? new RedisStore({ cluster: { nodes: config.clusterNodes } })
    : new RedisStore({ url: config.url as string });
  const limiter = createLimiter({ limits: config.limits, store, prefix: config.prefix });
  try {
    // Connect (and, for a cluster, load the slot map) before reporting ready, so that the burst below
    // measures contention on the limiter, not connection setup.
    await store.client.ping();
    // Warm up: a peek (cost 0) for another tenant compiles the decision path and loads the script, so
    // that the burst is not slowed down, and spread out, by first-call work. It touches no key we count.
    await limiter.peek({ tenant: `${config.tenant}-warmup`, key: config.key });
    await waitUntil(await waitForGo());
    const started = performance.now();
    const decisions = await Promise.all(
      Array.from({ length: config.requests }, () =>
        limiter.limit({ tenant: config.tenant, key: config.key, cost: config.cost ?? 1 }),
      ),
    );
    const ended = performance.now();
    const admitted = decisions.filter((d) => d.allowed).length;
    const report: WorkerReport = {
      pid: process.pid,
      admitted,
      rejected: decisions.length - admitted,
      burstMs: Math.round(ended - started),
      startedAt: performance.timeOrigin + started,
      endedAt: performance.timeOrigin + ended,
    };
    await new Promise<void>((resolve) =>
      process.stdout.write(`${JSON.stringify(report)}\n`, () => resolve()),
    );
  } finally {
    await limiter.close();
  }
}

/**
 * Prints `ready` and resolves with the start instant of the first `go <epoch ms>` line (now, for a bare
 * `go`); rejects if stdin closes first (parent gone).
 */
function waitForGo(): Promise<number> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: process.stdin });
    let go = false;
    lines.on('line', (line) => {
      const match = /^go(?:\s+(\d+(?:\.\d+)?))?$/.exec(line.trim());
      if (match) {
        go = true;
        lines.close();
        resolve(match[1] === undefined ? epochNow() : Number(match[1]));
      }
    });
    lines.on('close', () => {
      if (!go) reject(new Error('stdin closed before the start signal'));
    });
    process.stdout.write('ready\n');
  });
}

const epochNow = () => performance.timeOrigin + performance.now();

/** Sleeps until `at` (epoch ms): a timer for the bulk, then a spin of at most ~2 ms for precision. */
async function waitUntil(at: number): Promise<void> {
  const coarse = at - epochNow() - 2;
  if (coarse > 0) await new Promise((resolve) => setTimeout(resolve, coarse));
  while (epochNow() < at) {
    // spin
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`worker ${process.pid} failed: ${error instanceof Error ? error.stack : error}\n`);
    process.exit(1);
  },
);
