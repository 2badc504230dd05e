/**
 * The observability layer against a real Prometheus: it scrapes a Sluice app (Fastify, the Fastify
 * adapter on a real Redis, SluiceMetrics as its observer), evaluates the repository's alerting rules,
 * and answers every query of the repository's dashboard. The test kills Redis and sees the
 * store-failure alert fire, and drives rejections and sees the denial-rate alert go pending.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sluice } from '../../src/adapters/fastify.js';
import { LlmMetrics } from '../../src/observability/llm-metrics.js';
import { SluiceMetrics } from '../../src/observability/metrics.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { PROMTOOL, type PrometheusServer, startPrometheus } from '../support/prometheus.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';

const run = promisify(execFile);
const RULES = fileURLToPath(new URL('../../observability/alerts.yml', import.meta.url));
const RULE_TESTS = fileURLToPath(new URL('../../observability/alerts.test.yml', import.meta.url));
const DASHBOARD = fileURLToPath(new URL('../../observability/grafana-dashboard.json', import.meta.url));

interface Alert {
  labels: { alertname: string };
  state: 'pending' | 'firing';
}

describe('rules and dashboard, checked by promtool', () => {
  it('promtool check rules: the alerting rules are valid', async () => {
    const { stdout } = await run(PROMTOOL, ['check', 'rules', RULES]);
    expect(stdout).toMatch(/SUCCESS: 6 rules found/);
  });

  it('promtool test rules: each alert fires on its synthetic series, and none on healthy ones', async () => {
    const { stdout } = await run(PROMTOOL, ['test', 'rules', RULE_TESTS]);
    expect(stdout).toMatch(/SUCCESS/);
  });
});

describe('a real Prometheus scraping a Sluice app', () => {
  let redis: RedisServer;
  let app: FastifyInstance;
  let prometheus: PrometheusServer;
  let metrics: SluiceMetrics;

  beforeAll(async () => {
    redis = await startRedis();
    const store = new RedisStore({ url: redis.url });
    await store.ready();
    metrics = new SluiceMetrics({ tenantLabels: { top: 5 }, identityLabels: { top: 5 } });
    // The LLM counters on the same registry, moved once (the dashboard's LLM panels query them).
    new LlmMetrics({ registry: metrics.registry }).settled({
      tenant: 't',
      user: 'u',
      tier: 'pro',
      provider: 'openai',
      model: 'gpt-4o',
      inputTokens: 100,
      outputTokens: 20,
      cachedInputTokens: 0,
      costUsd: 0.00045,
    });
    app = Fastify();
    app.get('/metrics', async (_request, reply) =>
      reply.type(metrics.contentType).send(await metrics.text()),
    );
    await app.register(async (limited) => {
      await limited.register(sluice, { limits: [{ limit: 3, window: '1h' }], store, observer: metrics });
      limited.get('/api', async () => 'ok');
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    prometheus = await startPrometheus([`127.0.0.1:${port}`], [RULES]);
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await app?.close();
    await redis?.stop();
  });

  const alert = (name: string, state?: Alert['state']) =>
    prometheus.waitFor(`alert ${name} ${state ?? ''}`, async () => {
      const { alerts } = await prometheus.api<{ alerts: Alert[] }>('alerts');
      const found = alerts.find(
        (a) => a.labels.alertname === name && (state === undefined || a.state === state),
      );
      return found;
    });

  it('scraped: a counter moves for each outcome the app makes, with the exact counts', async () => {
    for (let i = 0; i < 10; i++)
      await app.inject({ method: 'GET', url: '/api', remoteAddress: '203.0.113.7' });
    const allowed = await prometheus.waitFor('allowed decisions scraped', async () => {
      const [sample] = await prometheus.query('sum(sluice_decisions_total{outcome="allowed"})');
      return sample && Number(sample.value[1]) === 3 ? 3 : undefined;
    });
    expect(allowed).toBe(3);
    const [rejected] = await prometheus.query('sum(sluice_decisions_total{outcome="rejected"})');
    expect(Number(rejected?.value[1])).toBe(7);
    const [identity] = await prometheus.query(
      'sum(sluice_identity_violations_total{identity="203.0.113.7"})',
    );
    expect(Number(identity?.value[1])).toBe(7);
    // The limiter the adapter built is watched too: its store's round trips and its breaker.
    const [trips] = await prometheus.query('sum(sluice_store_round_trips_total)');
    expect(Number(trips?.value[1])).toBeGreaterThanOrEqual(1);
    const [breaker] = await prometheus.query('max(sluice_circuit_breaker_state)');
    expect(Number(breaker?.value[1])).toBe(0);
  });

  it('drives rejections: the denial-rate alert goes pending', async () => {
    for (let i = 0; i < 50; i++)
      await app.inject({ method: 'GET', url: '/api', remoteAddress: '203.0.113.8' });
    const pending = await alert('SluiceDenialRateHigh');
    expect(['pending', 'firing']).toContain(pending.state);
  }, 40_000);

  it('every dashboard query evaluates, and queries only series Sluice exports', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    };
    const exported = new Set(await prometheus.api<string[]>('label/__name__/values'));
    // Gauges are exported from the start; counters once they move (both opted-in label sets included).
    const missing: string[] = [];
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets) {
        for (const name of expr.match(/\bsluice_[a-z_]+/g) ?? []) {
          if (!exported.has(name)) missing.push(`${panel.title}: ${name}`);
        }
        await prometheus.query(expr); // throws on a query Prometheus refuses
      }
    }
    expect(missing).toEqual([]);
  });

  it('kills Redis: the store-failure alert fires, and the failures are counted by code', async () => {
    await redis.kill();
    // Traffic goes on during the outage: every request answered 503 by the closed failure mode.
    let sent = 0;
    const statuses = new Set<number>();
    const traffic = setInterval(() => {
      sent++;
      void app
        .inject({ method: 'GET', url: '/api', remoteAddress: '203.0.113.9' })
        .then((r) => statuses.add(r.statusCode));
    }, 50);
    try {
      const firing = await alert('SluiceStoreFailures', 'firing');
      expect(firing.state).toBe('firing');
    } finally {
      clearInterval(traffic);
    }
    await new Promise((r) => setTimeout(r, 300));
    expect([...statuses]).toEqual([503]);
    const total = async () =>
      (await prometheus.query('sum(sluice_store_failures_total)')).reduce(
        (t, s) => t + Number(s.value[1]),
        0,
      );
    expect(
      await prometheus.waitFor('every failure scraped', async () =>
        (await total()) === sent ? sent : undefined,
      ),
    ).toBe(sent);
    const codes = await prometheus.query('sum by (code) (sluice_store_failures_total) > 0');
    // The failures carry the codes of an unreachable store, and nothing else.
    expect(codes.length).toBeGreaterThan(0);
    expect(
      codes.every((c) =>
        /^ERR_SLUICE_(STORE_UNAVAILABLE|STORE_TIMEOUT|CIRCUIT_OPEN)$/.test(c.metric.code ?? ''),
      ),
    ).toBe(true);
  }, 40_000);
});
