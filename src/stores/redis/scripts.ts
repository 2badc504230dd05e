import { createHash } from 'node:crypto';
import { LUA_FRAGMENTS } from '../../algorithms/index.js';

/**
 * The Lua scripts. Each operation is one script covering every limit of the call, so a decision is one
 * round trip and atomic. Time comes only from the Redis server's TIME, in whole milliseconds.
 *
 * Decisions and refunds are built per *shape* (the set of algorithms a call uses), from the fragments
 * of algorithms/: Redis then only instantiates the Lua it needs. Fragments define `ALG[code]` with
 * `kind` 's' (the state is one string: read by the script's single MGET, written with SET PX) or 'z'
 * (a sorted set the fragment reads and writes itself).
 *
 * Tenant meta key: the string "r|b": r = reset marker (ms; string states written before it are void,
 * log entries older than it are dropped), b = tenant blocked until (ms). Block keys hold "until".
 * Rounding matches stores/rounding.ts: remaining down, instants and waits up.
 */

/** The only clock: replaced by a pinned instant in the differential tests, so it is one exported line. */
export const SERVER_CLOCK_LUA =
  "local clock = redis.call('TIME')\nlocal now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)";

const COMMON = `
local function num(x) return string.format('%.17g', x) end
${SERVER_CLOCK_LUA}
-- Meta "r|b": returns r, b as numbers and r as the string it was (written back into states as is).
local function parse_meta(v)
  if not v then return 0, 0, '0' end
  local r, b = string.match(v, '^(.-)|(.*)$')
  return tonumber(r), tonumber(b), r
end
`;

const STATE_HELPERS = `
-- Writes a string state with its TTL (the instant it would be empty again), or drops it if empty.
local function save(alg, st, key, L, W, X, Rs, keep)
  local exp = alg.expires(st, key, now, L, W, X)
  if exp <= now then redis.call('DEL', key)
  elseif alg.kind == 'z' then redis.call('PEXPIRE', key, math.ceil(exp - now))
  elseif keep and alg.keep_ttl(st) then redis.call('SET', key, alg.encode(st, Rs), 'KEEPTTL')
  else redis.call('SET', key, alg.encode(st, Rs), 'PX', math.ceil(exp - now)) end
end
-- A key that lost its TTL (PERSIST, a restore...) gets one back when it is next read.
local function heal(alg, st, key, L, W, X, Rs)
  if redis.call('PTTL', key) == -1 then save(alg, st, key, L, W, X, Rs, false) end
end
`;

/** The algorithms in a fixed order; a shape is a bit mask over it. */
const CODES = ['fw', 'sw', 'sl', 'cc', 'tb'] as const;
const CODE_BIT: Readonly<Record<string, number>> = Object.fromEntries(CODES.map((c, i) => [c, 1 << i]));

/** Bit mask of the algorithm codes in a list of limits. */
export function shapeOf(codes: Iterable<string>): number {
  let mask = 0;
  for (const code of codes) mask |= CODE_BIT[code] as number;
  return mask;
}

function fragments(shape: number): string {
  return `local ALG = {}\n${CODES.filter((c) => shape & (CODE_BIT[c] as number))
    .map((c) => LUA_FRAGMENTS[c])
    .join('')}`;
}

/**
 * KEYS: meta, block keys (nb of them), one state key per limit.
 * ARGV: cost, penalty (0/1), nb, decision id, then per limit: algorithm code, limit, window ms, capacity.
 * Returns: admitted, blocked-until, now, then per limit: fits, remaining, reset-at, retry-after (-1 never).
 */
