/**
 * Decisions per second and latency of Sluice against a raw EVALSHA baseline and rate-limiter-flexible
 * on a single key (the best case: every decision coalesces with the last; bench/spread.ts measures
 * spread keys), plus Redis memory per key for each Sluice algorithm. One run starts its own throwaway
 * redis-server (or uses BENCH_REDIS_URL, or the one `npm run bench` shares), measures everything, prints
 * the tables and writes bench/results/decisions.*. Defaults: 11 contenders x 3 rounds x (1 s warm-up +
 * 2 s) ~ 1 min 40 s, then script anatomy and memory per key. Part of `npm run bench`.
 *
 *   npm run bench:decisions
 *   BENCH_SECONDS=2 BENCH_WARMUP_SECONDS=1 BENCH_ROUNDS=3 BENCH_IN_FLIGHT=64 BENCH_MEMORY_KEYS=1000 npm run bench:decisions
 */
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { type Contender, createContenders, KEY_ROOT } from './lib/contenders.js';
import { drive } from './lib/driver.js';
import { measureMemoryPerKey } from './lib/memory-per-key.js';
import { provideRedis } from './lib/redis-server.js';
import { deleteMatching, readCounters, subtract } from './lib/redis-stats.js';
import {
  anatomyTable,
  type BenchResults,
  costTable,
  memoryTable,
  type RunInfo,
  textTable,
  throughputTable,
  writeResults,
} from './lib/report.js';
import { machineInfo, rotate } from './lib/run-info.js';
import { measureScriptAnatomy } from './lib/script-anatomy.js';
import { envNumber, maskPassword } from './lib/settings.js';
import { checkTargets, type RoundResult, summarize } from './lib/summary.js';

const RESULTS_JSON = fileURLToPath(new URL('./results/decisions.json', import.meta.url));
const RESULTS_MD = fileURLToPath(new URL('./results/decisions.md', import.meta.url));

const config = {
  seconds: envNumber('BENCH_SECONDS', 2),
  warmupSeconds: envNumber('BENCH_WARMUP_SECONDS', 1),
  rounds: envNumber('BENCH_ROUNDS', 3, true),
  inFlight: envNumber('BENCH_IN_FLIGHT', 64, true),
  memoryKeys: envNumber('BENCH_MEMORY_KEYS', 1000, true),
};

const COUNTING =
  'every limit is 1e9 per window, so all decisions are admitted (see the admitted column); ' +
  'a rejected decision would be counted as a decision too.';

async function main(): Promise<void> {
  const startedAt = Date.now();
  console.log('Decisions benchmark: starting Redis and the contenders...');
  const redis = await provideRedis();
  const admin = new Redis(redis.url);
  let contenders: Contender[] = [];
  try {
    contenders = await createContenders(redis.url);
    const loadSeconds = contenders.length * config.rounds * (config.warmupSeconds + config.seconds);
    console.log(
      `Redis ${redis.url}; ${contenders.length} contenders x ${config.rounds} rounds x ` +
        `(${config.warmupSeconds} s warm-up + ${config.seconds} s), ${config.inFlight} in flight: ` +
        `about ${Math.ceil(loadSeconds / 60)} min of load, then script anatomy and memory per key ` +
        `(about a minute more)\n`,
    );
    const rounds = await runRounds(contenders, admin);
    const summaries = summarize(contenders, rounds);
    console.log('\nScript anatomy...');
    const anatomy = await measureScriptAnatomy(admin);
    console.log(`Memory per key: ${config.memoryKeys} keys per algorithm...`);
    const memory = await measureMemoryPerKey(redis.url, admin, config.memoryKeys);

    const results: BenchResults = {
      info: await runInfo(
        admin,
        redis.external ? maskPassword(redis.url) : 'throwaway redis-server',
        startedAt,
      ),
      contenders: summaries,
      targets: checkTargets(summaries),
      anatomy,
      memory,
    };
    printResults(results);
    await writeResults(results, RESULTS_JSON, RESULTS_MD);
    console.log(
      `\nWritten: ${relative(process.cwd(), RESULTS_JSON)}, ${relative(process.cwd(), RESULTS_MD)}`,
    );
  } finally {
    await Promise.allSettled(contenders.map((c) => c.close()));
    if (redis.external) await deleteMatching(admin, `${KEY_ROOT}:*`);
    await admin.quit();
    await redis.stop();
  }
}

/**
 * Every round runs every contender once: warm-up, then a measured run bracketed by Redis counters.
 * The starting contender rotates each round, so drift and noise hit all of them alike.
 */
async function runRounds(contenders: Contender[], admin: Redis): Promise<Map<string, RoundResult[]>> {
  const results = new Map<string, RoundResult[]>(contenders.map((c) => [c.name, []]));
  for (let round = 1; round <= config.rounds; round++) {
    for (const contender of rotate(contenders, round - 1)) {
      await drive(contender.decide, config.inFlight, config.warmupSeconds * 1000);
      const before = await readCounters(admin);
      const load = await drive(contender.decide, config.inFlight, config.seconds * 1000);
      const redis = subtract(await readCounters(admin), before);
      results.get(contender.name)?.push({ round, ...load, redis });
      console.log(
        `round ${round}  ${contender.name.padEnd(28)} ${Math.round(load.decisionsPerSec).toLocaleString('en-US').padStart(9)}/s` +
          `  p50 ${load.p50Us} µs  p99 ${load.p99Us} µs  p99.9 ${load.p999Us} µs`,
      );
    }
  }
  return results;
}

function printResults(results: BenchResults): void {
  console.log(`\nMedian round of ${config.rounds} (${COUNTING})\n`);
  console.log(textTable(throughputTable(results)));
  console.log('\nWhere the time goes (averaged over all rounds)\n');
  console.log(textTable(costTable(results)));
  console.log("\nScript anatomy: EVALSHA cost in Redis, synthetic scripts then each contender's script\n");
  console.log(textTable(anatomyTable(results)));
  console.log('\nRedis memory per active key (MEMORY USAGE, includes the key name)\n');
  console.log(textTable(memoryTable(results)));
}

async function runInfo(admin: Redis, redisServer: string, startedAt: number): Promise<RunInfo> {
  return {
    ...(await machineInfo(admin, redisServer, 'BENCH_', 'bench/decisions.ts')),
    config,
    counting: COUNTING,
    durationSeconds: (Date.now() - startedAt) / 1000,
  };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
