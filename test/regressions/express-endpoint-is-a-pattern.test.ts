/**
 * Regression (#11.1): Express endpoints were built from `req.baseUrl`, the URL as the client wrote
 * it. Express matches mount paths case-insensitively, so `/API/auth/login` matched no policy (25 of 25
 * admitted after the real bucket was spent), and a router mounted on `/t/:tenant` minted one endpoint
 * (and one cached route policy) per URL. Endpoints are now the mount and route patterns.
 */
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { express4Pattern, UNKNOWN_MOUNT } from '../../src/adapters/express.js';
import type { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { MAX_ROUTE_ENDPOINTS } from '../../src/policy/resolve.js';
import { memoryLimiter, type Served, serveWith } from './http-adapters.js';

const LOGIN = {
  name: 'login',
  scope: 'endpoint',
  match: ['/api/auth/login'],
  limits: [{ limit: 3, window: '1m' }],
};
const bearer = { authorization: 'Bearer acme:u1' };

describe('express: endpoints are patterns, never URL text', () => {
  const open: Array<Served | PolicyLimiter> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  it('a mount path written in another case is the same endpoint: 3 admitted, then 25 of 25 refused', async () => {
    const limiter = await memoryLimiter({ policies: [LOGIN] });
    const app = await serveWith('express', {
      limiter,
      express: (a, mw, handler) => {
        const auth = express.Router();
        auth.get('/auth/login', mw, handler);
        a.use('/api', auth);
      },
    });
    open.push(limiter, app);
    const first = [];
    for (let i = 0; i < 3; i++) first.push((await app.request('/api/auth/login', bearer)).status);
    expect(first).toEqual([200, 200, 200]);
    const spellings = ['/API/auth/login', '/Api/auth/login', '/aPI/AUTH/LOGIN'];
    const after = [];
    for (let i = 0; i < 25; i++) after.push(await app.request(spellings[i % 3] as string, bearer));
    expect(after.map((r) => r.status)).toEqual(Array(25).fill(429));
    expect(new Set(after.map((r) => r.headers['x-ratelimit-type']))).toEqual(
      new Set(['login.sliding-log-1m']),
    );
    expect(app.runs).toBe(3);
    expect(new Set(app.decided.map((c) => c.endpoint))).toEqual(new Set(['/api/auth/login']));
  });

  it('a router mounted on /t/:tenant is one endpoint for every tenant in the URL', async () => {
    const limiter = await memoryLimiter({ policies: [] });
    const app = await serveWith('express', {
      limiter,
      express: (a, mw, handler) => {
        const items = express.Router();
        items.get('/items', mw.route([{ name: 'own', limit: 2, window: '1m' }]), handler);
        a.use('/t/:tenant', items);
      },
    });
    open.push(limiter, app);
    const replies = [];
    for (const t of ['a', 'b', 'c', 'D', 'e']) replies.push(await app.request(`/t/${t}/items`, bearer));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 429, 429, 429]);
    expect(replies[2]?.headers['x-ratelimit-type']).toBe('route:/t/:tenant/items.own');
    expect(new Set(app.decided.map((c) => c.endpoint))).toEqual(new Set(['/t/:tenant/items']));
  });

  it('one router mounted at two paths: each mount its own pattern; nested mounts compose', async () => {
    const limiter = await memoryLimiter({ policies: [] });
    const app = await serveWith('express', {
      limiter,
      express: (a, mw, handler) => {
        const leaf = express.Router();
        leaf.get('/x/:id', mw, handler);
        const mid = express.Router();
        mid.use('/v/:version', leaf);
        a.use('/one', leaf);
        a.use('/Two', mid);
      },
    });
    open.push(limiter, app);
    for (const path of ['/ONE/x/1', '/one/x/2', '/two/v/1/x/3', '/TWO/V/2/x/4']) {
      expect((await app.request(path, bearer)).status).toBe(200);
    }
    expect(app.decided.map((c) => c.endpoint)).toEqual([
      '/one/x/:id',
      '/one/x/:id',
      '/Two/v/:version/x/:id',
      '/Two/v/:version/x/:id',
    ]);
  });

  it('a mount whose pattern cannot be read back is the fixed placeholder, never the URL', async () => {
    const limiter = await memoryLimiter({ policies: [] });
    const app = await serveWith('express', {
      limiter,
      express: (a, mw, handler) => {
        const r = express.Router();
        r.get('/x', mw, handler);
        // A mount made outside Express's router (a wrapper function): no layer leads to the route.
        a.use('/w/:id', (req, res, next) => r(req, res, next));
      },
    });
    open.push(limiter, app);
    for (const path of ['/w/1/x', '/w/2/x']) expect((await app.request(path, bearer)).status).toBe(200);
    expect(app.decided.map((c) => c.endpoint)).toEqual([`${UNKNOWN_MOUNT}/x`, `${UNKNOWN_MOUNT}/x`]);
  });

  it('Express 4 mount expressions are read back to their patterns (path-to-regexp 0.1 output)', () => {
    const layer = (source: string, keys: string[] = [], flags = 'i') => ({
      regexp: new RegExp(source, flags),
      keys: keys.map((name) => ({ name })),
    });
    expect(express4Pattern(layer('^\\/api\\/?(?=\\/|$)'))).toBe('/api');
    expect(express4Pattern(layer('^\\/t\\/(?:([^\\/]+?))\\/?(?=\\/|$)', ['tenant']))).toBe('/t/:tenant');
    expect(express4Pattern({ regexp: Object.assign(/^\/?(?=\/|$)/i, { fast_slash: true }), keys: [] })).toBe(
      '/',
    );
    expect(express4Pattern(layer('^\\/a(?:b)?\\/?(?=\\/|$)'))).toBeUndefined();
  });

  it('the compiled route policies kept per limits array are bounded', async () => {
    const limiter = await memoryLimiter({ policies: [] });
    open.push(limiter);
    const limits = [{ name: 'own', limit: 5, window: '1m' }];
    const set = (limiter as unknown as { set: { routePolicy(e: string, l: unknown): unknown } }).set;
    const kept = (set as unknown as { routePolicies: WeakMap<object, Map<string, unknown>> }).routePolicies;
    for (let i = 0; i < 1024; i++) {
      await limiter.check({ tenant: 'acme', user: 'u1', endpoint: `/raw/${i}`, routeLimits: limits });
    }
    expect(MAX_ROUTE_ENDPOINTS).toBe(256);
    expect(kept.get(limits)?.size).toBe(256);
  });
});