export function decideSource(shape: number): string {
  return `${COMMON}${fragments(shape)}${STATE_HELPERS}
local cost, penalty, nb, id = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3]), ARGV[4]
local n = (#ARGV - 4) / 4
-- One MGET reads the meta key, the block markers and every string state.
local reads, slot = { KEYS[1] }, {}
for j = 1, nb do reads[j + 1] = KEYS[1 + j] end
for i = 1, n do
  if ALG[ARGV[4 * i + 1]].kind == 's' then
    reads[#reads + 1] = KEYS[1 + nb + i]
    slot[i] = #reads
  end
end
local values = redis.call('MGET', unpack(reads))
local R, blocked, Rs = parse_meta(values[1])
if blocked <= now then blocked = 0 end
for j = 1, nb do
  local until_ms = tonumber(values[1 + j])
  if until_ms and until_ms > now and until_ms > blocked then blocked = until_ms end
end
local algs, sts, fit, wait, P = {}, {}, {}, {}, {}
local admitted = blocked == 0
for i = 1, n do
  local a = 4 * i
  local alg, key = ALG[ARGV[a + 1]], KEYS[1 + nb + i]
  local L, W, X = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local st
  if alg.kind == 's' then st = alg.parse(values[slot[i]], now, L, W, X, R) else st = alg.load(key, now, L, W, X, R) end
  local ok, w = alg.fits(st, key, now, L, W, X, cost)
  algs[i], sts[i], fit[i], wait[i], P[i] = alg, st, ok, w, { L, W, X }
  if not ok then admitted = false end
end
local charge = cost > 0 and (admitted or (penalty and blocked == 0))
local out = { admitted and 1 or 0, math.ceil(blocked), now }
for i = 1, n do
  local alg, st, key, p = algs[i], sts[i], KEYS[1 + nb + i], P[i]
  local L, W, X = p[1], p[2], p[3]
  if charge and fit[i] then
    alg.commit(st, key, now, L, W, X, cost, id)
    save(alg, st, key, L, W, X, Rs, true)
  elseif alg.kind == 'z' or values[slot[i]] then
    heal(alg, st, key, L, W, X, Rs)
  end
  local remaining, reset_at = alg.view(st, key, now, L, W, X)
  local w = 0
  if not fit[i] then
    if wait[i] == -1 then w = -1 else w = math.max(1, math.ceil(wait[i])) end
  end
  out[#out + 1] = fit[i] and 1 or 0
  out[#out + 1] = math.max(0, math.floor(remaining))
  out[#out + 1] = math.ceil(reset_at)
  out[#out + 1] = w
end
return out
`;
}

/**
 * KEYS: meta, one state key per limit. ARGV: op ("refund" | "release"), cost, lease id, then per
 * limit: algorithm code, limit, window ms, capacity. Refunds skip lease-based limits (concurrency);
 * releases only touch those.
 */
export function returnSource(shape: number): string {
  return `${COMMON}${fragments(shape)}${STATE_HELPERS}
local op, cost, id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local R, _, Rs = parse_meta(redis.call('GET', KEYS[1]))
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
    save(alg, alg.load(key, now, L, W, X, R), key, L, W, X, Rs, false)
  elseif op == 'refund' and code ~= 'cc' then
    local st
    if alg.kind == 's' then st = alg.parse(redis.call('GET', key), now, L, W, X, R) else st = alg.load(key, now, L, W, X, R) end
    if alg.refund(st, key, now, L, W, X, cost) then save(alg, st, key, L, W, X, Rs, false) end
  end
end
return n
`;
}

/**
 * Administrative operations of one tenant. KEYS: meta, then the keys the op works on.
 * ARGV[1]: "delete" (DEL KEYS[2..]), "reset-tenant" (ARGV[2] = how long the marker must live),
 * "block" (ARGV[2] = duration; KEYS[2] = block key, or none for the whole tenant), "unblock".
 */
export const ADMIN_SOURCE = `${COMMON}
local op = ARGV[1]
local r, b = parse_meta(redis.call('GET', KEYS[1]))
local function write_meta(keep_ms)
  if r == 0 and b == 0 then redis.call('DEL', KEYS[1]) return end
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < keep_ms then ttl = keep_ms end
  redis.call('SET', KEYS[1], r .. '|' .. b, 'PX', ttl)
end
if op == 'delete' then
  for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
elseif op == 'reset-tenant' then
  -- Strictly increasing, so two resets in one millisecond still void what was written between them.
  r = math.max(now, r + 1)
  write_meta(tonumber(ARGV[2]))
elseif op == 'block' then
  local d = tonumber(ARGV[2])
  if KEYS[2] then redis.call('SET', KEYS[2], now + d, 'PX', d)
  else
    b = now + d
    write_meta(d)
  end
elseif op == 'unblock' then
  if KEYS[2] then redis.call('DEL', KEYS[2])
  else
    b = 0
    write_meta(1)
  end
else
  return redis.error_reply('unknown op ' .. tostring(op))
end
return 1
`;

/**
 * Compare-and-set of a versioned document (runtime configuration): KEYS[1] holds "<version>\n<body>".
 * ARGV: expected version (0: absent), new body. Returns the new version, or -1 if the version moved.
 */
export const DOCUMENT_SOURCE = `
local value = redis.call('GET', KEYS[1])
local current = 0
if value then current = tonumber(string.match(value, '^(%d+)\\n')) end
if current ~= tonumber(ARGV[1]) then return -1 end
redis.call('SET', KEYS[1], (current + 1) .. '\\n' .. ARGV[2])
return current + 1
`;

export interface Script {
  readonly name: string;
  readonly source: string;
  /** SHA1 of the source, computed once: what EVALSHA sends. */
  readonly sha: string;
}

export function script(name: string, source: string): Script {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

/** Every shape (non-empty set of algorithms), for tests and for preloading. */
export const ALL_SHAPES: readonly number[] = Array.from({ length: (1 << CODES.length) - 1 }, (_, i) => i + 1);
