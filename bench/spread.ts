/**
 * Decisions per second, latency and CPU per decision when decisions spread over many keys and tenants
 * (issue 13): the decisions bench decides on one key, so every decision coalesces with the last; this
 * one measures, in one run, each contender under each key spread of spread-keys.ts (uniform over 10,000
 * and 1,000,000 keys, Zipf(1.1) over 1,000,000, a tenant per decision, a hot key 90 % rejected), the
 * physical limit (redis-benchmark, pipelined) on the same server, and the in-process limiters' memory
 * per key; then checks the issue's targets. Starts its own throwaway redis-server (or uses
 * BENCH_REDIS_URL, or the one `npm run bench` shares), prints tables and writes bench/results/spread.*.
 *
 * Defaults: 9 contenders x 5 scenarios x 3 rounds x (1 s warm-up + 2 s) ~ 7 min 20 s, plus
 * redis-benchmark (3 x 300,000 requests, seconds) and memory per key (seconds). Part of `npm run bench`.
 *
 *   npm run bench:spread
 *   BENCH_SPREAD_SECONDS=2 BENCH_SPREAD_WARMUP_SECONDS=1 BENCH_SPREAD_ROUNDS=3 BENCH_SPREAD_IN_FLIGHT=64 \
 *     BENCH_SPREAD_MEMORY_KEYS=100000 BENCH_SPREAD_RB_REQUESTS=300000 BENCH_SPREAD_RB_CLIENTS=50 npm run bench:spread
 *   REDIS_BENCHMARK_BIN=/usr/bin/redis-benchmark   (default: redis-benchmark on the PATH)
 *
 * While iterating, run only some of it (comma-separated names; default: all):
 *   BENCH_SPREAD_SCENARIOS=uniform-10k,zipf-1.1-1m BENCH_SPREAD_CONTENDERS=raw-evalsha,sluice-redis-1 \
 *     BENCH_SPREAD_RB_REQUESTS=0 npm run bench:spread        (0: no redis-benchmark)
 *   BENCH_SPREAD_VARIANTS='[{"maxBatch":64}]'   adds a sluice-redis-1 per RedisStore options object (A/B)
 */

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { type AdmissionCheck, AdmissionTracker } from './lib/admission.js';
import { KEY_ROOT } from './lib/contenders.js';
import { drive } from './lib/driver.js';
import { collector, measureProcessMemory } from './lib/process-memory.js';
import { type RedisBenchmarkRun, redisBenchmarkCommand, runRedisBenchmark } from './lib/redis-benchmark.js';
import { type BenchRedis, provideRedis } from './lib/redis-server.js';
import { deleteMatching, readCounters, subtract } from './lib/redis-stats.js';
import { textTable } from './lib/report.js';
import { machineInfo, rotate } from './lib/run-info.js';
import { DECISIONS_JSON_ENV, envNumber, maskPassword } from './lib/settings.js';
import {
  RLF_MEMORY,
  RLF_REDIS,
  SPREAD_CONTENDERS,
  type SpreadContenderFactory,
  variantContenders,
} from './lib/spread-contenders.js';
import { createScenarios, type Scenario } from './lib/spread-keys.js';
import {
  admissionTable,
  markdown,
  processMemoryTable,
  redisBenchmarkTable,
  scenarioTable,
  summaryTable,
  targetsTable,
} from './lib/spread-report.js';
import type {
  RedisBenchmarkResult,
  ScenarioResult,
  SingleKeyFigures,
  SpreadConfig,
  SpreadInfo,
  SpreadResults,
} from './lib/spread-results.js';
import { checkSpreadTargets } from './lib/spread-targets.js';
import { type RoundResult, summarize } from './lib/summary.js';

const RESULTS_JSON = fileURLToPath(new URL('./results/spread.json', import.meta.url));
const RESULTS_MD = fileURLToPath(new URL('./results/spread.md', import.meta.url));
const HUGE = 1_000_000_000;
/** Setup, teardown, FLUSHALL and settling (see settle) per measured run, for the time estimate. */
const OVERHEAD_SECONDS = 0.6;
const RB_PREFIX = `${KEY_ROOT}:spread:rb:`;
/** A whole-heap GC (see settle). */
const fullGc = collector();
/** Longer than any window of the scenarios (3 s). */
const SETTLE_MS = 3500;

