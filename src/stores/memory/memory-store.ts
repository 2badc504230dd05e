import { type Clock, systemClock } from '../../core/clock.js';
import { MAX_DURATION_MS } from '../../core/duration.js';
import { StoreError, ValidationError } from '../../core/errors.js';
import { rejectUnknownKeys } from '../../core/options.js';
import type { BoardEntry, BoardWrite } from '../boards.js';
import { roundInstant, roundRemaining, roundWait } from '../rounding.js';
import type {
  DecisionPlan,
  PlannedLimit,
  RawDecision,
  RawLimit,
  RefundPlan,
  ReleasePlan,
  RenewAnswer,
  Store,
  StoredDocument,
} from '../store.js';
import type { UsageRead, UsageSums, UsageWrite, UsageWritten } from '../usage.js';
import { MemoryBoards } from './boards.js';
import { FlatCopies } from './flat.js';
import {
  BLOCK_MARKER,
  type Bucket,
  COUNTER,
  type Entry,
  KeySpace,
  type Place,
  placeOf,
  STATE,
  TENANT_META,
  wholePlace,
} from './keyspace.js';
import { MemoryUsage } from './usage.js';

export interface MemoryStoreOptions {
  /** Source of time (epoch ms). Default `Date.now`. Inject a ManualClock to drive windows in tests. */
  clock?: Clock;
  /**
   * Most keys held at once (default 1,000,000). When full, keys that are due are reclaimed; if it is
   * still full, decisions that need a new key fail with StoreError `ERR_SLUICE_STORE_FULL`. Live keys
   * are never evicted: evicting one would reset its counter, which an attacker could trigger on purpose.
   */
  maxKeys?: number;
  /**
   * Most keys one tenant holds at once (default: a tenth of `maxKeys`, at least 1; 100,000 at the
   * default), so that one tenant cannot fill the store for the others. A tenant at its bound is refused
   * new keys (StoreError `ERR_SLUICE_STORE_FULL`, naming the tenant); other tenants are unaffected.
   * Block markers and reset markers (operator actions) are not refused by this bound, only by `maxKeys`.
   */
  maxKeysPerTenant?: number;
  /**
   * Deprecated, no effect: expired keys are reclaimed as they come due (a min-heap by expiry instant,
   * popping only what is due), a bounded number per call. Still validated (a positive whole number).
   */
  sweepIntervalMs?: number;
}

/** Keys reclaimed (or refiled) at most per call on the request path: expiry work stays bounded. */
const RECLAIM_PER_CALL = 1024;
/**
 * On the request path, keys are reclaimed once expired for this long (at the bound, as soon as they
 * are expired): a clock that steps back a little (NTP, a driven test clock) still finds them.
 */
const RECLAIM_GRACE_MS = 1000;

interface MetaState {
  blockedUntil: number;
  /** The tenant's last reset (0: none): refunds of decisions made at or before it give nothing back. */
  resetAt: number;
}

/** The bounds of a memory store, validated (`field`: where they were given, for error messages). */
export function memoryBounds(
  options: { maxKeys?: unknown; maxKeysPerTenant?: unknown },
  field = '',
): { maxKeys: number; maxKeysPerTenant: number } {
  const maxKeys = options.maxKeys ?? 1_000_000;
  if (typeof maxKeys !== 'number' || !Number.isInteger(maxKeys) || maxKeys < 1) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      `${field}maxKeys`,
      'must be a positive whole number',
    );
  }
  const maxKeysPerTenant = options.maxKeysPerTenant ?? Math.max(1, Math.floor(maxKeys / 10));
  if (
    typeof maxKeysPerTenant !== 'number' ||
    !Number.isInteger(maxKeysPerTenant) ||
    maxKeysPerTenant < 1 ||
    maxKeysPerTenant > maxKeys
  ) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      `${field}maxKeysPerTenant`,
      `must be a positive whole number, at most maxKeys (${maxKeys})`,
    );
  }
  return { maxKeys, maxKeysPerTenant };
}

/** How long a tenant's reset instant is kept: longer than any state can live (see RESET_RETENTION_MS). */
const RESET_RETENTION_MS = 2 * MAX_DURATION_MS;

