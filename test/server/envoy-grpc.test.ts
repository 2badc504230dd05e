import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Limiter } from '../../src/index.js';
import {
  createRateLimitService,
  type GrpcServer,
  loadEnvoyConfig,
  type RateLimitService,
  startGrpcServer,
} from '../../src/server/envoy/index.js';
import { type Backend, EPOCH, freshPrefix, useBackends } from '../regressions/support.js';
import { type Client, d, envoyClient, FIXTURES, ms, sluiceClient, st } from './envoy-support.js';

const rules = loadEnvoyConfig(FIXTURES);
const DAY = 86_400_000;
const HOUR = 3_600_000;

// One gRPC server for the file; each test swaps in a fresh service (its own limiter and prefix).
let current: RateLimitService;
const proxy: RateLimitService = {
  domains: [],
  decide: (raw) => current.decide(raw),
  shouldRateLimit: (request) => current.shouldRateLimit(request),
};
let server: GrpcServer;
let envoy: Client;
let sluice: Client;
beforeAll(async () => {
  server = await startGrpcServer({ port: 0, service: proxy });
  envoy = envoyClient(server.port);
  sluice = sluiceClient(server.port);
});
afterAll(async () => {
  envoy.close();
  sluice.close();
  await server.close(1000);
});

const backends = useBackends();

/** A fresh service on the backend; memory runs on its ManualClock at EPOCH. */
function serve(backend: Backend): Backend {
  // No time budget: on a loaded machine a slow Redis reply would be a failure-mode OVER_LIMIT.
  const limiter = new Limiter({ store: backend.store, prefix: freshPrefix(), guard: false });
  current = createRateLimitService({
    limiter,
    envoyConfig: rules,
    ...(backend.clock ? { clock: backend.clock.now } : {}),
  });
  return backend;
}

/** The instant a decision was dated: exact on memory, the server's on Redis (not known in advance). */
function untilEnd(backend: Backend, windowMs: number): number | undefined {
  return backend.clock ? windowMs - (EPOCH % windowMs) : undefined;
}

