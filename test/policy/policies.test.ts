import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import type { PolicyDefinition, RequestContext } from '../../src/policy/types.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

function limiterWith(policies: PolicyDefinition[], extra: Record<string, unknown> = {}) {
  const clock = new ManualClock();
  const limiter = new PolicyLimiter({
    config: { tierPolicy: { enabled: false }, policies, ...extra },
    store: new MemoryStore({ clock: clock.now }),
  });
  return { limiter, clock };
}

const one = (limit: number) => [{ limit, window: '1h' }];

describe('policy resolution', () => {
  const everyScope: PolicyDefinition[] = [
    { name: 'global', scope: 'global', limits: one(60) },
    { name: 'ip', scope: 'ip', limits: one(50) },
    { name: 'tenant', scope: 'tenant', limits: one(40) },
    { name: 'role', scope: 'role', match: ['admin'], limits: one(30) },
    { name: 'user', scope: 'user', match: ['alice'], limits: one(20) },
    { name: 'endpoint', scope: 'endpoint', match: ['/login'], limits: one(10) },
  ];
  const full: RequestContext = {
    tenant: 't',
    user: 'alice',
    roles: ['admin'],
    ip: '10.0.0.1',
    endpoint: '/login',
  };

  it.each([
    [{}, 'endpoint'],
    [{ endpoint: '/other' }, 'user'],
    [{ endpoint: undefined, user: 'bob' }, 'role'],
    [{ endpoint: undefined, user: 'bob', roles: [] }, 'tenant'],
  ])('the most specific matching policy wins: %j -> %s', async (change, winner) => {
    const { limiter } = limiterWith(everyScope);
    const d = await limiter.check({ ...full, ...change });
    expect(d.policies.map((p) => p.name)).toEqual([winner]);
    expect(d.bindingPolicy).toBe(winner);
    expect(d.limits.map((l) => l.name)).toEqual([`${winner}.sliding-log-1h`]);
  });

  it('precedence is endpoint > user > role > tenant > ip > global, whatever the file order', async () => {
    const { limiter } = limiterWith(
      [...everyScope].reverse().filter((p) => p.scope !== 'tenant'),
      {},
    );
    expect((await limiter.check({ tenant: 't', ip: '10.0.0.1' })).policies.map((p) => p.name)).toEqual([
      'ip',
    ]);
    expect((await limiter.check({ tenant: 't' })).policies.map((p) => p.name)).toEqual(['global']);
  });

  it('additive policies are checked beside the winner in the same all-or-nothing decision', async () => {
    const { limiter } = limiterWith([
      { name: 'per-user', scope: 'user', limits: one(5) },
      { name: 'per-ip', scope: 'ip', additive: true, limits: one(2) },
    ]);
    const ctx = { tenant: 't', user: 'alice', ip: '10.0.0.1' };
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push(await limiter.check(ctx));
    expect(seen.map((d) => d.allowed)).toEqual([true, true, false]);
    expect(seen[2]?.policies.map((p) => [p.name, p.allowed, p.key])).toEqual([
      ['per-user', true, 'u=alice'],
      ['per-ip', false, 'ip=10.0.0.1'],
    ]);
    expect(seen[2]?.bindingPolicy).toBe('per-ip');
    // The rejection consumed nothing from the user's policy.
    expect(seen[2]?.limits.find((l) => l.name.startsWith('per-user'))?.remaining).toBe(3);
    // Another user behind the same IP is held by the IP policy too.
    expect((await limiter.check({ tenant: 't', user: 'bob', ip: '10.0.0.1' })).allowed).toBe(false);
  });

  it('shadow policies decide and report but never block; disabled ones do not apply', async () => {
    const { limiter } = limiterWith([
      { name: 'enforced', scope: 'tenant', limits: one(10) },
      { name: 'trial', scope: 'user', additive: true, mode: 'shadow', limits: one(1) },
      { name: 'off', scope: 'global', additive: true, mode: 'disabled', limits: one(1) },
    ]);
    const first = await limiter.check({ tenant: 't', user: 'u' });
    const second = await limiter.check({ tenant: 't', user: 'u' });
    expect([first.allowed, second.allowed]).toEqual([true, true]);
    expect([first.shadowRejections, second.shadowRejections]).toEqual([[], ['trial']]);
    expect(second.policies.map((p) => [p.name, p.mode, p.allowed])).toEqual([
      ['trial', 'shadow', false],
      ['enforced', 'enforce', true],
    ]);
    expect(second.remaining).toBe(8);
  });

  it('the global mode switch at runtime turns every policy into shadow, then back', async () => {
    const { limiter } = limiterWith([{ name: 'p', scope: 'tenant', limits: one(1) }]);
    await limiter.check({ tenant: 't' });
    expect((await limiter.check({ tenant: 't' })).allowed).toBe(false);
    expect(await limiter.setMode('shadow')).toBe(1);
    const shadowed = await limiter.check({ tenant: 't' });
    expect([shadowed.allowed, shadowed.shadowRejections, shadowed.configVersion]).toEqual([true, ['p'], 1]);
    await limiter.setMode(null);
    expect((await limiter.check({ tenant: 't' })).allowed).toBe(false);
    await limiter.setMode('disabled', 'p');
    const off = await limiter.check({ tenant: 't' });
    expect([off.allowed, off.policies]).toEqual([true, []]);
    await expect(limiter.setMode('shadow', 'nope')).rejects.toThrow(/policyModes\.nope: unknown policy/);
  });

  it('endpoint patterns: exact, prefix glob and regular expression', async () => {
    const { limiter } = limiterWith([
      { name: 'admin', scope: 'endpoint', match: ['/admin/*'], limits: one(1) },
      { name: 'reports', scope: 'endpoint', match: ['/^\\/reports\\/\\d+$/'], limits: one(1) },
      { name: 'rest', scope: 'global', limits: one(100) },
    ]);
    const winner = async (endpoint: string) =>
      (await limiter.check({ tenant: 't', endpoint })).policies[0]?.name;
    expect(await winner('/admin/users')).toBe('admin');
    expect(await winner('/reports/42')).toBe('reports');
    expect(await winner('/reports/x')).toBe('rest');
    expect(await winner('/administrator')).toBe('rest');
  });
});
