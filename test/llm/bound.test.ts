/**
 * The bound, across two OS processes sharing one real Redis: the tokens counted in a window (every
 * admitted reservation, settled or not, plus every excess charged at settlement) never exceed
 * `tokensPerMinute + debt`. Each process reserves before its calls and settles after them with usage
 * up to twice the output bound; one in 20 calls is never settled (their reservations stay).
 * The whole run fits in one minute, so the 1-minute window holds every call: the counter read at the
 * end is what the window admitted, and it equals what the processes say they left counted.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../src/index.js';
import { freshPrefix, useRedis } from '../regressions/support.js';
import type { BoundConfig, BoundReport } from './bound-worker.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const redis = useRedis();

/** Starts a worker: resolves `ready` once it is connected, `report` with its last line. */
function runWorker(config: BoundConfig) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/llm/bound-worker.ts', JSON.stringify(config)],
    { cwd: ROOT },
  );
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const report = new Promise<BoundReport>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.startsWith('ready\n')) markReady();
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.slice('ready\n'.length).trim()) as BoundReport)
        : reject(new Error(`worker exited ${code}: ${err}`)),
    );
  });
  return { ready, report, go: () => child.stdin.write('go\n') };
}

describe('tokens admitted in a window <= limit + debt, two processes on one Redis', () => {
  it.each([
    { tokensPerMinute: 20_000, debt: 0 },
    { tokensPerMinute: 20_000, debt: 3000 },
  ])(
    'tokensPerMinute $tokensPerMinute, debt $debt',
    async ({ tokensPerMinute, debt }) => {
      const prefix = freshPrefix();
      const config = { url: redis.server.url, prefix, calls: 200, tokensPerMinute, debt };
      const workers = [runWorker({ ...config, seed: 1 }), runWorker({ ...config, seed: 2 })];
      await Promise.all(workers.map((w) => w.ready));
      for (const w of workers) w.go();
      const reports = await Promise.all(workers.map((w) => w.report));
      const limiter = createLimiter({
        store: Object.create(redis.store, { close: { value: async () => {} } }),
        prefix,
      });
      const peek = await limiter.decide({
        tenant: 'default',
        cost: 0,
        checks: [
          {
            limit: {
              name: 'openai:tpm',
              algorithm: 'sliding-log',
              limit: tokensPerMinute + debt,
              window: '1m',
            },
            key: 'shared',
          },
        ],
      });
      const inWindow = tokensPerMinute + debt - peek.remaining;
      const counted = reports.reduce((s, r) => s + r.counted, 0);
      expect(inWindow).toBeLessThanOrEqual(tokensPerMinute + debt);
      expect(inWindow).toBe(counted); // exact accounting: reservations, refunds and excess charges
      expect(
        reports.every((r) => r.admitted > 0 && r.refused > 0),
        JSON.stringify(reports),
      ).toBe(true); // both contended
    },
    60_000,
  );
});
