/**
 * What the Sluice HTTP middleware costs a real server, next to the framework's incumbent Redis-backed
 * limiter: for Express, Fastify and Hono (on @hono/node-server), hello-world servers without a limiter,
 * with Sluice (at its default options) and with the incumbent, each in its own process, all on one
 * throwaway redis-server (or BENCH_REDIS_URL), loaded by autocannon from this process, with one tenant
 * and with thousands (the X-Tenant-ID header rotated per request; every limiter keys by it). Prints the
 * tables and writes bench/results/http.md and http.json.
 *
 * Defaults: 12 servers x (2 s prime + 3 rounds x 2 tenant counts x (1 s warm-up + 3 s)) ~ 5 min 15 s.
 *
 *   npm run bench:http
 *   BENCH_HTTP_SECONDS=3 BENCH_HTTP_WARMUP_SECONDS=1 BENCH_HTTP_ROUNDS=3 BENCH_HTTP_CONNECTIONS=64 \
 *     BENCH_HTTP_TENANTS=5000 npm run bench:http
 *   BENCH_HTTP_FRAMEWORKS=fastify,hono npm run bench:http      (a subset, while working on one adapter)
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import {
  FRAMEWORKS,
  type Framework,
  INCUMBENTS,
  isFramework,
  KEY_ROOT,
  SLUICE_LEGACY_WHAT,
  SLUICE_WHAT,
  TENANT,
  TENANT_HEADER,
  type Variant,
  variantLabel,
  variantsOf,
} from './http/config.js';
import { type LoadResult, runLoad } from './http/load.js';
import {
  addStatuses,
  checkTargets,
  type HttpBenchResults,
  type RunInfo,
  summarize,
  type VariantRuns,
  type VariantSummary,
} from './http/report.js';
import { type ServerProcess, startServer } from './http/spawn.js';
import { printResults, tenantsLabel, writeResults } from './http/tables.js';
import { provideRedis } from './lib/redis-server.js';
import { deleteMatching, readCounters, redisVersion, subtract } from './lib/redis-stats.js';
import { rotate } from './lib/run-info.js';
import { benchSettings, envNumber, maskPassword } from './lib/settings.js';

const RESULTS_JSON = fileURLToPath(new URL('./results/http.json', import.meta.url));
const RESULTS_MD = fileURLToPath(new URL('./results/http.md', import.meta.url));
const NPM_SCRIPT = 'bench:http';

const config = {
  seconds: envNumber('BENCH_HTTP_SECONDS', 3),
  warmupSeconds: envNumber('BENCH_HTTP_WARMUP_SECONDS', 1),
  /** Once per server before the first round. */
  primeSeconds: envNumber('BENCH_HTTP_PRIME_SECONDS', 2),
  rounds: envNumber('BENCH_HTTP_ROUNDS', 3, true),
  connections: envNumber('BENCH_HTTP_CONNECTIONS', 64, true),
  pipelining: 1 as const,
  /** The many-tenants runs: X-Tenant-ID rotated per request over this many tenants. */
  tenants: envNumber('BENCH_HTTP_TENANTS', 5000, true),
  frameworks: envFrameworks('BENCH_HTTP_FRAMEWORKS'),
};

/** Every variant runs with one tenant and with `config.tenants` (the same server serves both). */
const TENANT_COUNTS = [...new Set([1, config.tenants])];

const NONE_WHAT = 'hello-world route (GET / answers "hello world" as text/plain), no limiter';

async function main(): Promise<void> {
  const startedAt = Date.now();
  const loadAtStart = os.loadavg();
  const redis = await provideRedis();
  const admin = new Redis(redis.url);
  try {
    const servers = config.frameworks.reduce((n, f) => n + variantsOf(f).length, 0);
    const perRound = TENANT_COUNTS.length * (config.warmupSeconds + config.seconds);
    const loadSeconds = servers * (config.primeSeconds + config.rounds * perRound);
    console.log(
      `Redis ${redis.external ? maskPassword(redis.url) : redis.url}; ${config.frameworks.length} frameworks, ` +
        `${servers} servers, ${config.rounds} rounds x ${TENANT_COUNTS.map(tenantsLabel).join(' and ')} x ` +
        `(${config.warmupSeconds} s warm-up + ${config.seconds} s) ` +
        `(${Math.round(loadSeconds)} s of load in all), ${config.connections} connections`,
    );
    const measured: VariantRuns[] = [];
    for (const framework of config.frameworks)
      measured.push(...(await benchFramework(framework, redis.url, admin)));

    const variants = summarize(measured);
    const allAdmitted = variants.every((v) => v.non2xx + v.errors + v.timeouts === 0);
    const results: HttpBenchResults = {
      info: await runInfo(
        admin,
        redis.external ? maskPassword(redis.url) : 'throwaway redis-server',
        startedAt,
        loadAtStart,
      ),
      variants,
      targets: checkTargets(variants),
      allAdmitted,
      notes: notes(variants),
    };
    printResults(results);
    await writeResults(results, RESULTS_JSON, RESULTS_MD);
    console.log(
      `\nWritten: ${relative(process.cwd(), RESULTS_JSON)}, ${relative(process.cwd(), RESULTS_MD)}`,
    );
    if (!allAdmitted) process.exitCode = 1;
  } finally {
    if (redis.external) await deleteMatching(admin, `${KEY_ROOT}*`);
    await admin.quit();
    await redis.stop();
  }
}

