import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const root = join(import.meta.dirname, '..', '..');
const deps = join(root, 'node_modules', '@grpc', 'grpc-js-xds', 'deps');
export const FIXTURES = join(root, 'test', 'fixtures', 'envoy');

/** A DescriptorStatus as the clients decode it (proto names, enums by name, defaults filled in). */
export interface DecodedStatus {
  code: string;
  current_limit: { name: string; requests_per_unit: number; unit: string } | null;
  limit_remaining: number;
  duration_until_reset: { seconds: string; nanos: number } | null;
}

/** A RateLimitResponse as the clients decode it. */
export interface DecodedResponse {
  overall_code: string;
  statuses: DecodedStatus[];
  response_headers_to_add: Array<{ key: string; value: string }>;
}

/** A unary client call as a promise. */
export type Call = (request: unknown) => Promise<DecodedResponse>;

type Callback = (error: grpc.ServiceError | null, response: DecodedResponse) => void;
interface RlsClient extends grpc.Client {
  ShouldRateLimit(request: unknown, callback: Callback): void;
}

export interface Client {
  call: Call;
  close(): void;
}

const CLIENT_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** A client built from Envoy's own definitions, as @grpc/grpc-js-xds ships them (an older copy of the API). */
export function envoyClient(port: number): Client {
  const definition = protoLoader.loadSync('envoy/service/ratelimit/v3/rls.proto', {
    ...CLIENT_OPTIONS,
    includeDirs: ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(deps, d)),
  });
  return clientOf(definition, port);
}

/** A client built from Sluice's protos (they carry the per-descriptor hits_addend and WEEK). */
export function sluiceClient(port: number): Client {
  const definition = protoLoader.loadSync('envoy/service/ratelimit/v3/rls.proto', {
    ...CLIENT_OPTIONS,
    includeDirs: [join(root, 'proto')],
  });
  return clientOf(definition, port);
}

function clientOf(definition: protoLoader.PackageDefinition, port: number): Client {
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    envoy: { service: { ratelimit: { v3: { RateLimitService: grpc.ServiceClientConstructor } } } };
  };
  const Service = loaded.envoy.service.ratelimit.v3.RateLimitService;
  const client = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as RlsClient;
  return {
    call: (request) =>
      new Promise((resolve, reject) => {
        client.ShouldRateLimit(request, (error, response) => (error ? reject(error) : resolve(response)));
      }),
    close: () => client.close(),
  };
}

/** A descriptor from pairs: d(['database', 'users']). */
export function d(...pairs: Array<[string, string]>): { entries: Array<{ key: string; value: string }> } {
  return { entries: pairs.map(([key, value]) => ({ key, value })) };
}

/** Seconds and nanos of a decoded Duration, as ms. */
export function ms(duration: { seconds: string; nanos: number } | null | undefined): number | undefined {
  if (!duration) return undefined;
  return Number(duration.seconds) * 1000 + Math.round(duration.nanos / 1e6);
}

/** The first status of a response (there must be one). */
export function st(response: DecodedResponse): DecodedStatus {
  const status = response.statuses[0];
  if (status === undefined) throw new Error('the response has no status');
  return status;
}
