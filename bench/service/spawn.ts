/**
 * The service under load: `node dist/cli.js serve` in its own process, on a free port (or, with
 * `entry`, another server that takes `--port` and prints the same line: the bare Fastify ceiling).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { freePort, stopChild } from '../lib/redis-server.js';

export interface ServiceProcess {
  url: string;
  grpcPort: number | undefined;
  /** CPU time (user + system) of the server process so far, µs (from /proc). */
  cpuUs(): number;
  stop(): Promise<void>;
}

export async function startService(
  args: string[],
  env: Record<string, string>,
  entry: string[] = ['dist/cli.js', 'serve'],
): Promise<ServiceProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [...entry, '--port', String(port), ...args], {
    env: { ...process.env, NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the service did not start within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`the service exited (${code})`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
      if (!text.startsWith('sluice: listening on ')) return;
      clearTimeout(timer);
      resolve(text);
    });
  });
  const grpc = /\(grpc (\d+)\)/.exec(line)?.[1];
  return {
    url: `http://127.0.0.1:${port}`,
    grpcPort: grpc ? Number(grpc) : undefined,
    cpuUs: () => processCpuUs(child.pid as number),
    stop: () => stopChild(child),
  };
}

/** utime + stime of a process, in µs (Linux /proc; clock ticks of 10 ms). */
function processCpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}
