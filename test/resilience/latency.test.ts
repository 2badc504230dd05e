/**
 * Latency injection: while 16 decisions are kept in flight, the server stops answering for 300 ms, either
 * with `CLIENT PAUSE 300 WRITE` (scripts that write are held) or with `DEBUG SLEEP 0.3` (the whole server
 * sleeps), sent from a separate ioredis connection. Each decision must return within the budget plus
 * slack, with the failure mode's outcome while the server is stuck, and decisions must go back to the
 * store after the pause.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLimiter, type LimitDefinition, RedisStore } from '../../src/index.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';
import {
  BUDGET_MS,
  describeSamples,
  firstEndingAfter,
  maxLatency,
  now,
  type PlainFailureMode,
  peekStore,
  RESET_TIMEOUT_MS,
  report,
  round,
  type Sample,
  SLACK_MS,
  sleep,
  sleepUntil,
  startLoad,
  tally,
  waitFor,
  warmUp,
  watchUnhandledRejections,
  wrongFailures,
} from './support.js';

const PAUSE_MS = 300;
const IN_FLIGHT = 16;
/** After the pause, decisions are back on the store within the breaker's reset timeout plus this. */
const RECOVERY_SLACK_MS = 300;
const LIMIT = 1_000_000;
const LIMITS: LimitDefinition[] = [{ name: 'big', algorithm: 'sliding-log', limit: LIMIT, window: '1h' }];
const PREFIX = `lat-${process.pid.toString(36)}${Date.now().toString(36)}`;

/**
 * How to make the server stop answering. Resolves with the interval during which it certainly did not
 * answer (whenever the server received the command between sending and the reply) and the latest
 * instant it could have resumed.
 */
interface Injection {
  name: string;
  inject(admin: Redis): Promise<{ stuckFrom: number; stuckUntil: number; resumedBy: number }>;
}

const INJECTIONS: Injection[] = [
  {
    // Received between sentAt and repliedAt; the pause runs from reception for PAUSE_MS.
    name: `CLIENT PAUSE ${PAUSE_MS} WRITE`,
    async inject(admin) {
      const sentAt = now();
      await admin.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE');
      const repliedAt = now();
      return { stuckFrom: repliedAt, stuckUntil: sentAt + PAUSE_MS, resumedBy: repliedAt + PAUSE_MS };
    },
  },
  {
    // The reply comes when the sleep ends: received between sentAt and repliedAt - PAUSE_MS.
    name: `DEBUG SLEEP ${PAUSE_MS / 1000}`,
    async inject(admin) {
      const sentAt = now();
      await admin.call('DEBUG', 'SLEEP', String(PAUSE_MS / 1000));
      const repliedAt = now();
      return { stuckFrom: repliedAt - PAUSE_MS, stuckUntil: sentAt + PAUSE_MS, resumedBy: repliedAt };
    },
  },
];

const CASES = INJECTIONS.flatMap((injection) =>
  (['closed', 'open'] as const).map((mode) => ({ injection, mode })),
);

