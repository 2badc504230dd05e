/** What every bench report records about the run: the machine, the versions, how to repeat it. */
import { createRequire } from 'node:module';
import os from 'node:os';
import { relative } from 'node:path';
import type { Redis } from 'ioredis';
import { redisVersion } from './redis-stats.js';
import { benchSettings } from './settings.js';

export interface MachineInfo {
  date: string;
  command: string;
  node: string;
  redis: string;
  /** "throwaway redis-server" or the BENCH_REDIS_URL (password masked). */
  redisServer: string;
  cpus: number;
  cpuModel: string;
  platform: string;
  versions: Record<string, string>;
}

/** The machine and versions of this run, and the command (with `envPrefix` settings) that repeats it. */
export async function machineInfo(
  admin: Redis,
  redisServer: string,
  envPrefix: string,
  script: string,
): Promise<MachineInfo> {
  const require = createRequire(import.meta.url);
  const version = (name: string) => (require(`${name}/package.json`) as { version: string }).version;
  return {
    date: new Date().toISOString(),
    command: exactCommand(envPrefix, script),
    node: process.version,
    redis: await redisVersion(admin),
    redisServer,
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    versions: {
      ioredis: version('ioredis'),
      'rate-limiter-flexible': version('rate-limiter-flexible'),
      'hdr-histogram-js': version('hdr-histogram-js'),
    },
  };
}

/** How this run was started, with the settings in effect, so it can be repeated. */
function exactCommand(envPrefix: string, script: string): string {
  const settings = benchSettings(envPrefix);
  const event = process.env['npm_lifecycle_event'];
  const path = relative(process.cwd(), process.argv[1] ?? script);
  return [...settings, event ? `npm run ${event}` : `npx tsx ${path}`].join(' ');
}

/** The items rotated left by `by`: each round starts with another contender. */
export function rotate<T>(items: T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
