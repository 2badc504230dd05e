/**
 * Sluice as a service under load: the HTTP decision API (one decision per request, full and compact
 * answers, and batches) of `sluice serve` in its own process, loaded by autocannon from this one, on
 * the memory store and on a throwaway redis-server (or BENCH_REDIS_URL), with thousands of tenants;
 * beside it, the in-process library (PolicyLimiter.check, 64 in flight) on the same store and
 * policies, and the machine's ceiling (bare Fastify answering a fixed body: small, and the service's
 * own answer), in the same run. For each: decisions/s, p50/p99 at the maximum, p99 at half of the
 * maximum (a paced open loop, bench/service/paced.ts; autocannon's `overallRate` too, which bursts),
 * and the CPU per decision of the server, of the load generator and of Redis. Writes
 * bench/results/service.md and service.json.
 *
 *   npm run bench:service
 *   BENCH_SERVICE_SECONDS=4 BENCH_SERVICE_TENANTS=5000 BENCH_SERVICE_CONNECTIONS=64 BENCH_SERVICE_BATCH=16 npm run bench:service
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { PolicyLimiter, RedisStore } from '../dist/index.js';
import { drive } from './lib/driver.js';
import { provideRedis } from './lib/redis-server.js';
import { readCounters } from './lib/redis-stats.js';
import { machineInfo } from './lib/run-info.js';
import { envNumber } from './lib/settings.js';
import { contextOf, type LoadFigures, runHttpLoad } from './service/load.js';
import { runPacedLoad } from './service/paced.js';
import { type Row, report } from './service/report.js';
import { type ServiceProcess, startService } from './service/spawn.js';

const run = promisify(execFile);

const settings = {
  seconds: envNumber('BENCH_SERVICE_SECONDS', 4),
  tenants: envNumber('BENCH_SERVICE_TENANTS', 5000, true),
  connections: envNumber('BENCH_SERVICE_CONNECTIONS', 64, true),
  batch: envNumber('BENCH_SERVICE_BATCH', 16, true),
};

/** Policies of the bench: every tenant on a tier with room, a per-user minute window (most decisions admitted). */
const POLICIES = {
  prefix: 'sluice-bench-service',
  tiers: { free: { rps: 1_000_000, burst: 1_000_000 } },
  policies: [
    {
      name: 'per-user',
      scope: 'user',
      limits: [{ name: 'minute', algorithm: 'sliding-window', limit: 100_000, window: '1m' }],
    },
  ],
};

/** Requests/s at which p99 is measured too (paced), on Redis and for the bare server (with the service's half rate). */
const FIXED_RATES = [1000, 2000];

/** Counts Redis CPU over a run, when the row is on Redis. */
type RedisMeter = (() => Promise<() => Promise<number>>) | undefined;

function meterOf(admin: Redis): RedisMeter {
  return async () => {
    const before = await readCounters(admin);
    return async () => (await readCounters(admin)).cpuUs - before.cpuUs;
  };
}

/**
 * One decision per request at the maximum (with the CPU of the server, of this process' load
 * generator and of Redis), then p99 at half of it: paced, and autocannon's overallRate.
 */
