import { Cluster, type ClusterOptions, Command, Redis, type RedisOptions } from 'ioredis';
import { StoreError, ValidationError } from '../../core/errors.js';
import { rejectUnknownKeys } from '../../core/options.js';
import type { NormalizedLimit } from '../../core/types.js';
import type { BoardEntry, BoardWrite } from '../boards.js';
import type {
  DeadlineKeeper,
  DecisionPlan,
  DocumentHead,
  PlannedLimit,
  RawDecision,
  ReadDocumentOptions,
  RefundPlan,
  ReleasePlan,
  RenewAnswer,
  Store,
  StoredDocument,
} from '../store.js';
import {
  type UsageRead,
  type UsageSums,
  type UsageWrite,
  type UsageWritten,
  validateUsageRead,
  validateUsageWrite,
} from '../usage.js';
import { BOARD_ADD_SOURCE, BOARD_READ_SOURCE } from './boards.js';
import {
  type BatchEntry,
  batchArgs,
  Coalescer,
  type DecideScript,
  rawDecision,
  singleArgs,
} from './coalescer.js';
import {
  ADMIN_SOURCE,
  batchMarks,
  batchReplySize,
  DOCUMENT_SOURCE,
  decideBatchSource,
  decideShape,
  decideSource,
  decideTakesId,
  limitArgs,
  refundSource,
  releaseSource,
  renewSource,
  type Script,
  script,
} from './scripts.js';
import {
  USAGE_ADD_SOURCE,
  USAGE_READ_SOURCE,
  usageAddArgs,
  usageReadArgs,
  usageSums,
  usageWritten,
} from './usage.js';

/** Anything that can run scripts: an ioredis client (single node or Sentinel) or an ioredis Cluster. */
export type RedisClient = Redis | Cluster;

export interface RedisStoreOptions {
  /**
   * An existing ioredis client or Cluster. Sluice does not close it. It must have
   * `autoResendUnfulfilledCommands: false` (a Cluster: in its `redisOptions`), else the constructor
   * throws a ValidationError: a decision re-sent after a reconnect can count twice.
   * Leave `enableAutoPipelining` off while Sluice coalesces (the default): it would hold each coalesced
   * call back one more event-loop turn.
   */
  client?: RedisClient;
  /** A redis:// or rediss:// URL; Sluice creates (and closes) the client. */
  url?: string;
  /** Redis Cluster: startup nodes ("host:port" or objects); Sluice creates the Cluster client. */
  cluster?: { nodes: Array<string | { host: string; port: number }>; options?: ClusterOptions };
  /** Redis Sentinel: the sentinels and the master's name. */
  sentinel?: { sentinels: Array<{ host: string; port: number }>; name: string; options?: RedisOptions };
  /** Extra ioredis options for clients Sluice creates from `url` or `sentinel`. */
  redisOptions?: RedisOptions;
  /**
   * Coalesce the decisions of one event-loop turn (default true): decisions of the same layout (and,
   * on a Cluster, the same tenant: one slot) go to Redis as one script call that decides them one
   * after the other, each exactly as alone. Under load the client and Redis pay a call's fixed cost
   * once per batch instead of once per decision; a decision waits at most for the end of the current
   * turn. `false`: one script call per decision (with ioredis auto-pipelining on the clients Sluice
   * creates).
   */
  coalesce?: boolean;
  /** Most decisions per coalesced call (default MAX_BATCH, 32). */
  maxBatch?: number;
}

/** The keys of RedisStoreOptions (validated: an unknown one is an error naming it). */
const REDIS_STORE_OPTIONS = [
  'client',
  'url',
  'cluster',
  'sentinel',
  'redisOptions',
  'coalesce',
  'maxBatch',
] as const satisfies ReadonlyArray<keyof RedisStoreOptions>;

/** Options Sluice sets on the clients it creates: a decision must never be sent twice. */
const SAFE_CLIENT_OPTIONS: RedisOptions = { autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 1 };

