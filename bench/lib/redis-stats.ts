/**
 * Where the time goes on the Redis side: script cost from INFO commandstats (EVALSHA `usec` is the whole
 * script, inner commands included; the commands a script calls are counted too) and the server's CPU
 * time from INFO cpu (scripts plus network I/O). Counters are read before and after a run and
 * subtracted, so nothing is reset on the server.
 */
import type { Redis } from 'ioredis';

export interface CommandStat {
  calls: number;
  usec: number;
}

export interface RedisCounters {
  /** INFO commandstats, by lower-case command name (`evalsha`, `hmget`, ...). */
  commands: Record<string, CommandStat>;
  /** used_cpu_user + used_cpu_sys, in microseconds. */
  cpuUs: number;
}

export const NO_COUNTERS: RedisCounters = { commands: {}, cpuUs: 0 };

/** Script calls: EVALSHA, plus EVAL (which only runs after a NOSCRIPT). */
const SCRIPT_COMMANDS = ['evalsha', 'eval'];
/** Commands the bench itself sends between runs, not part of any decision. */
const BENCH_COMMANDS = new Set(['info', 'script', 'client', 'ping', 'select', 'quit']);

export async function readCounters(client: Redis): Promise<RedisCounters> {
  const [commandStats, cpu] = await Promise.all([client.info('commandstats'), client.info('cpu')]);
  const commands: Record<string, CommandStat> = {};
  // Lines look like `cmdstat_hmget:calls=12,usec=34,usec_per_call=2.83,...`.
  for (const m of commandStats.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    commands[(m[1] as string).toLowerCase()] = { calls: Number(m[2]), usec: Number(m[3]) };
  }
  return { commands, cpuUs: (infoNumber(cpu, 'used_cpu_user') + infoNumber(cpu, 'used_cpu_sys')) * 1e6 };
}

export function subtract(after: RedisCounters, before: RedisCounters): RedisCounters {
  return combine(after, before, -1);
}

export function addCounters(a: RedisCounters, b: RedisCounters): RedisCounters {
  return combine(a, b, 1);
}

function combine(a: RedisCounters, b: RedisCounters, sign: 1 | -1): RedisCounters {
  const commands: Record<string, CommandStat> = {};
  for (const name of new Set([...Object.keys(a.commands), ...Object.keys(b.commands)])) {
    const x = a.commands[name] ?? { calls: 0, usec: 0 };
    const y = b.commands[name] ?? { calls: 0, usec: 0 };
    const calls = x.calls + sign * y.calls;
    if (calls !== 0) commands[name] = { calls, usec: x.usec + sign * y.usec };
  }
  return { commands, cpuUs: a.cpuUs + sign * b.cpuUs };
}

export function scriptStat(counters: RedisCounters): CommandStat {
  return SCRIPT_COMMANDS.reduce(
    (t, name) => {
      const s = counters.commands[name];
      return s ? { calls: t.calls + s.calls, usec: t.usec + s.usec } : t;
    },
    { calls: 0, usec: 0 },
  );
}

/** The commands the scripts ran, per decision, most frequent first, e.g. "hmget 2, get 1, time 1". */
export function innerCommandsPerDecision(counters: RedisCounters, decisions: number): string {
  return Object.entries(counters.commands)
    .filter(([name]) => !SCRIPT_COMMANDS.includes(name) && !BENCH_COMMANDS.has(name))
    .map(([name, s]) => [name, s.calls / decisions] as const)
    .filter(([, perDecision]) => perDecision >= 0.01)
    .sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]))
    .map(([name, perDecision]) => `${name} ${Number(perDecision.toFixed(2))}`)
    .join(', ');
}

function infoNumber(info: string, field: string): number {
  const line = new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info);
  return Number(line?.[1] ?? 0);
}

export async function redisVersion(client: Redis): Promise<string> {
  const info = await client.info('server');
  return /^redis_version:(\S+)/m.exec(info)?.[1] ?? 'unknown';
}

/** Deletes every key matching `pattern` (SCAN, not KEYS: safe on a shared server). */
export async function deleteMatching(client: Redis, pattern: string): Promise<number> {
  let deleted = 0;
  for await (const keys of client.scanStream({ match: pattern, count: 1000 })) {
    const batch = keys as string[];
    if (batch.length > 0) deleted += await client.unlink(...batch);
  }
  return deleted;
}