describe.each(['memory', 'redis'] as const)(
  "ShouldRateLimit with a client of Envoy's own protos (%s)",
  (name) => {
    const backend = () => serve(name === 'memory' ? backends.memory() : backends.redis());

    it('example 2: the 6th marketing message of the day is OVER_LIMIT, with exact statuses', async () => {
      const b = backend();
      const request = {
        domain: 'messaging',
        descriptors: [d(['message_type', 'marketing'], ['to_number', '2061111111'])],
      };
      for (let i = 1; i <= 5; i++) {
        const r = await envoy.call(request);
        expect(r.overall_code).toBe('OK');
        expect(r.statuses).toHaveLength(1);
        expect(st(r).code).toBe('OK');
        expect(st(r).current_limit).toMatchObject({ requests_per_unit: 5, unit: 'DAY' });
        expect(st(r).limit_remaining).toBe(5 - i);
        const until = ms(st(r).duration_until_reset) as number;
        const exact = untilEnd(b, DAY);
        if (exact !== undefined) expect(until).toBe(exact);
        else expect(until > 0 && until <= DAY).toBe(true);
      }
      const over = await envoy.call(request);
      expect(over.overall_code).toBe('OVER_LIMIT');
      expect(st(over)).toMatchObject({ code: 'OVER_LIMIT', limit_remaining: 0 });
      const headers = Object.fromEntries(over.response_headers_to_add.map((h) => [h.key, h.value]));
      expect(headers['ratelimit-policy']).toBe('"messaging.message_type_marketing.to_number";q=5;w=86400');
      expect(headers.ratelimit).toMatch(/^"messaging\.message_type_marketing\.to_number";r=0;t=\d+$/);
      expect(Number(headers['retry-after'])).toBeGreaterThan(0);
    });

    it('example 2 with both descriptors: all or nothing, a refused request consumes neither counter', async () => {
      backend();
      const both = {
        domain: 'messaging',
        descriptors: [
          d(['message_type', 'marketing'], ['to_number', '2062222222']),
          d(['to_number', '2062222222']),
        ],
      };
      for (let i = 1; i <= 5; i++) expect((await envoy.call(both)).overall_code).toBe('OK');
      for (let i = 0; i < 10; i++) {
        const r = await envoy.call(both);
        expect(r.overall_code).toBe('OVER_LIMIT');
        // The number's own limit had room: OK for it, and its remaining unchanged by the refusals.
        expect(r.statuses.map((s) => [s.code, s.limit_remaining])).toEqual([
          ['OVER_LIMIT', 0],
          ['OK', 95],
        ]);
      }
      const alone = await envoy.call({ domain: 'messaging', descriptors: [d(['to_number', '2062222222'])] });
      expect(st(alone)).toMatchObject({ code: 'OK', limit_remaining: 94 });
    });

    it('hits_addend: the request consumes that many; 0 means 1; more than the limit is OVER_LIMIT', async () => {
      backend();
      const req = (hits: number) => ({
        domain: 'hourly',
        hits_addend: hits,
        descriptors: [d(['tenant', 'acme'])],
      });
      expect(st(await envoy.call(req(3))).limit_remaining).toBe(5);
      expect(st(await envoy.call(req(0))).limit_remaining).toBe(4);
      const over = await envoy.call(req(5));
      expect(over.overall_code).toBe('OVER_LIMIT');
      expect(st(over).limit_remaining).toBe(4);
      expect(st(await envoy.call(req(4))).limit_remaining).toBe(0);
      expect((await envoy.call(req(9))).overall_code).toBe('OVER_LIMIT');
    });

    it("per-descriptor hits_addend (Sluice's protos): different hits, still all or nothing", async () => {
      backend();
      // One atomic decision, each counter asked its own hits: refused by the user's, nothing is counted.
      const req = (userHits: number) => ({
        domain: 'hourly',
        descriptors: [
          d(['tenant', 'acme']),
          { ...d(['tenant', 'acme'], ['user', 'ann']), hits_addend: { value: String(userHits) } },
        ],
      });
      const first = await sluice.call(req(4));
      expect(first.statuses.map((s) => s.limit_remaining)).toEqual([7, 1]);
      const refused = await sluice.call(req(2));
      expect(refused.overall_code).toBe('OVER_LIMIT');
      expect(refused.statuses.map((s) => [s.code, s.limit_remaining])).toEqual([
        ['OK', 7],
        ['OVER_LIMIT', 1],
      ]);
      const after = await sluice.call({ domain: 'hourly', descriptors: [d(['tenant', 'acme'])] });
      expect(st(after).limit_remaining).toBe(6);
      const fits = await sluice.call(req(1));
      expect(fits.statuses.map((s) => [s.code, s.limit_remaining])).toEqual([
        ['OK', 5],
        ['OK', 0],
      ]);
    });

    it('a limit override replaces the configured limit; an unknown domain limits nothing', async () => {
      backend();
      const req = {
        domain: 'hourly',
        descriptors: [{ ...d(['tenant', 'acme']), limit: { requests_per_unit: 2, unit: 'DAY' } }],
      };
      const r1 = await envoy.call(req);
      expect(st(r1)).toMatchObject({
        code: 'OK',
        limit_remaining: 1,
        current_limit: { requests_per_unit: 2, unit: 'DAY' },
      });
      expect(st(await envoy.call(req)).limit_remaining).toBe(0);
      expect((await envoy.call(req)).overall_code).toBe('OVER_LIMIT');
      const unknown = await envoy.call({ domain: 'nobody', descriptors: [d(['tenant', 'acme'])] });
      expect(unknown.overall_code).toBe('OK');
      expect(st(unknown)).toMatchObject({ code: 'OK', limit_remaining: 0, current_limit: null });
    });

    it('shadow_mode is reported OK past its limit; unlimited is OK with the largest remaining', async () => {
      backend();
      const trial = { domain: 'hourly', descriptors: [d(['trial', 'x'])] };
      const remaining = [];
      for (let i = 0; i < 4; i++) {
        const r = await envoy.call(trial);
        expect(r.overall_code).toBe('OK');
        expect(st(r).code).toBe('OK');
        remaining.push(st(r).limit_remaining);
      }
      expect(remaining).toEqual([1, 0, 0, 0]);
      const internal = await envoy.call({
        domain: 'hourly',
        descriptors: [d(['internal', 'x']), d(['trial', 'y'])],
      });
      expect(internal.overall_code).toBe('OK');
      expect(st(internal)).toMatchObject({
        code: 'OK',
        limit_remaining: 4_294_967_295,
        current_limit: null,
      });
    });

    it('replaces: the vip rule replaces per_user, whose counter is left untouched', async () => {
      backend();
      const both = {
        domain: 'hourly',
        descriptors: [d(['tenant', 'acme'], ['user', 'vip']), d(['tenant', 'acme'])],
      };
      const r = await envoy.call(both);
      expect(r.statuses.map((s) => [s.current_limit?.requests_per_unit, s.limit_remaining])).toEqual([
        [50, 49],
        [8, 7],
      ]);
      const example7 = {
        domain: 'example7',
        descriptors: [
          d(['key_1', 'value_1'], ['user', 'bkthomps']),
          d(['key_2', 'value_2'], ['user', 'bkthomps']),
        ],
      };
      const seven = await envoy.call(example7);
      expect(
        seven.statuses.map((s) => [s.current_limit?.requests_per_unit ?? null, s.limit_remaining]),
      ).toEqual([
        [null, 0],
        [10, 9],
      ]);
      const alone = await envoy.call({
        domain: 'example7',
        descriptors: [d(['key_1', 'value_1'], ['user', 'bkthomps'])],
      });
      expect(st(alone)).toMatchObject({
        current_limit: { name: 'specific_limit', requests_per_unit: 5 },
        limit_remaining: 4,
      });
    });

    it('requests_per_unit 0 refuses, counting nothing anywhere; a sliding-window rule (Sluice extension)', async () => {
      const b = backend();
      const banned = await envoy.call({
        domain: 'hourly',
        descriptors: [d(['banned', 'x']), d(['tenant', 'acme'])],
      });
      expect(banned.overall_code).toBe('OVER_LIMIT');
      expect(banned.statuses.map((s) => [s.code, s.limit_remaining])).toEqual([
        ['OVER_LIMIT', 0],
        ['OK', 8],
      ]);
      const exact = untilEnd(b, HOUR);
      if (exact !== undefined) expect(ms(st(banned).duration_until_reset)).toBe(exact);
      const reports = { domain: 'hourly', descriptors: [d(['route', '/reports'])] };
      const left = [];
      for (let i = 0; i < 4; i++) left.push(st(await envoy.call(reports)).limit_remaining);
      expect(left).toEqual([2, 1, 0, 0]);
    });

    it('invalid requests are INVALID_ARGUMENT naming the field, and count nothing', async () => {
      backend();
      const cases: Array<[unknown, RegExp]> = [
        [{ domain: '', descriptors: [d(['tenant', 'acme'])] }, /^domain: /],
        [{ domain: 'hourly', descriptors: [] }, /^descriptors: /],
        [{ domain: 'hourly', descriptors: [{ entries: [] }] }, /^descriptors\[0\]\.entries: /],
        [
          { domain: 'hourly', descriptors: [d(['tenant', 'acme']), d(['tenant', ''])] },
          /^descriptors\[1\]\.entries\[0\]\.value: /,
        ],
        [
          {
            domain: 'hourly',
            descriptors: [{ ...d(['tenant', 'acme']), limit: { requests_per_unit: 1, unit: 'UNKNOWN' } }],
          },
          /^descriptors\[0\]\.limit\.unit: /,
        ],
      ];
      for (const [request, message] of cases) {
        const error = await envoy.call(request).then(
          () => undefined,
          (e: grpc.ServiceError) => e,
        );
        expect(error?.code, JSON.stringify(request)).toBe(3);
        expect(error?.details).toMatch(message);
      }
      const r = await envoy.call({ domain: 'hourly', descriptors: [d(['tenant', 'acme'])] });
      expect(st(r).limit_remaining).toBe(7);
    });
  },
);

