import { createHash } from 'node:crypto';
import type { LimitDefinition } from '../../index.js';
import type { EnvoyRule } from './config.js';
import type { Target } from './match.js';
import type { RlsRequest } from './types.js';
import { UNIT_SECONDS } from './units.js';

/** One counter a request touches: a rule for the entries' values, with the hits of its descriptors. */
export interface CountedCheck {
  rule: EnvoyRule;
  limit: LimitDefinition;
  /** The counter's key: the descriptor's values (hashed when long). */
  key: string;
  cost: number;
  /** Indexes of the request's descriptors counted here (one, unless a descriptor is repeated). */
  descriptors: number[];
}

/** The counters of a request, split as Sluice decides them. */
export interface CheckPlan {
  /** Enforced counters, grouped by cost: one Sluice decision per group (usually one group). */
  enforced: CountedCheck[][];
  /** `shadow_mode` counters, grouped by cost, decided beside the enforced ones and never blocking. */
  shadow: CountedCheck[][];
  /** Enforced rules with `requests_per_unit: 0`: the request is over its limit, nothing counted. */
  refused: Array<{ rule: EnvoyRule; descriptor: number }>;
}

const MAX_COST = 1_000_000_000;
const MAX_KEY_BYTES = 200;

/**
 * Lays out a request's counters. A descriptor repeated in one request counts its hits once per copy,
 * as envoyproxy/ratelimit does: the copies share one check whose cost is their sum.
 */
export function planChecks(request: RlsRequest, targets: readonly Target[]): CheckPlan {
  const byCounter = new Map<string, CountedCheck>();
  const refused: CheckPlan['refused'] = [];
  for (const [i, target] of targets.entries()) {
    if (target.kind !== 'limit') continue;
    const { rule } = target;
    if (rule.requestsPerUnit === 0) {
      if (!rule.shadowMode) refused.push({ rule, descriptor: i });
      continue;
    }
    const descriptor = request.descriptors[i];
    const hits = descriptor?.hitsAddend ?? request.hitsAddend;
    const key = counterKey(descriptor?.entries.map((e) => e.value) ?? []);
    const id = `${rule.fullKey}\n${rule.unit}\n${key}`;
    const existing = byCounter.get(id);
    if (existing) {
      existing.cost = Math.min(MAX_COST, existing.cost + hits);
      existing.descriptors.push(i);
    } else {
      byCounter.set(id, { rule, limit: limitOf(rule), key, cost: hits, descriptors: [i] });
    }
  }
  const checks = [...byCounter.values()];
  return {
    enforced: groupByCost(checks.filter((c) => !c.rule.shadowMode)),
    shadow: groupByCost(checks.filter((c) => c.rule.shadowMode)),
    refused,
  };
}

/**
 * Limits by rule, one object each: the Limiter validates a limit object once and recognises it
 * afterwards, so a configured rule is not validated again on every request.
 */
const limits = new WeakMap<EnvoyRule, LimitDefinition>();

/** The Sluice limit of a rule: named by its full key, one window per unit. */
export function limitOf(rule: EnvoyRule): LimitDefinition {
  let limit = limits.get(rule);
  if (limit === undefined) {
    const window = UNIT_SECONDS[rule.unit ?? 'SECOND'] * 1000;
    limit = { name: shortened(rule.fullKey), algorithm: rule.algorithm, limit: rule.requestsPerUnit, window };
    limits.set(rule, limit);
  }
  return limit;
}

/** An identifier Sluice can store (at most 256 bytes): long ones hashed. */
function shortened(text: string): string {
  if (Buffer.byteLength(text) <= MAX_KEY_BYTES) return text;
  return `sha256:${createHash('sha256').update(text).digest('base64url')}`;
}

function groupByCost(checks: CountedCheck[]): CountedCheck[][] {
  const groups = new Map<number, CountedCheck[]>();
  for (const check of checks) {
    const group = groups.get(check.cost);
    if (group) group.push(check);
    else groups.set(check.cost, [check]);
  }
  return [...groups.values()];
}

/** The entries' values as one key; long ones hashed (Sluice keys hold at most 256 bytes). */
function counterKey(values: readonly string[]): string {
  return shortened(values.length === 1 ? (values[0] as string) : JSON.stringify(values));
}
