/**
 * Regression (#12.2): seed 001's automated rollback trigger ("Redis unavailable for > 2 minutes") as a
 * failure policy that changes with the outage: `escalate: { after, to }` fails closed decisions closed
 * while the store has been unreachable for less than `after`, then decides them by `to` (this
 * instance's local share, or open) until the store answers, and at once goes back to it. Each switch is
 * logged (warn, with an event name) and shown by `failover()` and the policy layer's health.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { StoreError } from '../../src/core/errors.js';
import type { LimitDefinition } from '../../src/core/types.js';
import { createLimiter, type Limiter } from '../../src/limiter.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import type { Store } from '../../src/stores/store.js';
import { startRedis } from '../support/redis-servers.js';
import { EPOCH, freshPrefix } from './support.js';

const LIMITS: LimitDefinition[] = [{ name: 'm', algorithm: 'fixed-window', limit: 4, window: '1h' }];
const TWO_MINUTES = 120_000;

/** A store that fails every call (as an unreachable one does) while `down`. */
function flakyStore(clock: ManualClock): Store & { down: boolean } {
  const inner = new MemoryStore({ clock: clock.now });
  const down = () => Promise.reject(new StoreError('flaky', 'connection refused'));
  return Object.create(inner, {
    backend: { value: 'flaky' },
    down: { value: false, writable: true },
    decide: {
      value(this: { down: boolean }, plan: Parameters<Store['decide']>[0]) {
        return this.down ? down() : inner.decide(plan);
      },
    },
    readDocument: {
      value(this: { down: boolean }, key: string) {
        return this.down ? down() : inner.readDocument(key);
      },
    },
  }) as Store & { down: boolean };
}

function recordingLogger() {
  const events: Array<Record<string, unknown>> = [];
  return { events, warn: (object: Record<string, unknown>) => events.push(object), info: () => {} };
}

