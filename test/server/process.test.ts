import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPrefix, useRedis } from '../regressions/support.js';
import { d, envoyClient, FIXTURES } from './envoy-support.js';
import { ADMIN, call, type ServerProcess, seed004Config, startServerProcess } from './support.js';

/** The real server process (`node dist/cli.js serve`), driven over HTTP, against a real Redis. */
describe('sluice serve, as a process', () => {
  const redis = useRedis();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-serve-'));
  const file = join(dir, 'policies.json');
  const seed001File = join(dir, 'seed001.json');
  const seed003File = join(dir, 'seed003.json');
  const env = { SLUICE_ADMIN_TOKEN: ADMIN };
  const running: ServerProcess[] = [];
  beforeAll(() => {
    writeFileSync(file, JSON.stringify(seed004Config({ prefix: freshPrefix(), refreshInterval: 200 })));
    const budget = { failure: { budget: '5s' } };
    writeFileSync(
      seed001File,
      JSON.stringify({ prefix: freshPrefix(), tierPolicy: { enabled: false }, ...budget }),
    );
    const tiers = {
      tierRules: [{ pattern: '/^prem-/', tier: 'premium' }],
      tenants: { acme: { tier: 'basic' } },
    };
    writeFileSync(seed003File, JSON.stringify({ prefix: freshPrefix(), ...tiers, ...budget }));
  });
  afterAll(async () => {
    for (const p of running) p.child.kill('SIGKILL');
  });
  const start = async (args: string[], extra: Record<string, string> = {}) => {
    const p = await startServerProcess(args, { ...env, ...extra });
    running.push(p);
    return p;
  };

  it("seed 004's 11th request over HTTP; an override made through one process applies on another within the poll interval", async () => {
    const a = await start(['--config', file, '--redis', redis.server.url]);
    const b = await start(['--config', file], { REDIS_URL: redis.server.url });
    const ctx = { tenant: 'startup', user: 'user123', endpoint: '/campaigns' };
    const verdicts = [];
    for (let i = 0; i < 11; i++) verdicts.push((await call(a.url, 'POST', '/v1/check', ctx)).body.allowed);
    expect(verdicts).toEqual([...Array(10).fill(true), false]);
    // Shared counters: the other process refuses too.
    expect((await call(b.url, 'POST', '/v1/check', ctx)).body.allowed).toBe(false);
    const written = await call(a.url, 'PUT', '/admin/ratelimit/tenants/startup/tier', { tier: 'pro' }, ADMIN);
    expect(written.status).toBe(200);
    const since = Date.now();
    let tier = '';
    while (tier !== 'pro' && Date.now() - since < 3000) {
      tier = (await call(b.url, 'POST', '/v1/peek', ctx)).body.decision.tier;
    }
    expect(tier).toBe('pro');
    // The documented bound: the poll interval (200 ms here) plus a round trip, with room for a loaded machine.
    expect(Date.now() - since).toBeLessThan(1500);
    expect((await call(b.url, 'POST', '/v1/check', ctx)).body.allowed).toBe(true); // pro: 100 per minute
    const health = await call(b.url, 'GET', '/health');
    expect([health.body.status, health.body.ratelimit.store.backend]).toEqual(['healthy', 'redis']);
  });

  it("seed 001's four windows from the environment, the binding window in each answer", async () => {
    const env = {
      RATE_LIMIT_PER_SECOND: '10',
      RATE_LIMIT_PER_MINUTE: '60',
      RATE_LIMIT_PER_HOUR: '1000',
      RATE_LIMIT_BURST: '20',
    };
    const p = await start(['--redis', redis.server.url], { ...env, SLUICE_CONFIG: seed001File });
    const burst = async () => {
      const body = { requests: Array(11).fill({ tenant: 'org-1', user: 'u1' }) };
      return (await call(p.url, 'POST', '/v1/check/batch', body)).body.results as Array<{
        allowed: boolean;
        decision: { binding: { name: string } };
        headers: Record<string, string>;
      }>;
    };
    const first = await burst(); // one batch: decided within one second
    expect(first.filter((r) => r.allowed)).toHaveLength(10);
    expect([first[10]?.decision.binding.name, first[10]?.headers['x-ratelimit-type']]).toEqual([
      'env-defaults.second',
      'env-defaults.second',
    ]);
    await new Promise((r) => setTimeout(r, 1100));
    const second = await burst(); // 20 within 10 s: the burst window binds now
    expect(second.filter((r) => r.allowed)).toHaveLength(10);
    expect(second[10]?.decision.binding.name).toBe('env-defaults.burst');
  });

  it("seed 003's tier table over HTTP, and an admin reset that gives the quota back", async () => {
    const p = await start(['--redis', redis.server.url], { SLUICE_CONFIG: seed003File });
    const burst = async (tenant: string, n: number) => {
      const body = { requests: Array(n).fill({ tenant }) };
      const results = (await call(p.url, 'POST', '/v1/check/batch', body)).body.results as Array<{
        allowed: boolean;
        decision: { tier: string };
      }>;
      return { admitted: results.filter((r) => r.allowed).length, tier: results[0]?.decision.tier };
    };
    // Seed 003's tiers are Sluice's defaults: bursts of 10 (free), 40 (basic), 200 (premium).
    expect(await burst('some-startup', 11)).toEqual({ admitted: 10, tier: 'free' });
    expect(await burst('acme', 41)).toEqual({ admitted: 40, tier: 'basic' });
    expect(await burst('prem-co', 100)).toEqual({ admitted: 100, tier: 'premium' });
    const reset = await call(
      p.url,
      'DELETE',
      '/admin/ratelimit/tenants/some-startup/reset',
      undefined,
      ADMIN,
    );
    expect(reset.body).toEqual({ reset: true });
    expect(await burst('some-startup', 11)).toEqual({ admitted: 10, tier: 'free' });
  });

  it("Envoy's rate limit service: an envoyproxy/ratelimit example file, over gRPC (Envoy's own protos) and /json", async () => {
    const example = join(FIXTURES, 'example2.yaml'); // messaging: 5 marketing messages a day per number
    const p = await start(['--redis', redis.server.url, '--grpc-port', '0', '--envoy-config', example]);
    expect(p.grpcPort).toBeGreaterThan(0);
    const client = envoyClient(p.grpcPort as number);
    try {
      const request = {
        domain: 'messaging',
        descriptors: [d(['message_type', 'marketing'], ['to_number', '2061234567'])],
      };
      const codes = [];
      for (let i = 0; i < 6; i++) codes.push((await client.call(request)).overall_code);
      expect(codes).toEqual(['OK', 'OK', 'OK', 'OK', 'OK', 'OVER_LIMIT']);
      const json = await call(p.url, 'POST', '/json', request);
      expect([json.status, json.body.overallCode]).toEqual([429, 'OVER_LIMIT']);
      const other = await call(p.url, 'POST', '/json', {
        ...request,
        descriptors: [d(['message_type', 'marketing'], ['to_number', '2069999999'])],
      });
      expect([other.status, other.body.overallCode]).toEqual([200, 'OK']);
    } finally {
      client.close();
    }
  });

  it('/metrics is scraped and parsed, and moves as decisions are made', async () => {
    const p = await start([]);
    const scrape = async () => {
      const text = (await call(p.url, 'GET', '/metrics')).body as string;
      const totals = new Map<string, number>();
      for (const line of text.split('\n')) {
        const m = /^sluice_decisions_total\{outcome="(\w+)".*\} (\d+)$/.exec(line);
        if (m) totals.set(m[1] as string, (totals.get(m[1] as string) ?? 0) + Number(m[2]));
      }
      return totals;
    };
    const before = await scrape();
    for (let i = 0; i < 5; i++) await call(p.url, 'POST', '/v1/check', { tenant: 'm', user: String(i) });
    const after = await scrape();
    expect((after.get('allowed') ?? 0) - (before.get('allowed') ?? 0)).toBe(5);
  });

  it('SIGTERM under load: readiness fails, no accepted decision is lost or answered 5xx, the process exits within the drain bound', async () => {
    const p = await start([], { SLUICE_DRAIN_MS: '2000' });
    const statuses = new Map<number, number>();
    let refusedConnections = 0;
    let stop = false;
    const loop = async (n: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const answer = await call(p.url, 'POST', '/v1/check', { tenant: `t${n}`, user: String(i) });
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          if (answer.status === 200) expect(typeof answer.body.allowed).toBe('boolean');
        } catch {
          refusedConnections++; // after the listener closed: new connections are refused
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    };
    const loops = Array.from({ length: 16 }, (_, n) => loop(n));
    await new Promise((r) => setTimeout(r, 400));
    const answeredBefore = [...statuses.values()].reduce((a, b) => a + b, 0);
    const signalled = Date.now();
    p.child.kill('SIGTERM');
    const code = await p.exited;
    const exitedAfter = Date.now() - signalled;
    stop = true;
    await Promise.all(loops);
    expect(code).toBe(0);
    expect(exitedAfter).toBeLessThan(5000);
    expect(answeredBefore).toBeGreaterThan(0);
    expect([...statuses.keys()]).toEqual([200]);
    expect(p.output.join('\n')).toContain('sluice: stopped');
    void refusedConnections;
  });

  it('exits 1 on an invalid configuration and 2 on a usage error, naming the problem', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ policies: [{ name: 'x', scope: 'nowhere', limits: [] }] }));
    await expect(startServerProcess(['--config', bad])).rejects.toThrow(
      /exited \(1\)[\s\S]*policies\[0\]\.scope/,
    );
    await expect(startServerProcess(['--bogus'])).rejects.toThrow(/exited \(2\)[\s\S]*bogus/);
  });
});
