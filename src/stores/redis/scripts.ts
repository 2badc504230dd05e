import { createHash } from 'node:crypto';
import { ALGORITHMS_LUA } from '../../algorithms/index.js';

/**
 * The Lua scripts. Each operation is one script covering every limit of the call, so a decision is one
 * round trip and atomic. Time comes only from the Redis server's TIME (ms with microsecond fraction).
 * The algorithms' fragments define ALG[code] = { load, fits, commit, refund, view, expires }.
 *
 * Rounding matches stores/rounding.ts: remaining down, instants and waits up.
 */
const PRELUDE = `
local function num(x) return string.format('%.17g', x) end
local ALG = {}
${ALGORITHMS_LUA}
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
-- Every write leaves a TTL: the instant the state would be empty again.
local function persist(alg, st, key, L, W, X)
  local exp = alg.expires(st, key, now, L, W, X)
  if exp <= now then redis.call('DEL', key) else redis.call('PEXPIRE', key, math.ceil(exp - now)) end
end
-- A key that lost its TTL (PERSIST, a restore, an old version) gets one back when it is next read.
local function heal(alg, st, key, L, W, X)
  if redis.call('PTTL', key) == -1 then persist(alg, st, key, L, W, X) end
end
local function wait_ms(fits, w)
  if fits then return 0 end
  if w == -1 then return -1 end
  return math.max(1, math.ceil(w))
end
`;

/**
 * KEYS: meta, block keys (nb of them), one state key per limit.
 * ARGV: cost, penalty (0/1), nb, decision id, then per limit: algorithm code, limit, window ms, capacity.
 * Returns: admitted, blocked-until, now, then per limit: fits, remaining, reset-at, retry-after (-1 never).
 */
export const DECIDE_SCRIPT = `${PRELUDE}
local cost, penalty, nb, id = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3]), ARGV[4]
local n = (#ARGV - 4) / 4
local meta = redis.call('HMGET', KEYS[1], 'r', 'b')
local R = tonumber(meta[1]) or -1
local blocked = tonumber(meta[2]) or 0
if blocked <= now then blocked = 0 end
for j = 1, nb do
  local until_ms = tonumber(redis.call('GET', KEYS[1 + j]))
  if until_ms and until_ms > now and until_ms > blocked then blocked = until_ms end
end
local algs, sts, fit, wait = {}, {}, {}, {}
local admitted = blocked == 0
for i = 1, n do
  local a = 4 + (i - 1) * 4
  local alg = ALG[ARGV[a + 1]]
  local key = KEYS[1 + nb + i]
  local st = alg.load(key, now, tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), R)
  local ok, w = alg.fits(st, key, now, tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), cost)
  algs[i], sts[i], fit[i], wait[i] = alg, st, ok, w
  if not ok then admitted = false end
end
local charge = cost > 0 and (admitted or (penalty and blocked == 0))
local out = { admitted and 1 or 0, math.ceil(blocked), math.floor(now) }
for i = 1, n do
  local a = 4 + (i - 1) * 4
  local L, W, X = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local alg, st, key = algs[i], sts[i], KEYS[1 + nb + i]
  if charge and fit[i] then
    alg.commit(st, key, now, L, W, X, cost, id)
    persist(alg, st, key, L, W, X)
  else
    heal(alg, st, key, L, W, X)
  end
  local remaining, reset_at = alg.view(st, key, now, L, W, X)
  out[#out + 1] = fit[i] and 1 or 0
  out[#out + 1] = math.max(0, math.floor(remaining))
  out[#out + 1] = math.ceil(reset_at)
  out[#out + 1] = wait_ms(fit[i], wait[i])
end
return out
`;

/**
 * KEYS: meta, one state key per limit. ARGV: op ("refund" | "release"), cost, lease id, then per
 * limit: algorithm code, limit, window ms, capacity. Lease-based limits are skipped by refunds and
 * are the only ones touched by releases.
 */
export const RETURN_SCRIPT = `${PRELUDE}
local op, cost, id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local R = tonumber(redis.call('HGET', KEYS[1], 'r')) or -1
local n = (#ARGV - 3) / 4
for i = 1, n do
  local a = 3 + (i - 1) * 4
  local code, L, W, X = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local alg, key = ALG[code], KEYS[1 + i]
  if op == 'release' and code == 'cc' then
    local members = {}
    for k = 1, cost do
      members[#members + 1] = id .. ':' .. k
      if #members >= 1000 or k == cost then
        redis.call('ZREM', key, unpack(members))
        members = {}
      end
    end
    local st = alg.load(key, now, L, W, X, R)
    persist(alg, st, key, L, W, X)
  elseif op == 'refund' and code ~= 'cc' then
    local st = alg.load(key, now, L, W, X, R)
    if alg.refund(st, key, now, L, W, X, cost) then persist(alg, st, key, L, W, X) end
  end
end
return n
`;

/**
 * Administrative operations of one tenant. KEYS: meta, then the keys the op works on.
 * ARGV[1]: "delete" (DEL KEYS[2..]), "reset-tenant" (ARGV[2] = how long the marker must live),
 * "block" (ARGV[2] = duration; KEYS[2] = block key, or none for the whole tenant), "unblock".
 */
export const ADMIN_SCRIPT = `${PRELUDE}
local op = ARGV[1]
local function extend(key, ms)
  local ttl = redis.call('PTTL', key)
  if ttl < ms then redis.call('PEXPIRE', key, ms) end
end
if op == 'delete' then
  for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
elseif op == 'reset-tenant' then
  redis.call('HSET', KEYS[1], 'r', num(now))
  extend(KEYS[1], tonumber(ARGV[2]))
elseif op == 'block' then
  local d = tonumber(ARGV[2])
  if KEYS[2] then
    redis.call('SET', KEYS[2], num(now + d), 'PX', d)
  else
    redis.call('HSET', KEYS[1], 'b', num(now + d))
    extend(KEYS[1], d)
  end
elseif op == 'unblock' then
  if KEYS[2] then redis.call('DEL', KEYS[2]) else redis.call('HDEL', KEYS[1], 'b') end
else
  return redis.error_reply('unknown op ' .. tostring(op))
end
return 1
`;

export interface Script {
  readonly name: string;
  readonly source: string;
  /** SHA1 of the source, computed once: what EVALSHA sends. */
  readonly sha: string;
}

function script(name: string, source: string): Script {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

export const SCRIPTS = {
  decide: script('decide', DECIDE_SCRIPT),
  return: script('return', RETURN_SCRIPT),
  admin: script('admin', ADMIN_SCRIPT),
} as const;
