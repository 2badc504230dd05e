/**
 * The physical limit, for reference: `redis-benchmark` (Redis' own C load generator) sending EVALSHA of
 * the baseline's fixed-window script, pipelined PIPELINE deep, on random keys over RANDOM_KEYS
 * (`__rand_int__`), to the bench's own redis-server. No Node client can beat what the server does here:
 * Sluice's Redis figures are also reported as a ratio of it.
 */
import { execFile } from 'node:child_process';
import type { Redis } from 'ioredis';
import { FIXED_WINDOW_LUA } from './contenders.js';
import { type RedisCounters, readCounters, subtract } from './redis-stats.js';

export const PIPELINE = 16;
export const RANDOM_KEYS = 10_000;
const WINDOW_MS = 1000;
const LIMIT = 1_000_000_000;
const TIMEOUT_MS = 120_000;

export interface RedisBenchmarkSettings {
  bin: string;
  requests: number;
  clients: number;
}

export interface RedisBenchmarkRun {
  requestsPerSec: number;
  /** redis-benchmark's own latency columns (ms), when its CSV has them (Redis 7); per pipelined batch. */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Redis server CPU per request during the run. */
  redisCpuUsPerRequest: number;
  redis: RedisCounters;
}

/** The command line, for the report: host, port and SHA as placeholders, no password. */
export function redisBenchmarkCommand(settings: RedisBenchmarkSettings, keyPrefix: string): string {
  const args = [
    ...['-h', '<host>', '-p', '<port>'],
    ...loadArgs(settings, '<sha of FIXED_WINDOW_LUA>', keyPrefix),
  ];
  return [settings.bin, ...args].join(' ');
}

/** Where to connect, from the bench's Redis URL (user and password, if any, as redis-benchmark takes them). */
function connectionArgs(redisUrl: string): string[] {
  const url = new URL(redisUrl);
  const args = ['-h', url.hostname || '127.0.0.1', '-p', url.port || '6379'];
  if (url.password) args.push('-a', decodeURIComponent(url.password), '--no-auth-warning');
  if (url.username && url.username !== 'default') args.push('--user', decodeURIComponent(url.username));
  const db = url.pathname.replace('/', '');
  if (db) args.push('--dbnum', db);
  return args;
}

function loadArgs(settings: RedisBenchmarkSettings, sha: string, keyPrefix: string): string[] {
  return [
    ...['-n', String(settings.requests), '-c', String(settings.clients)],
    ...['-P', String(PIPELINE), '-r', String(RANDOM_KEYS), '--csv'],
    ...['EVALSHA', sha, '1', `${keyPrefix}__rand_int__`, String(WINDOW_MS), String(LIMIT)],
  ];
}

/** One run on the bench's Redis (`admin` is connected to the same server, for its counters). */
export async function runRedisBenchmark(
  admin: Redis,
  redisUrl: string,
  settings: RedisBenchmarkSettings,
  keyPrefix: string,
): Promise<RedisBenchmarkRun> {
  const sha = (await admin.script('LOAD', FIXED_WINDOW_LUA)) as string;
  const before = await readCounters(admin);
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      settings.bin,
      [...connectionArgs(redisUrl), ...loadArgs(settings, sha, keyPrefix)],
      { timeout: TIMEOUT_MS, maxBuffer: 1 << 20 },
      (error, out, err) => {
        // Not error.message: it repeats the command line, password included.
        if (error) reject(new Error(`${settings.bin} failed (exit ${error.code ?? error.signal}):\n${err}`));
        else resolve(out);
      },
    );
  });
  const redis = subtract(await readCounters(admin), before);
  const row = parseBenchmarkCsv(stdout);
  return { ...row, redisCpuUsPerRequest: redis.cpuUs / settings.requests, redis };
}

/**
 * Parses `redis-benchmark --csv`: Redis 7 prints a header line ("test","rps","avg_latency_ms",...)
 * then one quoted line per test; Redis 6 and older print only `"<test>","<rps>"`. The test name may
 * hold commas (it is the command line), so fields are read as CSV, quotes and all.
 */
export function parseBenchmarkCsv(
  output: string,
): Pick<RedisBenchmarkRun, 'requestsPerSec' | 'p50Ms' | 'p99Ms'> {
  const rows = output
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.startsWith('"'))
    .map(csvFields);
  const header = rows.find((r) => r.includes('rps'));
  const data = rows.filter((r) => r !== header && r.length >= 2);
  const last = data[data.length - 1];
  if (!last) throw new Error(`redis-benchmark printed no CSV result:\n${output.slice(0, 2000)}`);
  const column = (name: string, fallback: number | null) => {
    const at = header?.indexOf(name) ?? -1;
    return at >= 0 ? at : fallback;
  };
  const number = (at: number | null) => {
    const value = at === null ? Number.NaN : Number(last[at]);
    return Number.isFinite(value) ? value : null;
  };
  const requestsPerSec = number(column('rps', 1));
  if (requestsPerSec === null || requestsPerSec <= 0) {
    throw new Error(`redis-benchmark: no requests/s in ${JSON.stringify(last)}`);
  }
  return {
    requestsPerSec,
    p50Ms: number(column('p50_latency_ms', null)),
    p99Ms: number(column('p99_latency_ms', null)),
  };
}

/** The fields of one CSV line: quoted ("" is a quote inside quotes) or bare, comma separated. */
function csvFields(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}