/**
 * Most decisions coalesced into one script call by default. A call's fixed cost (its command, its
 * KEYS and ARGV tables, the script's prelude) is spread over its decisions, but a turn's decisions in
 * one call make the client and Redis work in turn: Redis idles while the client decodes a reply and
 * lays out the next call, and the client idles while Redis runs it. Smaller calls keep several in
 * flight: a call is sent as soon as it is full, so Redis runs it while the client makes the rest of
 * the turn's decisions. At 64 decisions in flight over 10,000 keys, batches of 64 are never sent while
 * another is in flight (the sides alternate); batches of 32 are, half of the time (two calls
 * alternate), for at most 0.5 µs more CPU per decision on either side; batches of 16 (four in
 * flight) cost Redis about 2.5 µs more per decision. Bounds how long one call holds Redis.
 */
export const MAX_BATCH = 32;

/**
 * Cluster clients must not retry a command after a failover or CLUSTERDOWN either: by then its caller
 * has had its failure-mode answer, and a late run would count a decision that was never made.
 */
const SAFE_CLUSTER_OPTIONS: ClusterOptions = { retryDelayOnFailover: 0, retryDelayOnClusterDown: 0 };

/**
 * Without coalescing, ioredis auto-pipelining sends the script calls of one event-loop turn in one
 * write instead of one each. With it, the store has already made one call of them, and auto-pipelining
 * would hold that call back one more turn.
 */
function pipelining(options: RedisStoreOptions): { enableAutoPipelining: boolean } {
  return { enableAutoPipelining: options.coalesce === false };
}

/**
 * After the first connection, commands made while disconnected fail at once instead of waiting in the
 * offline queue: a queued decision would run on reconnect, long after its caller got the failure mode's
 * answer. (The store itself never hands a call to a client that is not ready, before the first
 * connection too: this covers the client's own commands.)
 */
function noOfflineQueueOnceReady(client: Redis): void {
  client.once('ready', () => {
    client.options.enableOfflineQueue = false;
  });
}

/**
 * Executes plans with Lua scripts: a decision's limits in one script, and the decisions of one
 * event-loop turn coalesced into one call per layout (see `coalesce`). EVALSHA with the hash computed
 * at load time, and EVAL only when the server answers NOSCRIPT (after a restart or SCRIPT FLUSH). Any
 * other error of the call is reported as a StoreError to every decision of the call (an error of one
 * decision of a batch, to that decision only: see decideBatchSource), and the script is never
 * re-sent: a script that may have run must not run twice. Calls are never handed to a client that is
 * not connected, and every other operation first sends the decisions queued before it (call order).
 */
export class RedisStore implements Store {
  readonly backend = 'redis';
  readonly client: RedisClient;
  private readonly owned: boolean;
  /** The same client, typed for the reply-as-is variants of EVALSHA / EVAL (see BufferScripting). */
  private readonly scripting: BufferScripting;
  private documentScript: Script | undefined;
  /** Scripts by operation and layout (see scripts.ts), each generated and hashed once. */
  private readonly scripts = new Map<string, Script>();
  /** Decide scripts of the layouts met so far (see decideScript). */
  private readonly layouts: LayoutNode = { next: new Map(), scripts: new Map() };
  /** What plans of the same limits share, by their limits (see decideTarget). */
  private readonly targets = new WeakMap<NormalizedLimit, LimitsNode>();
  private readonly noLimits: LimitsNode = { args: [], next: new Map(), scripts: [] };
  /** The decisions of one event-loop turn, coalesced (undefined: `coalesce: false`). */
  private readonly coalescer: Coalescer | undefined;
  /** Script calls sent so far (each one round trip, whatever decisions it carries): for metrics. */
  roundTrips = 0;
  /**
   * `decide` with its deadline kept by its coalescer entry (see Store.decideWithin): only when
   * coalescing (otherwise the guard wraps each call).
   */
  readonly decideWithin?: (plan: DecisionPlan, deadlines: DeadlineKeeper) => Promise<RawDecision>;
  /** Each limit's script arguments, stringified once. */
  private readonly limitArgs = new WeakMap<object, readonly string[]>();