async function singleRow(
  row: Pick<Row, 'store' | 'how'>,
  service: ServiceProcess,
  path: string,
  redis: RedisMeter,
  fixedRates: number[] = [],
): Promise<Row> {
  const load = { url: service.url, tenants: settings.tenants, path, batch: 1 };
  const closed = { ...load, connections: settings.connections, seconds: settings.seconds };
  await runHttpLoad({ ...closed, seconds: 1 }); // warm-up
  const serverBefore = service.cpuUs();
  const loaderBefore = process.cpuUsage();
  const redisDone = await redis?.();
  const machineBefore = machineBusyUs();
  const single = await runHttpLoad(closed);
  const machine = machineBusyUs() - machineBefore;
  const loader = process.cpuUsage(loaderBefore);
  const perDecision = (us: number) => us / (single.decisionsPerSec * settings.seconds);
  const redisUs = redisDone ? perDecision(await redisDone()) : undefined;
  const serverCpu = service.cpuUs() - serverBefore;
  const serverUs = perDecision(serverCpu);
  const ours =
    serverCpu + loader.user + loader.system + (redisUs ?? 0) * single.decisionsPerSec * settings.seconds;
  const rate = Math.round(single.requestsPerSec / 2);
  const paced = await runPacedLoad({ ...closed, rate });
  const bursts = await runHttpLoad({ ...closed, rate });
  const atRates: Record<string, number> = {};
  for (const fixed of fixedRates) atRates[fixed] = (await runPacedLoad({ ...closed, rate: fixed })).p99Us;
  return {
    ...row,
    ...pick(single),
    halfRate: rate,
    pacedHalfP50Us: paced.p50Us,
    pacedHalfP99Us: paced.p99Us,
    burstHalfP99Us: bursts.p99Us,
    serverCpuUs: serverUs,
    loaderCpuUs: perDecision(loader.user + loader.system),
    redisCpuUs: redisUs,
    othersCores: Math.max(0, machine - ours) / (settings.seconds * 1e6),
    pacedUnsent: paced.unsent,
    ...(fixedRates.length > 0 ? { pacedP99AtRateUs: atRates } : {}),
    errors: single.errors + single.non2xx + paced.non2xx,
  };
}

async function serviceRows(store: string, service: ServiceProcess, redis: RedisMeter): Promise<Row[]> {
  // On Redis, p99 at fixed rates too: how far below half of the maximum 2 ms holds.
  const rates = store === 'redis' ? FIXED_RATES : [];
  const full = await singleRow({ store, how: 'HTTP /v1/check' }, service, '/v1/check', redis, rates);
  const compact = await singleRow(
    { store, how: 'HTTP /v1/check?answer=compact' },
    service,
    '/v1/check?answer=compact',
    redis,
  );
  const batch = await runHttpLoad({
    url: service.url,
    tenants: settings.tenants,
    seconds: settings.seconds,
    path: '/v1/check/batch',
    connections: 16,
    batch: settings.batch,
  });
  const grpc = service.grpcPort === undefined ? undefined : await grpcLoad(service.grpcPort);
  return [
    full,
    compact,
    { store, how: `HTTP /v1/check/batch (${settings.batch} per request)`, ...pick(batch) },
    ...(grpc ? [grpc] : []).map((g) => ({
      store,
      how: 'gRPC ShouldRateLimit (64 in flight, tenant + user descriptors)',
      ...g,
    })),
  ];
}

/** One answer of the service as it is, for the bare server to send. */
async function sampleAnswer(service: ServiceProcess): Promise<string> {
  const response = await fetch(`${service.url}/v1/check`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(contextOf(1, settings.tenants)),
  });
  return response.text();
}

/** The machine's ceiling: bare Fastify answering a fixed JSON body (small; the service's own), loaded the same way. */
async function bareRows(answerFile: string, serviceHalf: number | undefined): Promise<Row[]> {
  console.log('bare Fastify...');
  const rows: Row[] = [];
  const variants = [
    { how: 'bare Fastify: fixed small JSON answer (the ceiling)', args: [] as string[] },
    { how: "bare Fastify: a fixed copy of the service's answer", args: ['--answer', answerFile] },
  ];
  for (const variant of variants) {
    const bare = await startService(variant.args, {}, ['--import', 'tsx', 'bench/service/bare.ts']);
    try {
      const rates = [...FIXED_RATES, ...(serviceHalf ? [serviceHalf] : [])];
      rows.push(await singleRow({ store: 'none', how: variant.how }, bare, '/v1/check', undefined, rates));
    } finally {
      await bare.stop();
    }
  }
  return rows;
}

/** CPU time all processes of the machine have spent so far (µs; /proc/stat, ticks of 10 ms). */
function machineBusyUs(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number) as number[];
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 10_000;
}

