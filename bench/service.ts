/**
 * Sluice as a service under load: the HTTP decision API (one decision per request, and batches) of
 * `sluice serve` in its own process, loaded by autocannon from this one, on the memory store and on a
 * throwaway redis-server (or BENCH_REDIS_URL), with thousands of tenants; beside it, the in-process
 * library (PolicyLimiter.check, 64 in flight) on the same store and policies, in the same run. For each:
 * decisions/s, p50/p99 at the maximum, and p99 at half of the maximum (an open loop at that rate).
 * Writes bench/results/service.md and service.json.
 *
 *   npm run bench:service
 *   BENCH_SERVICE_SECONDS=4 BENCH_SERVICE_TENANTS=5000 BENCH_SERVICE_CONNECTIONS=64 BENCH_SERVICE_BATCH=16 npm run bench:service
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { PolicyLimiter, RedisStore } from '../dist/index.js';
import { drive } from './lib/driver.js';
import { provideRedis } from './lib/redis-server.js';
import { machineInfo } from './lib/run-info.js';
import { envNumber } from './lib/settings.js';
import { contextOf, type LoadFigures, runHttpLoad } from './service/load.js';
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

interface Row {
  store: string;
  how: string;
  decisionsPerSec: number;
  p50Us: number;
  p99Us: number;
  /** p99 at half of the maximum (open loop). */
  halfRateP99Us?: number;
  serverCpuUsPerDecision?: number;
  errors: number;
}

async function serviceRows(store: string, service: ServiceProcess): Promise<Row[]> {
  const base = { url: service.url, tenants: settings.tenants, seconds: settings.seconds };
  await runHttpLoad({ ...base, path: '/v1/check', connections: settings.connections, batch: 1, seconds: 1 }); // warm-up
  const cpuBefore = service.cpuUs();
  const single = await runHttpLoad({
    ...base,
    path: '/v1/check',
    connections: settings.connections,
    batch: 1,
  });
  const cpuSingle = service.cpuUs() - cpuBefore;
  const half = await runHttpLoad({
    ...base,
    path: '/v1/check',
    connections: settings.connections,
    batch: 1,
    rate: Math.round(single.requestsPerSec / 2),
  });
  const batch = await runHttpLoad({
    ...base,
    path: '/v1/check/batch',
    connections: 16,
    batch: settings.batch,
  });
  const grpc = service.grpcPort === undefined ? undefined : await grpcLoad(service.grpcPort);
  const perDecision = (figures: LoadFigures, cpu: number) =>
    cpu / (figures.decisionsPerSec * settings.seconds);
  return [
    {
      store,
      how: 'HTTP /v1/check',
      ...pick(single),
      halfRateP99Us: half.p99Us,
      serverCpuUsPerDecision: perDecision(single, cpuSingle),
    },
    { store, how: `HTTP /v1/check/batch (${settings.batch} per request)`, ...pick(batch) },
    ...(grpc ? [grpc] : []).map((g) => ({
      store,
      how: 'gRPC ShouldRateLimit (64 in flight, tenant + user descriptors)',
      ...g,
    })),
  ];
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

async function libraryRow(store: string, redisUrl: string | undefined): Promise<Row> {
  const config = { ...POLICIES, prefix: `${POLICIES.prefix}-lib` };
  const limiter = await PolicyLimiter.create(
    redisUrl ? { config, store: new RedisStore({ url: redisUrl }) } : { config },
  );
  let i = 0;
  const decide = async () => (await limiter.check(contextOf(i++, settings.tenants))).allowed;
  await drive(decide, 64, 1000);
  const r = await drive(decide, 64, settings.seconds * 1000);
  await limiter.close();
  return {
    store,
    how: 'in-process library (PolicyLimiter.check, 64 in flight)',
    decisionsPerSec: r.decisionsPerSec,
    p50Us: r.p50Us,
    p99Us: r.p99Us,
    errors: 0,
  };
}

async function main(): Promise<void> {
  const redis = await provideRedis();
  const admin = new Redis(redis.url);
  const file = join(tmpdir(), `sluice-bench-service-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(POLICIES));
  const rows: Row[] = [];
  try {
    for (const store of ['memory', 'redis'] as const) {
      const args = [
        '--config',
        file,
        '--grpc-port',
        '0',
        ...(store === 'redis' ? ['--redis', redis.url] : []),
      ];
      console.log(`service on ${store}...`);
      const service = await startService(args, {});
      try {
        rows.push(...(await serviceRows(store, service)));
      } finally {
        await service.stop();
      }
      console.log(`library on ${store}...`);
      rows.push(await libraryRow(store, store === 'redis' ? redis.url : undefined));
      await admin.flushall();
    }
    const info = await machineInfo(admin, redis.url, 'BENCH_SERVICE_', 'bench/service.ts');
    report(rows, info);
  } finally {
    admin.disconnect();
    await redis.stop();
  }
}

function report(rows: Row[], info: Awaited<ReturnType<typeof machineInfo>>): void {
  const us = (v: number | undefined) => (v === undefined ? '' : `${(v / 1000).toFixed(2)} ms`);
  const lines = [
    `# bench:service — ${info.date}`,
    '',
    `\`${info.command}\` — Node ${info.node}, Redis ${info.redis}, ${info.cpus} cores (${info.cpuModel}); ${settings.tenants} tenants, ${settings.connections} connections, ${settings.seconds} s per run`,
    '',
    '| store | how | decisions/s | p50 | p99 | p99 at half the maximum | server CPU per decision |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.store} | ${r.how} | ${Math.round(r.decisionsPerSec).toLocaleString('en-US')} | ${us(r.p50Us)} | ${us(r.p99Us)} | ${us(r.halfRateP99Us)} | ${r.serverCpuUsPerDecision ? `${r.serverCpuUsPerDecision.toFixed(1)} µs` : ''} |`,
    ),
    '',
    ...targets(rows),
    '',
    'envoyproxy/ratelimit, published (not re-measured here): Lyft ran 200-250k requests/s on about 100 4-vCPU hosts (about 2,000-2,500 per host), p99 about 2 ms.',
  ];
  const text = `${lines.join('\n')}\n`;
  console.log(text);
  writeFileSync(fileURLToPath(new URL('./results/service.md', import.meta.url)), text);
  writeFileSync(
    fileURLToPath(new URL('./results/service.json', import.meta.url)),
    `${JSON.stringify({ info, settings, rows }, null, 2)}\n`,
  );
}

function targets(rows: Row[]): string[] {
  const find = (store: string, how: string) => rows.find((r) => r.store === store && r.how.startsWith(how));
  const service = find('redis', 'HTTP /v1/check');
  const library = find('redis', 'in-process');
  if (!service || !library) return [];
  const ratio = service.decisionsPerSec / library.decisionsPerSec;
  const p99 = (service.halfRateP99Us ?? 0) / 1000;
  return [
    '| target | measured | verdict |',
    '| --- | --- | --- |',
    `| one service process on Redis >= 0.5x the in-process library | ${ratio.toFixed(2)}x | ${ratio >= 0.5 ? 'met' : 'missed'} |`,
    `| p99 <= 2 ms at half of the maximum (Redis) | ${p99.toFixed(2)} ms | ${p99 <= 2 ? 'met' : 'missed'} |`,
  ];
}

await main();
