/**
 * Regression (#11.3): a client address that did not parse dropped every IP policy (a bypass with
 * `trustProxy: true`: write anything in X-Forwarded-For), and IPv4-mapped addresses spelled other
 * than `::ffff:a.b.c.d` all landed in one shared `::/56` bucket. Mapped addresses are now the IPv4
 * address; unparseable ones share the fixed IP bucket `invalid`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ipKey } from '../../src/http/ip.js';
import type { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { ADAPTERS, memoryLimiter, type Served, serveWith } from './http-adapters.js';

const PER_IP = { name: 'per-ip', scope: 'ip', limits: [{ limit: 3, window: '1m' }] };
const headers = { authorization: 'Bearer acme' };

describe.each(ADAPTERS)('%s: client addresses are canonical', (name) => {
  const open: Array<Served | PolicyLimiter> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  it('every spelling of an IPv4-mapped address is that IPv4 address; another one is another bucket', async () => {
    const limiter = await memoryLimiter({ policies: [PER_IP] });
    const app = await serveWith(name, { limiter, options: { trustProxy: ['127.0.0.1'] } });
    open.push(limiter, app);
    const spellings = [
      '::ffff:1.2.3.4',
      '0:0:0:0:0:ffff:102:304',
      '::ffff:0102:0304',
      '::FFFF:1.2.3.4',
      '1.2.3.4',
    ];
    const replies = [];
    for (const xff of spellings)
      replies.push(await app.request('/items', { ...headers, 'x-forwarded-for': xff }));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 429, 429]);
    const other = await app.request('/items', { ...headers, 'x-forwarded-for': '0:0:0:0:0:FFFF:506:708' });
    expect([other.status, other.headers['x-ratelimit-remaining']]).toEqual([200, '2']);
    expect(app.decided.map((c) => c.ip)).toEqual([...Array(5).fill('1.2.3.4'), '5.6.7.8']);
  });

  it('with trustProxy: true, forwarded entries that are no address share the "invalid" bucket: 3 of 6', async () => {
    const limiter = await memoryLimiter({ policies: [PER_IP] });
    const app = await serveWith(name, { limiter, options: { trustProxy: true } });
    open.push(limiter, app);
    const junk = ['garbage', 'not-an-ip-2', '1.2.3.999', '::ffff:1.2.3', 'unknown', '[::1'];
    const replies = [];
    for (const xff of junk) replies.push(await app.request('/items', { ...headers, 'x-forwarded-for': xff }));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 429, 429, 429]);
    expect(new Set(app.decided.map((c) => c.ip))).toEqual(new Set(['invalid']));
  });
});

describe('ipKey', () => {
  it('maps IPv4-mapped spellings to IPv4, keeps real IPv6 grouped, and strips an IPv4 port', () => {
    for (const a of [
      '::ffff:1.2.3.4',
      '0:0:0:0:0:ffff:102:304',
      '::ffff:0102:0304',
      '::FFFF:1.2.3.4',
      '[::ffff:1.2.3.4]',
    ]) {
      expect(ipKey(a)).toBe('1.2.3.4');
    }
    expect(ipKey('1.2.3.4:8080')).toBe('1.2.3.4');
    expect(ipKey('2001:DB8::1')).toBe('2001:db8:0:0:0:0:0:0/56');
    expect(ipKey('::ffff:0:1.2.3.4')).not.toBe('1.2.3.4');
    expect(ipKey('garbage')).toBeUndefined();
  });
});
