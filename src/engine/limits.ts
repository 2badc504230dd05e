import { ALGORITHM_NAMES, ALGORITHMS } from '../algorithms/index.js';
import { formatDuration, MAX_DURATION_MS, parseDuration } from '../core/duration.js';
import { ValidationError } from '../core/errors.js';
import { encodeIdentifier } from '../core/identifiers.js';
import type { AlgorithmName, NormalizedLimit } from '../core/types.js';

/** Largest limit, burst or cost accepted: far above any real quota, well inside exact float range. */
export const MAX_QUANTITY = 1_000_000_000;

const KNOWN_FIELDS = new Set(['name', 'algorithm', 'limit', 'window', 'burst', 'scope']);

/** Limits produced by normalizeLimit: passed again, they are used as they are. */
const NORMALIZED = new WeakSet<object>();

export function isNormalizedLimit(value: unknown): value is NormalizedLimit {
  return typeof value === 'object' && value !== null && NORMALIZED.has(value);
}

/** Validates one limit definition; every error names the field, e.g. `limits[2].window`. */
export function normalizeLimit(definition: unknown, field: string): NormalizedLimit {
  if (isNormalizedLimit(definition)) return definition;
  if (typeof definition !== 'object' || definition === null || Array.isArray(definition)) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_LIMIT',
      field,
      'must be an object such as { limit: 10, window: "1s" }',
    );
  }
  const def = definition as Record<string, unknown>;
  for (const key of Object.keys(def)) {
    if (!KNOWN_FIELDS.has(key)) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        `${field}.${key}`,
        `unknown field (expected one of ${[...KNOWN_FIELDS].join(', ')})`,
      );
    }
  }
  const algorithmName = def.algorithm ?? 'sliding-log';
  if (typeof algorithmName !== 'string' || !(algorithmName in ALGORITHMS)) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_ALGORITHM',
      `${field}.algorithm`,
      `${JSON.stringify(algorithmName)} is not one of ${ALGORITHM_NAMES.join(', ')}`,
    );
  }
  const algorithm = ALGORITHMS[algorithmName as AlgorithmName];
  const limit = positiveInteger(def.limit, `${field}.limit`, 'ERR_SLUICE_INVALID_LIMIT');
  const windowMs = parseDuration(def.window, `${field}.window`);
  let burst: number | undefined;
  if (def.burst !== undefined) {
    if (!algorithm.acceptsBurst) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        `${field}.burst`,
        `only token-bucket limits take a burst (this one is ${algorithm.name})`,
      );
    }
    burst = positiveInteger(def.burst, `${field}.burst`, 'ERR_SLUICE_INVALID_LIMIT');
  }
  const scope = def.scope ?? 'key';
  if (scope !== 'key' && scope !== 'tenant') {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      `${field}.scope`,
      `${JSON.stringify(scope)} is not "key" or "tenant"`,
    );
  }
  if (algorithm.name === 'token-bucket') checkRefillTime(limit, windowMs, burst ?? limit, field);
  const name = def.name === undefined ? `${algorithm.name}-${formatDuration(windowMs)}` : def.name;
  const encodedName = encodeIdentifier(name, `${field}.name`);
  const normalized: NormalizedLimit = Object.freeze({
    name: name as string,
    algorithm: algorithm.name,
    limit,
    windowMs,
    capacity: algorithm.capacity(limit, burst),
    scope,
    id: `${encodedName}:${algorithm.code}${windowMs}`,
  });
  NORMALIZED.add(normalized);
  return normalized;
}

/**
 * A token bucket must refill from empty within the longest duration (10 years): its state then never
 * reaches further into the future than any other, which keeps its arithmetic exact and its key's TTL
 * within what Redis accepts.
 */
function checkRefillTime(limit: number, windowMs: number, capacity: number, field: string): void {
  // capacity * windowMs / limit <= MAX, exactly (the products can pass 2^53).
  if (BigInt(capacity) * BigInt(windowMs) <= BigInt(MAX_DURATION_MS) * BigInt(limit)) return;
  const years = (capacity / limit) * (windowMs / (365 * 86_400_000));
  throw new ValidationError(
    'ERR_SLUICE_INVALID_LIMIT',
    `${field}.burst`,
    `a full bucket of ${capacity} refilling ${limit} per ${formatDuration(windowMs)} takes ${years.toPrecision(3)} years to refill: at most 10 years`,
  );
}

/**
 * A limit whose name is made of parts (a policy's name, then its limit's name): the displayed name
 * joins them with dots (`api.v1.read`), and the state-key id is unambiguous — each part is encoded
 * with its own dots escaped (`%2E`), so the only literal dot is the separator, and policy `api` +
 * limit `v1.read` (`api.v1%2Eread`) never shares a counter with policy `api.v1` + limit `read`
 * (`api%2Ev1.read`). Parts without dots keep the id of the plain joined name.
 */
