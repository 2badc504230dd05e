/**
 * The console in a real browser (Debian's Chromium through playwright-core) against a real service
 * and a real Redis: every control changes what the limiter does, shown by a decision made after it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLimiter } from '../../src/index.js';
import { LlmLimiter } from '../../src/llm/index.js';
import { type RunningServer, startServer } from '../../src/server/index.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { freshPrefix, useRedis } from '../regressions/support.js';
import { ADMIN, call, READER, startServerProcess, TOKENS } from '../server/support.js';
import { type Browser, confirmControl, go, hasChromium, launchBrowser, signIn } from './browser.js';

// The README's screenshots: rewritten with SLUICE_UPDATE_SCREENSHOTS=1 (a normal run takes them into a
// temporary folder, so that running the tests leaves the checkout as it was).
const SHOTS = process.env.SLUICE_UPDATE_SCREENSHOTS
  ? 'docs/screenshots'
  : mkdtempSync(join(tmpdir(), 'sluice-screenshots-'));
const A = '/admin/ratelimit';

if (!hasChromium) {
  console.warn(
    'test/console: /usr/bin/chromium is missing (apt-get install chromium): browser tests skipped',
  );
}

describe.skipIf(!hasChromium)('console in Chromium', () => {
  const redis = useRedis();
  let server: RunningServer;
  let browser: Browser;
  const config = {
    prefix: freshPrefix(),
    refreshInterval: 100,
    tierPolicy: { enabled: false },
    tenants: { acme: { tier: 'premium' } },
    policies: [
      {
        name: 'campaigns',
        scope: 'endpoint',
        match: ['/campaigns'],
        limits: [{ name: 'per-minute', algorithm: 'fixed-window', limit: 2, window: '1m' }],
      },
      {
        name: 'tenant-wide',
        scope: 'tenant',
        limits: [{ name: 'per-minute', algorithm: 'sliding-window', limit: 1000, window: '1m' }],
      },
      {
        name: 'per-user',
        scope: 'user',
        limits: [{ name: 'per-minute', algorithm: 'sliding-log', limit: 5, window: '1m' }],
      },
    ],
  };
  const check = async (ctx: Record<string, unknown>) =>
    (await call(server.url, 'POST', '/v1/check', ctx)).body;

  beforeAll(async () => {
    server = await startServer({
      config,
      store: new RedisStore({ url: redis.server.url }),
      port: 0,
      ...TOKENS,
    });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('serves the console from Sluice with a strict CSP, cached assets, and no request leaving loopback', async () => {
    const index = await fetch(`${server.url}/console/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1] as string;
    const asset = await fetch(server.url + script);
    expect([asset.status, asset.headers.get('cache-control')]).toEqual([
      200,
      'public, max-age=31536000, immutable',
    ]);
    const again = await fetch(server.url + script, {
      headers: { 'if-none-match': asset.headers.get('etag') ?? '' },
    });
    expect(again.status).toBe(304);
    expect((await fetch(`${server.url}/console/nope.js`)).status).toBe(404);

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await signIn(page, server.url, ADMIN);
    await page.waitForSelector('[data-test=live-status].on');
    await page.waitForSelector('[data-test=health] [data-fact=status]');
    expect(await page.innerText('[data-fact=status]')).toBe('healthy');
    expect(await page.innerText('[data-test=who]')).toBe('ops (read-write)');
    await page.screenshot({ path: `${SHOTS}/overview.png`, fullPage: true });
    // The token never goes into a URL; every request stays on loopback.
    expect(browser.requests.length).toBeGreaterThan(3);
    for (const url of browser.requests) {
      expect(url).not.toContain(ADMIN);
      if (url.startsWith('data:')) continue;
      expect(['127.0.0.1', 'localhost']).toContain(new URL(url).hostname);
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  it('the live chart moves when load is applied: exact counts by outcome, overall and for the chosen tenant', async () => {
    const page = await browser.newPage();
    await signIn(page, server.url, ADMIN);
    await page.fill('[data-field=chart-tenant]', 'loadco');
    await page.press('[data-field=chart-tenant]', 'Enter');
    await page.waitForSelector('[data-test=live-status].on');
    const tenantChart = page.locator('[data-test=chart-tenant]');
    await expect.poll(() => tenantChart.getAttribute('data-total')).toBe('0');
    // 7 requests of one user: per-user admits 5 a minute, the other 2 are rejected.
    for (let i = 0; i < 7; i++) await check({ tenant: 'loadco', user: 'u1' });
    await expect
      .poll(() => tenantChart.locator('[data-outcome=allowed]').innerText(), { timeout: 5000 })
      .toBe('5');
    expect(await tenantChart.locator('[data-outcome=rejected]').innerText()).toBe('2');
    expect(await tenantChart.getAttribute('data-total')).toBe('7');
    // The overall chart takes the same tick, possibly a moment later.
    const overall = page.locator('[data-test=chart-overall]');
    await expect
      .poll(async () => Number(await overall.getAttribute('data-total')), { timeout: 5000 })
      .toBeGreaterThanOrEqual(7);
    await page.waitForSelector('[data-test=top-limited] a');
    await page.screenshot({ path: `${SHOTS}/overview-live.png`, fullPage: true });
    await page.close();
  });

  it('blocking a tenant in the console refuses its next request; unblocking admits it again; both are audited', async () => {
    expect((await check({ tenant: 'blockme', user: 'bob' })).allowed).toBe(true);
    const page = await browser.newPage();
    await signIn(page, server.url, ADMIN, '#/tenant/blockme');
    await page.waitForSelector('[data-fact=blocked]');
    expect(await page.innerText('[data-fact=blocked]')).toBe('no');
    await page.fill('[data-field=duration]', '10m');
    await page.click('[data-test=block]');
    await page.locator('[data-test=confirm-dialog]').waitFor();
    await page.screenshot({ path: `${SHOTS}/confirm-block.png` });
    await page.locator('[data-test=cancel]').click();
    expect((await check({ tenant: 'blockme', user: 'bob' })).allowed).toBe(true);

    expect(await confirmControl(page, '[data-test=block]', 'every request refused for 10m')).toBe(
      'Done: Block blockme',
    );
    const refused = await check({ tenant: 'blockme', user: 'bob' });
    expect([refused.allowed, refused.decision.reason]).toEqual([false, 'blocked']);
    await expect.poll(() => page.innerText('[data-fact=blocked]'), { timeout: 3000 }).toMatch(/^yes, until /);
    await page.screenshot({ path: `${SHOTS}/tenant.png`, fullPage: true });

    await confirmControl(page, '[data-test=unblock]', 'decided by its limits');
    expect((await check({ tenant: 'blockme', user: 'bob' })).allowed).toBe(true);
    const audit = (await call(server.url, 'GET', `${A}/audit`, undefined, READER)).body.entries;
    expect(
      audit
        .slice(0, 2)
        .map((e: { action: string; target: string; actor: string }) => [e.action, e.target, e.actor]),
    ).toEqual([
      ['unblock', 'blockme', 'ops'],
      ['block', 'blockme', 'ops'],
    ]);
    await page.close();
  });

  it('tier, override and reset from the tenant page change the next decisions', async () => {
    const page = await browser.newPage();
    await signIn(page, server.url, ADMIN, '#/tenant/tiered');
    await page.waitForSelector('[data-fact=tier]');
    await page.fill('[data-field=tier]', 'enterprise');
    await confirmControl(page, '[data-test=set-tier]', 'enterprise');
    await expect.poll(async () => (await check({ tenant: 'tiered' })).decision.tier).toBe('enterprise');
    await expect.poll(() => page.innerText('[data-fact=tier]')).toBe('enterprise');
    // The campaigns limit (2 a minute) is used up, then reset from the console.
    for (let i = 0; i < 3; i++) await check({ tenant: 'tiered', endpoint: '/campaigns' });
    expect((await check({ tenant: 'tiered', endpoint: '/campaigns' })).allowed).toBe(false);
    await confirmControl(page, '[data-test=reset-tenant]', 'all zero');
    expect((await check({ tenant: 'tiered', endpoint: '/campaigns' })).allowed).toBe(true);
    await page.close();
  });

  it('switching a policy to shadow stops its rejections (they show as would-be rejections); enforce brings them back', async () => {
    const ctx = { tenant: 'shadowco', endpoint: '/campaigns' };
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await check(ctx)).allowed);
    expect(answers).toEqual([true, true, false]);
    const page = await browser.newPage();
    await signIn(page, server.url, ADMIN, '#/shadow');
    await page.waitForSelector('[data-effective=campaigns]');
    expect(await page.innerText('[data-effective=campaigns]')).toBe('enforce');
    await page.selectOption('[data-field=mode-campaigns]', 'shadow');
    await confirmControl(page, '[data-test=mode-campaigns]', 'campaigns mode');
    await expect.poll(async () => (await check(ctx)).allowed).toBe(true);
    const shadowed = await check(ctx);
    expect([shadowed.allowed, shadowed.decision.shadowRejections]).toEqual([true, ['campaigns']]);
    await expect.poll(() => page.innerText('[data-effective=campaigns]'), { timeout: 5000 }).toBe('shadow');
    await expect
      .poll(async () => Number(await page.innerText('[data-would-reject=campaigns]')), { timeout: 6000 })
      .toBeGreaterThanOrEqual(2);
    await page.screenshot({ path: `${SHOTS}/shadow.png`, fullPage: true });
    await page.selectOption('[data-field=mode-campaigns]', 'enforce');
    await confirmControl(page, '[data-test=mode-campaigns]', 'campaigns mode');
    await expect.poll(async () => (await check(ctx)).allowed).toBe(false);
    await page.close();
  });

  it('the emergency switch admits what was refused; a forced open circuit fails decisions closed; both undone', async () => {
    const ctx = { tenant: 'panic', endpoint: '/campaigns' };
    for (let i = 0; i < 2; i++) await check(ctx);
    expect((await check(ctx)).allowed).toBe(false);
    const page = await browser.newPage();
    await signIn(page, server.url, ADMIN);
    await page.waitForSelector('[data-test=emergency]');
    await confirmControl(page, '[data-test=emergency]', 'every request admitted');
    await expect.poll(async () => (await check(ctx)).allowed).toBe(true);
    await page.waitForSelector('[data-fact=mode]:text("disabled")');
    await page.selectOption('[data-field=global-mode]', 'config default');
    await confirmControl(page, '[data-test=set-global-mode]', 'global mode');
    await expect.poll(async () => (await check(ctx)).allowed).toBe(false);

    await page.waitForSelector('[data-fact=mode]:text("enforce")');
    await page.selectOption('[data-field=circuit]', 'open');
    await confirmControl(page, '[data-test=force-circuit]', 'circuit');
    await expect
      .poll(async () => (await check({ tenant: 'panic', user: 'z' })).decision.path)
      .toBe('fail-closed');
    await page.waitForSelector('[data-fact=circuit]:text("forced open")');
    await page.selectOption('[data-field=circuit]', 'not forced');
    await confirmControl(page, '[data-test=force-circuit]', 'circuit');
    await expect.poll(async () => (await check({ tenant: 'panic', user: 'z' })).allowed).toBe(true);
    const actions = (await call(server.url, 'GET', `${A}/audit?count=4`, undefined, READER)).body.entries.map(
      (e: { action: string; detail: unknown }) => [e.action, e.detail],
    );
    expect(actions).toEqual([
      ['circuit.force', { state: null }],
      ['circuit.force', { state: 'open' }],
      ['mode.set', { mode: null }],
      ['mode.set', { mode: 'disabled' }],
    ]);
    await page.close();
  });

  it('a read-only token sees every view with every control disabled, and the service refuses its changes', async () => {
    const before = (await call(server.url, 'GET', `${A}/audit`, undefined, READER)).body.entries.length;
    const page = await browser.newPage();
    await signIn(page, server.url, READER);
    expect(await page.innerText('[data-test=who]')).toBe('viewer (read-only)');
    await page.waitForSelector('[data-test=read-only]');
    for (const hash of ['#/', '#/tenant/blockme', '#/shadow']) {
      await go(page, hash);
      await page.waitForSelector('button.control');
      expect(await page.locator('button.control').count()).toBeGreaterThan(0);
      expect([hash, await page.locator('button.control:not([disabled])').count()]).toEqual([hash, 0]);
    }
    await page.screenshot({ path: `${SHOTS}/read-only.png`, fullPage: true });
    // Even bypassing the page, the service refuses: the token is read-only.
    const status = await page.evaluate(async (token) => {
      const r = await fetch('/admin/ratelimit/blocks', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tenant: 'blockme', duration: '1m' }),
      });
      return r.status;
    }, READER);
    expect(status).toBe(403);
    expect((await check({ tenant: 'blockme', user: 'bob' })).allowed).toBe(true);
    expect((await call(server.url, 'GET', `${A}/audit`, undefined, READER)).body.entries.length).toBe(before);
    await page.close();
  });

  it('shows the audit trail, and works on a narrow screen', async () => {
    const page = await browser.newPage({ width: 390, height: 844 });
    await signIn(page, server.url, ADMIN, '#/audit');
    await page.waitForSelector('[data-action=block]');
    await page.screenshot({ path: `${SHOTS}/audit-narrow.png`, fullPage: true });
    await go(page, '#/');
    await page.waitForSelector('[data-test=live-status].on');
    const width = await page.locator('html').evaluate((html: { scrollWidth: number }) => html.scrollWidth);
    expect(width).toBeLessThanOrEqual(390);
    await page.screenshot({ path: `${SHOTS}/overview-narrow.png`, fullPage: true });
    await page.close();
  });

  it('shows the LLM usage an application recorded on the same Redis, per provider and model, only when there is some', async () => {
    const store = new RedisStore({ url: redis.server.url });
    await store.ready();
    const llm = new LlmLimiter({
      limiter: createLimiter({ store, prefix: config.prefix }),
      prices: {
        'gpt-4o': { input: 2.5, output: 10, cachedInput: 1.25 },
        'claude-haiku': { input: 1, output: 5 },
      },
    });
    const calls: Array<[string, 'openai' | 'anthropic', string, number, number, number]> = [
      ['ann', 'openai', 'gpt-4o', 1000, 200, 400],
      ['ann', 'openai', 'gpt-4o', 1000, 200, 400],
      ['ben', 'anthropic', 'claude-haiku', 400, 100, 0],
    ];
    for (const [user, provider, model, inputTokens, outputTokens, cachedInputTokens] of calls) {
      const reservation = await llm.reserve(
        { user, tenant: 'llmco', tier: 'pro' },
        { provider, model, inputTokens, maxOutputTokens: 500 },
      );
      await reservation.settle({ inputTokens, outputTokens, cachedInputTokens });
    }
    await llm.close();
    const page = await browser.newPage();
    await signIn(page, server.url, READER, '#/tenant/llmco');
    const panel = page.locator('[data-test=llm-usage]');
    await panel.waitFor();
    const rows = (await panel.locator('table').first().locator('tbody tr').allInnerTexts()).map((r) =>
      r.split('\t').map((c) => c.trim()),
    );
    // gpt-4o: 2 x (600 x 2.5 + 400 x 1.25 + 200 x 10) / 1e6 = $0.008; claude-haiku: (400 + 100 x 5) / 1e6.
    expect(rows).toEqual([
      ['openai', 'gpt-4o', '2', '2,000', '400', '800', '$0.008000'],
      ['anthropic', 'claude-haiku', '1', '400', '100', '0', '$0.000900'],
      ['total', '', '3', '2,400', '500', '800', '$0.008900'],
    ]);
    expect(await panel.locator('table').nth(1).locator('tbody tr').allInnerTexts()).toEqual([
      'ann\t2,400',
      'ben\t500',
    ]);
    await page.screenshot({ path: `${SHOTS}/tenant-llm-usage.png`, fullPage: true });
    // A tenant without LLM calls has no panel.
    await go(page, '#/tenant/blockme');
    await expect.poll(() => page.innerText('[data-test=tenant-name]')).toBe('blockme');
    await page.waitForSelector('[data-fact=blocked]');
    expect(await page.locator('[data-test=llm-usage]').count()).toBe(0);
    await page.close();
  });

  it('says clearly when the store is down', async () => {
    const page = await browser.newPage();
    await signIn(page, server.url, ADMIN);
    await redis.server.kill();
    try {
      await page.reload();
      await page.waitForSelector('[data-test=store-banner]', { timeout: 10_000 });
      expect(await page.innerText('[data-test=store-banner]')).toContain('Store unreachable');
      expect(await page.innerText('[data-fact=status]')).toBe('unhealthy');
      // Decisions go on, by their failure mode (closed: 503), and the live chart counts them.
      const failed = await check({ tenant: 'down', user: 'x' });
      expect([failed.status, failed.decision.path]).toEqual([503, 'fail-closed']);
      await expect
        .poll(() => page.innerText('[data-test=chart-overall] [data-outcome=fail_closed]'), { timeout: 5000 })
        .toBe('1');
      await page.screenshot({ path: `${SHOTS}/store-down.png`, fullPage: true });
    } finally {
      await redis.server.restart();
    }
    await page.close();
  });
});

describe.skipIf(!hasChromium)('sluice serve --console-token (npm start)', () => {
  it('prints the console URL and a one-off token that signs in', async () => {
    const server = await startServerProcess(['--config', 'examples/service.yaml', '--console-token']);
    const browser = await launchBrowser();
    try {
      const text = server.output.join('\n');
      await expect
        .poll(() =>
          /console token \(one-off, this process only\): ([0-9a-f]{32})/.test(server.output.join('\n')),
        )
        .toBe(true);
      const token = /console token \(one-off, this process only\): ([0-9a-f]{32})/.exec(
        server.output.join('\n'),
      )?.[1] as string;
      expect(text).toContain(`console: ${server.url}/console/`);
      const page = await browser.newPage();
      await signIn(page, server.url, token);
      expect(await page.innerText('[data-test=who]')).toBe('console (read-write)');
      await page.waitForSelector('[data-test=live-status].on');
    } finally {
      await browser.close();
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    }
  });
});
