/**
 * Redis Cluster failover: 3 masters with one replica each. Decisions on one tenant go to the master that
 * owns the tenant's hash slot; after they are replicated (WAIT through a plain connection to that
 * master), the master is killed with SIGKILL. The same limiter (never restarted) keeps deciding — the
 * failure mode decides while the cluster fails over — until the store decides again, on the promoted
 * replica, which must still hold the counts made before the kill.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLimiter, type LimitDefinition, RedisStore } from '../../src/index.js';
import { keySlot, type RedisCluster, startCluster } from '../support/redis-servers.js';
import {
  BUDGET_MS,
  describeSamples,
  firstEndingAfter,
  maxLatency,
  now,
  peekStore,
  RESET_TIMEOUT_MS,
  report,
  round,
  type Sample,
  SLACK_MS,
  sleep,
  startLoad,
  tally,
  waitFor,
  warmUp,
  watchUnhandledRejections,
  wrongFailures,
} from './support.js';

const LIMIT = 1_000_000;
const LIMITS: LimitDefinition[] = [{ name: 'big', algorithm: 'sliding-log', limit: LIMIT, window: '1h' }];
const PREFIX = 'failover';
/** Plain [a-z]: the encoded tenant is the tenant, so the hash tag of every key is `{failovertenant}`. */
const TENANT = 'failovertenant';
const BEFORE = 200;
const IN_FLIGHT = 8;
const RESUME_TIMEOUT_MS = 15_000;

describe('Redis Cluster: kill -9 the master of the tenant’s slot', () => {
  let cluster: RedisCluster;

  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('decisions resume on the promoted replica without restarting the limiter, with the replicated counts', async () => {
    const rejections = watchUnhandledRejections();
    const slot = keySlot(`${PREFIX}:{${TENANT}}:m`);
    const masterPort = await cluster.masterPortForSlot(slot);
    const master = cluster.nodes.find((n) => n.port === masterPort)!;
    const store = new RedisStore({ cluster: { nodes: cluster.startupNodes } });
    const limiter = createLimiter({
      store,
      limits: LIMITS,
      prefix: PREFIX,
      failureMode: 'closed',
      guard: { budgetMs: BUDGET_MS, breaker: { threshold: 5, resetTimeoutMs: RESET_TIMEOUT_MS } },
    });
    const request = { tenant: TENANT, key: 'k' };
    const plain = new Redis(master.url, { maxRetriesPerRequest: 1 });
    try {
      // A new Cluster client connects and loads the slot map on first use: warm it up first.
      const cold = await warmUp(limiter, request);
      report(
        `cluster failover: cold start: ${cold.failedOver} peek(s) failed over before the store decided ` +
          `(${round(cold.ms)} ms after the first call)`,
      );
      // Before: BEFORE decisions, all made by that master.
      const before = [];
      for (let i = 0; i < BEFORE / 20; i++) {
        before.push(...(await Promise.all(Array.from({ length: 20 }, () => limiter.limit(request)))));
      }
      expect(
        tally(
          before.map((d) => ({ path: d.path, allowed: d.allowed }) as Sample),
          'path',
        ),
      ).toEqual({
        store: BEFORE,
      });
      expect(before.every((d) => d.allowed)).toBe(true);
      // WAIT waits for this connection's own writes: one write on the same master (same hash tag, so the
      // same slot) after all the limiter's writes; once a replica has it, it has everything before it.
      await plain.set(`{${TENANT}}:wait-marker`, '1');
      const acked = Number(await plain.call('WAIT', '1', '5000'));
      expect(acked, 'replicas that acknowledged the writes before the kill').toBeGreaterThanOrEqual(1);
      plain.disconnect(); // before the kill: its reconnection attempts would be noise
      const usedBefore = LIMIT - (await peekStore(limiter, request)).remaining;
      expect(usedBefore).toBe(BEFORE);

      const rejectionsBeforeKill = rejections.seen.length;
      // Nothing in flight at the kill, so the count before it is exact; the load starts right after.
      const killAt = now();
      await master.kill();
      const killed = now();
      const load = startLoad(() => limiter.limit(request), IN_FLIGHT);
      const isStore = (s: Sample) => s.path === 'store';
      const resumed = await waitFor(
        () => firstEndingAfter(load.samples, killed, isStore) !== undefined,
        RESUME_TIMEOUT_MS,
        50,
      );
      await sleep(500); // decisions after the resumption, to see it holds
      await load.stop();
      const samples = load.samples;
      const first = firstEndingAfter(samples, killed, isStore);
      const relapses = first ? samples.filter((s) => s.start > first.end && !isStore(s)) : [];
      const newMasterPort = await cluster.masterPortForSlot(slot).catch(() => undefined);
      const peek = await peekStore(limiter, request);
      const used = LIMIT - peek.remaining;
      // Every store answer of the load comes from the promoted replica.
      const storeAfterKill = samples.filter((s) => isStore(s) && s.allowed).length;
      const failed = samples.filter((s) => !isStore(s));

      report(
        `cluster failover: slot ${slot} on master :${masterPort}, ${acked} replica(s) acked before the kill; ` +
          `after kill -9 ${failed.length} failure decisions ${JSON.stringify(tally(failed, 'errorCode'))}; ` +
          `store decisions resumed ${round(first && first.end - killAt)} ms after the kill on :${newMasterPort} ` +
          `(limiter not restarted), ${relapses.length} failure decisions after that; max latency ${maxLatency(samples).toFixed(1)} ms (net of process stalls ${maxLatency(samples, load.netLatency).toFixed(1)} ms, event-loop delay max ${load.maxLoopDelayMs().toFixed(0)} ms); ` +
          `count on the new master ${used} = ${BEFORE} replicated before the kill + ${storeAfterKill} admitted ` +
          `by the store after it + ${used - BEFORE - storeAfterKill} counted for decisions the store did not ` +
          `answer (abandoned at the budget, executed later)`,
      );

      expect(resumed, `store decisions did not resume within ${RESUME_TIMEOUT_MS} ms`).toBe(true);
      expect(newMasterPort).not.toBe(masterPort);
      expect(load.thrown, 'errors thrown to callers').toEqual([]);
      expect(rejections.seen.slice(rejectionsBeforeKill), 'unhandled rejections').toEqual([]);
      expect(wrongFailures(samples, 'closed')).toEqual([]);
      expect(samples.filter((s) => isStore(s) && !s.allowed)).toEqual([]);
      const slow = samples.filter((s) => load.netLatency(s) > BUDGET_MS + SLACK_MS);
      expect(
        slow,
        `decisions slower than ${BUDGET_MS} + ${SLACK_MS} ms net of process stalls: ${describeSamples(slow, 0)}`,
      ).toEqual([]);
      // After the resumption, a failure can only be the breaker reacting to a slow answer.
      expect(
        relapses.filter(
          (s) => s.errorCode !== 'ERR_SLUICE_STORE_TIMEOUT' && s.errorCode !== 'ERR_SLUICE_CIRCUIT_OPEN',
        ),
        'other errors after the resumption',
      ).toEqual([]);
      // What was replicated before the kill survived the failover.
      expect(peek.path).toBe('store');
      expect(used).toBeGreaterThanOrEqual(BEFORE + storeAfterKill);
    } finally {
      rejections.dispose();
      plain.disconnect();
      await limiter.close();
    }
  }, 45_000);
});
