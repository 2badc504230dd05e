/**
 * Lua of the boards (stores/boards.ts): bounded sorted sets. Only commands the least-privilege ACL
 * grants (acl.ts): ZADD, ZRANGE, ZREMRANGEBYRANK, PEXPIRE.
 */

/** KEYS[1] board; ARGV: mode, maxMembers, ttlMs, then member, score pairs. */
export const BOARD_ADD_SOURCE = `
local key, mode, max = KEYS[1], ARGV[1], tonumber(ARGV[2])
for i = 4, #ARGV, 2 do
  local member, score = ARGV[i], ARGV[i + 1]
  if mode == 'add' then
    redis.call('ZADD', key, 'INCR', score, member)
  elseif mode == 'max' then
    redis.call('ZADD', key, 'GT', score, member)
  else
    redis.call('ZADD', key, score, member)
  end
end
redis.call('ZREMRANGEBYRANK', key, 0, -(max + 1))
redis.call('PEXPIRE', key, ARGV[3])
return 1
`;

/** KEYS: boards; ARGV: count, minScore, then one weight per key. Returns member, score, ... highest first. */
export const BOARD_READ_SOURCE = `
local count, min = tonumber(ARGV[1]), tonumber(ARGV[2])
local sums, members = {}, {}
for k = 1, #KEYS do
  local weight = tonumber(ARGV[2 + k])
  local flat = redis.call('ZRANGE', KEYS[k], 0, -1, 'WITHSCORES')
  for i = 1, #flat, 2 do
    local m = flat[i]
    if sums[m] == nil then
      sums[m] = 0
      members[#members + 1] = m
    end
    sums[m] = sums[m] + weight * tonumber(flat[i + 1])
  end
end
local kept = {}
for _, m in ipairs(members) do
  if sums[m] >= min then kept[#kept + 1] = m end
end
table.sort(kept, function(a, b)
  if sums[a] == sums[b] then return a < b end
  return sums[a] > sums[b]
end)
local out = {}
for i = 1, math.min(count, #kept) do
  out[#out + 1] = kept[i]
  out[#out + 1] = string.format('%.17g', sums[kept[i]])
end
return out
`;