/**
 * One framework: its servers (one process per variant) start together, then every round loads every
 * variant once per tenant count, warm-up then a measured run; the starting variant and tenant count
 * rotate each round.
 */
async function benchFramework(framework: Framework, redisUrl: string, admin: Redis): Promise<VariantRuns[]> {
  const variants = variantsOf(framework);
  const started = await Promise.allSettled(variants.map((v) => startServer(framework, v, redisUrl)));
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  try {
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    const runs = new Map<string, VariantRuns>();
    for (const server of servers) {
      const limitHeaders = await probe(server);
      for (const tenants of TENANT_COUNTS) {
        runs.set(runId(server, tenants), {
          framework,
          variant: server.variant,
          tenants,
          label: variantLabel(framework, server.variant),
          what: whatOf(framework, server.variant),
          limitHeaders,
          rounds: [],
          warmup: { non2xx: 0, errors: 0, timeouts: 0, non2xxStatuses: {} },
        });
      }
    }
    await prime(servers, runs);
    for (let round = 1; round <= config.rounds; round++) {
      for (const tenants of rotate(TENANT_COUNTS, round - 1)) {
        for (const server of rotate(servers, round - 1)) {
          const run = runs.get(runId(server, tenants)) as VariantRuns;
          run.rounds.push(await measureRound(server, run, admin, round));
        }
      }
    }
    return TENANT_COUNTS.flatMap((n) => servers.map((s) => runs.get(runId(s, n)) as VariantRuns));
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
  }
}

function runId(server: ServerProcess, tenants: number): string {
  return `${server.variant}/${tenants}`;
}

function load(server: ServerProcess, tenants: number, seconds: number): Promise<LoadResult> {
  return runLoad({ url: server.url, connections: config.connections, seconds, tenants });
}

/** Once per server, before any round (half the time with each tenant count): JIT, pools, scripts. */
async function prime(servers: ServerProcess[], runs: Map<string, VariantRuns>): Promise<void> {
  for (const server of servers) {
    for (const tenants of TENANT_COUNTS) {
      const seconds = config.primeSeconds / TENANT_COUNTS.length;
      addWarmup(runs.get(runId(server, tenants)) as VariantRuns, await load(server, tenants, seconds));
    }
  }
}

/** Warm-up, then a measured run bracketed by the server's CPU time and the Redis counters. */
async function measureRound(
  server: ServerProcess,
  run: VariantRuns,
  admin: Redis,
  round: number,
): Promise<VariantRuns['rounds'][number]> {
  addWarmup(run, await load(server, run.tenants, config.warmupSeconds));
  const statsBefore = await server.stats();
  const before = await readCounters(admin);
  const result = await load(server, run.tenants, config.seconds);
  const redisDelta = subtract(await readCounters(admin), before);
  const statsAfter = await server.stats();
  const circuitOpened =
    statsAfter.circuitOpened === null ? null : statsAfter.circuitOpened - (statsBefore.circuitOpened ?? 0);
  console.log(
    `round ${round}  ${run.framework.padEnd(8)} ${run.label.padEnd(20)} ${tenantsLabel(run.tenants).padStart(13)} ` +
      `${Math.round(result.requestsPerSec).toLocaleString('en-US').padStart(7)} req/s` +
      `  p50 ${(result.p50Us / 1000).toFixed(2)} ms  p99 ${(result.p99Us / 1000).toFixed(2)} ms` +
      `  p99.9 ${(result.p999Us / 1000).toFixed(2)} ms  non-2xx ${result.non2xx}${statusText(result.non2xxStatuses)}` +
      `${result.errors + result.timeouts > 0 ? `  errors ${result.errors} timeouts ${result.timeouts}` : ''}` +
      `${circuitOpened ? `  circuit opened ${circuitOpened}x` : ''}`,
  );
  return {
    round,
    ...result,
    serverCpuUs: statsAfter.cpuUs - statsBefore.cpuUs,
    circuitOpened,
    redis: redisDelta,
  };
}

/**
 * One request before the load: the server must answer 200, and a limited variant must send rate-limit
 * headers (proof the limiter is in the path). Returns the names of those headers.
 */
async function probe(server: ServerProcess): Promise<string[]> {
  const response = await fetch(server.url, { headers: { [TENANT_HEADER]: TENANT } });
  await response.text();
  const names = [...response.headers.keys()].filter((name) => /rate-?limit/i.test(name));
  if (response.status !== 200) {
    throw new Error(`${server.framework}/${server.variant}: probe answered ${response.status}`);
  }
  if (server.variant !== 'none' && names.length === 0) {
    throw new Error(
      `${server.framework}/${server.variant}: no rate-limit header: is the limiter in the path?`,
    );
  }
  return names;
}

