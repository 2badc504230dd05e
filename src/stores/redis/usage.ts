/**
 * Lua of the usage tallies (stores/usage.ts): one script per operation. Only commands the
 * least-privilege ACL grants (acl.ts): HEXISTS, HLEN, HINCRBY, HGETALL, ZSCORE, ZCARD, ZADD, ZRANGE,
 * PEXPIRE. Counters are whole numbers (HINCRBY); sums are returned as whole-number strings.
 */
import {
  USAGE_FIELDS,
  type UsageRead,
  type UsageSums,
  type UsageWrite,
  type UsageWritten,
} from '../usage.js';

/**
 * KEYS: totals, identities index, the identity's hash. ARGV: identity, series, overflowSeries,
 * maxSeries, maxIdentities, ttlMs, score, then the five counts (USAGE_FIELDS' order).
 * Returns {identityKept, seriesKept} as 1/0.
 */
export const USAGE_ADD_SOURCE = `
local totals, ids, own = KEYS[1], KEYS[2], KEYS[3]
local identity, series, overflow = ARGV[1], ARGV[2], ARGV[3]
local maxSeries, maxIds, ttl, score = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7]
local fields = {'c', 'i', 'o', 'k', 'n'}
local function place(key)
  if redis.call('HEXISTS', key, series .. '|c') == 1 then return series end
  if redis.call('HLEN', key) < maxSeries * #fields then return series end
  return overflow
end
local function add(key, s)
  for j = 1, #fields do
    redis.call('HINCRBY', key, s .. '|' .. fields[j], ARGV[7 + j])
  end
  redis.call('PEXPIRE', key, ttl)
end
local counted = place(totals)
add(totals, counted)
local kept = 0
if redis.call('ZSCORE', ids, identity) or redis.call('ZCARD', ids) < maxIds then
  redis.call('ZADD', ids, 'INCR', score, identity)
  redis.call('PEXPIRE', ids, ttl)
  add(own, place(own))
  kept = 1
end
return {kept, counted == series and 1 or 0}
`;

/**
 * KEYS: the hashes to sum, then the indexes to sum. ARGV: number of hashes, top.
 * Returns {{field, sum, ...}, {identity, score, ...} (top, highest first), distinct identities}.
 */
export const USAGE_READ_SOURCE = `
local n, top = tonumber(ARGV[1]), tonumber(ARGV[2])
-- Adds a flat name/number reply into sums, listing each name once in order (first seen first).
local function fold(flat, sums, order)
  for i = 1, #flat, 2 do
    local f = flat[i]
    if sums[f] == nil then
      sums[f] = 0
      order[#order + 1] = f
    end
    sums[f] = sums[f] + tonumber(flat[i + 1])
  end
end
local sums, fields = {}, {}
for k = 1, n do fold(redis.call('HGETALL', KEYS[k]), sums, fields) end
local series = {}
for _, f in ipairs(fields) do
  series[#series + 1] = f
  series[#series + 1] = string.format('%.0f', sums[f])
end
local scores, members = {}, {}
for k = n + 1, #KEYS do fold(redis.call('ZRANGE', KEYS[k], 0, -1, 'WITHSCORES'), scores, members) end
if top > 0 then
  table.sort(members, function(a, b)
    if scores[a] == scores[b] then return a < b end
    return scores[a] > scores[b]
  end)
end
local best = {}
for i = 1, math.min(top, #members) do
  best[#best + 1] = members[i]
  best[#best + 1] = string.format('%.0f', scores[members[i]])
end
return {series, best, #members}
`;

/** KEYS and ARGV of USAGE_ADD_SOURCE (3 keys). */
export function usageAddArgs(write: UsageWrite): string[] {
  return [
    write.totalsKey,
    write.identitiesKey,
    write.identityKey,
    write.identity,
    write.series,
    write.overflowSeries,
    String(write.maxSeries),
    String(write.maxIdentities),
    String(write.ttlMs),
    String(write.score),
    ...write.counts.map(String),
  ];
}

export function usageWritten(reply: unknown): UsageWritten {
  const [kept, counted] = reply as [number, number];
  return { identityKept: kept === 1, seriesKept: counted === 1 };
}

/** KEYS and ARGV of USAGE_READ_SOURCE, and how many keys. */
export function usageReadArgs(read: UsageRead): { numKeys: number; args: string[] } {
  const keys = [...read.seriesKeys, ...(read.identitiesKeys ?? [])];
  return { numKeys: keys.length, args: [...keys, String(read.seriesKeys.length), String(read.top ?? 0)] };
}

/** The read's reply: hash fields `<series>|<field>` folded back into series. */
export function usageSums(reply: unknown): UsageSums {
  const [flatSeries, flatTop, count] = reply as [Array<Buffer | string>, Array<Buffer | string>, number];
  const bySeries = new Map<string, number[]>();
  for (let i = 0; i < flatSeries.length; i += 2) {
    const field = String(flatSeries[i]);
    const at = field.lastIndexOf('|');
    const index = USAGE_FIELDS.indexOf(field.slice(at + 1) as (typeof USAGE_FIELDS)[number]);
    if (at <= 0 || index < 0) continue;
    const series = field.slice(0, at);
    let counts = bySeries.get(series);
    if (!counts) {
      counts = USAGE_FIELDS.map(() => 0);
      bySeries.set(series, counts);
    }
    counts[index] = Number(String(flatSeries[i + 1]));
  }
  const identities: Array<[string, number]> = [];
  for (let i = 0; i < flatTop.length; i += 2) {
    identities.push([String(flatTop[i]), Number(String(flatTop[i + 1]))]);
  }
  return { series: [...bySeries], identities, identityCount: Number(count) };
}
