/**
 * A gRPC load loop for Envoy's rate limit service: `inFlight` ShouldRateLimit calls kept in flight
 * from one process (each loop sends its next call when its previous one answers) for `seconds`, over
 * `channels` HTTP/2 connections. Latency of every answered call goes into an HDR histogram in µs.
 * Requests name tenants `t0` ... `t<tenants - 1>` in turn (descriptor `tenant`), so calls in flight at
 * once are for different tenants, as an Envoy fleet's are.
 *
 * Run it as its own process (what `npm run bench:service` does, so that the client's CPU is not the
 * server's): `tsx bench/lib/grpc-load.ts --target 127.0.0.1:8081 --seconds 10 --in-flight 64`; it
 * prints one JSON GrpcLoadResult.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { build } from 'hdr-histogram-js';
import { protoDir, RLS_PROTO } from '../../dist/envoy.js';

export interface GrpcLoadOptions {
  /** host:port of the gRPC server. */
  target: string;
  seconds: number;
  /** Calls kept in flight at once. */
  inFlight: number;
  /** HTTP/2 connections the calls are spread over (default 1: Envoy keeps one per worker). */
  channels?: number;
  /** Tenants rotated over (default 1). */
  tenants?: number;
  /** The request's domain (default `bench`). */
  domain?: string;
  /** Descriptors per call (default 1: `tenant`; 2 adds `tenant`+`user`). */
  descriptors?: 1 | 2;
}

export interface GrpcLoadResult {
  calls: number;
  callsPerSec: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  overLimit: number;
  errors: number;
  /** The first error's message, if any. */
  firstError?: string;
  elapsedMs: number;
}

type Callback = (error: grpc.ServiceError | null, response: { overall_code: string }) => void;
interface RlsClient extends grpc.Client {
  ShouldRateLimit(request: unknown, callback: Callback): void;
}

function clients(target: string, channels: number): RlsClient[] {
  const definition = protoLoader.loadSync(RLS_PROTO, {
    includeDirs: [protoDir()],
    keepCase: true,
    enums: String,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    envoy: { service: { ratelimit: { v3: { RateLimitService: grpc.ServiceClientConstructor } } } };
  };
  const Service = loaded.envoy.service.ratelimit.v3.RateLimitService;
  // A distinct channel option per client: grpc-js would otherwise share one subchannel among them.
  return Array.from(
    { length: channels },
    (_, i) =>
      new Service(target, grpc.credentials.createInsecure(), {
        'grpc.sluice_channel': i,
      }) as unknown as RlsClient,
  );
}

function requestOf(i: number, o: GrpcLoadOptions): unknown {
  const tenant = `t${i % (o.tenants ?? 1)}`;
  const descriptors = [{ entries: [{ key: 'tenant', value: tenant }] }];
  if (o.descriptors === 2)
    descriptors.push({
      entries: [
        { key: 'tenant', value: tenant },
        { key: 'user', value: `u${i % 64}` },
      ],
    });
  return { domain: o.domain ?? 'bench', descriptors };
}

export async function runGrpcLoad(o: GrpcLoadOptions): Promise<GrpcLoadResult> {
  const pool = clients(o.target, o.channels ?? 1);
  const histogram = build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
  const result = { calls: 0, overLimit: 0, errors: 0, firstError: undefined as string | undefined };
  let sent = 0;
  const started = performance.now();
  const until = started + o.seconds * 1000;
  const call = (client: RlsClient) =>
    new Promise<void>((resolve) => {
      const at = performance.now();
      client.ShouldRateLimit(requestOf(sent++, o), (error, response) => {
        histogram.recordValue(Math.max(1, Math.round((performance.now() - at) * 1000)));
        if (error) {
          result.errors++;
          result.firstError ??= error.message;
        } else {
          result.calls++;
          if (response.overall_code === 'OVER_LIMIT') result.overLimit++;
        }
        resolve();
      });
    });
  const loop = async (k: number) => {
    const client = pool[k % pool.length] as RlsClient;
    while (performance.now() < until) await call(client);
  };
  await Promise.all(Array.from({ length: o.inFlight }, (_, k) => loop(k)));
  const elapsedMs = performance.now() - started;
  for (const client of pool) client.close();
  return {
    calls: result.calls,
    callsPerSec: (result.calls / elapsedMs) * 1000,
    p50Us: histogram.getValueAtPercentile(50),
    p99Us: histogram.getValueAtPercentile(99),
    p999Us: histogram.getValueAtPercentile(99.9),
    maxUs: histogram.maxValue,
    overLimit: result.overLimit,
    errors: result.errors,
    ...(result.firstError ? { firstError: result.firstError } : {}),
    elapsedMs,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      target: { type: 'string' },
      seconds: { type: 'string', default: '10' },
      'in-flight': { type: 'string', default: '64' },
      channels: { type: 'string', default: '1' },
      tenants: { type: 'string', default: '1' },
      domain: { type: 'string', default: 'bench' },
      descriptors: { type: 'string', default: '1' },
    },
  });
  if (!values.target) throw new Error('--target host:port is required');
  const result = await runGrpcLoad({
    target: values.target,
    seconds: Number(values.seconds),
    inFlight: Number(values['in-flight']),
    channels: Number(values.channels),
    tenants: Number(values.tenants),
    domain: values.domain,
    descriptors: values.descriptors === '2' ? 2 : 1,
  });
  console.log(JSON.stringify(result));
}
