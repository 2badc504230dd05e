/**
 * Decisions per second, latency and CPU per decision when decisions spread over many keys and tenants
 * (issue 13): the decisions bench decides on one key, so every decision coalesces with the last; this
 * one measures, in one run, each contender under each key spread of spread-keys.ts. Starts its own
 * throwaway redis-server (or uses BENCH_REDIS_URL), prints tables and writes bench/results/spread.*.
 *
 *   npm run bench:spread
 *   BENCH_SPREAD_SECONDS=3 BENCH_SPREAD_WARMUP_SECONDS=1 BENCH_SPREAD_ROUNDS=3 BENCH_SPREAD_IN_FLIGHT=64 npm run bench:spread
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { KEY_ROOT } from './lib/contenders.js';
import { drive } from './lib/driver.js';
import { provideRedis } from './lib/redis-server.js';
import { deleteMatching, readCounters, subtract } from './lib/redis-stats.js';
import { markdownTable, type Table, textTable } from './lib/report.js';
import { type MachineInfo, machineInfo, rotate } from './lib/run-info.js';
import { envNumber, maskPassword } from './lib/settings.js';
import {
  RLF_MEMORY,
  RLF_REDIS,
  SPREAD_CONTENDERS,
  type SpreadContenderFactory,
} from './lib/spread-contenders.js';
import { createScenarios, type Scenario } from './lib/spread-keys.js';
import { type ContenderSummary, type RoundResult, summarize } from './lib/summary.js';

const RESULTS_JSON = fileURLToPath(new URL('./results/spread.json', import.meta.url));
const RESULTS_MD = fileURLToPath(new URL('./results/spread.md', import.meta.url));
const HUGE = 1_000_000_000;
/** Setup, teardown and FLUSHALL per measured run, for the time estimate. */
const OVERHEAD_SECONDS = 0.2;

const config = {
  seconds: envNumber('BENCH_SPREAD_SECONDS', 2),
  warmupSeconds: envNumber('BENCH_SPREAD_WARMUP_SECONDS', 1),
  rounds: envNumber('BENCH_SPREAD_ROUNDS', 1, true),
  inFlight: envNumber('BENCH_SPREAD_IN_FLIGHT', 64, true),
};

/** Each contender's one-line description, as its first run gave it. */
const WHATS = new Map<string, string>();

interface SpreadRow extends ContenderSummary {
  store: 'redis' | 'memory';
  /** Median decisions/s over rlf-redis's (Redis contenders) or rlf-memory's (memory contenders). */
  ratioToRlf: number;
  rlf: string;
}

interface ScenarioResult {
  name: string;
  what: string;
  limit: number;
  contenders: SpreadRow[];
}

/** The run's machine and settings (see bench/lib/run-info.ts). */
type SpreadInfo = MachineInfo & { config: typeof config; durationSeconds: number };

