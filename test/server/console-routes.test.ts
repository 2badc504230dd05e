import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/server/index.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { freshPrefix, useRedis } from '../regressions/support.js';
import { ADMIN, call, READER, TOKENS } from './support.js';

const A = '/admin/ratelimit';
// biome-ignore lint/suspicious/noExplicitAny: event data, read field by field
type Json = any;
type Event = { event: string; data: Json };

/** Reads server-sent events from a fetch() body until `enough` says so; returns them. */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  enough: (events: Event[]) => boolean,
): Promise<Event[]> {
  const events: Event[] = [];
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  while (!enough(events)) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      events.push({ event, data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null') });
    }
  }
  await reader.cancel();
  return events;
}

describe('console routes', () => {
  const redis = useRedis();
  let server: RunningServer;
  const config = {
    prefix: freshPrefix(),
    refreshInterval: 100,
    tierPolicy: { enabled: false },
    policies: [
      {
        name: 'per-user',
        scope: 'user',
        limits: [{ name: 'minute', algorithm: 'fixed-window', limit: 3, window: '1m' }],
      },
      {
        name: 'trial',
        scope: 'user',
        mode: 'shadow',
        additive: true,
        limits: [{ name: 'minute', algorithm: 'fixed-window', limit: 1, window: '1m' }],
      },
    ],
  };
  beforeAll(async () => {
    server = await startServer({
      config,
      store: new RedisStore({ url: redis.server.url }),
      port: 0,
      drainMs: 60_000,
      ...TOKENS,
    });
  });
  afterAll(() => server?.close());

  it('does not exist without admin tokens', async () => {
    const open = await startServer({ config, store: new RedisStore({ url: redis.server.url }), port: 0 });
    try {
      for (const path of ['/console/', `${A}/live`, `${A}/whoami`]) {
        expect([path, (await call(open.url, 'GET', path)).status]).toEqual([path, 404]);
      }
    } finally {
      await open.close();
    }
  });

  it('guards its reads with the admin tokens and says who the token is', async () => {
    for (const path of [`${A}/live`, `${A}/whoami`, `${A}/shadow`, `${A}/tenants/acme/standing`]) {
      expect([path, (await call(server.url, 'GET', path)).status]).toEqual([path, 401]);
    }
    expect((await call(server.url, 'GET', `${A}/whoami`, undefined, READER)).body).toEqual({
      name: 'viewer',
      access: 'read',
    });
    expect((await call(server.url, 'GET', `${A}/whoami`, undefined, ADMIN)).body).toEqual({
      name: 'ops',
      access: 'write',
    });
    expect((await call(server.url, 'GET', `${A}/live?bogus=1`, undefined, READER)).status).toBe(400);
  });

  it('streams per-second counts by outcome, overall and for one tenant: every decision counted once', async () => {
    const response = await fetch(`${server.url}${A}/live?tenant=streamco&seconds=5`, {
      headers: { authorization: `Bearer ${READER}` },
    });
    expect([response.status, response.headers.get('content-type')]).toEqual([
      200,
      'text/event-stream; charset=utf-8',
    ]);
    for (let i = 0; i < 5; i++)
      await call(server.url, 'POST', '/v1/check', { tenant: 'streamco', user: 'u' });
    await call(server.url, 'POST', '/v1/check', { tenant: 'other', user: 'u' });
    const sum = (events: Event[], pick: (d: Json) => Json, outcome: string) =>
      events.filter((e) => e.event === 'tick').reduce((n, e) => n + (pick(e.data)?.[outcome] ?? 0), 0);
    const events = await readEvents(
      response.body as ReadableStream<Uint8Array>,
      (ev) =>
        ['allowed', 'rejected', 'shadow_rejected'].reduce((n, o) => n + sum(ev, (d) => d.overall, o), 0) >= 6,
    );
    const [snapshot] = events;
    expect(snapshot?.event).toBe('snapshot');
    expect([
      snapshot?.data.tenant,
      snapshot?.data.overall.length,
      snapshot?.data.tenantSeries.length,
    ]).toEqual(['streamco', 5, 5]);
    // 3 admitted a minute per user; the shadow trial policy would have refused all but the first.
    expect(sum(events, (d) => d.tenant, 'allowed')).toBe(1);
    expect(sum(events, (d) => d.tenant, 'shadow_rejected')).toBe(2);
    expect(sum(events, (d) => d.tenant, 'rejected')).toBe(2);
    expect(sum(events, (d) => d.overall, 'allowed')).toBe(2);
    const shadow = (await call(server.url, 'GET', `${A}/shadow`, undefined, READER)).body;
    // Every request the shadow policy would refuse: the 2 admitted ones and the 2 refused anyway.
    expect(shadow.wouldReject).toEqual({ trial: 4 });
    expect(shadow.policies).toEqual([
      { name: 'per-user', scope: 'user', mode: 'enforce', effective: 'enforce' },
      { name: 'trial', scope: 'user', mode: 'shadow', effective: 'shadow' },
    ]);
    const standing = (
      await call(server.url, 'GET', `${A}/tenants/streamco/standing?user=u`, undefined, READER)
    ).body;
    expect([
      standing.blocked,
      standing.recentRejections.length,
      standing.recentRejections[0].binding,
    ]).toEqual([false, 2, 'per-user.minute']);
  });

  it('serves the built console with its security headers', async () => {
    const index = await fetch(`${server.url}/console/`);
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    expect(index.headers.get('x-frame-options')).toBe('DENY');
    expect((await fetch(`${server.url}/console`, { redirect: 'manual' })).headers.get('location')).toBe(
      '/console/',
    );
  });

  it('ends open streams when the service shuts down', async () => {
    const own = await startServer({
      config,
      store: new RedisStore({ url: redis.server.url }),
      port: 0,
      drainMs: 60_000,
      ...TOKENS,
    });
    const response = await fetch(`${own.url}${A}/live`, { headers: { authorization: `Bearer ${READER}` } });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await own.close();
    for (;;) if ((await reader.read()).done) break;
  });
});