describe('latency injection', () => {
  let server: RedisServer;
  let admin: Redis;

  beforeAll(async () => {
    server = await startRedis({ extraArgs: ['--enable-debug-command', 'yes'] });
    admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  it.each(CASES.map((c) => [c.injection.name, c.mode, c] as const))(
    '%s, failureMode %s: every decision within the budget, the failure outcome while stuck, the store after',
    async (_name, _mode, { injection, mode }: { injection: Injection; mode: PlainFailureMode }) => {
      const rejections = watchUnhandledRejections();
      const store = new RedisStore({ url: server.url });
      const limiter = createLimiter({
        store,
        limits: LIMITS,
        prefix: PREFIX,
        failureMode: mode,
        guard: { budgetMs: BUDGET_MS, breaker: { threshold: 5, resetTimeoutMs: RESET_TIMEOUT_MS } },
      });
      const tenant = `lat-${mode}-${injection.name.split(' ')[0]!.toLowerCase()}`;
      const request = { tenant, key: 'k' };
      try {
        await warmUp(limiter, request);
        expect((await limiter.limit(request)).path).toBe('store');
        const t0 = now();
        const load = startLoad(() => limiter.limit(request), IN_FLIGHT);
        await sleepUntil(t0 + 300);
        const { stuckFrom, stuckUntil, resumedBy } = await injection.inject(admin);
        const isStore = (s: Sample) => s.path === 'store';
        await sleepUntil(stuckUntil + RESET_TIMEOUT_MS);
        await waitFor(() => firstEndingAfter(load.samples, resumedBy, isStore) !== undefined, 3000);
        await sleep(200);
        await load.stop();
        const samples = load.samples;

        // Started while the server was certainly stuck, early enough to hit the budget before it resumed.
        const stuck = samples.filter(
          (s) => s.start >= stuckFrom && s.start + BUDGET_MS + SLACK_MS < stuckUntil,
        );
        const recovered = firstEndingAfter(samples, resumedBy, isStore);
        const relapses = recovered ? samples.filter((s) => s.start > recovered.end && !isStore(s)) : [];
        const firstFailure = firstEndingAfter(samples, stuckFrom - PAUSE_MS, (s) => !isStore(s));
        // Decisions the server ran after the pause although they had been abandoned at their budget.
        const peek = await peekStore(limiter, request);
        const used = LIMIT - peek.remaining;
        const storeAdmitted = 1 + samples.filter((s) => isStore(s) && s.allowed).length;

        report(
          `${injection.name} (${mode}): ${samples.length} decisions, ${IN_FLIGHT} in flight; ` +
            `${stuck.length} started while stuck, all ${JSON.stringify(tally(stuck, 'path'))}; ` +
            `first failure ${round(firstFailure && firstFailure.end - stuckFrom)} ms after the pause began ` +
            `(${firstFailure?.errorCode}); back on the store ${round(recovered && recovered.end - stuckUntil)} ms ` +
            `after the pause ended; max latency ${maxLatency(samples).toFixed(1)} ms (net of process stalls ${maxLatency(samples, load.netLatency).toFixed(1)} ms, event-loop delay max ${load.maxLoopDelayMs().toFixed(0)} ms); breaker opened ` +
            `${limiter.guard?.breaker.opened} time(s), ${relapses.length} failure decisions after the recovery; abandoned decisions the server ran after the pause ` +
            `(counted, but answered by the failure mode): ${used - storeAdmitted}`,
        );

        expect(load.thrown, 'errors thrown to callers').toEqual([]);
        expect(rejections.seen, 'unhandled rejections').toEqual([]);
        expect(samples.filter((s) => isStore(s) && !s.allowed)).toEqual([]);
        expect(wrongFailures(samples, mode), 'decisions with another outcome than the failure mode').toEqual(
          [],
        );
        const slow = samples.filter((s) => load.netLatency(s) > BUDGET_MS + SLACK_MS);
        expect(
          slow,
          `decisions slower than ${BUDGET_MS} + ${SLACK_MS} ms net of process stalls: ${describeSamples(slow, t0)}`,
        ).toEqual([]);
        expect(stuck.length).toBeGreaterThan(0);
        expect(stuck.filter(isStore), `store answers while stuck: ${describeSamples(stuck, t0)}`).toEqual([]);
        expect(recovered, 'a store decision after the pause').toBeDefined();
        expect(recovered!.end - stuckUntil).toBeLessThanOrEqual(RESET_TIMEOUT_MS + RECOVERY_SLACK_MS);
        // After the pause, a failure can only be the breaker reacting to a slow answer.
        expect(
          relapses.filter(
            (s) => s.errorCode !== 'ERR_SLUICE_STORE_TIMEOUT' && s.errorCode !== 'ERR_SLUICE_CIRCUIT_OPEN',
          ),
          'other errors after the recovery',
        ).toEqual([]);
        // Nothing is counted twice: at most every decision sent is counted once.
        expect(used).toBeGreaterThanOrEqual(storeAdmitted);
      } finally {
        rejections.dispose();
        await limiter.close();
      }
    },
    20_000,
  );
});