interface SpreadResults {
  info: SpreadInfo;
  scenarios: ScenarioResult[];
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const scenarios = createScenarios(HUGE);
  const runs = scenarios.length * SPREAD_CONTENDERS.length * config.rounds;
  const estimate = runs * (config.warmupSeconds + config.seconds + OVERHEAD_SECONDS);
  console.log(
    `Spread benchmark: ${scenarios.length} scenarios x ${SPREAD_CONTENDERS.length} contenders x ` +
      `${config.rounds} round(s) x (${config.warmupSeconds} s warm-up + ${config.seconds} s), ` +
      `${config.inFlight} in flight: about ${formatDuration(estimate)} in all`,
  );
  const redis = await provideRedis();
  const admin = new Redis(redis.url);
  console.log(
    `Redis ${redis.external ? maskPassword(redis.url) : `${redis.url} (throwaway redis-server)`}\n`,
  );
  try {
    const rounds = new Map<string, Map<string, RoundResult[]>>(
      scenarios.map((s) => [s.name, new Map(SPREAD_CONTENDERS.map((c) => [c.name, []]))]),
    );
    let done = 0;
    for (let round = 1; round <= config.rounds; round++) {
      for (const scenario of scenarios) {
        for (const factory of rotate(SPREAD_CONTENDERS, round - 1)) {
          const result = await measure(factory, scenario, redis.url, admin, redis.external, round);
          rounds.get(scenario.name)?.get(factory.name)?.push(result);
          if (scenario.limit === HUGE && result.admitted < result.decisions) {
            console.warn(
              `WARNING: ${factory.name} on ${scenario.name}: ${result.decisions - result.admitted} decisions ` +
                'not admitted under a limit of 1e9 (store errors? circuit open?)',
            );
          }
          done++;
          const left = (runs - done) * (config.warmupSeconds + config.seconds + OVERHEAD_SECONDS);
          const rss = process.memoryUsage().rss / 2 ** 20;
          console.log(
            `[${String(done).padStart(String(runs).length)}/${runs}] round ${round}  ${scenario.name.padEnd(20)} ` +
              `${factory.name.padEnd(15)} ${integer(result.decisionsPerSec).padStart(9)}/s  ` +
              `p50 ${result.p50Us} µs  p99 ${result.p99Us} µs  admitted ${percent(result.admitted / result.decisions)}  ` +
              `node rss ${rss.toFixed(0)} MiB  ~${formatDuration(left)} left`,
          );
        }
      }
    }
    const results: SpreadResults = {
      info: await runInfo(
        admin,
        redis.external ? maskPassword(redis.url) : 'throwaway redis-server',
        startedAt,
      ),
      scenarios: scenarios.map((s) => scenarioResult(s, rounds.get(s.name) ?? new Map())),
    };
    console.log(
      `\nMedian round of ${config.rounds} per scenario (ratios: median decisions/s over the named contender's)`,
    );
    for (const s of results.scenarios) {
      console.log(`\n${s.name}: ${s.what}\n`);
      console.log(textTable(scenarioTable(s)));
    }
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

/**
 * One contender under one scenario: a fresh contender on an empty store (FLUSHALL on the bench's own
 * server; on a BENCH_REDIS_URL server only the bench's keys are deleted, by SCAN), warm-up, then a
 * measured run bracketed by Redis counters. The scenario's key sequence restarts for every contender.
 */
async function measure(
  factory: SpreadContenderFactory,
  scenario: Scenario,
  redisUrl: string,
  admin: Redis,
  external: boolean,
  round: number,
): Promise<RoundResult> {
  await clean(admin, external);
  scenario.reset();
  const contender = await factory.create(redisUrl, scenario.limit, scenario.tenantPerKey);
  WHATS.set(contender.name, contender.what);
  try {
    const decide = () => contender.decide(scenario.next());
    await drive(decide, config.inFlight, config.warmupSeconds * 1000);
    const before = await readCounters(admin);
    const load = await drive(decide, config.inFlight, config.seconds * 1000);
    const redisCounters = subtract(await readCounters(admin), before);
    return { round, ...load, redis: redisCounters };
  } finally {
    await contender.close();
    await clean(admin, external);
  }
}

async function clean(admin: Redis, external: boolean): Promise<void> {
  if (external) await deleteMatching(admin, `${KEY_ROOT}:spread:*`);
  else await admin.flushall();
}

function scenarioResult(scenario: Scenario, rounds: Map<string, RoundResult[]>): ScenarioResult {
  const summaries = summarize(
    SPREAD_CONTENDERS.map((f) => ({ name: f.name, what: WHATS.get(f.name) ?? '' })),
    rounds,
  );
  const byName = new Map(summaries.map((s) => [s.name, s]));
  const rate = (name: string) => byName.get(name)?.median.decisionsPerSec ?? Number.NaN;
  return {
    name: scenario.name,
    what: scenario.what,
    limit: scenario.limit,
    contenders: summaries.map((s, i) => {
      const store = SPREAD_CONTENDERS[i]?.store ?? 'redis';
      const rlf = store === 'redis' ? RLF_REDIS : RLF_MEMORY;
      return { ...s, store, rlf, ratioToRlf: s.median.decisionsPerSec / rate(rlf) };
    }),
  };
}

function scenarioTable(s: ScenarioResult): Table {
  return {
    headers: [
      'contender',
      'decisions/s',
      'p50 µs',
      'p99 µs',
      'p99.9 µs',
      'client CPU µs/dec',
      'Redis CPU µs/dec',
      'admitted',
      'x raw-evalsha',
      'x rlf',
    ],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    rows: s.contenders.map((c) => [
      c.name,
      integer(c.median.decisionsPerSec),
      integer(c.median.p50Us),
      integer(c.median.p99Us),
      integer(c.median.p999Us),
      c.nodeCpuUsPerDecision.toFixed(2),
      c.redisCpuUsPerDecision === null ? '-' : c.redisCpuUsPerDecision.toFixed(2),
      percent(c.admittedShare),
      `${c.ratioToRaw.toFixed(2)}x`,
      c.name === c.rlf ? '1.00x' : `${c.ratioToRlf.toFixed(2)}x ${c.rlf}`,
    ]),
  };
}

function markdown(results: SpreadResults): string {
  const info = results.info;
  const sections = results.scenarios
    .map((s) => `## ${s.name}\n\n${s.what}.\n\n${markdownTable(scenarioTable(s))}\n`)
    .join('\n');
  return `# Sluice: decisions per second over spread keys and tenants

- Date: ${info.date}
- Command: \`${info.command}\`
- Node ${info.node}, Redis ${info.redis} (${info.redisServer}), ${info.cpus} CPUs (${info.cpuModel}), ${info.platform}
- Versions: ${Object.entries(info.versions)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ')}
- Load: ${config.inFlight} decisions in flight from one Node process; per scenario, each contender runs
  ${config.rounds} round(s) of ${config.seconds} s after ${config.warmupSeconds} s of warm-up, on a fresh
  contender and an empty Redis (FLUSHALL of the bench's own server; on a BENCH_REDIS_URL server only the
  bench's keys are deleted), the same deterministic key sequence for every contender. Figures are each
  contender's median round by decisions/s.
- Limits: 1e9 per window (all admitted) except in hot-key-90-rejected (1 per window). Windows are 1-3 s
  so the up to a million keys a scenario writes expire.
- Client CPU: this Node process's CPU time per decision (key generation included, alike for all).
  Redis CPU: \`used_cpu_user + used_cpu_sys\` of the server per decision during the measured run (scripts,
  network I/O, expiry); '-' for memory contenders. Both averaged over all rounds.
- Ratios: median decisions/s over raw-evalsha's (same scenario), and over rate-limiter-flexible's:
  rlf-redis for Redis contenders, rlf-memory for memory ones.
- Whole run: ${info.durationSeconds.toFixed(0)} s

${sections}
## Contenders

${results.scenarios[0]?.contenders.map((c) => `- \`${c.name}\`: ${c.what}`).join('\n') ?? ''}
`;
}

async function runInfo(admin: Redis, redisServer: string, startedAt: number): Promise<SpreadInfo> {
  return {
    ...(await machineInfo(admin, redisServer, 'BENCH_SPREAD_', 'bench/spread.ts')),
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