const config: SpreadConfig = {
  seconds: envNumber('BENCH_SPREAD_SECONDS', 2),
  warmupSeconds: envNumber('BENCH_SPREAD_WARMUP_SECONDS', 1),
  rounds: envNumber('BENCH_SPREAD_ROUNDS', 3, true),
  inFlight: envNumber('BENCH_SPREAD_IN_FLIGHT', 64, true),
  memoryKeys: envNumber('BENCH_SPREAD_MEMORY_KEYS', 100_000, true),
  redisBenchmark: {
    bin: process.env['REDIS_BENCHMARK_BIN'] ?? 'redis-benchmark',
    // 0: no redis-benchmark (while iterating on a few contenders).
    requests:
      process.env['BENCH_SPREAD_RB_REQUESTS'] === '0'
        ? 0
        : envNumber('BENCH_SPREAD_RB_REQUESTS', 300_000, true),
    clients: envNumber('BENCH_SPREAD_RB_CLIENTS', 50, true),
  },
};

/** Each contender's one-line description, as its first run gave it. */
const WHATS = new Map<string, string>();
/** What makes a figure suspect, printed as it happens and recorded in the results. */
const WARNINGS: string[] = [];

/** Per scenario, per contender: the measured rounds and their over-admission checks. */
interface Measured {
  rounds: Map<string, Map<string, RoundResult[]>>;
  admissions: Map<string, Map<string, AdmissionCheck[]>>;
  redisBenchmark: RedisBenchmarkRun[];
  redisBenchmarkError?: string;
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const scenarios = selected('BENCH_SPREAD_SCENARIOS', createScenarios(HUGE));
  const { contenders, skipped } = availableContenders();
  printPlan(scenarios, contenders);
  const redis = await provideRedis();
  const admin = new Redis(redis.url);
  console.log(`Redis ${redis.external ? maskPassword(redis.url) : `${redis.url} (the bench's own)`}\n`);
  try {
    const measured = await measureAll(scenarios, contenders, redis, admin);
    console.log(`\nMemory per key of the in-process limiters: ${config.memoryKeys} keys each...`);
    // Past the longest window, so the last runs' timers and keys are gone and not counted as freed.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const processMemory = await measureProcessMemory(config.memoryKeys);
    const scenarioResults = scenarios.map((s) => scenarioResult(s, contenders, measured));
    const redisBenchmark = redisBenchmarkResult(measured);
    const singleKey = await readSingleKey();
    const results: SpreadResults = {
      info: await runInfo(admin, redis, startedAt),
      scenarios: withBenchmarkRatios(scenarioResults, redisBenchmark),
      redisBenchmark,
      processMemory,
      singleKey,
      targets: [],
      skipped,
      warnings: WARNINGS,
    };
    results.targets = checkSpreadTargets(results);
    printResults(results);
    await mkdir(dirname(RESULTS_JSON), { recursive: true });
    await writeFile(RESULTS_JSON, `${JSON.stringify(results, null, 2)}\n`);
    await writeFile(RESULTS_MD, markdown(results));
    console.log(
      `\nWritten: ${relative(process.cwd(), RESULTS_JSON)}, ${relative(process.cwd(), RESULTS_MD)}`,
    );
  } finally {
    if (redis.external) await deleteMatching(admin, `${KEY_ROOT}:spread:*`);
    await admin.quit();
    await redis.stop();
  }
}

/** The items named in the comma-separated list of `env` (all when unset); an unknown name is an error. */
function selected<T extends { name: string }>(env: string, all: T[]): T[] {
  const list = process.env[env];
  if (!list) return all;
  const names = list.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !all.some((item) => item.name === n));
  if (unknown.length > 0) {
    throw new Error(`${env}: unknown ${unknown.join(', ')} (known: ${all.map((i) => i.name).join(', ')})`);
  }
  return all.filter((item) => names.includes(item.name));
}

/** The contenders this build can run; the others, with why, printed as a note. */
function availableContenders() {
  const skipped: SpreadResults['skipped'] = [];
  const contenders = selected('BENCH_SPREAD_CONTENDERS', [
    ...SPREAD_CONTENDERS,
    ...variantContenders(),
  ]).filter((f) => {
    const reason = f.unavailable?.() ?? null;
    if (reason === null) return true;
    console.log(`NOTE: ${f.name} skipped: ${reason}`);
    skipped.push({ contender: f.name, reason });
    return false;
  });
  return { contenders, skipped };
}

function printPlan(scenarios: Scenario[], contenders: SpreadContenderFactory[]): void {
  const estimate = scenarios.length * contenders.length * config.rounds * runSeconds();
  console.log(
    `Spread benchmark: ${scenarios.length} scenarios x ${contenders.length} contenders x ` +
      `${config.rounds} round(s) x (${config.warmupSeconds} s warm-up + ${config.seconds} s), ` +
      `${config.inFlight} in flight: about ${formatDuration(estimate)}, plus redis-benchmark ` +
      `(${config.rounds} x ${config.redisBenchmark.requests.toLocaleString('en-US')} requests) and memory per key`,
  );
}

function runSeconds(): number {
  return config.warmupSeconds + config.seconds + OVERHEAD_SECONDS;
}

/** Every round: redis-benchmark, then every scenario with every contender (rotated). */
async function measureAll(
  scenarios: Scenario[],
  contenders: SpreadContenderFactory[],
  redis: BenchRedis,
  admin: Redis,
): Promise<Measured> {
  const measured: Measured = {
    rounds: new Map(scenarios.map((s) => [s.name, new Map(contenders.map((c) => [c.name, []]))])),
    admissions: new Map(scenarios.map((s) => [s.name, new Map(contenders.map((c) => [c.name, []]))])),
    redisBenchmark: [],
  };
  const runs = scenarios.length * contenders.length * config.rounds;
  let done = 0;
  for (let round = 1; round <= config.rounds; round++) {
    await benchmarkRound(measured, redis, admin, round);
    for (const scenario of scenarios) {
      for (const factory of rotate(contenders, round - 1)) {
        const { result, admission } = await measure(factory, scenario, redis, admin, round);
        measured.rounds.get(scenario.name)?.get(factory.name)?.push(result);
        if (admission) measured.admissions.get(scenario.name)?.get(factory.name)?.push(admission);
        checkRun(factory.name, scenario, result, admission);
        done++;
        const progress = `[${String(done).padStart(String(runs).length)}/${runs}] round ${round}`;
        printRun(progress, scenario, factory, result, (runs - done) * runSeconds());
      }
    }
  }
  return measured;
}

/** redis-benchmark once per round, on an empty server; a failure is recorded, not fatal. */
async function benchmarkRound(measured: Measured, redis: BenchRedis, admin: Redis, round: number) {
  if (measured.redisBenchmarkError || config.redisBenchmark.requests === 0) return;
  await clean(admin, redis.external);
  try {
    const run = await runRedisBenchmark(admin, redis.url, config.redisBenchmark, RB_PREFIX);
    measured.redisBenchmark.push(run);
    console.log(
      `round ${round}  redis-benchmark EVALSHA -P 16: ${integer(run.requestsPerSec)} requests/s, ` +
        `Redis CPU ${run.redisCpuUsPerRequest.toFixed(2)} µs/request`,
    );
  } catch (error) {
    measured.redisBenchmarkError = error instanceof Error ? error.message : String(error);
    warn(`redis-benchmark did not run: ${measured.redisBenchmarkError}`);
  } finally {
    await clean(admin, redis.external);
  }
}

/**
 * One contender under one scenario: a fresh contender on an empty store (FLUSHALL on the bench's own
 * server; on a BENCH_REDIS_URL server only the bench's keys are deleted, by SCAN), warm-up, then a
 * measured run bracketed by Redis counters. The scenario's key sequence restarts for every contender.
 * Under a limit below 1e9 (the hot key) every decision, warm-up included, is tallied per key.
 */
async function measure(
  factory: SpreadContenderFactory,
  scenario: Scenario,
  redis: BenchRedis,
  admin: Redis,
  round: number,
): Promise<{ result: RoundResult; admission: AdmissionCheck | null }> {
  await clean(admin, redis.external);
  scenario.reset();
  const contender = await factory.create(redis.url, scenario.limit, scenario.tenantPerKey);
  WHATS.set(contender.name, contender.what);
  const tracker =
    scenario.limit < HUGE ? new AdmissionTracker(scenario.limit, factory.longestWindowMs) : null;
  const decide = tracker
    ? () => tracker.track(scenario.next(), contender.decide)
    : () => contender.decide(scenario.next());
  try {
    await drive(decide, config.inFlight, config.warmupSeconds * 1000);
    const before = await readCounters(admin);
    const load = await drive(decide, config.inFlight, config.seconds * 1000);
    const redisCounters = subtract(await readCounters(admin), before);
    return { result: { round, ...load, redis: redisCounters }, admission: tracker?.check() ?? null };
  } finally {
    await contender.close();
    await clean(admin, redis.external);
    await settle(factory);
  }
}

/**
 * Leaves the next run a process as clean as this one found it: an in-process contender's keys stay in
 * the heap after close (rate-limiter-flexible's memory limiter also keeps one timer per key, firing up to
 * its window later), and would otherwise be collected or fire during the next contender's run. So after
 * an in-process contender, the bench waits past its longest window; after every contender, a full GC.
 */
async function settle(factory: SpreadContenderFactory): Promise<void> {
  if (factory.store === 'memory') {
    await new Promise((resolve) => setTimeout(resolve, factory.longestWindowMs + 100));
  }
  fullGc();
}

/** Warns when a run admitted less than all under 1e9, or more than the limits allow on a hot key. */
function checkRun(name: string, scenario: Scenario, result: RoundResult, admission: AdmissionCheck | null) {
  if (scenario.limit === HUGE && result.admitted < result.decisions) {
    warn(
      `${name} on ${scenario.name}: ${result.decisions - result.admitted} decisions not admitted under a ` +
        'limit of 1e9 (store errors? circuit open? store full?)',
    );
  }
  if (admission && admission.overAdmitted > 0) {
    const w = admission.worst;
    warn(
      `${name} on ${scenario.name}: OVER-ADMISSION: ${admission.overAdmitted} decisions over the limits on ` +
        `${admission.keysOverBound} keys` +
        (w
          ? ` (worst: key hot${w.key}, ${w.admitted} admitted, at most ${w.bound} allowed over ${w.spanMs} ms)`
          : ''),
    );
  }
}

function warn(message: string): void {
  console.warn(`WARNING: ${message}`);
  WARNINGS.push(message);
}

function printRun(
  prefix: string,
  scenario: Scenario,
  factory: SpreadContenderFactory,
  r: RoundResult,
  secondsLeft: number,
): void {
  const rss = process.memoryUsage().rss / 2 ** 20;
  console.log(
    `${prefix}  ${scenario.name.padEnd(20)} ${factory.name.padEnd(21)} ${integer(r.decisionsPerSec).padStart(9)}/s  ` +
      `p50 ${r.p50Us} µs  p99 ${r.p99Us} µs  p99.9 ${r.p999Us} µs  admitted ${percent(r.admitted / r.decisions)}  ` +
      `node rss ${rss.toFixed(0)} MiB  ~${formatDuration(secondsLeft)} left`,
  );
}

async function clean(admin: Redis, external: boolean): Promise<void> {
  if (external) await deleteMatching(admin, `${KEY_ROOT}:spread:*`);
  else await admin.flushall();
}

function scenarioResult(
  scenario: Scenario,
  contenders: SpreadContenderFactory[],
  measured: Measured,
): ScenarioResult {
  const summaries = summarize(
    contenders.map((f) => ({ name: f.name, what: WHATS.get(f.name) ?? '' })),
    measured.rounds.get(scenario.name) ?? new Map(),
  );
  const rate = new Map(summaries.map((s) => [s.name, s.median.decisionsPerSec]));
  const admissions = measured.admissions.get(scenario.name);
  return {
    name: scenario.name,
    what: scenario.what,
    limit: scenario.limit,
    contenders: summaries.map((s, i) => {
      const store = contenders[i]?.store ?? 'redis';
      const rlf = store === 'redis' ? RLF_REDIS : RLF_MEMORY;
      const checks = admissions?.get(s.name) ?? [];
      return {
        ...s,
        store,
        rlf,
        ratioToRlf: s.median.decisionsPerSec / (rate.get(rlf) ?? Number.NaN),
        ratioToRedisBenchmark: null,
        admission: checks.length > 0 ? mergeAdmissions(checks) : null,
      };
    }),
    peerRatios: Object.fromEntries(
      summaries.map((a) => [
        a.name,
        Object.fromEntries(
          summaries.map((b) => [b.name, a.median.decisionsPerSec / b.median.decisionsPerSec]),
        ),
      ]),
    ),
  };
}

function mergeAdmissions(checks: AdmissionCheck[]): AdmissionCheck {
  return checks.reduce((t, c) => ({
    keys: t.keys + c.keys,
    decisions: t.decisions + c.decisions,
    admitted: t.admitted + c.admitted,
    maxAdmittedPerKey: Math.max(t.maxAdmittedPerKey, c.maxAdmittedPerKey),
    limitPerWindow: c.limitPerWindow,
    keysOverLimit: t.keysOverLimit + c.keysOverLimit,
    keysOverBound: t.keysOverBound + c.keysOverBound,
    overAdmitted: t.overAdmitted + c.overAdmitted,
    worst: worse(t.worst, c.worst),
  }));
}

function worse(a: AdmissionCheck['worst'], b: AdmissionCheck['worst']): AdmissionCheck['worst'] {
  if (!a || !b) return a ?? b;
  return b.admitted - b.bound > a.admitted - a.bound ? b : a;
}

function redisBenchmarkResult(measured: Measured): RedisBenchmarkResult {
  const sorted = [...measured.redisBenchmark].sort((a, b) => a.requestsPerSec - b.requestsPerSec);
  return {
    command: redisBenchmarkCommand(config.redisBenchmark, RB_PREFIX),
    rounds: measured.redisBenchmark,
    median: sorted[Math.floor(sorted.length / 2)] ?? null,
    ...(measured.redisBenchmarkError ? { error: measured.redisBenchmarkError } : {}),
  };
}

/** Every Redis contender's median decisions/s over redis-benchmark's median requests/s. */
function withBenchmarkRatios(scenarios: ScenarioResult[], rb: RedisBenchmarkResult): ScenarioResult[] {
  const reference = rb.median?.requestsPerSec;
  return scenarios.map((s) => ({
    ...s,
    contenders: s.contenders.map((c) => ({
      ...c,
      ratioToRedisBenchmark:
        c.store === 'redis' && reference !== undefined ? c.median.decisionsPerSec / reference : null,
    })),
  }));
}

/** The single-key figures of this `npm run bench` run's decisions bench, when bench/all.ts says where. */
async function readSingleKey(): Promise<SingleKeyFigures | null> {
  const path = process.env[DECISIONS_JSON_ENV];
  if (!path) return null;
  try {
    const json = JSON.parse(await readFile(path, 'utf8')) as {
      info: { date: string };
      contenders: Array<{ name: string; median: { decisionsPerSec: number; p99Us: number } }>;
    };
    return {
      source: relative(process.cwd(), path),
      date: json.info.date,
      contenders: Object.fromEntries(
        json.contenders.map((c) => [
          c.name,
          { decisionsPerSec: c.median.decisionsPerSec, p99Us: c.median.p99Us },
        ]),
      ),
    };
  } catch (error) {
    warn(`could not read the decisions bench's results (${path}): ${String(error)}`);
    return null;
  }
}

function printResults(results: SpreadResults): void {
  console.log(
    `\nMedian round of ${config.rounds} per scenario. Redis contenders x raw-evalsha (same scenario):\n`,
  );
  console.log(textTable(summaryTable(results, 'redis')));
  console.log('\nIn-process contenders x rlf-memory (same scenario):\n');
  console.log(textTable(summaryTable(results, 'memory')));
  for (const s of results.scenarios) {
    console.log(`\n${s.name}: ${s.what}\n`);
    console.log(textTable(scenarioTable(s)));
    if (s.contenders.some((c) => c.admission !== null)) {
      console.log(`\n${s.name}: over-admission check\n`);
      console.log(textTable(admissionTable(s)));
    }
  }
  console.log('\nredis-benchmark EVALSHA -P 16 (the physical limit, for reference)\n');
  console.log(results.redisBenchmark.median ? textTable(redisBenchmarkTable(results)) : 'not measured');
  console.log('\nMemory per key, in-process limiters\n');
  console.log(textTable(processMemoryTable(results)));
  console.log('\nTargets (issue 13)\n');
  console.log(textTable(targetsTable(results)));
  if (results.warnings.length > 0)
    console.log(`\n${results.warnings.length} WARNING(S): see above and the report`);
}

async function runInfo(admin: Redis, redis: BenchRedis, startedAt: number): Promise<SpreadInfo> {
  const server = redis.external ? maskPassword(redis.url) : 'throwaway redis-server';
  // Under `npm run bench` every BENCH_* setting belongs to the command that repeats the run.
  const prefix = process.env['npm_lifecycle_event'] === 'bench' ? 'BENCH_' : 'BENCH_SPREAD_';
  return {
    ...(await machineInfo(admin, server, prefix, 'bench/spread.ts')),
    config,
    durationSeconds: (Date.now() - startedAt) / 1000,
  };
}

function integer(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1)} %`;
}

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