function pick(f: LoadFigures): Pick<Row, 'decisionsPerSec' | 'p50Us' | 'p99Us' | 'errors'> {
  return { decisionsPerSec: f.decisionsPerSec, p50Us: f.p50Us, p99Us: f.p99Us, errors: f.errors + f.non2xx };
}

/** The gRPC load loop in a process of its own (bench/lib/grpc-load.ts), so its CPU is not the bench's. */
async function grpcLoad(port: number): Promise<Pick<Row, 'decisionsPerSec' | 'p50Us' | 'p99Us' | 'errors'>> {
  const args = [
    '--import',
    'tsx',
    'bench/lib/grpc-load.ts',
    '--target',
    `127.0.0.1:${port}`,
    '--seconds',
    String(settings.seconds),
  ];
  args.push('--in-flight', '64', '--tenants', String(settings.tenants), '--descriptors', '2');
  const { stdout } = await run(process.execPath, args);
  const r = JSON.parse(stdout.trim().split('\n').pop() as string) as {
    callsPerSec: number;
    p50Us: number;
    p99Us: number;
    errors: number;
  };
  return { decisionsPerSec: r.callsPerSec, p50Us: r.p50Us, p99Us: r.p99Us, errors: r.errors };
}

async function libraryRow(store: string, redisUrl: string | undefined, redis: RedisMeter): Promise<Row> {
  const config = { ...POLICIES, prefix: `${POLICIES.prefix}-lib` };
  const limiter = await PolicyLimiter.create(
    redisUrl ? { config, store: new RedisStore({ url: redisUrl }) } : { config },
  );
  let i = 0;
  const decide = async () => (await limiter.check(contextOf(i++, settings.tenants))).allowed;
  await drive(decide, 64, 1000);
  const redisDone = await redis?.();
  const machineBefore = machineBusyUs();
  const r = await drive(decide, 64, settings.seconds * 1000);
  const machine = machineBusyUs() - machineBefore;
  const redisCpu = redisDone ? await redisDone() : 0;
  const redisUs = redisDone ? redisCpu / r.decisions : undefined;
  await limiter.close();
  return {
    store,
    how: 'in-process library (PolicyLimiter.check, 64 in flight)',
    decisionsPerSec: r.decisionsPerSec,
    p50Us: r.p50Us,
    p99Us: r.p99Us,
    serverCpuUs: r.nodeCpuUs / r.decisions,
    redisCpuUs: redisUs,
    othersCores: Math.max(0, machine - r.nodeCpuUs - redisCpu) / (r.elapsedMs * 1000),
    errors: 0,
  };
}

async function main(): Promise<void> {
  const redis = await provideRedis();
  const admin = new Redis(redis.url);
  const file = join(tmpdir(), `sluice-bench-service-${process.pid}.json`);
  const answerFile = join(tmpdir(), `sluice-bench-service-answer-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(POLICIES));
  const rows: Row[] = [];
  const loadBefore = os.loadavg();
  try {
    for (const store of ['memory', 'redis'] as const) {
      const args = [
        '--config',
        file,
        '--grpc-port',
        '0',
        ...(store === 'redis' ? ['--redis', redis.url] : []),
      ];
      const meter = store === 'redis' ? meterOf(admin) : undefined;
      console.log(`service on ${store}...`);
      const service = await startService(args, {});
      try {
        if (store === 'memory') writeFileSync(answerFile, await sampleAnswer(service));
        rows.push(...(await serviceRows(store, service, meter)));
      } finally {
        await service.stop();
      }
      console.log(`library on ${store}...`);
      rows.push(await libraryRow(store, store === 'redis' ? redis.url : undefined, meter));
      await admin.flushall();
    }
    const serviceHalf = rows.find((r) => r.store === 'redis' && r.how === 'HTTP /v1/check')?.halfRate;
    rows.unshift(...(await bareRows(answerFile, serviceHalf)));
    const info = await machineInfo(admin, redis.url, 'BENCH_SERVICE_', 'bench/service.ts');
    report(rows, info, settings, [loadBefore, os.loadavg()]);
  } finally {
    admin.disconnect();
    await redis.stop();
  }
}

await main();