  constructor(options: RedisStoreOptions) {
    validateStoreOptions(options);
    this.owned = options.client === undefined;
    this.client = clientOf(options);
    this.scripting = this.client as unknown as BufferScripting;
    this.coalescer =
      options.coalesce === false
        ? undefined
        : new Coalescer({
            maxBatch: options.maxBatch ?? MAX_BATCH,
            // A Cluster runs a script on one slot: only one tenant's decisions (hash-tagged keys) share a call.
            groupByTenant: this.client.isCluster,
            send: (script, entries) => this.runBatch(script, entries),
            wrap: (script, error) => this.wrap(script.script, error),
          });
    const coalescer = this.coalescer;
    if (coalescer) {
      this.decideWithin = (plan, deadlines) => {
        if (this.client.status !== 'ready') return Promise.reject(this.notReady());
        let target: LimitsNode;
        try {
          target = this.decideTarget(plan);
        } catch (error) {
          return Promise.reject(error);
        }
        return coalescer.add(this.decideScriptOf(target, plan), target.args, plan, deadlines);
      };
    }
    // Connection errors also reach each pending call as a StoreError; without a listener ioredis
    // would print every reconnection failure as an unhandled error event.
    if (this.owned)
      this.client.on('error', (error: Error) => {
        this.lastConnectionError = error;
      });
  }

  /** The last connection error the client reported (errors of calls are thrown to their callers). */
  lastConnectionError: Error | undefined;

