/**
 * The bench's own Redis: a throwaway `redis-server` on a free port (never 6379), or the server named by
 * BENCH_REDIS_URL when that is set (then nothing is started or stopped), or the throwaway server
 * `npm run bench` shares between its benches (SHARED_REDIS_ENV).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';

export interface BenchRedis {
  url: string;
  /** True when BENCH_REDIS_URL was given: someone else's server, left running. */
  external: boolean;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * Set by `npm run bench` (bench/all.ts) for the benches it runs: the throwaway server it started for
 * all of them. Each bench treats it as its own (may flush it); bench/all.ts stops it.
 */
export const SHARED_REDIS_ENV = 'SLUICE_BENCH_SHARED_REDIS_URL';

export async function provideRedis(): Promise<BenchRedis> {
  const external = process.env['BENCH_REDIS_URL'];
  if (external) return { url: external, external: true, stop: async () => {} };
  const shared = process.env[SHARED_REDIS_ENV];
  if (shared) return { url: shared, external: false, stop: async () => {} };
  return startRedisServer();
}

/** Spawns `redis-server` with no persistence, waits until it answers PING. */
async function startRedisServer(): Promise<BenchRedis> {
  const port = await freePort();
  const bin = process.env['REDIS_SERVER_BIN'] ?? 'redis-server';
  const args = ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', HOST];
  // cwd in the temp dir: even if the server wrote a file, it would not land in the repository.
  const child = spawn(bin, args, { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer) => {
    if (output.length < 20_000) output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  // If the bench dies, the server dies with it.
  const killNow = () => child.kill('SIGKILL');
  process.once('exit', killNow);

  try {
    await waitForPing(child, port);
  } catch (error) {
    killNow();
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`redis-server on port ${port} did not start: ${reason}\n${output}`);
  }
  return {
    url: `redis://${HOST}:${port}`,
    external: false,
    stop: async () => {
      await stopChild(child);
      process.removeListener('exit', killNow);
    },
  };
}

/** A port the OS says is free right now (6379 is skipped: it is probably a developer's own Redis). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, HOST, () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    if (port !== 6379) return port;
  }
}

async function waitForPing(child: ChildProcess, port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    const probe = new Redis({
      host: HOST,
      port,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not listening yet
    } finally {
      probe.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no PONG within ${READY_TIMEOUT_MS} ms`);
}

/** SIGTERM, then SIGKILL if the process has not exited within STOP_TIMEOUT_MS. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