describe('README examples on the memory store (second units, driven clock)', () => {
  it('example 3: 10 per second per address, 50.0.0.5 refused, a new second starts afresh', async () => {
    const b = serve(backends.memory());
    const ip = (address: string) => ({
      domain: 'edge_proxy_per_ip',
      descriptors: [d(['remote_address', address])],
    });
    const codes = [];
    for (let i = 0; i < 11; i++) codes.push((await envoy.call(ip('50.0.0.1'))).overall_code);
    expect(codes.filter((c) => c === 'OK')).toHaveLength(10);
    expect(codes[10]).toBe('OVER_LIMIT');
    expect((await envoy.call(ip('50.0.0.5'))).overall_code).toBe('OVER_LIMIT');
    b.clock?.advance(1000 - (EPOCH % 1000));
    expect(st(await envoy.call(ip('50.0.0.1'))).limit_remaining).toBe(9);
  });

  it('example 4: a request deeper than the rule does not match; example 9: value* matches by prefix', async () => {
    serve(backends.memory());
    const shallow = await envoy.call({ domain: 'example4', descriptors: [d(['key', 'value'])] });
    expect(st(shallow)).toMatchObject({ code: 'OK', limit_remaining: 0, current_limit: null });
    const deep = await envoy.call({
      domain: 'example4',
      descriptors: [d(['key', 'value'], ['subkey', 'x'])],
    });
    expect(st(deep)).toMatchObject({
      limit_remaining: 299,
      current_limit: { requests_per_unit: 300, unit: 'SECOND' },
    });
    const wild = await envoy.call({ domain: 'example9', descriptors: [d(['key1', 'value_2'])] });
    expect(st(wild)).toMatchObject({
      limit_remaining: 19,
      current_limit: { requests_per_unit: 20, unit: 'MINUTE' },
    });
    const other = await envoy.call({ domain: 'example9', descriptors: [d(['key1', 'other'])] });
    expect(st(other).current_limit).toBeNull();
  });

  it('example 6: user-a in shadow mode is never limited, user-b is limited at 20', async () => {
    serve(backends.memory());
    const user = (u: string) => ({
      domain: 'example6',
      descriptors: [d(['service', 'auth-service'], ['user', u])],
    });
    const a = [];
    const b = [];
    for (let i = 0; i < 21; i++) {
      a.push((await envoy.call(user('user-a'))).overall_code);
      b.push((await envoy.call(user('user-b'))).overall_code);
    }
    expect(a.every((c) => c === 'OK')).toBe(true);
    expect(b.filter((c) => c === 'OK')).toHaveLength(20);
    expect(b[20]).toBe('OVER_LIMIT');
  });

  it("WEEK (Sluice's protos; Envoy's older copy has no WEEK) and the response headers of an OK", async () => {
    serve(backends.memory());
    const r = await sluice.call({
      domain: 'mongo_cps',
      descriptors: [{ ...d(['database', 'users']), limit: { requests_per_unit: 7, unit: 'WEEK' } }],
    });
    expect(st(r)).toMatchObject({
      limit_remaining: 6,
      current_limit: { requests_per_unit: 7, unit: 'WEEK' },
    });
    expect(ms(st(r).duration_until_reset)).toBe(604_800_000 - (EPOCH % 604_800_000));
    const headers = Object.fromEntries(r.response_headers_to_add.map((h) => [h.key, h.value]));
    expect(headers).toEqual({
      'ratelimit-policy': '"mongo_cps.database_users";q=7;w=604800',
      ratelimit: `"mongo_cps.database_users";r=6;t=${Math.ceil((604_800_000 - (EPOCH % 604_800_000)) / 1000)}`,
    });
  });
});

describe('the package', () => {
  it('finds its protos from the source tree', async () => {
    const { protoDir } = await import('../../src/server/envoy/index.js');
    expect(protoDir()).toBe(join(import.meta.dirname, '..', '..', 'proto'));
  });
});
