/**
 * Atomicity across OS processes: 4 separate Node processes (test/concurrency/worker.ts), each with its own
 * RedisStore connection and limiter, fire 64 limit() calls each, all in flight at once, against one key of
 * one real Redis (standalone, then a Redis Cluster). Exactly the limit must be admitted in total, and a
 * peek from this process must show the limit fully consumed, no more.
 */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALGORITHM_NAMES } from '../../src/algorithms/index.js';
import { type AlgorithmName, createLimiter, type LimitDefinition, RedisStore } from '../../src/index.js';
import { type RedisCluster, type RedisServer, startCluster, startRedis } from '../support/redis-servers.js';
import type { WorkerConfig, WorkerReport } from './worker.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORKER = 'test/concurrency/worker.ts';
const PROCESSES = 4;
const REQUESTS_PER_PROCESS = 64;
const CHILD_TIMEOUT_MS = 30_000;
/** Longer than CHILD_TIMEOUT_MS, so a hung child is reported with its stderr rather than as a test timeout. */
const TEST_TIMEOUT_MS = 45_000;
/** How far ahead of the start signal the workers are told to fire. */
const START_DELAY_MS = 100;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Every algorithm Sluice has: a new one is tested without touching this file. */
const ALGORITHMS = ALGORITHM_NAMES;
/** Unique per run of this file, so keys never collide with another run against the same server. */
const RUN = `${process.pid.toString(36)}${Date.now().toString(36)}`;

interface WorkerRun {
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

interface Outcome {
  reports: WorkerReport[];
  /** Requests admitted across all processes. */
  admitted: number;
  /** Slowest process: ms from its start signal until all its calls had resolved. */
  burstMs: number;
  /** Ms from spawning the processes until all had exited. */
  wallMs: number;
  /** Per-process summary (with stderr) for assertion messages. */
  summary: string;
}

/** Where the workers (and this process's own peeking store) connect. */
type Target = { url: string } | { clusterNodes: Array<{ host: string; port: number }> };

function describeRuns(runs: WorkerRun[]): string {
  return runs
    .map((r) => {
      const status = r.timedOut
        ? `killed after ${CHILD_TIMEOUT_MS} ms`
        : `exit ${r.code ?? r.signal ?? 'unknown'}`;
      const stdout = r.stdout.trim().split('\n').at(-1) ?? '';
      const stderr = r.stderr.trim() ? `\n    stderr: ${r.stderr.trim().replaceAll('\n', '\n    ')}` : '';
      return `  worker ${r.pid}: ${status}, last stdout line: ${stdout}${stderr}`;
    })
    .join('\n');
}

/** Spawns one worker; `ready` resolves when it prints `ready`, `done` when it has exited (never rejects). */
function spawnWorker(config: WorkerConfig) {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(config)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const run: WorkerRun = {
    pid: child.pid,
    code: null,
    signal: null,
    timedOut: false,
    stdout: '',
    stderr: '',
  };
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    run.stdout += chunk;
    if (/^ready$/m.test(run.stdout)) markReady();
  });
  child.stderr.on('data', (chunk: string) => {
    run.stderr += chunk;
  });
  // EPIPE when writing the start signal to a child that already died: its exit is reported through `done`.
  child.stdin.on('error', () => {});
  const timer = setTimeout(() => {
    run.timedOut = true;
    child.kill('SIGKILL');
  }, CHILD_TIMEOUT_MS);
  const done = new Promise<WorkerRun>((resolve) => {
    child.once('error', (error) => {
      run.stderr += `spawn failed: ${error.message}\n`;
      clearTimeout(timer);
      resolve(run);
    });
    child.once('close', (code, signal) => {
      run.code = code;
      run.signal = signal;
      clearTimeout(timer);
      resolve(run);
    });
  });
  return { child, ready, done };
}

/**
 * Runs PROCESSES workers with the same config: waits until every one is connected and waiting, sends all
 * of them the start signal, and collects their reports. Throws (with every worker's stderr) if any fails.
 */
