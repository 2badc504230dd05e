import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { StoreError, ValidationError } from '../../core/errors.js';
import type { DecisionPlan, PlannedLimit, RawDecision, ReturnPlan, Store } from '../store.js';
import { SCRIPTS, type Script } from './scripts.js';

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
  /** The scripts run; protected so the conformance tests can pin the clock in a copy. */
  protected readonly scripts: typeof SCRIPTS = SCRIPTS;
  private readonly owned: boolean;

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
  }

  async decide(plan: DecisionPlan): Promise<RawDecision> {
    const keys: string[] = [plan.metaKey, ...plan.blockKeys];
    const args: Array<string | number> = [plan.cost, plan.penalty ? 1 : 0, plan.blockKeys.length, plan.id];
    for (const p of plan.limits) {
      keys.push(p.key);
      pushLimitArgs(args, p);
    }
    const reply = (await this.run(this.scripts.decide, keys, args)) as number[];
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
    await this.run(this.scripts.admin, [metaKey, ...keys], ['delete']);
  }

  async resetTenant(_tenant: string, metaKey: string, retainMs: number): Promise<void> {
    await this.run(this.scripts.admin, [metaKey], ['reset-tenant', retainMs]);
  }

  async block(_tenant: string, metaKey: string, blockKey: string | null, durationMs: number): Promise<void> {
    await this.run(this.scripts.admin, blockKey ? [metaKey, blockKey] : [metaKey], ['block', durationMs]);
  }

  async unblock(_tenant: string, metaKey: string, blockKey: string | null): Promise<void> {
    await this.run(this.scripts.admin, blockKey ? [metaKey, blockKey] : [metaKey], ['unblock']);
  }

  async close(): Promise<void> {
    if (this.owned) await this.client.quit().catch(() => this.client.disconnect());
  }

  private async returnUnits(op: 'refund' | 'release', plan: ReturnPlan, leaseId: string): Promise<void> {
    const keys = [plan.metaKey];
    const args: Array<string | number> = [op, plan.cost, leaseId];
    for (const p of plan.limits) {
      keys.push(p.key);
      pushLimitArgs(args, p);
    }
    await this.run(this.scripts.return, keys, args);
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

function pushLimitArgs(args: Array<string | number>, p: PlannedLimit): void {
  args.push(p.algorithm.code, p.limit.limit, p.limit.windowMs, p.limit.capacity);
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