  /**
   * Resolves once the client is connected, or rejects after `timeoutMs`: call it before serving. A
   * store that gives up this way closes the connection it opened (its client would otherwise keep
   * reconnecting, and keep the process alive, with nobody to use it); with `keepTrying` it stays
   * open and connects whenever Redis answers (what PolicyLimiter.create does).
   */
  async ready(timeoutMs = 5000, options: { keepTrying?: boolean } = {}): Promise<void> {
    const client = this.client as Redis;
    if (client.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('ready', onReady);
        const status = client.status;
        const closing = this.owned && options.keepTrying !== true;
        if (closing) client.disconnect();
        const cause = this.lastConnectionError ? `: ${this.lastConnectionError.message}` : '';
        const after = closing ? '; the store closed its connection (create a new store to try again)' : '';
        reject(
          new StoreError('redis', `not connected after ${timeoutMs} ms (status ${status})${cause}${after}`),
        );
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      client.once('ready', onReady);
    });
  }

  decide(plan: DecisionPlan): Promise<RawDecision> {
    if (this.client.status !== 'ready') return Promise.reject(this.notReady());
    let target: LimitsNode;
    let script: DecideScript;
    try {
      target = this.decideTarget(plan);
      script = this.decideScriptOf(target, plan);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.coalescer) return this.coalescer.add(script, target.args, plan, undefined);
    const size = script.replySize;
    return this.run(script.script, script.numKeys, singleArgs(script, target.args, plan)).then((reply) =>
      rawDecision(reply as number[], 0, size),
    );
  }

  /** One script call: the layout's own script for one decision, its batch script for more. */
  private runBatch(script: DecideScript, entries: readonly BatchEntry[]): Promise<unknown> {
    if (entries.length === 1) {
      const { limitArgs, plan } = entries[0] as BatchEntry;
      return this.run(script.script, script.numKeys, singleArgs(script, limitArgs, plan));
    }
    const [keyCount, keysAndArgs] = batchArgs(script, entries);
    return this.run(this.batchScript(script), keyCount, keysAndArgs);
  }

  private batchScript(call: DecideScript): Script {
    const name = `${call.script.name} batch`;
    return this.cached(name, () => decideBatchSource(call.layout));
  }

  async refund(plan: RefundPlan): Promise<void> {
    if (plan.limits.length === 0) return;
    const codes = plan.limits.map((p) => p.algorithm.code);
    const { perLimit } = plan;
    const weighted = perLimit !== undefined;
    const name = `refund:${codes.join(',')}${weighted ? ' weighted' : ''}`;
    const script = this.cached(name, () => refundSource(codes, weighted));
    const keys = [plan.metaKey];
    plan.limits.forEach((p, i) => {
      keys.push(p.key, plan.ledgerKeys[i] as string);
    });
    const args = [String(plan.units), plan.id, String(plan.at), String(plan.cost)];
    plan.limits.forEach((p, i) => {
      const { resetAt, mark } = plan.marks[i] as RefundPlan['marks'][number];
      args.push(...this.argsOf(p), String(resetAt), String(mark));
      const own = perLimit?.[i];
      if (own) args.push(String(own.cost), String(own.units));
    });
    this.coalescer?.sendQueued(); // after the decisions issued before it
    await this.run(script, keys.length, [...keys, ...args]);
  }

  async release(plan: ReleasePlan): Promise<void> {
    if (plan.limits.length === 0) return;
    const codes = plan.limits.map((p) => p.algorithm.code);
    const script = this.cached(`release:${codes.join(',')}`, () => releaseSource(codes));
    const keysAndArgs = [plan.metaKey, ...plan.limits.map((p) => p.key), plan.leaseId, String(plan.at)];
    for (const p of plan.limits) keysAndArgs.push(...this.argsOf(p));
    this.coalescer?.sendQueued(); // after the decisions issued before it
    await this.run(script, 1 + plan.limits.length, keysAndArgs);
  }

  async renew(plan: ReleasePlan): Promise<RenewAnswer> {
    if (plan.limits.length === 0) return { now: 0, held: [] };
    const codes = plan.limits.map((p) => p.algorithm.code);
    const script = this.cached(`renew:${codes.join(',')}`, () => renewSource(codes));
    const keysAndArgs = [plan.metaKey, ...plan.limits.map((p) => p.key), plan.leaseId, String(plan.at)];
    for (const p of plan.limits) keysAndArgs.push(...this.argsOf(p));
    this.coalescer?.sendQueued(); // after the decisions issued before it
    const reply = (await this.run(script, 1 + plan.limits.length, keysAndArgs)) as number[];
    return { now: Number(reply[0]), held: plan.limits.map((_, i) => Number(reply[i + 1]) === 1) };
  }

  async deleteKeys(_tenant: string, metaKey: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    this.coalescer?.sendQueued();
    await this.run(this.adminScript(), 1 + keys.length, [metaKey, ...keys, 'delete']);
  }

  async resetTenant(_tenant: string, metaKey: string, retainMs: number): Promise<void> {
    this.coalescer?.sendQueued();
    await this.run(this.adminScript(), 1, [metaKey, 'reset-tenant', String(retainMs)]);
  }

  async block(_tenant: string, metaKey: string, blockKey: string | null, durationMs: number): Promise<void> {
    const keys = blockKey ? [metaKey, blockKey] : [metaKey];
    this.coalescer?.sendQueued();
    await this.run(this.adminScript(), keys.length, [...keys, 'block', String(durationMs)]);
  }

  async unblock(_tenant: string, metaKey: string, blockKey: string | null): Promise<void> {
    const keys = blockKey ? [metaKey, blockKey] : [metaKey];
    this.coalescer?.sendQueued();
    await this.run(this.adminScript(), keys.length, [...keys, 'unblock']);
  }

  /**
   * Runtime configuration document: "<version>\n<body>", no TTL (operator state, not counters). With
   * `skipBody`, the head is read first (GETRANGE of the version header and STRLEN, a few bytes) and the
   * body is transferred only when `skipBody` says so: a poll of an unchanged document never downloads it.
   * Only read commands: an instance's ACL user may read the document without being able to write it.
   */
  readDocument(key: string): Promise<StoredDocument | null>;
  readDocument(key: string, options: ReadDocumentOptions): Promise<StoredDocument | DocumentHead | null>;
  async readDocument(
    key: string,
    options?: ReadDocumentOptions,
  ): Promise<StoredDocument | DocumentHead | null> {
    this.coalescer?.sendQueued();
    if (this.client.status !== 'ready') throw this.notReady();
    try {
      if (options?.skipBody) {
        const [header, size] = await Promise.all([
          this.client.getrange(key, 0, DOCUMENT_HEADER_BYTES - 1),
          this.client.strlen(key),
        ]);
        if (size === 0) return null;
        const head: DocumentHead = { version: documentVersion(header).version, size };
        if (options.skipBody(head)) return head;
      }
      const value = await this.client.get(key);
      if (value === null) return null;
      const { version, at } = documentVersion(value);
      return { version, body: Number.isNaN(version) ? value : value.slice(at) };
    } catch (error) {
      throw new StoreError('redis', `reading ${key} failed: ${(error as Error).message}`, { cause: error });
    }
  }

  async writeDocument(
    key: string,
    body: string,
    expectedVersion: number,
    floorVersion = 0,
  ): Promise<number | null> {
    if (!this.documentScript) {
      this.documentScript = this.compile('document', DOCUMENT_SOURCE);
      this.preload(this.documentScript);
    }
    this.coalescer?.sendQueued();
    const version = (await this.run(this.documentScript, 1, [
      key,
      String(expectedVersion),
      body,
      String(floorVersion),
    ])) as number;
    return version < 0 ? null : version;
  }

  async addToBoard(key: string, entries: readonly BoardEntry[], write: BoardWrite): Promise<void> {
    if (entries.length === 0) return;
    const args = [key, write.mode, String(write.maxMembers), String(write.ttlMs)];
    for (const [member, score] of entries) args.push(member, String(score));
    this.coalescer?.sendQueued();
    await this.run(
      this.cached('board add', () => BOARD_ADD_SOURCE),
      1,
      args,
    );
  }

  async readBoards(
    keys: readonly string[],
    weights: readonly number[],
    count: number,
    minScore = Number.NEGATIVE_INFINITY,
  ): Promise<BoardEntry[]> {
    if (keys.length === 0) return [];
    const args = [...keys, String(count), String(Math.max(minScore, -1e308))];
    for (const w of weights) args.push(String(w));
    this.coalescer?.sendQueued();
    const flat = (await this.run(
      this.cached('board read', () => BOARD_READ_SOURCE),
      keys.length,
      args,
    )) as Array<Buffer | string>;
    const out: BoardEntry[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push([String(flat[i]), Number(String(flat[i + 1]))]);
    return out;
  }

  async addUsage(write: UsageWrite): Promise<UsageWritten> {
    validateUsageWrite(write);
    this.coalescer?.sendQueued();
    const reply = await this.run(
      this.cached('usage add', () => USAGE_ADD_SOURCE),
      3,
      usageAddArgs(write),
    );
    return usageWritten(reply);
  }

  async readUsage(read: UsageRead): Promise<UsageSums> {
    validateUsageRead(read);
    const { numKeys, args } = usageReadArgs(read);
    if (numKeys === 0) return { series: [], identities: [], identityCount: 0 };
    this.coalescer?.sendQueued();
    const reply = await this.run(
      this.cached('usage read', () => USAGE_READ_SOURCE),
      numKeys,
      args,
    );
    return usageSums(reply);
  }

  async close(): Promise<void> {
    if (this.owned) await this.client.quit().catch(() => this.client.disconnect());
  }

  /**
   * Turns Lua source into a Script. Protected so that the differential tests can pin the clock of a
   * copy of the store; nothing else should override it.
   */
  protected compile(name: string, source: string): Script {
    return script(name, source);
  }

  /**
   * What every plan of the same limits shares, whatever its keys: its limits' script arguments and its
   * decide scripts. Found by walking a trie of the limits themselves (one lookup per limit), so a
   * decision of a key never seen before builds nothing.
   */
  private decideTarget(plan: DecisionPlan): LimitsNode {
    const limits = plan.limits;
    if (limits.length === 0) return this.noLimits;
    const head = limits[0] as PlannedLimit;
    let node: LimitsNode | undefined = this.targets.get(head.limit);
    if (node === undefined || node.algorithm !== head.algorithm) {
      node = this.limitsNode(undefined, head);
      this.targets.set(head.limit, node);
    }
    for (let i = 1; i < limits.length; i++) {
      const p = limits[i] as PlannedLimit;
      let next: LimitsNode | undefined = node.next.get(p.limit);
      if (next === undefined || next.algorithm !== p.algorithm) {
        next = this.limitsNode(node, p);
        node.next.set(p.limit, next);
      }
      node = next;
    }
    return node;
  }

  private limitsNode(parent: LimitsNode | undefined, p: PlannedLimit): LimitsNode {
    const args = [...(parent?.args ?? []), ...this.argsOf(p)];
    return { args, algorithm: p.algorithm, next: new Map(), scripts: [] };
  }

  /** The decide script of the plan's layout (its limits', its block markers' count, its penalty mode). */
  private decideScriptOf(target: LimitsNode, plan: DecisionPlan): DecideScript {
    const variant = layoutVariant(plan);
    let found = target.scripts[variant];
    if (found === undefined) {
      found = this.decideScript(plan);
      target.scripts[variant] = found;
    }
    return found;
  }

  private decideScript(plan: DecisionPlan): DecideScript {
    let node = this.layouts;
    for (const p of plan.limits) {
      let next = node.next.get(p.algorithm.code);
      if (!next) {
        next = { next: new Map(), scripts: new Map() };
        node.next.set(p.algorithm.code, next);
      }
      node = next;
    }
    const variant = layoutVariant(plan);
    let found = node.scripts.get(variant);
    if (!found) {
      const codes = plan.limits.map((p) => p.algorithm.code);
      const weighted = plan.costs !== undefined;
      const layout = { codes, blockKeys: plan.blockKeys.length, penalty: plan.penalty, weighted };
      const name = `decide ${codes.join(',')} blocks=${layout.blockKeys}${plan.penalty ? ' penalty' : ''}${weighted ? ' weighted' : ''}`;
      found = {
        script: this.compile(name, decideSource(layout)),
        numKeys: String(1 + layout.blockKeys + codes.length),
        keyCount: 1 + layout.blockKeys + codes.length,
        takesId: decideTakesId(codes),
        layout,
        replySize: decideShape(layout).reply,
        batchReplySize: batchReplySize(codes),
        marks: batchMarks(codes),
      };
      node.scripts.set(variant, found);
      this.preload(found.script);
    }
    return found;
  }

  private adminScript(): Script {
    return this.cached('admin', () => ADMIN_SOURCE);
  }

  private cached(name: string, source: () => string): Script {
    let found = this.scripts.get(name);
    if (!found) {
      found = this.compile(name, source());
      this.scripts.set(name, found);
      this.preload(found);
    }
    return found;
  }

  /**
   * Loads a script new to this store (SCRIPT LOAD, not awaited) ahead of its first EVALSHA, on the
   * same connection: the EVALSHA then finds it, rather than failing with NOSCRIPT and being re-sent
   * as EVAL behind the calls made after it (which would then overtake it). Single node and Sentinel
   * only (a Cluster would load it on a random node); where it fails (an ACL without `script|load`),
   * EVALSHA falls back to EVAL as always.
   */
  private preload(script: Script): void {
    const client = this.client;
    if (client.isCluster || client.status !== 'ready') return;
    client.script('LOAD', script.source).catch(() => {});
  }

  private argsOf(p: PlannedLimit): readonly string[] {
    let args = this.limitArgs.get(p.limit);
    if (!args) {
      args = limitArgs(p.algorithm.code, p.limit);
      this.limitArgs.set(p.limit, args);
    }
    return args;
  }

  /**
   * EVALSHA; on NOSCRIPT (and only then) EVAL, which also caches the script on that node again.
   * `keysAndArgs`: the `numKeys` keys, then the arguments. Promise chains rather than async/await, and
   * no closure but the error handler: this is every decision's path.
   */
  private run(script: Script, numKeys: number | string, keysAndArgs: string[]): Promise<unknown> {
    this.roundTrips++;
    // Never hand a call to a client that is not connected: ioredis would hold it in its offline queue
    // and run it on (re)connection, long after its caller got the failure mode's answer.
    if (this.client.status !== 'ready') return Promise.reject(this.notReady());
    try {
      return this.evalsha(script.sha, numKeys, keysAndArgs).then(undefined, (error: unknown) =>
        this.evalOnNoScript(script, numKeys, keysAndArgs, error),
      );
    } catch (error) {
      return Promise.reject(this.wrap(script, error));
    }
  }

  /**
   * EVALSHA with the reply as is. A batch's call has hundreds of arguments, and ioredis' own
   * evalshaBuffer copies them with Array#flat, which costs about as much per argument as the rest of
   * the client's work on it: a command built with no arguments and given them after is sent the same.
   * Only where nothing else is done to the arguments (no keyPrefix) and the call is sent at once (no
   * auto-pipelining, which the store turns on only for `coalesce: false`).
   */
  private evalsha(sha: string, numKeys: number | string, keysAndArgs: string[]): Promise<unknown> {
    const options = this.client.options as { keyPrefix?: string; enableAutoPipelining?: boolean };
    if (options.keyPrefix || options.enableAutoPipelining) {
      return this.scripting.evalshaBuffer(sha, numKeys, keysAndArgs);
    }
    const command = new Command('evalsha', [], { replyEncoding: null });
    command.args = [sha, String(numKeys)].concat(keysAndArgs);
    return this.client.sendCommand(command) as Promise<unknown>;
  }

  private evalOnNoScript(
    script: Script,
    numKeys: number | string,
    keysAndArgs: string[],
    error: unknown,
  ): Promise<unknown> {
    if (!isNoScript(error)) throw this.wrap(script, error);
    return this.scripting
      .evalBuffer(script.source, numKeys, keysAndArgs)
      .then(undefined, (retry: unknown) => {
        throw this.wrap(script, retry);
      });
  }

  /** The error of a call made while the client is not connected: it is not sent. */
  private notReady(): StoreError {
    return new StoreError('redis', `not connected (client status ${this.client.status}): call not sent`, {
      code: 'ERR_SLUICE_STORE_UNAVAILABLE',
    });
  }

  private wrap(script: Script, error: unknown): StoreError {
    const message = error instanceof Error ? error.message : String(error);
    return new StoreError('redis', `${script.name} script failed: ${message}`, { cause: error });
  }
}

