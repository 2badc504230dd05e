/**
 * The least-privilege Redis ACL for Sluice: the commands its scripts call (Redis checks ACLs on
 * commands inside scripts too), the two that run scripts, and what ioredis needs to connect. Keys are
 * restricted to the limiter's prefix. The README shows the resulting ACL SETUSER line; a test runs the
 * whole limiter as such a user.
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
  // connection: ioredis' ready check, health checks, Cluster topology
  'ping',
  'info',
  'cluster|slots',
  'cluster|info',
] as const;

/** The rules of `ACL SETUSER <user> on ><password> <rules...>` for a limiter using `prefix`. */
export function redisAclRules(prefix = 'sluice'): string[] {
  return [`~${prefix}:*`, '-@all', ...REDIS_ACL_COMMANDS.map((c) => `+${c}`)];
}