describe('failure escalation: closed for short outages, the local share past `after`', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  function limiterOn(store: Store, clock: ManualClock, logger: ReturnType<typeof recordingLogger>): Limiter {
    const limiter = createLimiter({
      store,
      limits: LIMITS,
      prefix: freshPrefix(),
      failureMode: 'closed',
      escalate: { after: '2m', to: 'local' },
      localShare: { instances: 2 },
      guard: { clock: clock.now, budgetMs: 5000, breaker: { threshold: 1000 } },
      clock: clock.now,
      logger,
    });
    open.push(limiter);
    return limiter;
  }

  it('fails closed until the store has been unreachable for 2 minutes, then the local share (2 of 4); back on the store at its first answer', async () => {
    const clock = new ManualClock(EPOCH);
    const store = flakyStore(clock);
    const logger = recordingLogger();
    const limiter = limiterOn(store, clock, logger);
    const request = { tenant: 't', key: 'k' };
    const first = await limiter.limit(request);
    expect([first.path, first.allowed, first.remaining]).toEqual(['store', true, 3]);

    store.down = true;
    const outageAt = clock.now();
    const short = await limiter.limit(request);
    expect([short.path, short.allowed, short.storeError?.code]).toEqual([
      'fail-closed',
      false,
      'ERR_SLUICE_STORE',
    ]);
    expect(limiter.failover()).toEqual({
      unreachableSince: outageAt,
      escalate: { afterMs: TWO_MINUTES, to: 'local' },
      escalated: false,
    });
    clock.advance(TWO_MINUTES - 1);
    expect((await limiter.limit(request)).path).toBe('fail-closed');
    expect(logger.events).toEqual([]);

    clock.advance(1);
    const local = [];
    for (let i = 0; i < 3; i++) local.push(await limiter.limit(request));
    expect(local.map((d) => [d.path, d.allowed, d.remaining])).toEqual([
      ['local', true, 1],
      ['local', true, 0],
      ['local', false, 0],
    ]);
    expect(limiter.failover().escalated).toBe(true);
    expect(logger.events).toEqual([
      {
        event: 'sluice.failure.escalated',
        backend: 'flaky',
        from: 'closed',
        to: 'local',
        unreachableSince: outageAt,
        unreachableForMs: TWO_MINUTES,
        afterMs: TWO_MINUTES,
      },
    ]);

    store.down = false;
    clock.advance(5000);
    const back = await limiter.limit(request);
    // The store counted the first decision only: nothing decided during the outage reached it.
    expect([back.path, back.allowed, back.remaining]).toEqual(['store', true, 2]);
    expect(limiter.failover()).toEqual({
      unreachableSince: null,
      escalate: { afterMs: TWO_MINUTES, to: 'local' },
      escalated: false,
    });
    expect(logger.events.map((e) => e.event)).toEqual([
      'sluice.failure.escalated',
      'sluice.failure.recovered',
    ]);
    expect(logger.events[1]).toEqual({
      event: 'sluice.failure.recovered',
      backend: 'flaky',
      unreachableSince: outageAt,
      unreachableForMs: TWO_MINUTES + 5000,
    });

    // A new outage starts its own count: closed again for its first 2 minutes.
    store.down = true;
    expect((await limiter.limit(request)).path).toBe('fail-closed');
    expect(limiter.failover().unreachableSince).toBe(clock.now());
  });

  it('to: open admits past `after`; decisions with another failure mode are left alone', async () => {
    const clock = new ManualClock(EPOCH);
    const store = flakyStore(clock);
    const limiter = createLimiter({
      store,
      limits: LIMITS,
      escalate: { after: 1000, to: 'open' },
      guard: { clock: clock.now, budgetMs: 5000 },
    });
    open.push(limiter);
    store.down = true;
    expect((await limiter.limit({ tenant: 't', key: 'k' })).path).toBe('fail-closed');
    clock.advance(1000);
    const later = await limiter.limit({ tenant: 't', key: 'k' });
    expect([later.path, later.allowed]).toEqual(['fail-open', true]);
    const local = await limiter.decide({
      tenant: 't',
      checks: [{ limit: LIMITS[0] as LimitDefinition, key: 'k' }],
      failureMode: 'local',
    });
    expect([local.path, local.allowed, local.remaining]).toEqual(['local', true, 3]);
  });

  it('options validated strictly: unknown keys, a missing after, a mode it cannot escalate to, no guard, a logger without warn', () => {
    const store = flakyStore(new ManualClock(EPOCH));
    const make = (extra: Record<string, unknown>) => () => createLimiter({ store, limits: LIMITS, ...extra });
    expect(make({ escalate: { after: '2m', to: 'local', aftr: 1 } })).toThrow(/escalate.*aftr/);
    expect(make({ escalate: { to: 'local' } })).toThrow(/escalate\.after: is required/);
    expect(make({ escalate: { after: 'soon', to: 'local' } })).toThrow(/escalate\.after/);
    expect(make({ escalate: { after: '2m', to: 'closed' } })).toThrow(
      'escalate.to: must be one of open, local',
    );
    expect(make({ escalate: { after: '2m', to: 'local' }, guard: false })).toThrow(
      /escalate: needs the guard/,
    );
    expect(make({ logger: { info() {} } })).toThrow(/logger: must have a warn/);
    expect(make({ escalte: {} })).toThrow(/escalte.*escalate/);
  });

  it('the configuration document: failure.escalate, validated, and shown by health (degraded, not down, once escalated)', async () => {
    const clock = new ManualClock(EPOCH);
    const store = flakyStore(clock);
    const logger = recordingLogger();
    expect(
      () => new PolicyLimiter({ config: { failure: { escalate: { after: '2m', to: 'closed' } } }, store }),
    ).toThrow(/failure\.escalate\.to/);
    expect(
      () =>
        new PolicyLimiter({
          config: { failure: { escalate: { after: '2m', to: 'local', from: 'x' } } },
          store,
        }),
    ).toThrow(/failure\.escalate/);
    expect(
      () => new PolicyLimiter({ config: { failure: { escalate: { after: 'x', to: 'local' } } }, store }),
    ).toThrow(/failure\.escalate\.after/);
    const limiter = new PolicyLimiter({
      config: {
        prefix: freshPrefix(),
        failure: { escalate: { after: '2m', to: 'local' }, budget: 5000, circuitThreshold: 1000 },
        policies: [{ name: 'p', scope: 'global', limits: [{ limit: 4, window: '1h' }] }],
      },
      store,
      clock: clock.now,
      logger,
    });
    open.push(limiter);
    expect((await limiter.health()).failover).toEqual({
      unreachableSince: null,
      escalate: { afterMs: TWO_MINUTES, to: 'local' },
      escalated: false,
    });
    store.down = true;
    const outageAt = clock.now();
    expect((await limiter.check({ tenant: 'acme' })).path).toBe('fail-closed');
    const short = await limiter.health();
    expect([short.status, short.failover.unreachableSince, short.failover.escalated]).toEqual([
      'down',
      outageAt,
      false,
    ]);
    clock.advance(TWO_MINUTES);
    const long = await limiter.health();
    expect([long.status, long.failover.escalated]).toEqual(['degraded', true]);
    expect((await limiter.check({ tenant: 'acme' })).path).toBe('local');
    expect(
      logger.events.filter((e) => String(e.event).startsWith('sluice.failure')).map((e) => e.event),
    ).toEqual(['sluice.failure.escalated']);
  });
});

