/**
 * Coalescing of decisions (see RedisStore's `coalesce`): the decisions started in one event-loop turn
 * go to Redis as one script call per layout, the layout's own script for one decision, its batch
 * script (decideBatchSource) for more. This module queues them, lays out a call's arguments, and hands
 * each decision its part of the reply; the store runs the scripts.
 */
import { StoreError } from '../../core/errors.js';
import type { DeadlineKeeper, DecisionPlan, Expirable, RawDecision } from '../store.js';
import { type DecideLayout, REPLY_PER_LIMIT, type Script } from './scripts.js';

/** A layout's decide script, as the store compiled it. */
export interface DecideScript {
  readonly script: Script;
  readonly layout: DecideLayout;
  /** Reply items of one decision (the single script's reply). */
  readonly replySize: number;
  /** Reply items of one decision in the batch reply (see decideBatchSource). */
  readonly batchReplySize: number;
  /** Per limit: whether the batch reply carries its mark (else it is 0; see batchMarks). */
  readonly marks: readonly boolean[];
  /** KEYS count, as sent. */
  readonly numKeys: string;
  readonly keyCount: number;
  /** Whether ARGV carries the decision id (see decideSource). */
  readonly takesId: boolean;
}

/** A decision waiting for its batch's script call (and, when tracked, for its deadline). */
export class BatchEntry implements Expirable {
  at = 0;
  settled = false;
  /** Settled by its keeper (past its deadline), not by its reply. */
  private expired = false;
  /** The keeper of its deadline, when tracked. */
  keeper: DeadlineKeeper | undefined;
  constructor(
    /** Its limits' script arguments: one array for every plan with the same limits (see RedisStore). */
    readonly limitArgs: readonly string[],
    readonly plan: DecisionPlan,
    private readonly onValue: (decision: RawDecision) => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  resolve(decision: RawDecision): void {
    if (this.settled) {
      // Expired, and answered after all: the store is alive (its reply came late).
      if (this.expired) this.keeper?.answeredLate?.();
      return;
    }
    this.settled = true;
    this.onValue(decision);
  }

  reject(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.onError(error);
  }

  expire(error: Error): void {
    if (this.settled) return;
    this.expired = true;
    this.reject(error);
  }
}

/** Decisions of one layout (and slot) waiting for this turn's script call. */
interface Batch {
  readonly script: DecideScript;
  readonly group: string;
  readonly entries: BatchEntry[];
}

export interface CoalescerOptions {
  /** Most decisions per call. */
  maxBatch: number;
  /** Only decisions of one tenant share a call (Redis Cluster: one slot per call). */
  groupByTenant: boolean;
  /** Runs one call: a layout's script for one decision, its batch script for more. */
  send(script: DecideScript, entries: readonly BatchEntry[]): Promise<unknown>;
  /** Turns an error that is not yet a StoreError into one. */
  wrap(script: DecideScript, error: unknown): StoreError;
}

export class Coalescer {
  /** This turn's decisions waiting to be sent, by script then group (tenant on a Cluster). */
  private queued = new Map<DecideScript, Map<string, Batch>>();
  /** The same batches in the order of their first decision: the order they are sent in. */
  private order: Batch[] = [];
  private flushScheduled = false;

  constructor(private readonly options: CoalescerOptions) {}

  /**
   * Queues a decision for this turn's batch of its layout (and slot). Batches are per script, not per
   * key: decisions of every key and tenant with the same layout go together, in the order made.
   */
  add(
    script: DecideScript,
    limitArgs: readonly string[],
    plan: DecisionPlan,
    deadlines: DeadlineKeeper | undefined,
  ): Promise<RawDecision> {
    const group = this.options.groupByTenant ? plan.tenant : '';
    let groups = this.queued.get(script);
    if (!groups) {
      groups = new Map();
      this.queued.set(script, groups);
    }
    let batch = groups.get(group);
    if (!batch) {
      batch = { script, group, entries: [] };
      groups.set(group, batch);
      this.order.push(batch);
    }
    const entries = batch.entries;
    let entry: BatchEntry | undefined;
    const decided = new Promise<RawDecision>((resolve, reject) => {
      entry = new BatchEntry(limitArgs, plan, resolve, reject);
    });
    entries.push(entry as BatchEntry);
    if (deadlines) {
      (entry as BatchEntry).keeper = deadlines;
      deadlines.track(entry as BatchEntry);
    }
    if (entries.length >= this.options.maxBatch) {
      this.sendThrough(batch);
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After the poll phase: every decision started by this turn's I/O callbacks is in by then.
      setImmediate(this.flush);
    }
    return decided;
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    this.sendQueued();
  };

