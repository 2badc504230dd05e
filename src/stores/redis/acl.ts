/**
 * The least-privilege Redis ACL for Sluice: the commands its scripts call (Redis checks ACLs on
 * commands inside scripts too), the two that run scripts, and what ioredis needs to connect. Keys are
 * restricted to the limiter's prefix. The README shows the resulting ACL SETUSER lines; tests run the
 * whole limiter as such users.
 *
 * Two users: instances (every process that decides requests) may read the runtime overrides document
 * (`<prefix>:{~runtime}:overrides`) but not write it, so no instance can switch enforcement off for
 * the fleet; operators (the process or tool that calls setMode, setTenantOverride...) may write it.
 */
export const REDIS_ACL_COMMANDS = [
  // run the scripts (EVAL only after NOSCRIPT); SCRIPT LOAD ahead of a script's first EVALSHA
  'evalsha',
  'eval',
  'script|load',
  // called inside the scripts
  'time',
  'mget',
  'get',
  'set',
  'del',
  'pexpire',
  'pttl',
  'zadd',
  'zrem',
  'zrange',
  'zrangebyscore',
  'zremrangebyscore',
  // boards (the tenant index, top limited identities, the audit trail)
  'zremrangebyrank',
  // LLM usage tallies (hashes of counters, an index of identities)
  'hexists',
  'hlen',
  'hincrby',
  'hgetall',
  'zscore',
  'zcard',
  // the runtime overrides document's head (its version and size), read before its body
  'getrange',
  'strlen',
  // connection: ioredis' ready check, health checks, Cluster topology
  'ping',
  'info',
  'cluster|slots',
  'cluster|info',
] as const;

/** Reserved tenants (hash tags) whose keys instances write: platform protection's shared count, the tenant index. */
const INSTANCE_RESERVED_TENANTS = ['~platform', '~index'] as const;

export interface RedisAclOptions {
  /**
   * The operator's user: may also write the runtime overrides document (setMode, setTenantOverride,
   * setTenantTier, forceCircuit, forcePlatform, resetReputation()). Default false: an instance's user,
   * which may only read it.
   */
  operator?: boolean;
}

/**
 * The rules of `ACL SETUSER <user> on ><password> <rules...>` for a limiter using `prefix`.
 *
 * Instance (default): read and write every tenant's keys (`<prefix>:{<tenant>}...` for tenants not
 * starting with `~`) and platform protection's `{~platform}` keys; only read `{~runtime}` (the runtime
 * overrides document). Operator (`{ operator: true }`): every key under the prefix.
 */
export function redisAclRules(prefix = 'sluice', options: RedisAclOptions = {}): string[] {
  const keys = options.operator
    ? [`~${prefix}:*`]
    : [
        `~${prefix}:{[^~]*`,
        ...INSTANCE_RESERVED_TENANTS.map((tenant) => `~${prefix}:{${tenant}}*`),
        `%R~${prefix}:{~runtime}*`,
      ];
  return [...keys, '-@all', ...REDIS_ACL_COMMANDS.map((c) => `+${c}`)];
}
