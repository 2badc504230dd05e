/**
 * `local` failure mode across processes: a fleet of K = 3 limiter processes (test/resilience/
 * local-worker.ts), each with failureMode 'local' and localShare { instances: 3 }, limit 30 per hour on
 * one key, against a Redis that is down. Each process fires 40 decisions at once. Every decision is taken
 * by the local fallback, and the fleet as a whole admits at most the limit: floor(30 / 3) = 10 each, 30.
 * Twice: with the server killed under connected clients, and with a server that was never reachable.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { LimitDefinition } from '../../src/index.js';
import { startRedis } from '../support/redis-servers.js';
import type { LocalWorkerConfig, LocalWorkerReport } from './local-worker.js';
import { report } from './support.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORKER = 'test/resilience/local-worker.ts';
const K = 3;
const LIMIT = 30;
const REQUESTS = 40;
const LIMITS: LimitDefinition[] = [{ name: 'hourly', algorithm: 'sliding-log', limit: LIMIT, window: '1h' }];
const CHILD_TIMEOUT_MS = 20_000;
const PREFIX = `fleet-${process.pid.toString(36)}${Date.now().toString(36)}`;

interface Child {
  ready: Promise<boolean>;
  go(): void;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  kill(): void;
}

/** Spawns one worker; `ready` resolves true when it prints `ready`, false if it exits first. */
function spawnWorker(config: LocalWorkerConfig): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(config)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let markReady: (ok: boolean) => void = () => {};
  const ready = new Promise<boolean>((resolve) => {
    markReady = resolve;
  });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk;
    if (/^ready$/m.test(stdout)) markReady(true);
  });
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdin.on('error', () => {});
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const finish = (code: number | null) => {
      clearTimeout(timer);
      markReady(false);
      resolve({ code, stdout, stderr });
    };
    child.once('error', (error) => {
      stderr += `spawn failed: ${error.message}\n`;
      finish(null);
    });
    child.once('close', (code) => finish(code));
  });
  return {
    ready,
    go: () => child.stdin.end('go\n'),
    done,
    kill: () => child.kill('SIGKILL'),
  };
}

describe('local failure mode across a fleet of processes', () => {
  it.each([
    ['killed under connected clients', true],
    ['never reachable', false],
  ] as const)(
    'Redis %s: 3 processes x 40 decisions, all local, the fleet admits at most 30',
    async (label, connectFirst) => {
      const server = await startRedis();
      const children: Child[] = [];
      try {
        // Never reachable: the port stays reserved by the harness, and nothing listens on it.
        if (!connectFirst) await server.kill();
        const config: LocalWorkerConfig = {
          url: server.url,
          prefix: PREFIX,
          tenant: connectFirst ? 'fleetconnected' : 'fleetneverup',
          key: 'k',
          limits: LIMITS,
          instances: K,
          requests: REQUESTS,
          connectFirst,
        };
        for (let i = 0; i < K; i++) children.push(spawnWorker(config));
        const ready = await Promise.all(children.map((c) => c.ready));
        if (connectFirst) await server.kill();
        for (const c of children) c.go();
        const runs = await Promise.all(children.map((c) => c.done));
        const summary = runs
          .map(
            (r, i) => `  worker ${i}: exit ${r.code}, stdout ${r.stdout.trim()}, stderr ${r.stderr.trim()}`,
          )
          .join('\n');
        expect(ready, `workers ready:\n${summary}`).toEqual([true, true, true]);
        const reports = runs.map((r) => {
          const last = r.stdout.trim().split('\n').at(-1) ?? '';
          if (r.code !== 0 || !last.startsWith('{')) throw new Error(`a worker failed:\n${summary}`);
          return JSON.parse(last) as LocalWorkerReport;
        });
        const admitted = reports.reduce((sum, r) => sum + r.admitted, 0);
        report(
          `local fleet (Redis ${label}): ${K} processes x ${REQUESTS} decisions, limit ${LIMIT}, share 1/${K}: ` +
            `fleet admitted ${admitted} (${reports.map((r) => r.admitted).join('+')}); paths ` +
            `${JSON.stringify(reports.map((r) => r.paths))}; store errors ${JSON.stringify(reports.map((r) => r.storeErrors))}; ` +
            `slowest decision ${Math.max(...reports.map((r) => r.maxLatencyMs))} ms` +
            (connectFirst
              ? `; cold start: ${reports.map((r) => r.coldStartFailovers).join('+')} warm-up peeks failed over before the store decided`
              : ''),
        );
        for (const r of reports) {
          expect(r.paths, `paths of worker ${r.pid}`).toEqual({ local: REQUESTS });
          expect(r.admitted, `admitted by worker ${r.pid}`).toBe(Math.floor(LIMIT / K));
          expect(r.reasons).toEqual({
            allowed: Math.floor(LIMIT / K),
            rate_limited: REQUESTS - Math.floor(LIMIT / K),
          });
        }
        expect(admitted).toBeLessThanOrEqual(LIMIT);
        expect(admitted).toBe(K * Math.floor(LIMIT / K));
      } finally {
        for (const c of children) c.kill();
        await server.stop();
      }
    },
    30_000,
  );
});