/**
 * A client passed in must not re-send a command after a reconnect (ioredis' default): a decision that
 * went unanswered when the connection dropped would run again and count twice. For a Cluster, the
 * option is its nodes' (`redisOptions`).
 */
function refuseUnsafeClient(client: RedisClient): void {
  if (client.isCluster) {
    const nodeOptions = (client as Cluster).options.redisOptions;
    if (nodeOptions?.autoResendUnfulfilledCommands === false) return;
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'redis.client',
      'set redisOptions: { autoResendUnfulfilledCommands: false } on the Cluster: by default ioredis re-sends ' +
        'unanswered commands after a reconnect, and a re-sent decision counts twice',
    );
  }
  if ((client as Redis).options.autoResendUnfulfilledCommands === false) return;
  throw new ValidationError(
    'ERR_SLUICE_INVALID_OPTION',
    'redis.client',
    'set autoResendUnfulfilledCommands: false on the client: by default ioredis re-sends unanswered ' +
      'commands after a reconnect, and a re-sent decision counts twice',
  );
}

/**
 * ioredis' `<command>Buffer` variants of EVALSHA and EVAL, on every client and Cluster but missing from
 * its type declarations. They hand the reply over as is instead of converting each element to a string
 * (a measurable share of a decision's client CPU); every Sluice script replies with integers only.
 */