/**
 * The embedded default store: decisions in process memory, with the same semantics as Redis.
 * Operations are synchronous inside, so each decision is atomic with respect to the event loop.
 *
 * Expiry costs what expires, never a scan: every key sits in a min-heap by expiry instant, and only
 * keys that are due are visited (dropped, or refiled if a write extended them since). A write that
 * extends a key costs O(1); a new key or an earlier expiry O(log n). Keys are indexed per tenant by
 * their short parts (see keyspace.ts).
 */
export class MemoryStore implements Store {
  readonly backend = 'memory';
  private readonly clock: Clock;
  readonly maxKeys: number;
  readonly maxKeysPerTenant: number;
  private readonly keys = new KeySpace();
  private readonly flat = new FlatCopies();
  /** decideReusing's answers, by number of limits. */
  private readonly answers: Answer[] = [];
  /** Versioned documents (runtime configuration): operator state, never expired or swept. */
  private readonly documents = new Map<string, StoredDocument>();
  private readonly boards: MemoryBoards;
  private readonly usage: MemoryUsage;

  constructor(options: MemoryStoreOptions = {}) {
    rejectUnknownKeys(options, 'memory', ['clock', 'maxKeys', 'maxKeysPerTenant', 'sweepIntervalMs']);
    if (options.clock !== undefined && typeof options.clock !== 'function') {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        'memory.clock',
        'must be a function returning epoch ms',
      );
    }
    const clock = options.clock ?? systemClock;
    // Whole milliseconds, as Redis' TIME is read by the scripts (Date.now's already are).
    this.clock = clock === systemClock ? Date.now : () => Math.floor(clock());
    this.boards = new MemoryBoards(this.clock);
    this.usage = new MemoryUsage(this.clock);
    const bounds = memoryBounds(options);
    this.maxKeys = bounds.maxKeys;
    this.maxKeysPerTenant = bounds.maxKeysPerTenant;
    const interval = options.sweepIntervalMs ?? 60_000;
    if (!Number.isInteger(interval) || interval < 1) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        'sweepIntervalMs',
        'must be a positive whole number',
      );
    }
  }

  /** Number of keys held (including expired ones not yet reclaimed). */
  get keyCount(): number {
    return this.keys.size;
  }

  /** Keys one tenant (encoded, as in plans) holds, including expired ones not yet reclaimed. */
  tenantKeyCount(tenant: string): number {
    return this.keys.bucket(tenant)?.size ?? 0;
  }

  /**
   * Work expiry has done since the store was made: keys visited by the expiry heap (each one dropped,
   * or refiled because a write extended it). Never more than the keys that came due, plus one refile
   * per write that extended a key: no scans. For tests and metrics.
   */
  get expiryVisits(): number {
    return this.keys.visits;
  }

  /** What a key (as laid out in plans) holds now: a limit's state, a block's end... For tests and tools. */
  stored(tenant: string, key: string): unknown {
    return live(this.keys.findAt(this.keys.bucket(tenant), placeOf(key)), this.clock());
  }

  decide(plan: DecisionPlan): Promise<RawDecision> {
    try {
      return Promise.resolve(this.decideSync(plan));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * `decide`, answered synchronously (throws StoreError): the Limiter calls it directly while `decide`
   * is this class's own, sparing every decision its promise hops.
   */
  decideSync(plan: DecisionPlan): RawDecision {
    return this.decideInto(plan, newAnswer(plan.limits.length));
  }

  /**
   * `decideSync` into this store's own answer object, reused by its next decision: for a caller that
   * reads the answer at once and keeps nothing of it (the Limiter, which copies it into a Decision).
   * Spares every decision the answer's objects (the young garbage GC pauses grow with).
   */
  decideReusing(plan: DecisionPlan): RawDecision {
    const count = plan.limits.length;
    let answer = this.answers[count];
    if (answer === undefined) {
      answer = newAnswer(count);
      this.answers[count] = answer;
    }
    return this.decideInto(plan, answer);
  }

  /** A decision, answered in `answer` (its steps are refilled; see Answer). */
  private decideInto(plan: DecisionPlan, answer: Answer): RawDecision {
    const now = this.clock();
    this.keys.reclaim(now - RECLAIM_GRACE_MS, RECLAIM_PER_CALL);
    const bucket = this.keys.bucket(plan.tenant);
    const blockedUntil = bucket === undefined ? 0 : this.blockedUntil(bucket, plan, now);
    const limits = plan.limits;
    const count = limits.length;
    const steps = answer.limits;
    let fit = true;
    for (let i = 0; i < count; i++) {
      const step = steps[i] as Step;
      const p = limits[i] as PlannedLimit;
      placeStep(step, plan.metaKey, p);
      const entry = this.keys.find(bucket, step.home, step.kind, step.space, step.limitId);
      const state = p.algorithm.load(live(entry, now), now, p.limit);
      const check = p.algorithm.fits(state, now, p.limit, costAt(plan, i));
      if (!check.fits) fit = false;
      step.entry = entry;
      step.state = state;
      step.fits = check.fits;
      step.retryAfterMs = check.retryAfterMs;
    }
    const admitted = blockedUntil === 0 && fit;
    try {
      if (plan.cost > 0 && (admitted || (plan.penalty && blockedUntil === 0))) {
        this.charge(plan, bucket, steps, count, admitted, now);
      }
      for (let i = 0; i < count; i++) {
        const step = steps[i] as Step;
        const p = step.planned as PlannedLimit;
        const view = p.algorithm.view(step.state, now, p.limit);
        step.remaining = roundRemaining(view.remaining);
        step.resetAt = roundInstant(view.resetAt);
        step.retryAfterMs = roundWait(step.fits, step.retryAfterMs);
        step.mark = p.algorithm.mark(step.state);
      }
    } finally {
      // The answer holds no store internals (nor, reused, anything of this decision's plan).
      for (let i = 0; i < count; i++) clearStep(steps[i] as Step);
    }
    answer.admitted = admitted;
    answer.blockedUntil = roundInstant(blockedUntil);
    answer.now = Math.floor(now);
    return answer;
  }

  /** Until when the plan's tenant or keys are blocked (0: not blocked). */
  private blockedUntil(bucket: Bucket, plan: DecisionPlan, now: number): number {
    let until = 0;
    if (bucket.metas > 0) {
      const meta = live(this.keys.findAt(bucket, wholePlace(plan.metaKey)), now) as MetaState | undefined;
      if (meta && meta.blockedUntil > now) until = meta.blockedUntil;
    }
    if (bucket.blocks > 0) {
      for (const key of plan.blockKeys) {
        const marker = live(this.keys.findAt(bucket, placeOf(key)), now) as number | undefined;
        if (marker !== undefined && marker > now && marker > until) until = marker;
      }
    }
    return until;
  }

  /**
   * Charges the limits that fit (all of them when admitted; with a penalty, those that fit and hold
   * no leases: nobody could release a rejected decision's slots).
   */
  private charge(
    plan: DecisionPlan,
    found: Bucket | undefined,
    steps: readonly Step[],
    count: number,
    admitted: boolean,
    now: number,
  ): void {
    let newKeys = 0;
    let any = false;
    for (let i = 0; i < count; i++) {
      const step = steps[i] as Step;
      if (!charged(step, admitted) || costAt(plan, i) === 0) continue;
      any = true;
      // Keys not live now need room (an expired one may be reclaimed while room is made).
      if (step.entry === undefined || step.entry.expiresAt <= now) newKeys++;
    }
    if (!any) return;
    this.ensureRoom(plan.tenant, newKeys, now, true);
    // Still listed unless making room dropped its last entry.
    const bucket = found !== undefined && found.size > 0 ? found : this.keys.bucketFor(plan.tenant);
    for (let i = 0; i < count; i++) {
      const step = steps[i] as Step;
      const cost = costAt(plan, i);
      if (!charged(step, admitted) || cost === 0) continue;
      const p = step.planned as PlannedLimit;
      p.algorithm.commit(step.state, now, p.limit, cost, plan.id);
      this.write(bucket, step.entry, step, p, step.state, now);
    }
  }

  async refund(plan: RefundPlan): Promise<void> {
    const now = this.clock();
    this.keys.reclaim(now - RECLAIM_GRACE_MS, RECLAIM_PER_CALL);
    const bucket = this.keys.bucket(plan.tenant);
    if (!bucket) return;
    const meta = live(this.keys.findAt(bucket, wholePlace(plan.metaKey)), now) as MetaState | undefined;
    if (meta && plan.at <= meta.resetAt) return; // taken before the tenant's reset: already void
    plan.limits.forEach((p, i) => {
      const place = plannedPlace(plan.metaKey, p);
      const entry = this.keys.findAt(bucket, place);
      const stored = live(entry, now);
      if (stored === undefined) return;
      const { resetAt, mark } = plan.marks[i] as RefundPlan['marks'][number];
      const ledger = wholePlace(plan.ledgerKeys[i] as string);
      const ledgerEntry = p.algorithm.ledger ? this.keys.findAt(bucket, ledger) : undefined;
      const refunded = (live(ledgerEntry, now) as number | undefined) ?? 0;
      const own = plan.perLimit?.[i];
      const cost = own === undefined ? plan.cost : own.cost;
      const receipt = { id: plan.id, at: plan.at, cost, refunded, resetAt, mark };
      const units = Math.min(own === undefined ? plan.units : own.units, cost - refunded);
      const until = p.algorithm.refundableUntil(receipt, p.limit);
      if (units <= 0 || until <= now) return;
      const state = p.algorithm.load(stored, now, p.limit);
      p.algorithm.refund(state, now, p.limit, units, receipt);
      this.write(bucket, entry, place, p, state, now);
      if (p.algorithm.ledger) this.keys.put(bucket, ledgerEntry, ledger, refunded + units, until, COUNTER);
    });
  }

  async release(plan: ReleasePlan): Promise<void> {
    const now = this.clock();
    this.keys.reclaim(now - RECLAIM_GRACE_MS, RECLAIM_PER_CALL);
    const bucket = this.keys.bucket(plan.tenant);
    if (!bucket) return;
    for (const p of plan.limits) {
      const place = plannedPlace(plan.metaKey, p);
      const entry = this.keys.findAt(bucket, place);
      const stored = live(entry, now);
      if (stored === undefined || !p.algorithm.release) continue;
      const state = p.algorithm.load(stored, now, p.limit);
      p.algorithm.release(state, plan.leaseId, plan.at);
      this.write(bucket, entry, place, p, state, now);
    }
  }

  async renew(plan: ReleasePlan): Promise<RenewAnswer> {
    const now = this.clock();
    this.keys.reclaim(now - RECLAIM_GRACE_MS, RECLAIM_PER_CALL);
    const bucket = this.keys.bucket(plan.tenant);
    const held = plan.limits.map((p) => {
      if (!bucket || !p.algorithm.renew) return false;
      const place = plannedPlace(plan.metaKey, p);
      const entry = this.keys.findAt(bucket, place);
      const stored = live(entry, now);
      if (stored === undefined) return false;
      const state = p.algorithm.load(stored, now, p.limit);
      if (!p.algorithm.renew(state, plan.leaseId, plan.at, now)) return false;
      this.write(bucket, entry, place, p, state, now);
      return true;
    });
    return { now: Math.floor(now), held };
  }

  async deleteKeys(tenant: string, _metaKey: string, keys: readonly string[]): Promise<void> {
    const bucket = this.keys.bucket(tenant);
    if (!bucket) return;
    for (const key of keys) this.remove(bucket, placeOf(key));
  }

  async resetTenant(tenant: string, metaKey: string): Promise<void> {
    const now = this.clock();
    const found = this.keys.bucket(tenant);
    if (found) this.keys.dropCounters(found);
    // The reset instant outlives every state (as the Redis store's marker does): a refund of a decision
    // made before it must not give back units into the counters that follow it.
    const place = wholePlace(metaKey);
    const kept = this.keys.findAt(this.keys.bucket(tenant), place);
    const meta = live(kept, now) as MetaState | undefined;
    const resetAt = Math.max(now, (meta?.resetAt ?? 0) + 1);
    this.ensureRoom(tenant, kept ? 0 : 1, now, false);
    this.putMeta(
      this.keys.bucketFor(tenant),
      metaKey,
      { blockedUntil: meta?.blockedUntil ?? 0, resetAt },
      now,
    );
  }

  async block(tenant: string, metaKey: string, blockKey: string | null, durationMs: number): Promise<void> {
    const now = this.clock();
    const until = now + durationMs;
    const place = blockKey ? placeOf(blockKey) : wholePlace(metaKey);
    this.ensureRoom(tenant, this.keys.findAt(this.keys.bucket(tenant), place) ? 0 : 1, now, false);
    const target = this.keys.bucketFor(tenant);
    if (blockKey) {
      this.keys.put(target, this.keys.findAt(target, place), place, until, until, BLOCK_MARKER);
      return;
    }
    const meta = live(this.keys.findAt(target, place), now) as MetaState | undefined;
    this.putMeta(target, metaKey, { blockedUntil: until, resetAt: meta?.resetAt ?? 0 }, now);
  }

  async unblock(tenant: string, metaKey: string, blockKey: string | null): Promise<void> {
    const bucket = this.keys.bucket(tenant);
    if (!bucket) return;
    if (blockKey) {
      this.remove(bucket, placeOf(blockKey));
      return;
    }
    const now = this.clock();
    const place = wholePlace(metaKey);
    const meta = live(this.keys.findAt(bucket, place), now) as MetaState | undefined;
    if (meta?.resetAt) this.putMeta(bucket, metaKey, { blockedUntil: 0, resetAt: meta.resetAt }, now);
    else this.remove(bucket, place);
  }

  /** Tenant meta lives as long as its block, and as long as its reset must be remembered. */
  private putMeta(bucket: Bucket, metaKey: string, meta: MetaState, now: number): void {
    const expiresAt = Math.max(meta.blockedUntil, meta.resetAt ? now + RESET_RETENTION_MS : 0);
    const place = wholePlace(metaKey);
    const kept = this.keys.findAt(bucket, place);
    const until = Math.max(expiresAt, kept && kept.expiresAt > now ? kept.expiresAt : 0);
    this.keys.put(bucket, kept, place, meta, until, TENANT_META);
  }

  async close(): Promise<void> {
    this.keys.clear();
    this.boards.clear();
    this.usage.clear();
  }

  async addToBoard(key: string, entries: readonly BoardEntry[], write: BoardWrite): Promise<void> {
    this.boards.add(key, entries, write);
  }

  async readBoards(
    keys: readonly string[],
    weights: readonly number[],
    count: number,
    minScore = Number.NEGATIVE_INFINITY,
  ): Promise<BoardEntry[]> {
    return this.boards.read(keys, weights, count, minScore);
  }

  async addUsage(write: UsageWrite): Promise<UsageWritten> {
    return this.usage.add(write);
  }

  async readUsage(read: UsageRead): Promise<UsageSums> {
    return this.usage.read(read);
  }

  async readDocument(key: string): Promise<StoredDocument | null> {
    const doc = this.documents.get(key);
    return doc ? { ...doc } : null;
  }

  async writeDocument(key: string, body: string, expectedVersion: number): Promise<number | null> {
    const current = this.documents.get(key)?.version ?? 0;
    if (current !== expectedVersion) return null;
    this.documents.set(key, { version: current + 1, body });
    return current + 1;
  }

  /** Drops every expired key now (visiting only keys that are due). Returns how many were dropped. */
  sweep(now = this.clock()): number {
    const before = this.keys.size;
    this.keys.reclaim(now, Number.POSITIVE_INFINITY);
    return before - this.keys.size;
  }

  /**
   * Makes room for `newKeys` keys of a tenant, reclaiming due keys as needed (only those), or throws
   * ERR_SLUICE_STORE_FULL: the store is full (any tenant is refused a new key), or this tenant is at
   * `maxKeysPerTenant` (`perTenant`; only this tenant is refused).
   */
  private ensureRoom(tenant: string, newKeys: number, now: number, perTenant: boolean): void {
    if (newKeys === 0) return;
    const keys = this.keys;
    while (keys.size + newKeys > this.maxKeys && keys.reclaimOne(now));
    if (keys.size + newKeys > this.maxKeys) {
      throw new StoreError(
        'memory',
        `full: ${keys.size} live keys (maxKeys ${this.maxKeys}); refused a new key of tenant ${tenant}`,
        { code: 'ERR_SLUICE_STORE_FULL' },
      );
    }
    if (!perTenant) return;
    while (this.tenantKeyCount(tenant) + newKeys > this.maxKeysPerTenant && keys.reclaimOne(now));
    const held = this.tenantKeyCount(tenant);
    if (held + newKeys > this.maxKeysPerTenant) {
      throw new StoreError(
        'memory',
        `tenant ${tenant} full: ${held} live keys (maxKeysPerTenant ${this.maxKeysPerTenant}); other tenants are unaffected`,
        { code: 'ERR_SLUICE_STORE_FULL' },
      );
    }
  }

  /**
   * Stores a limit's state after a write (or forgets it when it now holds nothing). A string state
   * (`ledger` algorithms: a record of numbers, the same fields every time) is copied into the object
   * already held: the state a decision made then dies young, rather than each one being held by an
   * old entry until the next decision on its key (what the scavenger pays most for).
   */
  private write(
    bucket: Bucket,
    found: Entry | undefined,
    place: Place,
    planned: PlannedLimit,
    state: unknown,
    now: number,
  ): void {
    const expiresAt = planned.algorithm.expiresAt(state, now, planned.limit);
    if (expiresAt <= now) {
      this.remove(bucket, place);
      return;
    }
    const algorithm = planned.algorithm;
    const flat = algorithm.ledger ? this.flat.of(algorithm, state) : undefined;
    this.keys.put(bucket, found, place, state, expiresAt, COUNTER, flat);
  }

  private remove(bucket: Bucket, place: Place): void {
    const entry = this.keys.findAt(bucket, place);
    if (entry) this.keys.drop(entry);
  }
}

/** Where a planned limit's state lives: from its subject when the plan gives it, else from its key. */
function plannedPlace(metaKey: string, p: PlannedLimit): Place {
  const subject = p.subject;
  if (subject === undefined) return placeOf(p.key);
  return { home: subject, kind: STATE, space: metaKey, limitId: p.limit.id };
}

/**
 * One limit of a decision being made: where its state lives, what it holds, and what it says (the
 * step is the answer's RawLimit: one object per limit, refilled by each decision it serves).
 */
interface Step extends RawLimit {
  home: string;
  kind: number;
  space: string;
  limitId: string;
  planned: PlannedLimit | undefined;
  /** The entry found there (it may be dropped while room is made: see KeySpace.put). */
  entry: Entry | undefined;
  state: unknown;
  fits: boolean;
  remaining: number;
  resetAt: number;
  /** What `fits` said until the answer, then rounded. */
  retryAfterMs: number;
  mark: number;
}

/** A decision's answer: its steps are its limits (see Step). */
interface Answer extends RawDecision {
  admitted: boolean;
  blockedUntil: number;
  now: number;
  readonly limits: Step[];
}

function newAnswer(count: number): Answer {
  const limits: Step[] = new Array(count);
  for (let i = 0; i < count; i++) limits[i] = newStep();
  return { admitted: false, blockedUntil: 0, now: 0, limits };
}

function newStep(): Step {
  return {
    home: '',
    kind: STATE,
    space: '',
    limitId: '',
    planned: undefined,
    entry: undefined,
    state: undefined,
    fits: false,
    remaining: 0,
    resetAt: 0,
    retryAfterMs: 0,
    mark: 0,
  };
}

/** Points a step at where a planned limit's state lives (see plannedPlace), before it is read. */
function placeStep(step: Step, metaKey: string, p: PlannedLimit): void {
  const subject = p.subject;
  if (subject === undefined) {
    const place = placeOf(p.key);
    step.home = place.home;
    step.kind = place.kind;
    step.space = place.space;
    step.limitId = place.limitId;
  } else {
    step.home = subject;
    step.kind = STATE;
    step.space = metaKey;
    step.limitId = p.limit.id;
  }
  step.planned = p;
  step.fits = false;
  step.remaining = 0;
  step.resetAt = 0;
  step.retryAfterMs = 0;
  step.mark = 0;
}

/** Forgets what a step held of its decision but its answer (its RawLimit fields). */
function clearStep(step: Step): void {
  step.home = '';
  step.space = '';
  step.limitId = '';
  step.planned = undefined;
  step.entry = undefined;
  step.state = undefined;
}

/** Whether a step is charged: it fits, and the decision is admitted or (a penalty) it holds no leases. */
/** Units the plan asks of its limit `i`. */
function costAt(plan: DecisionPlan, i: number): number {
  return plan.costs === undefined ? plan.cost : (plan.costs[i] as number);
}

function charged(step: Step, admitted: boolean): boolean {
  return step.fits && (admitted || !(step.planned as PlannedLimit).algorithm.leases);
}

/** What an entry holds while it lives (undefined: none, or expired). */
function live(entry: Entry | undefined, now: number): unknown {
  return entry !== undefined && entry.expiresAt > now ? entry.state : undefined;
}
