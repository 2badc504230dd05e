import { describe, expect, it } from 'vitest';
import { Limiter } from '../../src/limiter.js';
import { Activity } from '../../src/observability/activity.js';
import { AuditTrail } from '../../src/observability/audit-trail.js';
import { EPOCH, freshPrefix, useBackends } from '../regressions/support.js';

const WRITE = { mode: 'add', maxMembers: 3, ttlMs: 60_000 } as const;

describe('boards (memory and Redis agree)', () => {
  const backends = useBackends();

  it('adds, keeps the highest maxMembers, weighs and sorts the same on both stores', async () => {
    const answers = [];
    for (const { store } of backends.each()) {
      const p = freshPrefix();
      await store.addToBoard?.(
        `${p}:{t}:a`,
        [
          ['x', 2],
          ['y', 5],
          ['z', 1],
        ],
        WRITE,
      );
      await store.addToBoard?.(
        `${p}:{t}:a`,
        [
          ['x', 2],
          ['w', 3],
        ],
        WRITE,
      ); // x 4, y 5, w 3; z dropped
      await store.addToBoard?.(
        `${p}:{t}:b`,
        [
          ['z', 10],
          ['x', 1],
        ],
        { ...WRITE, mode: 'max' },
      );
      await store.addToBoard?.(`${p}:{t}:b`, [['z', 4]], { ...WRITE, mode: 'max' }); // z stays 10
      answers.push(await store.readBoards?.([`${p}:{t}:a`, `${p}:{t}:b`], [1, 0.5], 10, 2));
    }
    expect(answers[0]).toEqual([
      ['y', 5],
      ['z', 5],
      ['x', 4.5],
      ['w', 3],
    ]);
    expect(answers[1]).toEqual(answers[0]);
  });
});

describe('Activity: the tenant index and the top limited identities', () => {
  const backends = useBackends();

  it('lists tenants seen and the identities rejected most, with their binding limit', async () => {
    for (const backend of backends.each()) {
      const prefix = freshPrefix();
      const clock = backend.clock ? backend.clock.now : () => EPOCH;
      const activity = new Activity(backend.store, { prefix, clock });
      const limiter = new Limiter({ store: backend.store, prefix, observer: activity });
      const limit = { name: 'per-minute', algorithm: 'fixed-window', limit: 2, window: '1m' } as const;
      for (const [tenant, key, n] of [
        ['acme', 'alice', 5],
        ['acme', 'bob', 3],
        ['globex', 'carol', 1],
      ] as const) {
        for (let i = 0; i < n; i++) await limiter.decide({ tenant, key, checks: [{ limit, key }] });
      }
      await activity.flush();
      const tenants = await activity.tenants();
      expect(tenants.map((t) => t.tenant).sort()).toEqual(['acme', 'globex']);
      expect(await activity.topLimited('acme')).toEqual([
        { identity: 'key:alice', binding: 'per-minute', rejected: 3 },
        { identity: 'key:bob', binding: 'per-minute', rejected: 1 },
      ]);
      expect(await activity.topLimited('globex')).toEqual([]);
    }
  });

  it('decays: a bucket five minutes old counts half', async () => {
    const backend = backends.memory();
    const clock = backend.clock;
    if (!clock) throw new Error('memory backend has a clock');
    const activity = new Activity(backend.store, { clock: clock.now });
    const rejection = {
      tenant: 'acme',
      allowed: false,
      reason: 'rate_limited',
      binding: { name: 'm' },
      limits: [],
    };
    for (let i = 0; i < 8; i++)
      activity.decided({ decision: rejection as never, durationMs: 0, request: { user: 'u' } });
    await activity.flush();
    clock.advance(300_000);
    expect(await activity.topLimited('acme')).toEqual([{ identity: 'user:u', binding: 'm', rejected: 4 }]);
  });

  it('regression: the tenant index is written in calls of at most 256 tenants, as one call would leave it (index-write-chunked)', async () => {
    // One call of 5,000 tenants kept Redis busy for ~8 ms every second: every decision behind it waited.
    for (const backend of backends.each()) {
      const sizes: number[] = [];
      const inner = backend.store;
      const counted = Object.create(inner, {
        addToBoard: {
          value: (...args: Parameters<NonNullable<typeof inner.addToBoard>>) => {
            sizes.push(args[1].length);
            return inner.addToBoard?.(...args);
          },
        },
        readBoards: {
          value: (...args: Parameters<NonNullable<typeof inner.readBoards>>) => inner.readBoards?.(...args),
        },
      });
      let now = EPOCH;
      const activity = new Activity(counted, { prefix: freshPrefix(), maxTenants: 400, clock: () => now });
      const see = (tenant: string) => {
        now += 1;
        activity.decided({
          decision: { tenant, allowed: true, reason: 'allowed', limits: [] } as never,
          durationMs: 0,
        });
      };
      for (let i = 0; i < 300; i++) see(`old${i}`);
      await activity.flush();
      for (let i = 0; i < 300; i++) see(`new${i}`);
      await activity.flush();
      expect(sizes).toEqual([256, 44, 256, 44]);
      // The 400 most recently seen: every new tenant, and the last 100 of the old ones.
      const listed = (await activity.tenants(1000)).map((t) => t.tenant);
      const expected = [
        ...Array.from({ length: 300 }, (_, i) => `new${299 - i}`),
        ...Array.from({ length: 100 }, (_, i) => `old${299 - i}`),
      ];
      expect(listed).toEqual(expected);
    }
  });

  it('bounds the index: past maxTenants, new tenants are not noted', async () => {
    const backend = backends.memory();
    const activity = new Activity(backend.store, { maxTenants: 2, clock: backend.clock?.now });
    for (const tenant of ['a', 'b', 'c']) {
      activity.decided({
        decision: { tenant, allowed: true, reason: 'allowed', limits: [] } as never,
        durationMs: 0,
      });
    }
    await activity.flush();
    expect((await activity.tenants()).map((t) => t.tenant).sort()).toEqual(['a', 'b']);
  });
});

describe('AuditTrail', () => {
  const backends = useBackends();

  it('keeps entries newest first, bounded, the same on both stores', async () => {
    for (const { store } of backends.each()) {
      const trail = new AuditTrail(store, { prefix: freshPrefix(), maxEntries: 2 });
      await trail.record({ at: EPOCH, actor: 'ops', action: 'tenant.reset', target: 'acme' });
      await trail.record({
        at: EPOCH + 1,
        actor: 'ops',
        action: 'mode.set',
        target: 'global',
        detail: { mode: 'shadow' },
      });
      await trail.record({ at: EPOCH + 2, actor: 'bot', action: 'block', target: 'acme/user:eve' });
      expect(await trail.entries()).toEqual([
        { at: EPOCH + 2, actor: 'bot', action: 'block', target: 'acme/user:eve' },
        { at: EPOCH + 1, actor: 'ops', action: 'mode.set', target: 'global', detail: { mode: 'shadow' } },
      ]);
    }
  });
});