describe('failure escalation over a real outage (kill -9 of the redis-server)', () => {
  it('closed while short, the local share past `after`, the store again once restarted', async () => {
    const server = await startRedis();
    const store = new RedisStore({ url: server.url });
    const clock = new ManualClock(EPOCH);
    const logger = recordingLogger();
    const limiter = createLimiter({
      store,
      limits: LIMITS,
      prefix: freshPrefix(),
      escalate: { after: '2m', to: 'local' },
      localShare: { instances: 2 },
      guard: { clock: clock.now, budgetMs: 2000, breaker: { threshold: 3, resetTimeoutMs: 1000 } },
      clock: clock.now,
      logger,
    });
    const request = { tenant: 't', key: 'k' };
    try {
      await store.ready();
      const first = await limiter.limit(request);
      expect([first.path, first.allowed, first.remaining]).toEqual(['store', true, 3]);

      await server.kill();
      const during = [];
      for (let i = 0; i < 3; i++) during.push(await limiter.limit(request));
      expect(during.map((d) => [d.path, d.allowed])).toEqual([
        ['fail-closed', false],
        ['fail-closed', false],
        ['fail-closed', false],
      ]);
      expect(limiter.failover().unreachableSince).toBe(EPOCH);
      clock.advance(TWO_MINUTES);
      const local = [];
      for (let i = 0; i < 3; i++) local.push(await limiter.limit(request));
      expect(local.map((d) => [d.path, d.allowed, d.remaining])).toEqual([
        ['local', true, 1],
        ['local', true, 0],
        ['local', false, 0],
      ]);
      expect(logger.events.map((e) => [e.event, e.unreachableForMs])).toEqual([
        ['sluice.failure.escalated', TWO_MINUTES],
      ]);

      await server.restart();
      await store.ready(10_000);
      // A probe lets the first call through once the breaker's reset timeout is over (on the clock).
      clock.advance(1000);
      const back = await limiter.limit(request);
      // The restarted server is empty (no persistence): the store counts from 0 again.
      expect([back.path, back.allowed, back.remaining]).toEqual(['store', true, 3]);
      expect(limiter.failover()).toMatchObject({ unreachableSince: null, escalated: false });
      expect(logger.events.map((e) => e.event)).toEqual([
        'sluice.failure.escalated',
        'sluice.failure.recovered',
      ]);
    } finally {
      await limiter.close();
      await server.stop();
    }
  });
});
