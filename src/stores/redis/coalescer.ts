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
  /** Reply items of one decision. */
  readonly replySize: number;
  /** KEYS count, as sent. */
  readonly numKeys: string;
  readonly keyCount: number;
  /** Whether ARGV carries the decision id (see decideSource). */
  readonly takesId: boolean;
}

/** A decide script with the arguments every decision of one plan shape sends alike. */
export interface DecideCall {
  readonly decide: DecideScript;
  readonly takesId: boolean;
  /** ARGV count of one decision. */
  readonly argCount: number;
  /** What the arguments were made from (besides the limits). */
  readonly metaKey: string;
  readonly blockKeys: readonly string[];
  readonly penalty: boolean;
  /** KEYS: meta key, block markers, one state key per limit. */
  readonly keys: readonly string[];
  /** Each limit's arguments, in order. */
  readonly limitArgs: readonly string[];
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
    readonly call: DecideCall,
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
  add(call: DecideCall, plan: DecisionPlan, deadlines: DeadlineKeeper | undefined): Promise<RawDecision> {
    const script = call.decide;
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
      entry = new BatchEntry(call, plan, resolve, reject);
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
    const size = script.replySize;
    let sent: Promise<unknown>;
    try {
      sent = this.options.send(script, entries);
    } catch (error) {
      // Runs from a timer: a throw here would reach no caller, and every decision would wait out its budget.
      sent = Promise.reject(error);
    }
    sent.then(
      (reply) => {
        for (let d = 0; d < count; d++) {
          const entry = entries[d] as BatchEntry;
          const failed = decisionError(reply as unknown[], d * size);
          // One decision of the batch failed (see decideBatchSource): only its caller gets the error.
          if (failed === undefined) entry.resolve(rawDecision(reply as number[], d * size, size));
          else entry.reject(this.options.wrap(script, new Error(failed)));
        }
      },
      (error: unknown) => {
        const failure = error instanceof StoreError ? error : this.options.wrap(script, error);
        for (const entry of entries) entry.reject(failure);
      },
    );
  }
}

/**
 * Writes a decision's KEYS at `keyAt` and its ARGV at `argAt`: cost, the id if the script takes it,
 * then each limit's arguments (see decideSource).
 */
export function writeArgs(
  out: string[],
  call: DecideCall,
  plan: DecisionPlan,
  keyAt: number,
  argAt: number,
): void {
  const { keys, limitArgs } = call;
  for (let i = 0; i < keys.length; i++) out[keyAt + i] = keys[i] as string;
  let at = argAt;
  out[at++] = String(plan.cost);
  if (call.takesId) out[at++] = plan.id;
  for (let i = 0; i < limitArgs.length; i++) out[at++] = limitArgs[i] as string;
}

/**
 * A batch's KEYS count and its KEYS and ARGV (see decideBatchSource): what decisions of one request
 * shape share (keys, limit arguments) once per shape, then each decision's shape, cost and id.
 */
export function batchArgs(entries: readonly BatchEntry[]): [number, string[]] {
  const shapes = new Map<DecideCall, number>();
  for (const { call } of entries) if (!shapes.has(call)) shapes.set(call, shapes.size);
  const first = (entries[0] as BatchEntry).call;
  const own = first.takesId ? 2 : 1;
  const keyCount = shapes.size * first.keys.length;
  const out: string[] = new Array(
    keyCount + 1 + shapes.size * first.limitArgs.length + entries.length * (1 + own),
  );
  let at = 0;
  for (const call of shapes.keys()) for (const key of call.keys) out[at++] = key;
  out[at++] = String(shapes.size);
  for (const call of shapes.keys()) for (const arg of call.limitArgs) out[at++] = arg;
  for (const { call, plan } of entries) {
    out[at++] = String(shapes.get(call));
    out[at++] = String(plan.cost);
    if (own === 2) out[at++] = plan.id;
  }
  return [keyCount, out];
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
