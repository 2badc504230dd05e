import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { StoreError, ValidationError } from '../../core/errors.js';
import type { DecisionPlan, PlannedLimit, RawDecision, ReturnPlan, Store, StoredDocument } from '../store.js';
import {
  ADMIN_SOURCE,
  DOCUMENT_SOURCE,
  decideSource,
  returnSource,
  type Script,
  script,
  shapeOf,
} from './scripts.js';

/** Anything that can run scripts: an ioredis client (single node or Sentinel) or an ioredis Cluster. */
export type RedisClient = Redis | Cluster;

export interface RedisStoreOptions {
  /**
   * An existing ioredis client or Cluster. Sluice does not close it. Set
   * `autoResendUnfulfilledCommands: false` on it: a decision re-sent after a reconnect can count twice.
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
}

/** Options Sluice sets on the clients it creates: a decision must never be sent twice. */
const SAFE_CLIENT_OPTIONS: RedisOptions = { autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 1 };

/**
 * Executes plans with one Lua script call each: EVALSHA with the hash computed at load time, and EVAL
 * only when the server answers NOSCRIPT (after a restart or SCRIPT FLUSH). Any other error is reported
 * as a StoreError and the script is never re-sent: a script that may have run must not run twice.
 */
export class RedisStore implements Store {
  readonly backend = 'redis';
  readonly client: RedisClient;
  private readonly owned: boolean;
  private documentScript: Script | undefined;
  /** Scripts by operation and shape (bit mask of algorithm codes), built and hashed once each. */
  private readonly scripts = new Map<string, Script>();
  /** Each limit's script arguments, stringified once. */
  private readonly limitArgs = new WeakMap<object, string[]>();

