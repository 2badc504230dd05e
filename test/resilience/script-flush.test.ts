/**
 * SCRIPT FLUSH repeatedly mid-load: every 50 ms for 1 s, from a separate connection, while 16 decisions
 * are in flight on one key (limit 10^6 per hour). The store answers NOSCRIPT, Sluice re-sends the script
 * with EVAL (which runs it once: NOSCRIPT means it did not run). No error may reach the caller (every
 * decision is the store's), and nothing may be counted twice: admitted == limit - remaining.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLimiter, type LimitDefinition, RedisStore } from '../../src/index.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';
import {
  describeSamples,
  maxLatency,
  now,
  peekStore,
  report,
  sleep,
  startLoad,
  tally,
  warmUp,
  watchUnhandledRejections,
} from './support.js';

const LIMIT = 1_000_000;
const IN_FLIGHT = 16;
const FLUSH_EVERY_MS = 50;
const RUN_MS = 1000;
const PREFIX = `flush-${process.pid.toString(36)}${Date.now().toString(36)}`;

/** `cmdstat_<name>` of INFO commandstats as numbers: calls, failed_calls... */
function commandStats(info: string, name: string): Record<string, number> {
  const line = info.split(/\r?\n/).find((l) => l.startsWith(`cmdstat_${name}:`));
  const out: Record<string, number> = {};
  for (const pair of line?.slice(line.indexOf(':') + 1).split(',') ?? []) {
    const [k, v] = pair.split('=');
    if (k !== undefined) out[k] = Number(v);
  }
  return out;
}

describe('SCRIPT FLUSH mid-load', () => {
  let server: RedisServer;
  let admin: Redis;

  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  it.each([
    ['sliding-log', '1h'],
    ['fixed-window', '1d'],
  ] as const)(
    '%s: every decision is the store’s, admitted == limit - remaining',
    async (algorithm, window) => {
      // fixed-window is epoch-aligned: '1d', and the run (~1.5 s) must not straddle a UTC midnight.
      if (algorithm === 'fixed-window') {
        const left = 86_400_000 - (Date.now() % 86_400_000);
        if (left < 10_000) await sleep(left + 50);
      }
      const limits: LimitDefinition[] = [{ name: 'big', algorithm, limit: LIMIT, window }];
      const rejections = watchUnhandledRejections();
      const store = new RedisStore({ url: server.url });
      // The budget is generous on purpose: this test is about scripts, and any error (NOSCRIPT reaching
      // the caller, a script re-sent after a failure) still shows as a non-store decision.
      const limiter = createLimiter({ store, limits, prefix: PREFIX, guard: { budgetMs: 1000 } });
      const request = { tenant: `flush-${algorithm}`, key: 'k' };
      try {
        await warmUp(limiter, request);
        expect((await limiter.limit(request)).path).toBe('store');
        await admin.config('RESETSTAT');
        const load = startLoad(() => limiter.limit(request), IN_FLIGHT, 0);
        const t0 = now();
        let flushes = 0;
        while (now() - t0 < RUN_MS) {
          expect(await admin.script('FLUSH')).toBe('OK');
          flushes++;
          await sleep(FLUSH_EVERY_MS);
        }
        await load.stop();
        const samples = load.samples;
        const info = (await admin.info('commandstats')) as string;
        const evalsha = commandStats(info, 'evalsha');
        const evals = commandStats(info, 'eval');
        const admitted = 1 + samples.filter((s) => s.allowed).length;
        const peek = await peekStore(limiter, request);
        const used = LIMIT - peek.remaining;

        report(
          `SCRIPT FLUSH (${algorithm}): ${flushes} flushes in ${RUN_MS} ms, ${samples.length} decisions ` +
            `(${IN_FLIGHT} in flight), paths ${JSON.stringify(tally(samples, 'path'))}; EVALSHA ${evalsha['calls']} ` +
            `(${(evalsha['failed_calls'] ?? 0) + (evalsha['rejected_calls'] ?? 0)} NOSCRIPT), EVAL ${evals['calls'] ?? 0}; ` +
            `admitted ${admitted}, limit - remaining ${used}; max latency ${maxLatency(samples).toFixed(1)} ms (net of process stalls ${maxLatency(samples, load.netLatency).toFixed(1)} ms, event-loop delay max ${load.maxLoopDelayMs().toFixed(0)} ms)`,
        );

        expect(load.thrown, 'errors thrown to callers').toEqual([]);
        expect(rejections.seen, 'unhandled rejections').toEqual([]);
        const notStore = samples.filter((s) => s.path !== 'store');
        expect(notStore, `decisions not made by the store: ${describeSamples(notStore, t0)}`).toEqual([]);
        expect(samples.every((s) => s.allowed)).toBe(true);
        // The flushes did bite: some EVALSHA calls found no script and were recovered with EVAL.
        expect(evals['calls'] ?? 0).toBeGreaterThan(0);
        expect(peek.path).toBe('store');
        expect(used, 'counted in the store vs admitted').toBe(admitted);
      } finally {
        rejections.dispose();
        await limiter.close();
      }
    },
    20_000,
  );
});
