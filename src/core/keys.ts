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
  return `${prefix}:{${tenant}}:m`;
}

export function blockKey(prefix: string, tenant: string, subject: string): string {
  return `${prefix}:{${tenant}}:b:${subject}`;
}

export function stateKey(prefix: string, tenant: string, subject: string, limitId: string): string {
  return `${prefix}:{${tenant}}:s:${subject}:${limitId}`;
}

/** The refund ledger of decision `id` on the state at `state` (a stateKey): same tag, own namespace. */
export function ledgerKey(state: string, id: string): string {
  const at = state.indexOf('}:s:');
  return `${state.slice(0, at)}}:r:${id}:${state.slice(at + 4)}`;
}

/** The hash-tag part shared by all keys of a tenant: `<prefix>:{<tenant>}:`. */
export function tenantKeyPrefix(prefix: string, tenant: string): string {
  return `${prefix}:{${tenant}}:`;
}