function addWarmup(run: VariantRuns, warm: LoadResult): void {
  run.warmup.non2xx += warm.non2xx;
  run.warmup.errors += warm.errors;
  run.warmup.timeouts += warm.timeouts;
  addStatuses(run.warmup.non2xxStatuses, warm.non2xxStatuses);
}

function statusText(statuses: Record<string, number> | undefined): string {
  if (!statuses) return '';
  return ` (${Object.entries(statuses)
    .map(([status, count]) => `${status}: ${count}`)
    .join(', ')})`;
}

function whatOf(framework: Framework, variant: Variant): string {
  if (variant === 'none') return NONE_WHAT;
  if (variant === 'sluice') {
    return `${SLUICE_WHAT}; Sluice's default store-call budget (50 ms) and breaker`;
  }
  if (variant === 'sluice-legacy') return SLUICE_LEGACY_WHAT;
  return INCUMBENTS[framework]?.what ?? '';
}

function notes(variants: VariantSummary[]): string[] {
  const opened = variants.reduce((n, v) => n + (v.circuitOpened ?? 0), 0);
  const budget = `Sluice runs with its default store-call budget (failure.budget 50 ms) and circuit breaker: the budget measures the store, not the saturated server's event-loop lag, so a healthy Redis should give no 503 (store_unavailable); any would show in the non-2xx column. ${opened === 0 ? 'In this run the circuit never opened (circuit-opened column).' : `**In this run the circuit opened ${opened} times** (circuit-opened column).`}`;
  const tenants = `With ${config.tenants.toLocaleString('en-US')} tenants the X-Tenant-ID header rotates per request (one counter shared by all connections, so requests in flight at once name different tenants): every decision is on another tenant's keys, where with one tenant concurrent decisions on the same keys can be combined (compare scripts/req in the two cost tables). autocannon rebuilds each request to rotate the header; \`none\` pays that too, so the ratios stay fair.`;
  return [budget, tenants, ...NOTES];
}

const NOTES = [
  'hono-rate-limiter takes a Redis client of the @upstash/redis shape (scriptLoad, evalsha with key and argument arrays): the bench passes ioredis behind that interface, as express-rate-limit gets ioredis through rate-limit-redis `sendCommand`.',
  'Sluice decides two windows (sliding-window 1 s + fixed-window 1 min) in one Redis script call per request; each incumbent decides one fixed window. Each variant sends its default response headers.',
  "Sluice's PolicyLimiter also polls its runtime-overrides document once per second (one GET), negligible against the load.",
  'Servers run under `node --import tsx` with NODE_ENV=production and load Sluice from its build (dist/, as users do: `npm run bench:http` builds first); tsx only transpiles the bench harness.',
  'Ratios compare variants of one framework in the same run; absolute req/s depend on the machine (load generator, server and Redis share its CPUs).',
];

async function runInfo(
  admin: Redis,
  redisServer: string,
  startedAt: number,
  loadAtStart: number[],
): Promise<RunInfo> {
  // Read from node_modules: some packages (hono) do not export their package.json.
  const version = (name: string) =>
    (
      JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as {
        version: string;
      }
    ).version;
  const command = exactCommand();
  const viaNpm = process.env['npm_lifecycle_event'] === NPM_SCRIPT;
  return {
    date: new Date().toISOString(),
    command,
    ...(viaNpm
      ? {}
      : { startedAs: `npx tsx ${relative(process.cwd(), process.argv[1] ?? 'bench/http.ts')}` }),
    node: process.version,
    redis: await redisVersion(admin),
    redisServer,
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    versions: Object.fromEntries(
      [
        'express',
        'fastify',
        'hono',
        '@hono/node-server',
        'express-rate-limit',
        'rate-limit-redis',
        '@fastify/rate-limit',
        'hono-rate-limiter',
        'ioredis',
        'autocannon',
      ].map((name) => [name, version(name)]),
    ),
    config,
    durationSeconds: (Date.now() - startedAt) / 1000,
    loadAverage: { start: loadAtStart, end: os.loadavg() },
  };
}

/** How to repeat this run: `npm run bench:http`, with the BENCH_* settings in effect. */
function exactCommand(): string {
  return [...benchSettings('BENCH_HTTP_'), `npm run ${NPM_SCRIPT}`].join(' ');
}

function envFrameworks(name: string): Framework[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return [...FRAMEWORKS];
  const names = raw.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !isFramework(n));
  if (unknown.length > 0) {
    throw new Error(
      `${name}=${raw}: unknown framework ${unknown.join(', ')} (expected ${FRAMEWORKS.join(', ')})`,
    );
  }
  return FRAMEWORKS.filter((f) => names.includes(f));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
