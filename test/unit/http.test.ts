import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/core/types.js';
import { rejectionBody, statusOf } from '../../src/http/bodies.js';
import { rateLimitHeaders } from '../../src/http/headers.js';
import { clientAddress, inCidr, ipKey } from '../../src/http/ip.js';

const now = 1_700_000_000_000;
const decision: Decision & { tier: string; shadowRejections: string[] } = {
  id: 'd',
  at: 0,
  allowed: false,
  reason: 'rate_limited',
  tenant: 'acme',
  key: 'u1',
  cost: 1,
  binding: {
    name: 'minute',
    id: 'minute:x0',
    algorithm: 'fixed-window',
    limit: 60,
    windowMs: 60_000,
    allowed: false,
    remaining: 0,
    resetAt: now + 30_000,
    retryAfterMs: 29_500,
  },
  limits: [
    {
      name: 'second',
      id: 'second:x0',
      algorithm: 'sliding-log',
      limit: 10,
      windowMs: 1000,
      allowed: true,
      remaining: 4,
      resetAt: now + 900,
      retryAfterMs: 0,
    },
    {
      name: 'minute',
      id: 'minute:x0',
      algorithm: 'fixed-window',
      limit: 60,
      windowMs: 60_000,
      allowed: false,
      remaining: 0,
      resetAt: now + 30_000,
      retryAfterMs: 29_500,
    },
    {
      name: 'in"flight',
      id: 'in"flight:x0',
      algorithm: 'concurrency',
      limit: 5,
      windowMs: 30_000,
      allowed: true,
      remaining: 2,
      resetAt: now + 12_000,
      retryAfterMs: 0,
    },
  ],
  remaining: 0,
  resetAt: now + 30_000,
  retryAfterMs: 29_500,
  backend: 'redis',
  path: 'store',
  tier: 'premium',
  shadowRejections: ['trial'],
};

describe('response headers', () => {
  it('legacy, IETF, tenant, backend, shadow and Retry-After from one decision', () => {
    expect(rateLimitHeaders(decision, now)).toEqual({
      'x-ratelimit-limit': '60',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': '1700000030',
      'x-ratelimit-type': 'minute',
      'ratelimit-policy':
        '"second";q=10;w=1, "minute";q=60;w=60, "in\\"flight";q=5;w=30;qu="concurrent-requests"',
      ratelimit: '"second";r=4;t=1, "minute";r=0;t=30, "in\\"flight";r=2;t=12',
      'x-ratelimit-tenant': 'acme',
      'x-ratelimit-tier': 'premium',
      'x-rate-limit-backend': 'redis-distributed',
      'x-ratelimit-shadow-rejected': 'trial',
      'retry-after': '30',
    });
  });

  it('each family can be switched off; Retry-After stays on rejections', () => {
    const h = rateLimitHeaders(decision, now, {
      legacy: false,
      ietf: false,
      tenant: false,
      backend: false,
      shadow: false,
    });
    expect(h).toEqual({ 'retry-after': '30' });
    expect(
      rateLimitHeaders({ ...decision, allowed: true, reason: 'allowed' }, now, {
        ietf: false,
        tenant: false,
      })['retry-after'],
    ).toBeUndefined();
  });
});

describe('rejection bodies', () => {
  it("seed 004's JSON shape on 429", () => {
    const r = rejectionBody(decision);
    expect([r.status, r.contentType]).toEqual([429, 'application/json']);
    expect(JSON.parse(r.body)).toEqual({
      error: {
        code: 'RATE_5001',
        message: 'Rate limit exceeded',
        details: { limit: 60, window_seconds: 60, reset_at: 1700000030, retry_after: 30 },
      },
    });
  });

  it('RFC 9457 problem details, and 503 when a fail-closed store could not decide', () => {
    const problem = rejectionBody(decision, 'problem', 'req-1');
    expect(problem.contentType).toBe('application/problem+json');
    expect(JSON.parse(problem.body)).toMatchObject({
      type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
      status: 429,
      'violated-policies': ['minute'],
      instance: 'req-1',
      retry_after: 30,
    });
    const down = { ...decision, reason: 'store_unavailable' as const, path: 'fail-closed' as const };
    expect(statusOf(down)).toBe(503);
    expect(JSON.parse(rejectionBody(down, 'problem').body).type).toContain('#temporary-reduced-capacity');
    expect(JSON.parse(rejectionBody(down).body).error.code).toBe('RATE_5003');
  });
});

describe('client addresses', () => {
  it('reads IPv4-mapped IPv6 as IPv4 and groups IPv6 by /56 (configurable)', () => {
    expect(ipKey('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(ipKey('2001:db8:abcd:12ff:1::1')).toBe(ipKey('2001:db8:abcd:1200::9'));
    expect(ipKey('2001:db8:abcd:1300::1')).not.toBe(ipKey('2001:db8:abcd:1200::1'));
    expect(ipKey('2001:db8:abcd:12ff::1', 64)).not.toBe(ipKey('2001:db8:abcd:1200::1', 64));
    expect(ipKey('[fe80::1%eth0]')).toBe('fe80:0:0:0:0:0:0:0/56');
    expect(ipKey('not an ip')).toBeUndefined();
  });

  it('ignores X-Forwarded-For unless the peer is trusted, then takes the right-most untrusted hop', () => {
    expect(clientAddress('10.0.0.1', '6.6.6.6', false)).toBe('10.0.0.1');
    expect(clientAddress('10.0.0.1', '6.6.6.6, 1.1.1.1', 1)).toBe('1.1.1.1');
    expect(clientAddress('10.0.0.1', '6.6.6.6, 1.1.1.1, 10.0.0.7', ['10.0.0.0/8'])).toBe('1.1.1.1');
    expect(clientAddress('192.0.2.1', '6.6.6.6', ['10.0.0.0/8'])).toBe('192.0.2.1');
    expect(inCidr('2001:db8::5', '2001:db8::/32')).toBe(true);
    expect(inCidr('10.0.0.5', '2001:db8::/32')).toBe(false);
  });
});