  constructor(options: RedisStoreOptions) {
    const given = (['client', 'url', 'cluster', 'sentinel'] as const).filter((k) => options[k] !== undefined);
    if (given.length !== 1) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        'redis',
        `give exactly one of client, url, cluster or sentinel (got ${given.length === 0 ? 'none' : given.join(', ')})`,
      );
    }
    this.owned = options.client === undefined;
    if (options.client) {
      this.client = options.client;
    } else if (options.url !== undefined) {
      if (!/^rediss?:\/\//.test(options.url)) {
        throw new ValidationError(
          'ERR_SLUICE_INVALID_OPTION',
          'redis.url',
          'must start with redis:// or rediss://',
        );
      }
      this.client = new Redis(options.url, { ...SAFE_CLIENT_OPTIONS, ...options.redisOptions });
    } else if (options.cluster) {
      this.client = new Cluster(options.cluster.nodes, {
        ...options.cluster.options,
        redisOptions: { ...SAFE_CLIENT_OPTIONS, ...options.cluster.options?.redisOptions },
      });
    } else {
      const sentinel = options.sentinel as NonNullable<RedisStoreOptions['sentinel']>;
      this.client = new Redis({
        ...SAFE_CLIENT_OPTIONS,
        ...options.redisOptions,
        ...sentinel.options,
        sentinels: sentinel.sentinels,
        name: sentinel.name,
      });
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

  async decide(plan: DecisionPlan): Promise<RawDecision> {
    const keys: string[] = [plan.metaKey, ...plan.blockKeys];
    const args: Array<string | number> = [plan.cost, plan.penalty ? 1 : 0, plan.blockKeys.length, plan.id];
    for (const p of plan.limits) {
      keys.push(p.key);
      args.push(...this.argsOf(p));
    }
    const reply = (await this.run(this.scriptFor('decide', plan.limits), keys, args)) as number[];
    const limits: Array<RawDecision['limits'][number]> = [];
    for (let i = 3; i < reply.length; i += 4) {
      limits.push({
        fits: reply[i] === 1,
        remaining: reply[i + 1] as number,
        resetAt: reply[i + 2] as number,
        retryAfterMs: reply[i + 3] as number,
      });
    }
    return { admitted: reply[0] === 1, blockedUntil: reply[1] as number, now: reply[2] as number, limits };
  }

  async refund(plan: ReturnPlan): Promise<void> {
    await this.returnUnits('refund', plan, '');
  }

  async release(plan: ReturnPlan & { leaseId: string }): Promise<void> {
    await this.returnUnits('release', plan, plan.leaseId);
  }

  async deleteKeys(_tenant: string, metaKey: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.run(this.scriptFor('admin', []), [metaKey, ...keys], ['delete']);
  }

  async resetTenant(_tenant: string, metaKey: string, retainMs: number): Promise<void> {
    await this.run(this.scriptFor('admin', []), [metaKey], ['reset-tenant', retainMs]);
  }

  async block(_tenant: string, metaKey: string, blockKey: string | null, durationMs: number): Promise<void> {
    await this.run(this.scriptFor('admin', []), blockKey ? [metaKey, blockKey] : [metaKey], [
      'block',
      durationMs,
    ]);
  }

  async unblock(_tenant: string, metaKey: string, blockKey: string | null): Promise<void> {
    await this.run(this.scriptFor('admin', []), blockKey ? [metaKey, blockKey] : [metaKey], ['unblock']);
  }

  /** Runtime configuration document: "<version>\n<body>", no TTL (operator state, not counters). */
  async readDocument(key: string): Promise<StoredDocument | null> {
    let value: string | null;
    try {
      value = await this.client.get(key);
    } catch (error) {
      throw new StoreError('redis', `reading ${key} failed: ${(error as Error).message}`, { cause: error });
    }
    if (value === null) return null;
    const newline = value.indexOf('\n');
    return { version: Number(value.slice(0, newline)), body: value.slice(newline + 1) };
  }

  async writeDocument(key: string, body: string, expectedVersion: number): Promise<number | null> {
    if (!this.documentScript) this.documentScript = this.compile('document', DOCUMENT_SOURCE);
    const version = (await this.run(this.documentScript, [key], [expectedVersion, body])) as number;
    return version < 0 ? null : version;
  }

  async close(): Promise<void> {
    if (this.owned) await this.client.quit().catch(() => this.client.disconnect());
  }

  private async returnUnits(op: 'refund' | 'release', plan: ReturnPlan, leaseId: string): Promise<void> {
    const keys = [plan.metaKey];
    const args: Array<string | number> = [op, plan.cost, leaseId];
    for (const p of plan.limits) {
      keys.push(p.key);
      args.push(...this.argsOf(p));
    }
    await this.run(this.scriptFor('return', plan.limits), keys, args);
  }

  /**
   * Turns Lua source into a Script. Protected so that the differential tests can pin the clock of a
   * copy of the store; nothing else should override it.
   */
  protected compile(name: string, source: string): Script {
    return script(name, source);
  }

  private scriptFor(op: 'decide' | 'return' | 'admin', limits: readonly PlannedLimit[]): Script {
    const shape = op === 'admin' ? 0 : shapeOf(limits.map((p) => p.algorithm.code));
    const id = `${op}:${shape}`;
    let found = this.scripts.get(id);
    if (!found) {
      const source =
        op === 'decide' ? decideSource(shape) : op === 'return' ? returnSource(shape) : ADMIN_SOURCE;
      found = this.compile(id, source);
      this.scripts.set(id, found);
    }
    return found;
  }

  private argsOf(p: PlannedLimit): string[] {
    let args = this.limitArgs.get(p.limit);
    if (!args) {
      args = [p.algorithm.code, String(p.limit.limit), String(p.limit.windowMs), String(p.limit.capacity)];
      this.limitArgs.set(p.limit, args);
    }
    return args;
  }

  /** EVALSHA; on NOSCRIPT (and only then) EVAL, which also caches the script on that node again. */
  private async run(script: Script, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await this.client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!isNoScript(error)) throw this.wrap(script, error);
    }
    try {
      return await this.client.eval(script.source, keys.length, ...keys, ...args);
    } catch (error) {
      throw this.wrap(script, error);
    }
  }

  private wrap(script: Script, error: unknown): StoreError {
    const message = error instanceof Error ? error.message : String(error);
    return new StoreError('redis', `${script.name} script failed: ${message}`, { cause: error });
  }
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
