/**
 * Parent side of bench/http/server.ts: spawns one server per framework and variant on a free port,
 * waits for its `listening` line, asks it for its CPU time, stops it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, stopChild } from '../lib/redis-server.js';
import { type Framework, HOST, type Variant } from './config.js';

export interface ServerStats {
  cpuUs: number;
  /** null: no Sluice limiter in this server. */
  circuitOpened: number | null;
}

export interface ServerProcess {
  framework: Framework;
  variant: Variant;
  url: string;
  pid: number;
  /** The server's CPU time (user + system) so far in µs, and for Sluice its circuit openings so far. */
  stats(): Promise<ServerStats>;
  stop(): Promise<void>;
}

const SERVER_SCRIPT = fileURLToPath(new URL('./server.ts', import.meta.url));
const READY_TIMEOUT_MS = 30_000;

export async function startServer(
  framework: Framework,
  variant: Variant,
  redisUrl: string,
): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', SERVER_SCRIPT, framework, variant, redisUrl, String(port)],
    {
      env: { ...process.env, NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  // If the bench dies, its servers die with it.
  const killNow = () => child.kill('SIGKILL');
  process.once('exit', killNow);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 20_000) stderr += chunk.toString();
  });
  try {
    await waitForListening(child, port);
  } catch (error) {
    killNow();
    process.removeListener('exit', killNow);
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${framework}/${variant} server did not start: ${reason}\n${stderr}`);
  }
  return {
    framework,
    variant,
    url: `http://${HOST}:${port}/`,
    pid: child.pid ?? -1,
    stats: () => askStats(child),
    stop: async () => {
      await stopChild(child);
      process.removeListener('exit', killNow);
    },
  };
}

function waitForListening(child: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => done(new Error(`no "listening" line within ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const line = /^listening (\d+)$/m.exec(out);
      if (!line) return;
      done(Number(line[1]) === port ? undefined : new Error(`listening on ${line[1]}, expected ${port}`));
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`exited (code ${code}, signal ${signal})`));
    const done = (error?: Error) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve();
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

function askStats(child: ChildProcess): Promise<ServerStats> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown) => {
      const m = message as ({ type?: string } & Partial<ServerStats>) | null;
      if (m?.type !== 'stats' || typeof m.cpuUs !== 'number') return;
      child.off('message', onMessage);
      resolve({ cpuUs: m.cpuUs, circuitOpened: m.circuitOpened ?? null });
    };
    child.on('message', onMessage);
    if (!child.send({ type: 'stats' })) {
      child.off('message', onMessage);
      reject(new Error('server IPC channel closed'));
    }
  });
}