async function runWorkers(config: WorkerConfig): Promise<Outcome> {
  const started = performance.now();
  const workers = Array.from({ length: PROCESSES }, () => spawnWorker(config));
  const allDone = Promise.all(workers.map((w) => w.done));
  const allReady = await Promise.race([
    Promise.all(workers.map((w) => w.ready)).then(() => true),
    Promise.race(workers.map((w) => w.done)).then(() => false),
  ]);
  if (!allReady) {
    // One worker died (or was killed) before the start signal: the others would wait forever.
    for (const w of workers) w.child.kill('SIGKILL');
    throw new Error(`a worker exited before the start signal:\n${describeRuns(await allDone)}`);
  }
  // Start signal with a start instant a little ahead, so that every process fires at the same moment
  // rather than whenever it happens to read its stdin (that skew is of the order of a whole burst).
  const startAt = performance.timeOrigin + performance.now() + START_DELAY_MS;
  for (const w of workers) w.child.stdin.end(`go ${startAt.toFixed(3)}\n`);
  const runs = await allDone;
  const wallMs = performance.now() - started;
  const summary = describeRuns(runs);
  const reports = runs.map((r) => {
    const last = r.stdout.trim().split('\n').at(-1);
    if (r.code !== 0 || last === undefined || !last.startsWith('{')) {
      throw new Error(`a worker failed:\n${summary}`);
    }
    return JSON.parse(last) as WorkerReport;
  });
  return {
    reports,
    admitted: reports.reduce((sum, r) => sum + r.admitted, 0),
    burstMs: Math.max(...reports.map((r) => r.burstMs)),
    wallMs: Math.round(wallMs),
    summary,
  };
}

