/**
 * The verbs straight to the store (`--redis URL --config FILE`) against a real redis-server: in process
 * (main) and as `node dist/cli.js` child processes, with exact counts.
 */
import { describe, expect, it } from 'vitest';
import { useRedis } from '../regressions/support.js';
import { policyDocument, type Run, sluice, sluiceProcess, useTempDir } from './support.js';

describe('sluice VERB --redis URL --config FILE (a real redis-server)', () => {
  const redis = useRedis();
  const files = useTempDir();
  let prefixes = 0;
  /** The flags of a fresh prefix on the file's server (each test its own state). */
  const where = (): string[] => {
    prefixes += 1;
    const config = files.write(`p${prefixes}.yml`, policyDocument(`cli${process.pid}x${prefixes}`));
    return ['--redis', redis.server.url, '--config', config];
  };
  const json = (run: Run) => JSON.parse(run.out);

  it('check: 10 admitted, the 11th refused (exit 1) by per-user.minute, with the decision as JSON', async () => {
    const at = where();
    const codes: number[] = [];
    for (let i = 0; i < 11; i++) codes.push((await sluice(['check', 'acme', 'user:42', ...at])).code);
    expect(codes).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    const refused = await sluice(['check', 'acme', '42', '--json', ...at]);
    expect(refused.code).toBe(1);
    const outcome = json(refused);
    expect(outcome).toMatchObject({ allowed: false, status: 429 });
    expect(outcome.decision).toMatchObject({
      reason: 'rate_limited',
      tenant: 'acme',
      bindingPolicy: 'per-user',
    });
    expect(outcome.decision.binding.name).toBe('per-user.minute');
    // A refusal never consumes: the tenant-wide counter holds the 10 admitted requests.
    const human = await sluice(['check', 'acme', 'user:43', ...at]);
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/^decision: +allowed \(200\)\ntenant: +acme \(tier free\)\n/);
    expect(human.out).toMatch(/\nper-tenant\.minute +sliding-log +89 +100 +1m +yes /);
    expect(human.out).toMatch(/\nper-user\.minute +sliding-log +9 +10 +1m +yes /);
    const peek = json(await sluice(['check', 'acme', 'user:43', '--peek', '--json', ...at]));
    expect(peek.decision.limits.map((l: { remaining: number }) => l.remaining)).toEqual([9, 89]);
  });

  it('status: one identity (used and remaining of each limit), and the tenant', async () => {
    const at = where();
    for (let i = 0; i < 3; i++) await sluice(['check', 'acme', 'user:7', ...at]);
    await sluice(['check', 'acme', 'user:8', '--cost', '4', ...at]);
    const limits = json(await sluice(['status', 'acme', 'user:7', '--json', ...at])).limits;
    expect(
      limits.map((l: Record<string, unknown>) => [l.name, l.policy, l.mode, l.used, l.remaining, l.limit]),
    ).toEqual([
      ['per-user.minute', 'per-user', 'enforce', 3, 7, 10],
      ['per-tenant.minute', 'per-tenant', 'enforce', 7, 93, 100],
    ]);
    const human = await sluice(['status', 'acme', 'user:7', ...at]);
    expect(human.out.split('\n')[0]).toMatch(
      /^limit +policy +mode +key +used +remaining +of +window +full again at$/,
    );
    expect(human.out).toMatch(/\nper-user\.minute +per-user +enforce +u=7 +3 +7 +10 +1m +20\d\d-/);
    const tenant = json(await sluice(['status', 'acme', '--json', ...at]));
    expect(tenant).toMatchObject({ tenant: 'acme', tier: 'free', override: null, top: [] });
    expect(tenant.limits.map((l: { name: string; used: number }) => [l.name, l.used])).toEqual([
      ['per-tenant.minute', 7],
    ]);
  });

  it('reset: one limit of one identity, then the whole tenant', async () => {
    const at = where();
    for (let i = 0; i < 10; i++) await sluice(['check', 'acme', 'user:1', ...at]);
    for (let i = 0; i < 2; i++) await sluice(['check', 'acme', 'user:2', ...at]);
    expect((await sluice(['check', 'acme', 'user:1', ...at])).code).toBe(1);
    const reset = await sluice(['reset', 'acme', 'per-user/minute', '--identity', 'user:1', ...at]);
    expect(reset).toEqual({ code: 0, out: 'reset acme: user:1, limit per-user.minute\n', err: '' });
    const remaining = async (user: string) =>
      json(await sluice(['status', 'acme', user, '--json', ...at])).limits.map(
        (l: { remaining: number }) => l.remaining,
      );
    // user 1's own limit is back; the tenant-wide one (another policy) and user 2 are untouched.
    expect(await remaining('user:1')).toEqual([10, 88]);
    expect(await remaining('user:2')).toEqual([8, 88]);
    expect(json(await sluice(['reset', 'acme', '--json', ...at]))).toEqual({ reset: true, tenant: 'acme' });
    expect(await remaining('user:2')).toEqual([10, 100]);
  });

  it('block and unblock: a user of the tenant, then the tenant itself', async () => {
    const at = where();
    expect((await sluice(['block', 'acme', 'user:9', '--for', '10m', ...at])).out).toBe(
      'blocked user:9 of tenant acme for 10m\n',
    );
    const blocked = json(await sluice(['check', 'acme', 'user:9', '--json', ...at]));
    expect(blocked.decision.reason).toBe('blocked');
    expect((await sluice(['check', 'acme', 'user:10', ...at])).code).toBe(0);
    expect((await sluice(['unblock', 'acme', 'user:9', ...at])).out).toBe(
      'unblocked user:9 of tenant acme\n',
    );
    expect((await sluice(['check', 'acme', 'user:9', ...at])).code).toBe(0);
    await sluice(['block', 'acme', '--for', '60000', ...at]);
    expect((await sluice(['check', 'acme', 'user:10', ...at])).code).toBe(1);
    await sluice(['unblock', 'acme', ...at]);
    expect((await sluice(['check', 'acme', 'user:10', ...at])).code).toBe(0);
    const bad = await sluice(['block', 'acme', '--for', 'soon', ...at]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('soon');
  });

  it('mode: shows the modes, switches one policy to shadow (the 11th is admitted), then clears', async () => {
    const at = where();
    expect(json(await sluice(['mode', '--json', ...at]))).toEqual({
      mode: 'enforce',
      policies: { 'per-user': 'enforce', 'per-tenant': 'enforce' },
    });
    for (let i = 0; i < 10; i++) await sluice(['check', 'acme', 'user:5', ...at]);
    expect((await sluice(['check', 'acme', 'user:5', ...at])).code).toBe(1);
    const set = await sluice(['mode', 'shadow', '--policy', 'per-user', ...at]);
    expect(set.out).toMatch(/^policy per-user: shadow \(overrides version \d+\)\n$/);
    expect((await sluice(['check', 'acme', 'user:5', ...at])).code).toBe(0);
    expect((await sluice(['mode', ...at])).out).toMatch(
      /^global mode: enforce\npolicy +mode\nper-user +shadow\nper-tenant +enforce\n$/,
    );
    await sluice(['mode', 'clear', '--policy', 'per-user', ...at]);
    expect((await sluice(['check', 'acme', 'user:5', ...at])).code).toBe(1);
  });

  it('tenants, top and audit: the boards the service keeps, written by these checks and changes', async () => {
    const at = where();
    for (let i = 0; i < 13; i++) await sluice(['check', 'gamma', 'user:3', ...at]);
    await sluice(['check', 'delta', 'user:1', ...at]);
    const tenants = json(await sluice(['tenants', '--json', ...at])).tenants;
    expect(tenants.map((t: { tenant: string }) => t.tenant).sort()).toEqual(['delta', 'gamma']);
    const top = json(await sluice(['top', 'gamma', '--json', ...at])).top;
    expect(top).toHaveLength(1);
    expect(top[0]).toMatchObject({ identity: 'user:3', binding: 'per-user/per-user.minute' });
    // 3 rejections in the current minute's bucket (weighed 0.87 if the minute turned since).
    expect([3, 2.61]).toContain(top[0].rejected);
    expect((await sluice(['top', 'gamma', ...at])).out).toMatch(
      /^identity +rejected +refused most by\nuser:3 +(3|2\.61) +per-user\/per-user\.minute\n$/,
    );
    const env = { SLUICE_ACTOR: 'ops:alice' };
    await sluice(['block', 'gamma', 'user:3', '--for', '5m', ...at], env);
    await sluice(['reset', 'gamma', 'per-user', '--identity', 'user:3', ...at], env);
    await sluice(['mode', 'shadow', ...at], env);
    const entries = json(await sluice(['audit', '--json', ...at])).entries;
    expect(entries.map((e: Record<string, unknown>) => [e.actor, e.action, e.target, e.detail])).toEqual([
      ['ops:alice', 'mode.set', 'global', { mode: 'shadow' }],
      ['ops:alice', 'limits.reset', 'gamma/user:3', { policy: 'per-user' }],
      ['ops:alice', 'block', 'gamma/user:3', { duration: '5m' }],
    ]);
    const human = (await sluice(['audit', ...at])).out.split('\n');
    expect(human[0]).toMatch(/^at +actor +action +target +detail$/);
    expect(human[1]).toMatch(/^20\d\d-\S+Z +ops:alice +mode\.set +global +\{"mode":"shadow"\}$/);
  });

  it('tier moves a tenant for every instance (and clear brings it back); health reads the store', async () => {
    const at = where();
    const moved = await sluice(['tier', 'acme', 'premium', ...at]);
    expect(moved.out).toMatch(/^tenant acme: tier premium \(overrides version \d+\)\n$/);
    expect(json(await sluice(['status', 'acme', '--json', ...at]))).toMatchObject({
      tier: 'premium',
      override: { tier: 'premium' },
    });
    await sluice(['tier', 'acme', 'clear', ...at]);
    expect(json(await sluice(['status', 'acme', '--json', ...at])).tier).toBe('free');
    const health = await sluice(['health', '--json', ...at]);
    expect(health.code).toBe(0);
    expect(json(health)).toMatchObject({
      status: 'ok',
      report: { store: { backend: 'redis', reachable: true } },
    });
    expect((await sluice(['health', ...at])).out).toMatch(
      /^status: +ok\nstore: +redis, reachable \(\d+ ms\)\n/,
    );
  });

  it('node dist/cli.js: the same verbs as child processes, with their exit codes', async () => {
    const at = where();
    // Nine in process, then child processes: all count on the same Redis.
    for (let i = 0; i < 9; i++) await sluice(['check', 'beta', 'user:77', ...at]);
    expect((await sluiceProcess(['check', 'beta', 'user:77', ...at])).code).toBe(0);
    const refused = await sluiceProcess(['check', 'beta', 'user:77', '--json', ...at]);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.out).decision.reason).toBe('rate_limited');
    expect((await sluiceProcess(['reset', 'beta', ...at])).code).toBe(0);
    expect((await sluiceProcess(['check', 'beta', 'user:77', ...at])).code).toBe(0);
    const unknown = await sluiceProcess(['check', 'beta', '--bogus', ...at]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('sluice check: unknown flag --bogus');
    // Child processes start slowly on a loaded machine (about a second each here).
  }, 90_000);
});