  /**
   * Sends every queued decision now, batch after batch in the order of their first decision. The store
   * calls it before any other operation, so that one caller's operations reach Redis in the order it
   * made them (a `block` after a decision must not overtake it).
   */
  sendQueued(): void {
    if (this.order.length === 0) return;
    const order = this.order;
    this.order = [];
    this.queued = new Map();
    for (const batch of order) this.send(batch);
  }

  /** Sends a full batch, after the batches queued before it (which keeps their order). */
  private sendThrough(batch: Batch): void {
    const upTo = this.order.indexOf(batch);
    for (const sent of this.order.splice(0, upTo + 1)) {
      this.queued.get(sent.script)?.delete(sent.group);
      this.send(sent);
    }
  }

  /** Sends a batch and hands each decision its own part of the reply, or the call's error. */
  private send(batch: Batch): void {
    const script = batch.script;
    // A decision already answered, or whose deadline has passed while it waited (a stalled turn: the
    // keeper has not run yet), is not sent: its caller has (or now gets) the failure mode's answer,
    // and it must not count.
    const now = Date.now();
    let late = false;
    for (const e of batch.entries) {
      if (!e.settled && e.keeper !== undefined && e.at <= now) e.keeper.expireNow(e);
      if (e.settled) late = true;
    }
    const entries = late ? batch.entries.filter((e) => !e.settled) : batch.entries;
    const count = entries.length;
    if (count === 0) return;
    let sent: Promise<unknown>;
    try {
      sent = this.options.send(script, entries);
    } catch (error) {
      // Runs from a timer: a throw here would reach no caller, and every decision would wait out its budget.
      sent = Promise.reject(error);
    }
    sent.then(
      (reply) => {
        // One decision: the single script's reply; more: the batch's, `now` first (see decideBatchSource).
        if (count === 1) this.answer(script, entries[0] as BatchEntry, reply as unknown[], -1);
        else
          for (let d = 0; d < count; d++)
            this.answer(script, entries[d] as BatchEntry, reply as unknown[], d);
      },
      (error: unknown) => {
        const failure = error instanceof StoreError ? error : this.options.wrap(script, error);
        for (const entry of entries) entry.reject(failure);
      },
    );
  }

