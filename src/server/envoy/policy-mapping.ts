import { blockedByOf, type RequestContext, ValidationError } from '../../index.js';
import type { RlsRequest } from './types.js';

/** The RequestContext field a descriptor entry's value becomes (`ignore`: none). */
export type ContextField = 'tenant' | 'user' | 'ip' | 'endpoint' | 'roles' | 'tier' | 'ignore';
const CONTEXT_FIELDS: readonly ContextField[] = [
  'tenant',
  'user',
  'ip',
  'endpoint',
  'roles',
  'tier',
  'ignore',
];

/**
 * Descriptor keys understood by default: Envoy's own actions (`remote_address`, `header_match`,
 * `request_headers` entries named as the user configures them) and the plain names. Keys not listed
 * are ignored: Envoy sends descriptors such as `destination_cluster` that no policy needs.
 */
export const DEFAULT_DESCRIPTOR_KEYS: Readonly<Record<string, ContextField>> = {
  tenant: 'tenant',
  tenant_id: 'tenant',
  user: 'user',
  user_id: 'user',
  ip: 'ip',
  remote_address: 'ip',
  endpoint: 'endpoint',
  path: 'endpoint',
  header_match: 'endpoint',
  roles: 'roles',
  role: 'roles',
  tier: 'tier',
};

/** How descriptors become a RequestContext for `PolicyLimiter.check`. */
export interface DescriptorMapping {
  /** Descriptor key -> context field, merged over DEFAULT_DESCRIPTOR_KEYS (`ignore` drops a default). */
  keys?: Record<string, ContextField>;
  /** Without a `tenant` entry, the request's domain is the tenant (default true; false: an error). */
  tenantFromDomain?: boolean;
}

/** Validates a mapping; returns the keys in force. */
export function mappingKeys(mapping: DescriptorMapping | undefined): Map<string, ContextField> {
  const keys = new Map(Object.entries(DEFAULT_DESCRIPTOR_KEYS));
  for (const [key, field] of Object.entries(mapping?.keys ?? {})) {
    if (!CONTEXT_FIELDS.includes(field)) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        `mapping.keys.${key}`,
        `must be one of ${CONTEXT_FIELDS.join(', ')}`,
      );
    }
    keys.set(key, field);
  }
  return keys;
}

/**
 * The RequestContext of a rate limit request: every descriptor's entries together (one Sluice
 * decision per request). Roles accumulate (a value may list several, comma-separated); any other field
 * given twice with different values is an error naming the entry. The cost is the largest hits of the
 * request (per-descriptor hits_addend included).
 */
export function contextOf(
  request: RlsRequest,
  keys: ReadonlyMap<string, ContextField>,
  tenantFromDomain = true,
): RequestContext {
  const single: Partial<Record<'tenant' | 'user' | 'ip' | 'endpoint' | 'tier', string>> = {};
  const roles: string[] = [];
  for (const [i, descriptor] of request.descriptors.entries()) {
    for (const [j, { key, value }] of descriptor.entries.entries()) {
      const field = keys.get(key) ?? 'ignore';
      if (field === 'ignore') continue;
      if (field === 'roles') {
        for (const role of value.split(','))
          if (role.trim() !== '' && !roles.includes(role.trim())) roles.push(role.trim());
        continue;
      }
      const previous = single[field];
      if (previous !== undefined && previous !== value) {
        throw new ValidationError(
          'ERR_SLUICE_INVALID_OPTION',
          `descriptors[${i}].entries[${j}].value`,
          `gives ${field} "${value}", another entry gave "${previous}" (one request has one ${field})`,
        );
      }
      single[field] = value;
    }
  }
  const tenant = single.tenant ?? (tenantFromDomain ? request.domain : undefined);
  if (tenant === undefined) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'descriptors',
      'no entry names the tenant (key "tenant")',
    );
  }
  const cost = Math.max(...request.descriptors.map((d) => d.hitsAddend ?? request.hitsAddend));
  const ctx: RequestContext = { ...single, tenant, cost };
  if (roles.length > 0) ctx.roles = roles;
  return ctx;
}

/**
 * The block markers of a request decided by the Envoy configuration: every user and IP its entries
 * name (through the mapping), so an identity blocked by an operator is refused on that path too.
 * Several values are all checked (the configuration's descriptors may name several).
 */
export function blockedByOfRequest(request: RlsRequest, keys: ReadonlyMap<string, ContextField>): string[] {
  const markers = new Set<string>();
  for (const descriptor of request.descriptors) {
    for (const { key, value } of descriptor.entries) {
      const field = keys.get(key);
      if (value === '') continue;
      if (field === 'user') for (const m of blockedByOf({ user: value })) markers.add(m);
      else if (field === 'ip') for (const m of blockedByOf({ ip: value })) markers.add(m);
    }
  }
  return [...markers];
}
