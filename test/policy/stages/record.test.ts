import { describe, expect, it } from 'vitest';
import { Limiter } from '../../../src/limiter.js';
import { Decider } from '../../../src/policy/stages/decide.js';
import { Leases } from '../../../src/policy/stages/leases.js';
import { Recorder } from '../../../src/policy/stages/record.js';
import type { RequestContext } from '../../../src/policy/types.js';
import { MemoryStore } from '../../../src/stores/memory/memory-store.js';
import { parts } from './support.js';

function build(doc: Record<string, unknown>, compareWith?: MemoryStore) {
  const p = parts(doc);
  const comparison = compareWith ? new Limiter({ store: compareWith, prefix: 'stages' }) : undefined;
  const leases = new Leases(p.engine, comparison);
  const disagreements: Array<{ primary: boolean; secondary: boolean }> = [];
  const recorder = new Recorder(p.engine, p.reputation, leases, (e) =>
    disagreements.push({ primary: e.primary, secondary: e.secondary }),
  );
  const decider = new Decider(p.engine, p.reputation, comparison);
  const decided = async (ctx: RequestContext) => {
    const check = p.resolver.resolve(p.set, 3, ctx);
    await decider.decide(check);
    return check;
  };
  return { ...p, recorder, leases, decided, disagreements };
}

describe('stage record: violations, outcomes, the comparison, leases', () => {
  const doc = {
    tiers: { free: { rps: 1, burst: 2 } },
    reputation: { decay: '1h', block: { after: 2, duration: '1m' } },
    policies: [{ name: 'per-user', scope: 'user', additive: true, limits: [{ limit: 1, window: '1m' }] }],
  };

  it('blames an identity only for limits that count it; counts, then blocks', async () => {
    const { recorder, decided } = build(doc);
    const first = await decided({ tenant: 't', user: 'a' });
    expect(recorder.blames(first)).toBe(false); // admitted
    const own = await decided({ tenant: 't', user: 'a' }); // over a's own limit
    expect([own.decision?.allowed, recorder.blames(own)]).toEqual([false, true]);
    await recorder.violation(own);
    expect(recorder.finish(own).violations).toBe(1);
    await decided({ tenant: 't', user: 'b' }); // the tenant's bucket of 2 is now empty
    const innocent = await decided({ tenant: 't', user: 'c' });
    expect([innocent.decision?.binding.name, recorder.blames(innocent)]).toEqual(['tier.rps', false]);
    const again = await decided({ tenant: 't', user: 'a' });
    await recorder.violation(again);
    expect(again.violations).toBe(2);
    expect((await decided({ tenant: 't', user: 'a' })).decision?.reason).toBe('blocked');
  });

  it('finishes the decision: tier, outcomes, version, binding policy; violations only when known', async () => {
    const { recorder, decided, store } = build(doc);
    store.down = true;
    const blind = await decided({ tenant: 't', user: 'a' });
    const out = recorder.finish(blind);
    expect([out.tier, out.configVersion, out.reason, out.violations, 'violations' in out]).toEqual([
      'free',
      3,
      'store_unavailable',
      undefined,
      false,
    ]);
    expect(out.policies.map((p) => [p.name, p.allowed])).toEqual([
      ['per-user', false],
      ['tier', false],
    ]);
    store.down = false;
    const seen = recorder.finish(await decided({ tenant: 't', user: 'a' }));
    expect([seen.allowed, seen.bindingPolicy, seen.violations, seen.shadowRejections]).toEqual([
      true,
      'per-user',
      undefined,
      [],
    ]);
  });

  it('shed decisions say so, with the sync interval to wait', async () => {
    const { recorder, resolver, set } = build({ ...doc, platform: { threshold: 5, syncInterval: '2s' } });
    const out = recorder.shed(resolver.resolve(set, 3, { tenant: 't' }));
    expect([out.allowed, out.reason, out.retryAfterMs, out.tier, out.configVersion]).toEqual([
      false,
      'shed',
      2000,
      'free',
      3,
    ]);
  });
});

describe('leases of shadow and comparison decisions', () => {
  const tiers = { free: { rps: 100, burst: 100, maxConcurrent: 1 } };

  it('a shadow lease becomes the decision lease when the enforced policies hold none; released by release', async () => {
    const { recorder, leases, decided } = build({ tiers, tierPolicy: { concurrency: true, mode: 'shadow' } });
    const first = recorder.finish(await decided({ tenant: 't' }));
    expect(first.lease?.slots.map((s) => s.limit)).toEqual(['tier.concurrent:cc60000']);
    expect(recorder.finish(await decided({ tenant: 't' })).shadowRejections).toEqual(['tier']);
    await leases.release(first.lease!);
    expect(recorder.finish(await decided({ tenant: 't' })).shadowRejections).toEqual([]);
  });

  it('a comparison lease rides on the enforced lease; a rejected request releases it at once', async () => {
    const legacy = new MemoryStore();
    const { recorder, leases, decided, disagreements } = build(
      { tiers, tierPolicy: { concurrency: true } },
      legacy,
    );
    const held = recorder.finish(await decided({ tenant: 't' }));
    expect(held.lease?.compared?.slots.map((s) => s.limit)).toEqual(['tier.concurrent:cc60000']);
    const rejected = recorder.finish(await decided({ tenant: 't' }));
    expect([rejected.allowed, rejected.comparison]).toEqual([false, { allowed: false, agreed: true }]);
    await leases.release(held.lease!);
    const next = recorder.finish(await decided({ tenant: 't' }));
    expect([next.allowed, next.comparison, disagreements]).toEqual([
      true,
      { allowed: true, agreed: true },
      [],
    ]);
    // A JSON copy of the lease (another process, a queue) releases both too.
    await leases.release(JSON.parse(JSON.stringify(next.lease)));
    const last = recorder.finish(await decided({ tenant: 't' }));
    expect([last.allowed, last.comparison]).toEqual([true, { allowed: true, agreed: true }]);
  });
});
