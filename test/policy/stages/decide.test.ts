import { describe, expect, it } from 'vitest';
import { Limiter } from '../../../src/limiter.js';
import { Decider } from '../../../src/policy/stages/decide.js';
import { MemoryStore } from '../../../src/stores/memory/memory-store.js';
import { parts } from './support.js';

const doc = {
  tierPolicy: { enabled: false },
  reputation: { decay: '1h', boost: { factor: 2, after: 100 } },
  policies: [
    { name: 'per-user', scope: 'user', limits: [{ limit: 2, window: '1m' }] },
    { name: 'watch', scope: 'tenant', mode: 'shadow', additive: true, limits: [{ limit: 1, window: '1m' }] },
  ],
};

describe('stage decide: the enforced decision, and the shadow and comparison ones beside it', () => {
  it('decides enforced and shadow limits apart; the good-request count rides in the enforced one', async () => {
    const { set, resolver, engine, reputation } = parts(doc);
    const decider = new Decider(engine, reputation, undefined);
    const results = [];
    for (let i = 0; i < 3; i++) {
      const check = resolver.resolve(set, 0, { tenant: 't', user: 'u' });
      await decider.decide(check);
      results.push([
        check.decision?.allowed,
        check.decision?.limits.map((l) => l.name),
        check.shadow?.allowed,
        check.countsGood,
        check.compared,
      ]);
    }
    const both = ['per-user.sliding-log-1m', 'reputation.good.v0'];
    expect(results.map((r) => r.slice(0, 4))).toEqual([
      [true, both, true, true],
      [true, both, false, true],
      [false, both, false, true],
    ]);
    expect(results.every((r) => r[4] === undefined)).toBe(true);
  });

  it('counts no good request in a decision over blocks alone (no enforced policy applies)', async () => {
    const { set, resolver, engine, reputation } = parts(doc);
    const decider = new Decider(engine, reputation, undefined);
    const check = resolver.resolve(set, 0, { tenant: 't', ip: '203.0.113.7' }); // no user: no per-user policy
    await decider.decide(check);
    expect([check.identity, check.decision?.allowed, check.decision?.limits, check.countsGood]).toEqual([
      'ip=203.0.113.7',
      true,
      [],
      false,
    ]);
  });

  it('decides the enforced limits on the comparison store too; no enforced policy, the blocks alone', async () => {
    const { set, resolver, engine, reputation } = parts({ ...doc, reputation: { enabled: false } });
    const comparison = new Limiter({ store: new MemoryStore(), prefix: 'stages' });
    const decider = new Decider(engine, reputation, comparison);
    const check = resolver.resolve(set, 0, { tenant: 't', user: 'u' });
    await decider.decide(check);
    expect([check.decision?.allowed, check.compared?.allowed, check.countsGood]).toEqual([true, true, false]);
    expect(check.compared?.limits.map((l) => l.name)).toEqual(['per-user.sliding-log-1m']);
    const shadowOnly = resolver.resolve(set, 0, { tenant: 't' }); // no user: only the tenant's shadow policy
    await decider.decide(shadowOnly);
    // A block refuses whatever the policies: the enforced decision is over the tenant's blocks alone.
    expect([
      shadowOnly.decision?.allowed,
      shadowOnly.decision?.limits,
      shadowOnly.compared?.limits,
      shadowOnly.shadow?.allowed,
    ]).toEqual([true, [], [], false]);
    await engine.block({ tenant: 't' }, '1m');
    const blocked = resolver.resolve(set, 0, { tenant: 't' });
    await decider.decide(blocked);
    expect([blocked.decision?.reason, blocked.compared?.reason]).toEqual(['blocked', 'allowed']);
  });
});