function log(label: string, outcome: Outcome): void {
  const perProcess = outcome.reports.map((r) => r.admitted).join('+');
  const starts = outcome.reports.map((r) => r.startedAt);
  const overlap = Math.min(...outcome.reports.map((r) => r.endedAt)) - Math.max(...starts);
  const skew = Math.max(...starts) - Math.min(...starts);
  console.log(
    `[processes] ${label}: admitted ${outcome.admitted} (${perProcess}) of ` +
      `${PROCESSES * REQUESTS_PER_PROCESS}, slowest burst ${outcome.burstMs} ms, start skew ${skew.toFixed(1)} ms, ` +
      `all ${PROCESSES} bursts overlapping for ${overlap.toFixed(1)} ms, wall ${outcome.wallMs} ms`,
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Fixed and sliding windows are aligned to the epoch (UTC day / hour boundaries), so a run that straddles a
 * boundary sees two windows (a fresh count, or a weighted one) and may legitimately admit more than the
 * limit. The test must therefore sit inside one window. We use '1d' unless the next UTC midnight is less
 * than 60 s away: waiting up to a minute for it is not acceptable. Then we use '1h' and, if the next hour
 * boundary is less than 5 s away, sleep until just past it (a run takes ~1-2 s, see the logged wall times),
 * so the whole run starts at the beginning of a fresh hour. Near midnight the hour boundary is the day
 * boundary, so it is the 5 s guard that protects the run there.
 */
async function epochAlignedWindow(): Promise<'1d' | '1h'> {
  if (DAY_MS - (Date.now() % DAY_MS) >= 60_000) return '1d';
  await waitForHourMargin();
  return '1h';
}

/** If the next UTC hour boundary is less than 5 s away, sleeps until just past it (see above). */
async function waitForHourMargin(): Promise<void> {
  const left = HOUR_MS - (Date.now() % HOUR_MS);
  if (left < 5_000) await sleep(left + 50);
}

/** Fails clearly (rather than with a wrong count) if a run straddled a boundary of an epoch-aligned window. */
function expectOneWindow(windowMs: number, from: number, to: number): void {
  expect(
    Math.floor(to / windowMs),
    `the run straddled a ${windowMs} ms window boundary (${new Date(from).toISOString()} .. ` +
      `${new Date(to).toISOString()}): the test cannot judge the counts`,
  ).toBe(Math.floor(from / windowMs));
}

function storeFor(target: Target): RedisStore {
  return 'url' in target
    ? new RedisStore({ url: target.url })
    : new RedisStore({ cluster: { nodes: target.clusterNodes } });
}

/** Test 1: 4 x 64 concurrent requests against one key with limit 100 admit exactly 100. */
async function expectExactlyTheLimit(
  target: Target,
  parentStore: RedisStore,
  algorithm: AlgorithmName,
  label: string,
): Promise<void> {
  const aligned = algorithm === 'fixed-window' || algorithm === 'sliding-window';
  // Token bucket: 100 per day refills one token every 864 s, negligible during the run. Concurrency: the
  // window is the lease TTL; leases are never released.
  const window = aligned ? await epochAlignedWindow() : '1d';
  const limits: LimitDefinition[] = [{ name: 'l', algorithm, limit: 100, window }];
  const prefix = `proc-${RUN}`;
  const tenant = `${label}-${algorithm}`;
  const from = Date.now();
  const outcome = await runWorkers({
    ...target,
    prefix,
    tenant,
    key: 'k',
    limits,
    requests: REQUESTS_PER_PROCESS,
  });
  const peek = await createLimiter({ limits, store: parentStore, prefix }).peek({ tenant, key: 'k' });
  if (aligned) expectOneWindow(window === '1d' ? DAY_MS : HOUR_MS, from, Date.now());
  log(`${label} ${algorithm} (${window})`, outcome);
  expect(outcome.admitted, `admitted across processes:\n${outcome.summary}`).toBe(100);
  expect(peek.limits[0]!.remaining, `remaining after the run: ${JSON.stringify(peek.limits)}`).toBe(0);
  expect(peek.remaining).toBe(0);
}

describe('atomicity across processes: one Redis', () => {
  let server: RedisServer;
  let parentStore: RedisStore;

  beforeAll(async () => {
    server = await startRedis();
    parentStore = storeFor({ url: server.url });
  });
  afterAll(async () => {
    await parentStore?.close();
    await server?.stop();
  });

  it.each(ALGORITHMS)(
    '%s: 4 processes x 64 in flight admit exactly the limit (100)',
    async (algorithm) => {
      await expectExactlyTheLimit({ url: server.url }, parentStore, algorithm, 'single');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'several limits at once: admitted only within all of them, rejections charge nothing',
    async () => {
      // b and d are epoch-aligned 1h windows: keep the run inside one hour (see epochAlignedWindow).
      await waitForHourMargin();
      const limits: LimitDefinition[] = [
        { name: 'a', algorithm: 'sliding-log', limit: 50, window: '1d' },
        { name: 'b', algorithm: 'fixed-window', limit: 80, window: '1h' },
        { name: 'c', algorithm: 'token-bucket', limit: 60, window: '1d', scope: 'tenant' },
        { name: 'd', algorithm: 'sliding-window', limit: 70, window: '1h' },
      ];
      const prefix = `proc-${RUN}`;
      const tenant = 'single-multi';
      const from = Date.now();
      const outcome = await runWorkers({
        url: server.url,
        prefix,
        tenant,
        key: 'k',
        limits,
        requests: REQUESTS_PER_PROCESS,
      });
      const peek = await createLimiter({ limits, store: parentStore, prefix }).peek({ tenant, key: 'k' });
      expectOneWindow(HOUR_MS, from, Date.now());
      log('single multi-limit (a=50, b=80, c=60, d=70)', outcome);
      expect(outcome.admitted, `admitted across processes:\n${outcome.summary}`).toBe(50);
      const remaining = Object.fromEntries(peek.limits.map((l) => [l.name, l.remaining]));
      expect(remaining, `limits after the run: ${JSON.stringify(peek.limits)}`).toEqual({
        a: 0,
        b: 30,
        c: 10,
        d: 20,
      });
      // Each limit consumed exactly the 50 admitted requests: nothing for the 206 rejected ones.
      for (const l of peek.limits) expect(l.limit - l.remaining, `consumed on ${l.name}`).toBe(50);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'weighted requests: cost 3 against 100 admits exactly 33 (99 units)',
    async () => {
      const limits: LimitDefinition[] = [{ name: 'w', algorithm: 'sliding-log', limit: 100, window: '1d' }];
      const prefix = `proc-${RUN}`;
      const tenant = 'single-weighted';
      const outcome = await runWorkers({
        url: server.url,
        prefix,
        tenant,
        key: 'k',
        limits,
        requests: REQUESTS_PER_PROCESS,
        cost: 3,
      });
      const peek = await createLimiter({ limits, store: parentStore, prefix }).peek({ tenant, key: 'k' });
      log('single weighted (cost 3, limit 100)', outcome);
      expect(outcome.admitted, `admitted across processes:\n${outcome.summary}`).toBe(33);
      expect(peek.limits[0]!.remaining, `limits after the run: ${JSON.stringify(peek.limits)}`).toBe(1);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('atomicity across processes: Redis Cluster', () => {
  let cluster: RedisCluster;
  let parentStore: RedisStore;
  let target: Target;

  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
    target = { clusterNodes: cluster.startupNodes };
    parentStore = storeFor(target);
  });
  afterAll(async () => {
    await parentStore?.close();
    await cluster?.stop();
  });

  it.each(['sliding-log', 'token-bucket'] as const)(
    '%s: 4 processes x 64 in flight admit exactly the limit (100)',
    async (algorithm) => {
      await expectExactlyTheLimit(target, parentStore, algorithm, 'cluster');
    },
    TEST_TIMEOUT_MS,
  );
});