interface BufferScripting {
  evalshaBuffer(sha: string, numKeys: number | string, keysAndArgs: string[]): Promise<unknown>;
  evalBuffer(source: string, numKeys: number | string, keysAndArgs: string[]): Promise<unknown>;
}

/** A node of the trie of plans' limits (see decideTarget): one level per limit, keyed by the limit. */
interface LimitsNode {
  /** The script arguments of the limits from the root to here. */
  readonly args: readonly string[];
  readonly algorithm?: PlannedLimit['algorithm'];
  readonly next: Map<NormalizedLimit, LimitsNode>;
  /** Decide scripts by block-marker count * 2 + penalty (0 or 1). */
  readonly scripts: DecideScript[];
}

/** A node of the trie of decide layouts: one level per limit, keyed by algorithm code. */
interface LayoutNode {
  readonly next: Map<string, LayoutNode>;
  /** The scripts of the layouts ending here, by block-marker count * 2 + penalty (0 or 1). */
  readonly scripts: Map<number, DecideScript>;
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/** Bytes of a document's head read before its body: room for the version and its newline. */
const DOCUMENT_HEADER_BYTES = 24;

/** The version at the start of "<version>\n<body>" (NaN when there is none) and where the body starts. */
function documentVersion(value: string): { version: number; at: number } {
  const match = /^(\d{1,15})\n/.exec(value);
  return match
    ? { version: Number(match[1]), at: (match[1] as string).length + 1 }
    : { version: Number.NaN, at: 0 };
}

/** Which of a layout's decide scripts a plan needs: by its block markers, penalty mode and costs. */
function layoutVariant(plan: DecisionPlan): number {
  return (plan.blockKeys.length * 2 + (plan.penalty ? 1 : 0)) * 2 + (plan.costs === undefined ? 0 : 1);
}

/** The options a RedisStore checks before it opens anything (unknown keys, one way to connect, bounds). */
function validateStoreOptions(options: RedisStoreOptions): void {
  rejectUnknownKeys(options, 'redis', REDIS_STORE_OPTIONS);
  const given = (['client', 'url', 'cluster', 'sentinel'] as const).filter((k) => options[k] !== undefined);
  if (given.length !== 1) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'redis',
      `give exactly one of client, url, cluster or sentinel (got ${given.length === 0 ? 'none' : given.join(', ')})`,
    );
  }
  if (options.coalesce !== undefined && typeof options.coalesce !== 'boolean') {
    throw new ValidationError('ERR_SLUICE_INVALID_OPTION', 'redis.coalesce', 'must be true or false');
  }
  if (
    options.maxBatch !== undefined &&
    !(Number.isInteger(options.maxBatch) && options.maxBatch >= 1 && options.maxBatch <= 1000)
  ) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'redis.maxBatch',
      'must be a whole number in [1, 1000]',
    );
  }
  if (options.url !== undefined && !/^rediss?:\/\//.test(options.url)) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      'redis.url',
      'must start with redis:// or rediss://',
    );
  }
}

/** The client a store talks through: the caller's (checked for unsafe settings), or one it opens. */
function clientOf(options: RedisStoreOptions): Redis | Cluster {
  if (options.client) {
    refuseUnsafeClient(options.client);
    return options.client;
  }
  if (options.cluster) {
    return new Cluster(options.cluster.nodes, {
      ...SAFE_CLUSTER_OPTIONS,
      ...pipelining(options),
      ...options.cluster.options,
      redisOptions: { ...SAFE_CLIENT_OPTIONS, ...options.cluster.options?.redisOptions },
    });
  }
  const common = { ...SAFE_CLIENT_OPTIONS, ...pipelining(options), ...options.redisOptions };
  const sentinel = options.sentinel;
  const client =
    options.url !== undefined
      ? new Redis(options.url, common)
      : new Redis({
          ...common,
          ...sentinel?.options,
          sentinels: sentinel?.sentinels,
          name: sentinel?.name,
        });
  noOfflineQueueOnceReady(client);
  return client;
}
