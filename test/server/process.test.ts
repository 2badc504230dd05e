import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPrefix, useRedis } from '../regressions/support.js';
import { ADMIN, call, type ServerProcess, seed004Config, startServerProcess } from './support.js';

/** The real server process (`node dist/cli.js serve`), driven over HTTP, against a real Redis. */
describe('sluice serve, as a process', () => {
  const redis = useRedis();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-serve-'));
  const file = join(dir, 'policies.json');
  const env = { SLUICE_ADMIN_TOKEN: ADMIN };
  const running: ServerProcess[] = [];
  beforeAll(() => {
    writeFileSync(file, JSON.stringify(seed004Config({ prefix: freshPrefix(), refreshInterval: 200 })));
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
