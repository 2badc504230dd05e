/**
 * kill -9 under steady load. A limiter on a real redis-server (guard: 50 ms budget, breaker threshold 5,
 * reset timeout 500 ms) keeps 32 decisions in flight for ~3 s; the server is killed with SIGKILL at ~1 s
 * and restarted at ~2 s. Every decision during the outage must have the failure mode's outcome and come
 * back within the budget (plus slack); nothing may be rejected unhandled; decisions must go back to the
 * store soon after the restart, and the restarted store must hold exactly the decisions it answered:
 * nothing from decisions that were abandoned during the outage (a backlog re-sent on reconnect).
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createLimiter, type LimitDefinition, RedisStore } from '../../src/index.js';
import { startRedis } from '../support/redis-servers.js';
import {
  BUDGET_MS,
  describeSamples,
  FAILURE_OUTCOME,
  firstEndingAfter,
  maxLatency,
  now,
  outcomeOf,
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

const THRESHOLD = 5;
/** How long after the restart decisions may take to come back to the store. */
const RECOVERY_BOUND_MS = RESET_TIMEOUT_MS + 400;
const IN_FLIGHT = 32;
/** A big limit over a long window: nothing is rejected, and the store's count is exact. */
const LIMIT = 1_000_000;
const LIMITS: LimitDefinition[] = [{ name: 'big', algorithm: 'sliding-log', limit: LIMIT, window: '1h' }];
const PREFIX = `res-${process.pid.toString(36)}${Date.now().toString(36)}`;
const GUARD = { budgetMs: BUDGET_MS, breaker: { threshold: THRESHOLD, resetTimeoutMs: RESET_TIMEOUT_MS } };

