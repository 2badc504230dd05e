import { ValidationError } from '../../index.js';
import type { DescriptorEntry, RlsDescriptor, RlsRequest } from './types.js';
import { type Unit, unitOf } from './units.js';

/** Bounds of a request: Envoy sends a handful of short descriptors; anything far larger is refused. */
export const REQUEST_BOUNDS = {
  descriptors: 64,
  entries: 32,
  /** Bytes of a key or value. */
  text: 4096,
  /** Bytes of the domain (it becomes the Sluice tenant). */
  domain: 256,
  /** Largest hits_addend or limit override: Sluice's limits count up to 10^9. */
  quantity: 1_000_000_000,
} as const;

/**
 * Reads a RateLimitRequest from its decoded gRPC form (proto field names) or its proto3 JSON form
 * (lowerCamelCase; the proto names are accepted too, as proto3 JSON parsers must). Throws a
 * ValidationError naming the field; unknown fields are errors.
 */
export function parseRateLimitRequest(raw: unknown): RlsRequest {
  const body = object(raw, 'request');
  known(body, 'request', ['domain', 'descriptors', 'hits_addend', 'hitsAddend']);
  const domain = field(body, 'domain', 'domain');
  if (typeof domain !== 'string' || domain === '') invalid('domain', 'must be a non-empty string');
  if (Buffer.byteLength(domain) > REQUEST_BOUNDS.domain)
    invalid('domain', `is longer than ${REQUEST_BOUNDS.domain} bytes`);
  if (domain.startsWith('~')) invalid('domain', 'must not start with "~" (reserved for Sluice)');
  const list = field(body, 'descriptors', 'descriptors');
  if (!Array.isArray(list) || list.length === 0) invalid('descriptors', 'must be a non-empty list');
  if (list.length > REQUEST_BOUNDS.descriptors)
    invalid('descriptors', `has more than ${REQUEST_BOUNDS.descriptors} descriptors`);
  const hits = hitsOf(field(body, 'hits_addend', 'hitsAddend'), 'hits_addend');
  return {
    domain,
    descriptors: list.map((d, i) => parseDescriptor(d, `descriptors[${i}]`)),
    hitsAddend: hits ?? 1,
  };
}

function parseDescriptor(raw: unknown, path: string): RlsDescriptor {
  const d = object(raw, path);
  known(d, path, ['entries', 'limit', 'hits_addend', 'hitsAddend']);
  const entries = d.entries;
  if (!Array.isArray(entries) || entries.length === 0) invalid(`${path}.entries`, 'must be a non-empty list');
  if (entries.length > REQUEST_BOUNDS.entries)
    invalid(`${path}.entries`, `has more than ${REQUEST_BOUNDS.entries} entries`);
  const descriptor: RlsDescriptor = {
    entries: entries.map((e, i) => parseEntry(e, `${path}.entries[${i}]`)),
  };
  if (d.limit !== undefined && d.limit !== null) descriptor.limit = parseOverride(d.limit, `${path}.limit`);
  const hits = hitsOf(
    unwrap(field(d, 'hits_addend', 'hitsAddend', `${path}.`), `${path}.hits_addend`),
    `${path}.hits_addend`,
  );
  if (hits !== undefined) descriptor.hitsAddend = hits;
  return descriptor;
}

function parseEntry(raw: unknown, path: string): DescriptorEntry {
  const e = object(raw, path);
  known(e, path, ['key', 'value']);
  return { key: text(e.key, `${path}.key`), value: text(e.value, `${path}.value`) };
}

function parseOverride(raw: unknown, path: string): { requestsPerUnit: number; unit: Unit } {
  const o = object(raw, path);
  known(o, path, ['requests_per_unit', 'requestsPerUnit', 'unit']);
  const requests = integer(
    field(o, 'requests_per_unit', 'requestsPerUnit', `${path}.`) ?? 0,
    `${path}.requests_per_unit`,
  );
  const unit = unitOf(o.unit);
  if (unit === undefined) {
    invalid(
      `${path}.unit`,
      `${JSON.stringify(o.unit ?? 'UNKNOWN')} is not a unit (SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, YEAR)`,
    );
  }
  return { requestsPerUnit: requests, unit };
}

/** hits_addend: absent or 0 means 1 (Envoy's rule). */
function hitsOf(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const hits = integer(value, path);
  return hits === 0 ? 1 : hits;
}

/** A google.protobuf.UInt64Value: `{ value }` decoded from gRPC, the bare value in proto3 JSON. */
function unwrap(value: unknown, path: string): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const wrapper = value as Record<string, unknown>;
    known(wrapper, path, ['value']);
    return wrapper.value ?? 0;
  }
  return value;
}

/** A non-negative integer up to REQUEST_BOUNDS.quantity, from a number or a decimal string (uint64 in JSON). */
function integer(value: unknown, path: string): number {
  const n = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) invalid(path, 'must be a non-negative integer');
  if (n > REQUEST_BOUNDS.quantity) invalid(path, `must be at most ${REQUEST_BOUNDS.quantity}`);
  return n;
}

function text(value: unknown, path: string): string {
  if (typeof value !== 'string' || value === '') invalid(path, 'must be a non-empty string');
  if (Buffer.byteLength(value) > REQUEST_BOUNDS.text)
    invalid(path, `is longer than ${REQUEST_BOUNDS.text} bytes`);
  return value;
}

function object(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(path, 'must be an object');
  return value as Record<string, unknown>;
}

/** A field under its proto name or its JSON name (both given: an error, they would disagree). */
function field(o: Record<string, unknown>, proto: string, json: string, path = ''): unknown {
  if (proto !== json && o[proto] !== undefined && o[json] !== undefined) {
    invalid(`${path}${proto}`, `given twice (as ${proto} and ${json})`);
  }
  return o[proto] ?? o[json];
}

function known(o: Record<string, unknown>, path: string, names: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (!names.includes(key))
      invalid(path === 'request' ? key : `${path}.${key}`, `unknown field (expected ${names.join(', ')})`);
  }
}

function invalid(path: string, message: string): never {
  throw new ValidationError('ERR_SLUICE_INVALID_OPTION', path, message);
}
