import { ValidationError } from './errors.js';

/**
 * The Redis key schema. Every key of a tenant shares the Cluster hash tag `{<tenant>}` so that one
 * script touches them on one shard; identifiers are encoded (see identifiers.ts) so no value can
 * break out of its segment.
 *
 *   <prefix>:{<tenant>}:m                                   tenant meta: reset instant `r`, block-until `b`
 *   <prefix>:{<tenant>}:b:<key>                             block marker of one key (value: until, ms)
 *   <prefix>:{<tenant>}:s:<key|*>:<limit>:<algo><windowMs>  state of one limit for one key (`*`: tenant-wide)
 *   <prefix>:{<tenant>}:r:<decision id>:<key|*>:<limit>:...  units of one decision refunded on that state
 *   <prefix>:{<tenant>}:u:<hour>:t                         LLM usage of one epoch hour: the tenant's totals
 *   <prefix>:{<tenant>}:u:<hour>:i                         ... the hour's identities (sorted set)
 *   <prefix>:{<tenant>}:u:<hour>:i:<identity>              ... one identity's counters
 */
export const TENANT_WIDE = '*';

const PREFIX = /^[A-Za-z0-9._:-]{1,64}$/;

export function validatePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'prefix',
      `${JSON.stringify(prefix)} must be 1-64 characters of [A-Za-z0-9._:-] (no braces: they would become the Cluster hash tag)`,
    );
  }
  return prefix;
}

export function metaKey(prefix: string, tenant: string): string {
  return `${tenantKeyPrefix(prefix, tenant)}m`;
}

export function blockKey(prefix: string, tenant: string, subject: string): string {
  return blockKeyAt(tenantKeyPrefix(prefix, tenant), subject);
}

export function stateKey(prefix: string, tenant: string, subject: string, limitId: string): string {
  return stateKeyAt(tenantKeyPrefix(prefix, tenant), subject, limitId);
}

/** blockKey, from the tenant's key prefix (tenantKeyPrefix) laid out once. */
export function blockKeyAt(tenantPrefix: string, subject: string): string {
  return blockKeysStart(tenantPrefix) + subject;
}

/** stateKey, from the tenant's key prefix (tenantKeyPrefix) laid out once. */
export function stateKeyAt(tenantPrefix: string, subject: string, limitId: string): string {
  return statesStart(tenantPrefix) + subject + stateKeyEnd(limitId);
}

/**
 * The parts of the keys of one tenant and one limit that do not depend on the key, for callers that
 * lay them out once: blockKey is `blockKeysStart + subject`, stateKey `statesStart + subject + stateKeyEnd`.
 */
export function blockKeysStart(tenantPrefix: string): string {
  return `${tenantPrefix}b:`;
}

export function statesStart(tenantPrefix: string): string {
  return `${tenantPrefix}s:`;
}

export function stateKeyEnd(limitId: string): string {
  return `:${limitId}`;
}

/** The refund ledger of decision `id` on the state at `state` (a stateKey): same tag, own namespace. */
export function ledgerKey(state: string, id: string): string {
  const at = state.indexOf('}:s:');
  return `${state.slice(0, at)}}:r:${id}:${state.slice(at + 4)}`;
}

/** The start of the LLM usage keys of one (encoded) tenant and epoch hour: `...:u:<hour>:`. */
export function usageKeysStart(prefix: string, tenant: string, hour: number): string {
  return `${tenantKeyPrefix(prefix, tenant)}u:${hour}:`;
}

/** The hash-tag part shared by all keys of a tenant: `<prefix>:{<tenant>}:`. */
export function tenantKeyPrefix(prefix: string, tenant: string): string {
  return `${prefix}:{${tenant}}:`;
}

/** What a key of this schema is made of (see keyParts). */
export interface KeyParts {
  /** The meta key of its tenant (and prefix): `<prefix>:{<tenant>}:m`. */
  readonly metaKey: string;
  /** `s` (state), `b` (block marker), `m` (the meta key itself), `r` (refund ledger)... */
  readonly kind: string;
  /** States and block markers: the encoded key (`*`: tenant-wide); else empty. */
  readonly subject: string;
  /** States: the limit id; else empty. */
  readonly limitId: string;
}

/** The parts of a key laid out by this schema, undefined if it is not one. Inverse of the builders. */
export function keyParts(key: string): KeyParts | undefined {
  // Neither the prefix nor an encoded tenant holds a brace: the first `:{` and `}:` delimit the tag.
  const open = key.indexOf(':{');
  const close = open < 0 ? -1 : key.indexOf('}:', open + 2);
  if (close < 0 || close + 3 > key.length) return undefined;
  const at = close + 2;
  const metaKey = `${key.slice(0, at)}m`;
  const kind = key.charAt(at);
  if (at + 1 === key.length) return kind === 'm' ? { metaKey, kind, subject: '', limitId: '' } : undefined;
  if (key.charAt(at + 1) !== ':') return undefined;
  const rest = key.slice(at + 2);
  if (kind === 'b') return rest.length > 0 ? { metaKey, kind, subject: rest, limitId: '' } : undefined;
  if (kind !== 's') return { metaKey, kind, subject: '', limitId: '' };
  // An encoded subject holds no `:`; a limit id may.
  const split = rest.indexOf(':');
  if (split <= 0 || split + 1 === rest.length) return undefined;
  return { metaKey, kind, subject: rest.slice(0, split), limitId: rest.slice(split + 1) };
}