export function namespacedLimit(
  definition: Record<string, unknown>,
  parts: readonly string[],
  field: string,
): NormalizedLimit {
  const limit = normalizeLimit({ ...definition, name: parts.join('.') }, field);
  const encoded = parts
    .map((part, i) => encodeIdentifier(part, i === 0 ? field : `${field}.name`).replace(/\./g, '%2E'))
    .join('.');
  return withId(limit, `${encoded}:${ALGORITHMS[limit.algorithm].code}${limit.windowMs}`);
}

/** The same limit counted under another state-key id. */
export function withId(limit: NormalizedLimit, id: string): NormalizedLimit {
  if (limit.id === id) return limit;
  const copy: NormalizedLimit = Object.freeze({ ...limit, id });
  NORMALIZED.add(copy);
  return copy;
}

/** Validates a list of limits: at least one, names unique. */
export function normalizeLimits(definitions: unknown, field = 'limits'): NormalizedLimit[] {
  if (!Array.isArray(definitions) || definitions.length === 0) {
    throw new ValidationError('ERR_SLUICE_INVALID_LIMIT', field, 'must be a non-empty array of limits');
  }
  const limits = definitions.map((d, i) => normalizeLimit(d, `${field}[${i}]`));
  const seen = new Set<string>();
  limits.forEach((l, i) => {
    if (seen.has(l.name)) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_LIMIT',
        `${field}[${i}].name`,
        `duplicate limit name "${l.name}"`,
      );
    }
    seen.add(l.name);
  });
  return limits;
}

/** A cost: a whole number of units, 0 (peek) up to {@link MAX_QUANTITY}. */
export function validateCost(cost: unknown, field = 'cost'): number {
  if (typeof cost !== 'number' || !Number.isInteger(cost) || cost < 0 || cost > MAX_QUANTITY) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_COST',
      field,
      `${String(cost)} must be a whole number from 0 (peek) to ${MAX_QUANTITY}`,
    );
  }
  return cost;
}

function positiveInteger(value: unknown, field: string, code: 'ERR_SLUICE_INVALID_LIMIT'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_QUANTITY) {
    throw new ValidationError(
      code,
      field,
      `${String(value)} must be a whole number from 1 to ${MAX_QUANTITY}`,
    );
  }
  return value;
}

const scaled = new Map<string, NormalizedLimit | undefined>();

/** A limit with its quota multiplied by `factor` (at least 1); same name, window and counter. */
export function scaleLimit(limit: NormalizedLimit, factor: number): NormalizedLimit {
  if (factor === 1) return limit;
  const id = `${limit.id}|${limit.scope}|${limit.limit}|${limit.capacity}|${factor}`;
  let result = scaled.get(id);
  if (!result) {
    const def = {
      name: limit.name,
      algorithm: limit.algorithm,
      limit: Math.max(1, Math.floor(limit.limit * factor)),
      window: limit.windowMs,
      scope: limit.scope,
      ...(limit.algorithm === 'token-bucket'
        ? { burst: Math.max(1, Math.floor(limit.capacity * factor)) }
        : {}),
    };
    // Same counter as the unscaled limit, whatever its id was built from (see namespacedLimit).
    result = withId(normalizeLimit(def, 'scaled limit'), limit.id);
    if (scaled.size > 10_000) scaled.clear();
    scaled.set(id, result);
  }
  return result;
}

/**
 * This instance's share of a limit in the `local` failure mode, rounded down so that a fleet of
 * instances never admits more than the limit: floor(limit × fraction) units per window (token
 * buckets: floor(burst × fraction) capacity and the refill rate × fraction). `undefined` when the
 * share is 0: that limit admits nothing locally. Same name and counter id as the limit.
 */
export function localShareLimit(limit: NormalizedLimit, fraction: number): NormalizedLimit | undefined {
  if (fraction === 1) return limit;
  // The epsilon only absorbs float error (30 × 1/3 is 10, never 9.999...).
  const share = (n: number) => Math.floor(n * fraction + 1e-9);
  const id = `${limit.id}|${limit.scope}|${limit.limit}|${limit.capacity}|${fraction}|local`;
  if (scaled.has(id)) return scaled.get(id) ?? undefined;
  let def: Record<string, unknown> | undefined;
  if (limit.algorithm === 'token-bucket') {
    const burst = share(limit.capacity);
    const refill = share(limit.limit);
    if (burst >= 1) {
      def =
        refill >= 1
          ? { limit: refill, window: limit.windowMs, burst }
          : // Less than one token per window: one token per proportionally longer period (rounded up,
            // so never faster than the share of the rate).
            { limit: 1, window: Math.ceil(limit.windowMs / (limit.limit * fraction)), burst };
    }
  } else {
    const units = share(limit.limit);
    if (units >= 1) def = { limit: units, window: limit.windowMs };
  }
  const result =
    def === undefined
      ? undefined
      : withId(
          normalizeLimit(
            { name: limit.name, algorithm: limit.algorithm, scope: limit.scope, ...def },
            'local share',
          ),
          limit.id,
        );
  if (scaled.size > 10_000) scaled.clear();
  scaled.set(id, result);
  return result;
}