  /** Hands decision `d` of a batch reply its part (d = -1: the whole reply of the single script). */
  private answer(script: DecideScript, entry: BatchEntry, reply: unknown[], d: number): void {
    const offset = d < 0 ? 0 : 1 + d * script.batchReplySize;
    const failed = decisionError(reply, offset);
    // One decision of the batch failed (see decideBatchSource): only its caller gets the error.
    if (failed !== undefined) entry.reject(this.options.wrap(script, new Error(failed)));
    else if (d < 0) entry.resolve(rawDecision(reply as number[], 0, script.replySize));
    else entry.resolve(batchDecision(reply as number[], offset, script.marks));
  }
}

/** Writes a plan's KEYS from `at` (see decideSource): meta, block markers, one state key per limit. */
function writeKeys(out: string[], plan: DecisionPlan, at: number): number {
  out[at++] = plan.metaKey;
  return writeGroupKeys(out, plan, at);
}

/** Writes a plan's keys but its meta key from `at`: its block markers, one state key per limit. */
function writeGroupKeys(out: string[], plan: DecisionPlan, at: number): number {
  const { blockKeys, limits } = plan;
  for (let i = 0; i < blockKeys.length; i++) out[at++] = blockKeys[i] as string;
  for (let i = 0; i < limits.length; i++) out[at++] = (limits[i] as DecisionPlan['limits'][number]).key;
  return at;
}

/** Whether two limit-argument arrays are alike (plans whose limits are equal but not the same objects). */
function sameArgs(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One decision's KEYS and ARGV for the layout's own script (see decideSource). */
export function singleArgs(script: DecideScript, limitArgs: readonly string[], plan: DecisionPlan): string[] {
  const out: string[] = []; // packed (see batchArgs)
  let at = writeKeys(out, plan, 0);
  out[at++] = String(plan.cost);
  if (script.takesId) out[at++] = plan.id;
  at = writeCosts(out, plan, at);
  for (let i = 0; i < limitArgs.length; i++) out[at++] = limitArgs[i] as string;
  return out;
}

/**
 * What a batch's decisions share (see decideBatchSource): the distinct meta keys, limit-argument sets
 * and groups (decisions of the same request: plans of one prepared request share their limits and
 * block-marker arrays, so the same keys), and each decision's group.
 */
class BatchLayout {
  readonly metas: string[] = [];
  readonly sets: Array<readonly string[]> = [];
  /** Each group's first decision. */
  readonly groups: BatchEntry[] = [];
  readonly groupMeta: number[] = [];
  readonly groupSet: number[] = [];
  readonly groupOf: number[];

  constructor(entries: readonly BatchEntry[]) {
    this.groupOf = new Array(entries.length);
    const byLimits = new Map<DecisionPlan['limits'], number>();
    for (let d = 0; d < entries.length; d++) {
      const entry = entries[d] as BatchEntry;
      const plan = entry.plan;
      const known = byLimits.get(plan.limits);
      const same = known !== undefined && (this.groups[known] as BatchEntry).plan;
      if (same && same.blockKeys === plan.blockKeys && same.metaKey === plan.metaKey) {
        this.groupOf[d] = known as number;
        continue;
      }
      const group = this.groups.push(entry) - 1;
      byLimits.set(plan.limits, group);
      this.groupOf[d] = group;
      this.groupMeta[group] = this.metaIndex(plan.metaKey);
      this.groupSet[group] = indexOf(this.sets, entry.limitArgs, (a, b) => a === b || sameArgs(a, b));
    }
  }

  /** Each meta key's index in `metas`, once there are several (a tenant per decision: as many as decisions). */
  private byMeta: Map<string, number> | undefined;

  /** The index of a meta key in `metas`, appended if absent: by the last one, then by a map (not a scan). */
  private metaIndex(meta: string): number {
    const metas = this.metas;
    const last = metas.length - 1;
    if (last >= 0 && metas[last] === meta) return last;
    if (this.byMeta === undefined) {
      if (last < 0) return metas.push(meta) - 1;
      this.byMeta = new Map(metas.map((m, i) => [m, i]));
    }
    const known = this.byMeta.get(meta);
    if (known !== undefined) return known;
    this.byMeta.set(meta, metas.length);
    return metas.push(meta) - 1;
  }
}

/** The index of `item` in `list` by `same`, appended if absent (the lists are short: usually one item). */
function indexOf<T>(list: T[], item: T, same: (a: T, b: T) => boolean): number {
  for (let i = 0; i < list.length; i++) if (same(list[i] as T, item)) return i;
  return list.push(item) - 1;
}

/** '0' to '1023' (a batch's indexes and counts: maxBatch is at most 1000), made once, not per call. */
const SMALL_INTS: readonly string[] = Array.from({ length: 1024 }, (_, i) => String(i));

function intString(n: number): string {
  return SMALL_INTS[n] ?? String(n);
}

/** A batch's KEYS count and its KEYS and ARGV (see decideBatchSource). */
export function batchArgs(script: DecideScript, entries: readonly BatchEntry[]): [number, string[]] {
  const { metas, sets, groups, groupMeta, groupSet, groupOf } = new BatchLayout(entries);
  const own = script.takesId ? 2 : 1;
  const grouped = groups.length < entries.length;
  const keyCount = metas.length + groups.length * (script.keyCount - 1);
  // Filled in order from empty, so that it stays a packed array: ioredis copies it (Array#flat), and
  // copying a holey one (new Array(n)) is several times slower.
  const out: string[] = [];
  let at = 0;
  for (const meta of metas) out[at++] = meta;
  for (const { plan } of groups) at = writeGroupKeys(out, plan, at);
  out[at++] = intString(sets.length);
  out[at++] = intString(metas.length);
  out[at++] = intString(groups.length);
  for (const set of sets) for (const arg of set) out[at++] = arg;
  if (metas.length > 1) for (const meta of groupMeta) out[at++] = intString(meta + 1);
  if (sets.length > 1) for (const set of groupSet) out[at++] = intString(set);
  for (let d = 0; d < entries.length; d++) {
    const { plan } = entries[d] as BatchEntry;
    if (grouped) out[at++] = intString(groupOf[d] as number);
    out[at++] = plan.cost === 1 ? '1' : String(plan.cost);
    if (own === 2) out[at++] = plan.id;
    at = writeCosts(out, plan, at);
  }
  return [keyCount, out];
}

/** A weighted plan's own cost per limit (see DecideLayout.weighted); nothing for the others. */
function writeCosts(out: string[], plan: DecisionPlan, at: number): number {
  const costs = plan.costs;
  if (costs !== undefined) for (let i = 0; i < costs.length; i++) out[at++] = intString(costs[i] as number);
  return at;
}

/**
 * The error of one decision of a batch reply, if it failed: its reply then starts with the error's
 * message (a string, read as a Buffer by the Buffer variants of EVALSHA) instead of a number.
 */
export function decisionError(reply: readonly unknown[], offset: number): string | undefined {
  const head = reply[offset];
  if (typeof head === 'number') return undefined;
  return head === undefined || head === null ? 'no reply for this decision' : String(head);
}

/**
 * One decision's reply at `offset`: blocked-until, now, then per limit: retry-after (0 exactly when it
 * fits), remaining, reset-at, mark. Throws a StoreError for a failed decision's reply (see decisionError).
 */
export function rawDecision(reply: number[], offset: number, size: number): RawDecision {
  const failed = decisionError(reply, offset);
  if (failed !== undefined) throw new StoreError('redis', `decide script failed: ${failed}`);
  const blockedUntil = reply[offset] as number;
  let admitted = blockedUntil === 0;
  const limits: Array<RawDecision['limits'][number]> = [];
  for (let i = offset + 2; i < offset + size; i += REPLY_PER_LIMIT) {
    const retryAfterMs = reply[i] as number;
    if (retryAfterMs !== 0) admitted = false;
    limits.push({
      fits: retryAfterMs === 0,
      remaining: reply[i + 1] as number,
      resetAt: reply[i + 2] as number,
      retryAfterMs,
      mark: reply[i + 3] as number,
    });
  }
  return { admitted, blockedUntil, now: reply[offset + 1] as number, limits };
}

/**
 * One decision's part of a batch reply at `offset` (see decideBatchSource): blocked-until, then per
 * limit: retry-after, remaining, reset-at, and the mark where `marks` says the reply carries it (else
 * 0). The batch's `now` is the reply's first item.
 */
export function batchDecision(reply: number[], offset: number, marks: readonly boolean[]): RawDecision {
  const blockedUntil = reply[offset] as number;
  let admitted = blockedUntil === 0;
  const limits: Array<RawDecision['limits'][number]> = new Array(marks.length);
  let i = offset + 1;
  for (let l = 0; l < marks.length; l++) {
    const retryAfterMs = reply[i] as number;
    if (retryAfterMs !== 0) admitted = false;
    limits[l] = {
      fits: retryAfterMs === 0,
      remaining: reply[i + 1] as number,
      resetAt: reply[i + 2] as number,
      retryAfterMs,
      mark: marks[l] ? (reply[i + 3] as number) : 0,
    };
    i += marks[l] ? 4 : 3;
  }
  return { admitted, blockedUntil, now: reply[0] as number, limits };
}
