import { ALGORITHMS } from '../algorithms/index.js';
import { encodeIdentifier } from '../core/identifiers.js';
import {
  blockKeysStart,
  stateKeyAt,
  stateKeyEnd,
  statesStart,
  TENANT_WIDE,
  tenantKeyPrefix,
} from '../core/keys.js';
import type { NormalizedLimit } from '../core/types.js';
import type { PlannedLimit } from '../stores/store.js';
import { resolveSubject, type Subject } from './plan.js';

/** Tenants whose part of the keys is kept (see ConfiguredLayout): cleared, not scanned, when full. */
const MAX_TENANTS = 16_384;

/** One tenant's part of the layout: encoded once, shared by every key of the tenant. */
interface TenantPart {
  readonly tenant: string;
  readonly encodedTenant: string;
  readonly metaKey: string;
  /** What the tenant's state keys and block keys start with (see core/keys.ts). */
  readonly states: string;
  readonly blocks: string;
  /** The planned tenant-wide limits, by index (undefined for the per-key ones). */
  readonly wide: ReadonlyArray<PlannedLimit | undefined>;
  /** The last subject laid out (a hot key's decisions share it), or the tenant's only one. */
  last: Subject | undefined;
  lastKey: string | undefined;
  /** lastKey's length and last character: most other keys differ in them, without reading lastKey. */
  lastLength: number;
  lastEnd: number;
}

/**
 * The configured limits of a limiter, laid out for any tenant and key without a cache of subjects
 * (real traffic spreads over more keys than any cache holds): a tenant's part of the keys is encoded
 * once, and a key's subject costs its encoding, one state key per per-key limit and its block key.
 * The same layout as resolveSubject's for these limits (configured names are distinct, so their
 * state keys are too). Pure, apart from its bounded memo of tenants.
 */
export class ConfiguredLayout {
  private readonly tenants = new Map<string, TenantPart>();
  private readonly perKey: boolean;
  private readonly leases: boolean;
  private readonly algorithms: ReadonlyArray<PlannedLimit['algorithm']>;
  /** Each limit's end of its state keys (see core/keys.ts). */
  private readonly keyEnds: readonly string[];

  constructor(
    private readonly prefix: string,
    private readonly limits: readonly NormalizedLimit[],
  ) {
    this.perKey = limits.some((l) => l.scope === 'key');
    this.leases = limits.some((l) => ALGORITHMS[l.algorithm].leases);
    this.algorithms = limits.map((l) => ALGORITHMS[l.algorithm]);
    this.keyEnds = limits.map((l) => stateKeyEnd(l.id));
  }

  /** The subject of one decision over the configured limits. Throws ValidationError as resolveSubject. */
  subject(tenant: unknown, key: unknown): Subject {
    const part = typeof tenant === 'string' ? this.tenants.get(tenant) : undefined;
    if (part === undefined) return this.first(tenant, key);
    if (!this.perKey) return part.last as Subject;
    if (typeof key !== 'string') return this.checked(tenant, key);
    const length = key.length;
    const end = key.charCodeAt(length - 1);
    if (length === part.lastLength && end === part.lastEnd && key === part.lastKey) {
      return part.last as Subject;
    }
    const subject = this.keyed(part, key);
    part.last = subject;
    part.lastKey = key;
    part.lastLength = length;
    part.lastEnd = end;
    return subject;
  }

  /** A tenant met for the first time (or again since the memo was cleared). */
  private first(tenant: unknown, key: unknown): Subject {
    const encodedTenant = encodeIdentifier(tenant, 'tenant');
    const keyPrefix = tenantKeyPrefix(this.prefix, encodedTenant);
    const part: TenantPart = {
      tenant: tenant as string,
      encodedTenant,
      metaKey: `${keyPrefix}m`,
      states: statesStart(keyPrefix),
      blocks: blockKeysStart(keyPrefix),
      wide: this.limits.map((limit) =>
        limit.scope === 'key'
          ? undefined
          : {
              key: stateKeyAt(keyPrefix, TENANT_WIDE, limit.id),
              algorithm: ALGORITHMS[limit.algorithm],
              limit,
              subject: TENANT_WIDE,
            },
      ),
      last: undefined,
      lastKey: undefined,
      lastLength: -1,
      lastEnd: -1,
    };
    if (!this.perKey) part.last = this.keyed(part, undefined);
    if (this.tenants.size >= MAX_TENANTS) this.tenants.clear();
    this.tenants.set(part.tenant, part);
    return this.subject(tenant, key);
  }

  /** A key that is not a string (or absent while a limit counts per key): resolveSubject's errors. */
  private checked(tenant: unknown, key: unknown): Subject {
    return resolveSubject(
      this.prefix,
      tenant,
      this.limits.map((limit) => ({ limit, key: key as string })),
    );
  }

  private keyed(part: TenantPart, key: string | undefined): Subject {
    const count = this.limits.length;
    const limits: PlannedLimit[] = new Array(count);
    const keys: Array<string | undefined> = new Array(count);
    let blockKeys: string[];
    if (key !== undefined) {
      const encoded = encodeIdentifier(key, 'key');
      blockKeys = [part.blocks + encoded];
      // `states + encoded` is shared by the key's state keys: two strings per key and limit.
      const states = part.states + encoded;
      for (let i = 0; i < count; i++) {
        const wide = part.wide[i];
        if (wide !== undefined) {
          limits[i] = wide;
          keys[i] = undefined;
          continue;
        }
        const limit = this.limits[i] as NormalizedLimit;
        const algorithm = this.algorithms[i] as PlannedLimit['algorithm'];
        limits[i] = { key: states + (this.keyEnds[i] as string), algorithm, limit, subject: encoded };
        keys[i] = key;
      }
    } else {
      blockKeys = [];
      for (let i = 0; i < count; i++) limits[i] = part.wide[i] as PlannedLimit;
    }
    return {
      prefix: this.prefix,
      tenant: part.tenant,
      encodedTenant: part.encodedTenant,
      metaKey: part.metaKey,
      limits,
      keys,
      blockKeys,
      leases: this.leases,
    };
  }
}