describe('kill -9 under steady load', () => {
  it.each(['closed', 'open'] as const)(
    'failureMode %s: failure outcome within the budget during the outage, back to the store after restart, nothing counted for abandoned decisions',
    async (mode: PlainFailureMode) => {
      const rejections = watchUnhandledRejections();
      const server = await startRedis();
      const store = new RedisStore({ url: server.url });
      const limiter = createLimiter({
        store,
        limits: LIMITS,
        prefix: PREFIX,
        failureMode: mode,
        guard: GUARD,
      });
      const tenant = `outage-${mode}`;
      const request = { tenant, key: 'k' };
      try {
        // Connected, script loaded: the load starts against a healthy store.
        await warmUp(limiter, request);
        expect((await limiter.limit(request)).path).toBe('store');

        const readyAt: number[] = [];
        store.client.on('ready', () => readyAt.push(now()));
        const t0 = now();
        const load = startLoad(() => limiter.limit(request), IN_FLIGHT);
        await sleepUntil(t0 + 1000);
        const killAt = now();
        await server.kill();
        const killed = now();
        await sleepUntil(t0 + 2000);
        const restartAt = now();
        await server.restart();
        const restarted = now();
        const isStore = (s: Sample) => s.path === 'store';
        // Run to ~3 s, longer only if the store has not answered yet (bounded: the assertion says by how much).
        await sleepUntil(t0 + 3000);
        await waitFor(() => firstEndingAfter(load.samples, restarted, isStore) !== undefined, 3000);
        await sleep(200); // some decisions after the recovery
        await load.stop();
        const ended = now();
        const samples = load.samples;

        const detected = firstEndingAfter(samples, killAt, (s) => !isStore(s));
        const recovered = firstEndingAfter(samples, restarted, isStore);
        const outage = samples.filter((s) => s.start >= killed && s.end <= restartAt);
        const relapses = recovered ? samples.filter((s) => s.start > recovered.end && !isStore(s)) : [];
        const abandoned = samples.filter((s) => s.errorCode === 'ERR_SLUICE_STORE_TIMEOUT');
        // Abandoned at the budget after the client had reconnected: sent to a live server, which may still
        // have run them (a timeout cannot tell). Abandoned before that: queued, and must never run.
        const reconnectedAt = readyAt.find((t) => t >= restartAt);
        const abandonedLive =
          reconnectedAt === undefined ? [] : abandoned.filter((s) => s.start >= reconnectedAt);
        const peek = await peekStore(limiter, request);
        const used = LIMIT - peek.remaining;
        // The restarted server is empty: it holds what it answered, decisions ending after the kill.
        const expectedUsed = samples.filter((s) => isStore(s) && s.allowed && s.end > killed).length;

        report(
          `outage (${mode}): ${samples.length} decisions in ${round(ended - t0)} ms, ${IN_FLIGHT} in flight; ` +
            `outage ${round(restartAt - killed)} ms (kill -9 at ${round(killAt - t0)} ms, restart done at ${round(restarted - t0)} ms): ` +
            `${outage.length} decisions during the outage, all ${JSON.stringify(tally(outage, 'path'))}; ` +
            `time to detect ${round(detected && detected.end - killAt)} ms (first failure: ${detected?.errorCode} after ${round(detected?.latency)} ms); ` +
            `time to recover ${round(recovered && recovered.end - restarted)} ms after the restart (client reconnected ${round(reconnectedAt && reconnectedAt - restarted)} ms after it); ` +
            `max latency ${maxLatency(samples).toFixed(1)} ms (net of process stalls ${maxLatency(samples, load.netLatency).toFixed(1)} ms, ` +
            `event-loop delay max ${load.maxLoopDelayMs().toFixed(0)} ms; during the outage ${maxLatency(outage).toFixed(1)} ms); ` +
            `breaker opened ${limiter.guard?.breaker.opened} time(s); ${relapses.length} failure decisions after the recovery ` +
            `${JSON.stringify(tally(relapses, 'errorCode'))}; error codes ${JSON.stringify(tally(samples, 'errorCode'))}`,
        );
        report(
          `outage (${mode}) backlog check: restarted store counts ${used}, decisions it answered (store, allowed) ` +
            `${expectedUsed}: ${used - expectedUsed} counted for abandoned decisions; ${abandoned.length} decisions ` +
            `were abandoned at the ${BUDGET_MS} ms budget, ${abandonedLive.length} of them sent to the live, reconnected server`,
        );

        expect(load.thrown, 'errors thrown to callers').toEqual([]);
        expect(rejections.seen, 'unhandled rejections').toEqual([]);
        // Every decision is either the store's (all admitted: the limit is huge) or the failure mode's.
        expect(
          samples.filter((s) => isStore(s) && !s.allowed),
          'store decisions rejected',
        ).toEqual([]);
        expect(wrongFailures(samples, mode), 'decisions with another outcome than the failure mode').toEqual(
          [],
        );
        expect(outage.length).toBeGreaterThan(0);
        expect(
          outage.filter(isStore),
          `store decisions while the server was dead: ${describeSamples(outage.filter(isStore), t0)}`,
        ).toEqual([]);
        expect(outcomeOf(outage[0]!)).toEqual(FAILURE_OUTCOME[mode]);
        // No decision waits on a dead store past its budget.
        const slow = samples.filter((s) => load.netLatency(s) > BUDGET_MS + SLACK_MS);
        expect(
          slow,
          `decisions slower than ${BUDGET_MS} + ${SLACK_MS} ms net of process stalls: ${describeSamples(slow, t0)}`,
        ).toEqual([]);
        expect(detected, 'a failure decision after the kill').toBeDefined();
        expect(recovered, 'a store decision after the restart').toBeDefined();
        expect(recovered!.end - restarted).toBeLessThanOrEqual(RECOVERY_BOUND_MS);
        // Once reconnected, a failure can only be the breaker reacting to a slow answer, never a lost connection.
        expect(
          relapses.filter(
            (s) => s.errorCode !== 'ERR_SLUICE_STORE_TIMEOUT' && s.errorCode !== 'ERR_SLUICE_CIRCUIT_OPEN',
          ),
          'connection errors after the recovery',
        ).toEqual([]);
        // The restarted (empty) server holds exactly what it answered, plus at most the decisions abandoned
        // while connected (0 on a machine that keeps up): nothing queued during the outage and sent later.
        expect(peek.path).toBe('store');
        expect(
          used,
          'count in the restarted store vs store-admitted decisions after the restart',
        ).toBeGreaterThanOrEqual(expectedUsed);
        expect(
          used - expectedUsed,
          'units counted on the restarted server for decisions abandoned before it was reachable (an offline-queue backlog)',
        ).toBeLessThanOrEqual(abandonedLive.length);
      } finally {
        rejections.dispose();
        await limiter.close();
        await server.stop();
      }
    },
    30_000,
  );

  /**
   * The same question, made deterministic: one decision is abandoned (at its budget) while the client is
   * between reconnection attempts, the server comes back, the client reconnects. With ioredis' offline
   * queue on, the abandoned command is still queued and is sent on reconnect; it must not be counted.
   *
   * ioredis flushes its offline queue with MaxRetriesPerRequestError every (maxRetriesPerRequest + 1)-th
   * failed reconnection (every 2nd with Sluice's maxRetriesPerRequest: 1), so the decision is made just
   * after an odd attempt (no flush), with a retry delay long enough (>= 350 ms, default strategy
   * 50 ms x attempt) to restart the server before the client's next attempt.
   */
  it('a decision abandoned while the connection is down is never executed after the reconnect', async () => {
    const rejections = watchUnhandledRejections();
    const server = await startRedis();
    const store = new RedisStore({ url: server.url });
    const limiter = createLimiter({ store, limits: LIMITS, prefix: PREFIX, guard: GUARD });
    const request = { tenant: 'backlog', key: 'k' };
    const client = store.client as Redis;
    try {
      await warmUp(limiter, request);
      expect((await limiter.limit(request)).path).toBe('store');
      const attempts: number[] = [];
      client.on('reconnecting', (delay: number) => attempts.push(delay));
      const oddAttempt = new Promise<number>((resolve) => {
        const onDelay = (delay: number) => {
          if (delay >= 350 && (delay / 50) % 2 === 1) {
            client.off('reconnecting', onDelay);
            resolve(delay);
          }
        };
        client.on('reconnecting', onDelay);
      });
      await server.kill();
      const delay = await oddAttempt;
      const seenBefore = attempts.length;
      // Not events.once: it would reject on the client's 'error' events (failed reconnection attempts).
      const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
      const [decision] = await Promise.all([limiter.limit(request), server.restart()]);
      await Promise.race([ready, sleep(3000)]);
      const reconnectedAtOnce = attempts.length === seenBefore && client.status === 'ready';
      await sleep(200);
      const peek = await peekStore(limiter, request);
      const used = LIMIT - peek.remaining;
      report(
        `offline-queue backlog: decision during the outage ${decision.path} (${decision.storeError?.code}), ` +
          `client reconnected ${reconnectedAtOnce ? 'at its next attempt' : 'later'} (retry delay ${delay} ms); ` +
          `the restarted server counts ${used} (expected 0)`,
      );
      expect(decision.path).toBe('fail-closed');
      expect(
        reconnectedAtOnce,
        'inconclusive: the server was not back before the client retried (the queue was flushed)',
      ).toBe(true);
      expect(rejections.seen).toEqual([]);
      expect(peek.path).toBe('store');
      expect(used, 'units counted on the restarted server for a decision that was abandoned').toBe(0);
    } finally {
      rejections.dispose();
      await limiter.close();
      await server.stop();
    }
  }, 20_000);
});
