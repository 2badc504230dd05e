import { randomFillSync } from 'node:crypto';
import { ALGORITHMS } from '../algorithms/index.js';
import { ValidationError } from '../core/errors.js';
import { encodeIdentifier } from '../core/identifiers.js';
import { blockKey, metaKey, stateKey, TENANT_WIDE } from '../core/keys.js';
import type { NormalizedLimit } from '../core/types.js';
import type { DecisionPlan, PlannedLimit } from '../stores/store.js';

/** One limit to check for one key (absent for tenant-wide limits). Identifiers not yet encoded. */
export interface Check {
  limit: NormalizedLimit;
  key?: string;
}

/** A validated, encoded request: what every operation (decide, refund, reset...) starts from. */
export interface Subject {
  prefix: string;
  tenant: string;
  encodedTenant: string;
  metaKey: string;
  limits: PlannedLimit[];
  /** The (raw) key each planned limit counts, parallel to `limits`; undefined for tenant-wide ones. */
  keys: Array<string | undefined>;
  /** Block-marker keys of the distinct keys involved. */
  blockKeys: string[];
  /** Some limit hands out leases (concurrency): admitted decisions carry one. */
  leases: boolean;
}

/** Encodes identifiers and lays out the storage keys of a set of checks. Pure; throws ValidationError. */
export function resolveSubject(
  prefix: string,
  tenant: unknown,
  checks: readonly Check[],
  blockedBy: readonly string[] = [],
): Subject {
  const encodedTenant = encodeIdentifier(tenant, 'tenant');
  const encodedKeys = new Map<string, string>();
  const limits: PlannedLimit[] = [];
  const keys: Array<string | undefined> = [];
  const blockKeys: string[] = [];
  const seen = new Map<string, number>();
  for (const [i, { limit, key }] of checks.entries()) {
    let subject = TENANT_WIDE;
    if (limit.scope === 'key') {
      if (key === undefined) {
        throw new ValidationError(
          'ERR_SLUICE_INVALID_IDENTIFIER',
          'key',
          `is required: limit "${limit.name}" counts per key (set scope: "tenant" for a tenant-wide limit)`,
        );
      }
      let encoded = encodedKeys.get(key);
      if (encoded === undefined) {
        encoded = encodeIdentifier(key, 'key');
        encodedKeys.set(key, encoded);
        blockKeys.push(blockKey(prefix, encodedTenant, encoded));
      }
      subject = encoded;
    }
    const state = stateKey(prefix, encodedTenant, subject, limit.id);
    const first = seen.get(state);
    if (first !== undefined) {
      // Two checks on one counter: a store would charge it once or twice, and neither is what was asked.
      throw new ValidationError(
        'ERR_SLUICE_INVALID_LIMIT',
        `checks[${i}]`,
        `checks[${first}] and checks[${i}] share state key "${state}" (limit "${limit.name}": same name, ` +
          'algorithm and window for the same key); give them different names or merge them',
      );
    }
    seen.set(state, i);
    limits.push({ key: state, algorithm: ALGORITHMS[limit.algorithm], limit, subject });
    keys.push(limit.scope === 'key' ? key : undefined);
  }
  for (const key of blockedBy) {
    if (encodedKeys.has(key)) continue;
    const encoded = encodeIdentifier(key, 'blockedBy');
    encodedKeys.set(key, encoded);
    blockKeys.push(blockKey(prefix, encodedTenant, encoded));
  }
  return {
    prefix,
    tenant: tenant as string,
    encodedTenant,
    metaKey: metaKey(prefix, encodedTenant),
    limits,
    keys,
    blockKeys,
    leases: limits.some((l) => l.algorithm.leases),
  };
}

/** A plan its owner refills for each decision (see refillPlan). */
export type ReusablePlan = { -readonly [K in keyof DecisionPlan]: DecisionPlan[K] };

export function emptyPlan(): ReusablePlan {
  return {
    tenant: '',
    metaKey: '',
    blockKeys: [],
    limits: [],
    cost: 0,
    costs: undefined,
    penalty: false,
    id: '',
  };
}

/**
 * planDecision into a plan its owner reuses: for a store that keeps nothing of the plan once it has
 * answered, synchronously (the memory store's decideReusing), sparing every decision one object.
 */
export function refillPlan(
  plan: ReusablePlan,
  subject: Subject,
  cost: number,
  penalty: boolean,
  costs?: readonly number[],
): DecisionPlan {
  plan.tenant = subject.encodedTenant;
  plan.metaKey = subject.metaKey;
  plan.blockKeys = subject.blockKeys;
  plan.limits = subject.limits;
  plan.cost = cost;
  plan.costs = costs;
  plan.penalty = penalty;
  plan.id = nextDecisionId();
  return plan;
}

export function planDecision(
  subject: Subject,
  cost: number,
  penalty: boolean,
  costs?: readonly number[],
): DecisionPlan {
  const plan = {
    tenant: subject.encodedTenant,
    metaKey: subject.metaKey,
    blockKeys: subject.blockKeys,
    limits: subject.limits,
    cost,
    penalty,
    id: nextDecisionId(),
  };
  return costs === undefined ? plan : { ...plan, costs };
}

/**
 * The per-limit costs of a decision whose checks state their own (`checks[i].cost`), the others
 * asked `cost`; undefined when no check states one. `given` holds the validated costs, parallel to
 * the checks (undefined: the decision's).
 */
export function perLimitCosts(
  given: ReadonlyArray<number | undefined> | undefined,
  cost: number,
): number[] | undefined {
  if (given === undefined) return undefined;
  return given.map((c) => (c === undefined ? cost : c));
}

/** The cost a plan with per-limit costs is decided at: the largest (0: a peek, nothing charged). */
export function largestCost(costs: readonly number[]): number {
  let largest = 0;
  for (const c of costs) if (c > largest) largest = c;
  return largest;
}

// Decision ids name log entries, leases and refund ledgers. They are unguessable (96 random bits), so
// that holding one lease or decision tells nothing of another's id: a release or refund can only name
// a decision its caller was given. Random bytes are drawn and encoded in blocks, not per decision: 12
// bytes are exactly 16 base64url characters, so each id is cut from the block's encoding.
const ID_BYTES = 12;
const ID_CHARS = 16;
/** Ids per encoded block. */
const BLOCK_IDS = 256;
/** Blocks per draw of random bytes (one system call). */
const DRAW_BLOCKS = 16;
const BLOCK_BYTES = ID_BYTES * BLOCK_IDS;
const drawn = Buffer.alloc(BLOCK_BYTES * DRAW_BLOCKS);
let drawnAt = drawn.length;
let block = '';
let blockAt = 0;

export function nextDecisionId(): string {
  if (blockAt >= block.length) {
    if (drawnAt >= drawn.length) {
      randomFillSync(drawn);
      drawnAt = 0;
    }
    block = drawn.toString('base64url', drawnAt, drawnAt + BLOCK_BYTES);
    drawnAt += BLOCK_BYTES;
    blockAt = 0;
  }
  // Two halves of 8 characters: V8 copies slices that short, where a 16-character slice would keep
  // the whole 4 KB block alive as long as the id (a sliding-log entry, a lease) is kept.
  const half = ID_CHARS / 2;
  const id = block.slice(blockAt, blockAt + half) + block.slice(blockAt + half, blockAt + ID_CHARS);
  blockAt += ID_CHARS;
  return id;
}

export const LEASE_ID = /^[A-Za-z0-9_-]{1,64}$/;
