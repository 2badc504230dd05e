import type { Algorithm } from '../types.js';
import { mulDivMod, TICKS_LUA } from './ticks.js';

export { TICKS_LUA } from './ticks.js';

/**
 * Token bucket as GCRA: `limit` tokens per `window` refill, capacity `burst`. The only state is the
 * theoretical arrival time (TAT): the instant the bucket would be full again, held exactly as whole
 * ms `a` plus `b` ticks of 1/limit ms (see ticks.ts), with `l` the limit those ticks are of (a
 * changed limit converts them, rounding the TAT up). A request of cost c fits when
 * TAT + c * interval <= now + burst * interval, interval = window / limit.
 */
export interface TokenBucketState {
  a: number;
  b: number;
  l: number;
}

/** 0 if `n` tokens fit now, else the whole ms until they do (the TAT's excess, rounded up). */
function waitFor(s: TokenBucketState, now: number, windowMs: number, capacity: number, n: number): number {
  const [qd, rd] = mulDivMod(capacity - n, windowMs, s.l);
  const dm = s.a - now - qd;
  const dt = s.b - rd;
  if (dm < 0 || (dm === 0 && dt <= 0)) return 0;
  return dm + (dt > 0 ? 1 : 0);
}

/**
 * The most tokens that fit now: capacity - ceil(debt / interval), estimated in floating point. The
 * estimate's error is far below 1e-3 of a token (every quantity is below 2^53 and the debt at most
 * 10 years' worth), so only an estimate that lands within that of a whole token can be off by one:
 * then exact tests settle it.
 */
function remainingTokens(s: TokenBucketState, now: number, windowMs: number, capacity: number): number {
  const debt = ((s.a - now) * s.l + s.b) / windowMs;
  let n = capacity - Math.ceil(debt);
  if (n > capacity) n = capacity;
  else if (n < 0) n = 0;
  if (Math.abs(debt - Math.round(debt)) > 1e-3) return n;
  while (n > 0 && waitFor(s, now, windowMs, capacity, n) > 0) n--;
  while (n < capacity && waitFor(s, now, windowMs, capacity, n + 1) === 0) n++;
  return n;
}

/** Ticks of 1/from ms as ticks of 1/to ms, rounded up: [carry ms, ticks]. */
function convertTicks(ticks: number, from: number, to: number): [number, number] {
  let [q, r] = mulDivMod(ticks, to, from);
  if (r > 0) q += 1;
  return q >= to ? [1, q - to] : [0, q];
}

export const tokenBucket: Algorithm<TokenBucketState> = {
  name: 'token-bucket',
  code: 'tb',
  leases: false,
  ledger: true,
  acceptsBurst: true,
  capacity: (limit, burst) => burst ?? limit,
  load(stored, now, { limit }) {
    if (!stored) return { a: now, b: 0, l: limit };
    let { a, b } = stored;
    if (stored.l !== limit) {
      const [carry, ticks] = convertTicks(b, stored.l, limit);
      a += carry;
      b = ticks;
    }
    return a >= now ? { a, b, l: limit } : { a: now, b: 0, l: limit };
  },
  fits(state, now, { windowMs, capacity }, cost) {
    if (cost > capacity) return { fits: false, retryAfterMs: -1 };
    const wait = waitFor(state, now, windowMs, capacity, cost);
    return wait === 0 ? { fits: true, retryAfterMs: 0 } : { fits: false, retryAfterMs: wait };
  },
  commit(state, _now, { limit, windowMs }, cost) {
    const [q, r] = mulDivMod(cost, windowMs, limit);
    state.a += q;
    state.b += r;
    if (state.b >= limit) {
      state.a += 1;
      state.b -= limit;
    }
  },
  mark: (state) => state.b,
  refund(state, now, { limit, windowMs }, units, receipt) {
    // The decision's debt ended at T1 (its TAT right after it), less what was refunded before; what
    // of it is still outstanding is T1' - now. Give back `units` of it at most.
    let a1 = receipt.mark > 0 ? receipt.resetAt - 1 : receipt.resetAt;
    let b1 = receipt.mark;
    if (b1 >= limit) return; // ticks of another limit: not this decision's bucket any more
    const [pq, pr] = mulDivMod(receipt.refunded, windowMs, limit);
    a1 -= pq;
    b1 -= pr;
    if (b1 < 0) {
      a1 -= 1;
      b1 += limit;
    }
    if (a1 < now || (a1 === now && b1 === 0)) return;
    let [uq, ur] = mulDivMod(units, windowMs, limit);
    const oq = a1 - now;
    if (oq < uq || (oq === uq && b1 < ur)) [uq, ur] = [oq, b1];
    state.a -= uq;
    state.b -= ur;
    if (state.b < 0) {
      state.a -= 1;
      state.b += limit;
    }
    if (state.a < now) {
      state.a = now;
      state.b = 0;
    }
  },
  refundableUntil: (receipt) => receipt.resetAt,
  view(state, now, { windowMs, capacity }) {
    return {
      remaining: remainingTokens(state, now, windowMs, capacity),
      resetAt: state.b > 0 ? state.a + 1 : state.a,
    };
  },
  expiresAt: (state) => (state.b > 0 ? state.a + 1 : state.a),
};

/**
 * Lua half: a template in sections that the Redis store inlines for every token-bucket limit of a
 * script (see stores/redis/scripts.ts). String kind: "a|b|l|reset marker". X@ = burst (capacity).
 * The helpers (muldivmod, tb_wait, tb_remaining) are the TypeScript functions above, line for line.
 */
export const tokenBucketLua = `
--- state: a, b
--- helpers
${TICKS_LUA}
local function tb_wait(a, b, now, l, w, x, n)
  local qd, rd = muldivmod(x - n, w, l)
  local dm, dt = a - now - qd, b - rd
  if dm < 0 or (dm == 0 and dt <= 0) then return 0 end
  return dm + (dt > 0 and 1 or 0)
end
local function tb_remaining(a, b, now, l, w, x)
  local debt = ((a - now) * l + b) / w
  local n = x - ceil(debt)
  if n > x then n = x elseif n < 0 then n = 0 end
  local off = debt - floor(debt + 0.5)
  if off > 1e-3 or off < -1e-3 then return n end
  -- Near a whole token, the exact answer: the most n with (a - now) * l + b <= (x - n) * w, which is
  -- what the loops below find, in one division while the debt in ticks is exact.
  local ticks = (a - now) * l + b
  if ticks < 4503599627370496 then
    if ticks <= 0 then return x end
    local q = floor(ticks / w)
    local r = ticks - q * w
    if r < 0 then q, r = q - 1, r + w elseif r >= w then q, r = q + 1, r - w end
    n = x - q - (r > 0 and 1 or 0)
    return n > 0 and n or 0
  end
  while n > 0 and tb_wait(a, b, now, l, w, x, n) > 0 do n = n - 1 end
  while n < x and tb_wait(a, b, now, l, w, x, n + 1) == 0 do n = n + 1 end
  return n
end
local function tb_parse(v, now, l, R, Rs)
  if not v then return now, 0 end
  local sa, sb, sl, g = string.match(v, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
  if not sa then
    -- A state of Sluice before exact ticks ("tat|marker"): its TAT rounded up to a whole ms.
    local t, g1 = string.match(v, '^([^|]*)|(.*)$')
    if t and (g1 == Rs or tonumber(g1) >= R) then
      local a = ceil(tonumber(t))
      if a > now then return a, 0 end
    end
    return now, 0
  end
  if not (g == Rs or tonumber(g) >= R) then return now, 0 end
  -- Numbers by coercion (cheaper than tonumber): a field that is not one fails the decision either way.
  local a, b, ls = sa + 0, sb + 0, sl + 0
  if ls ~= l then
    local q, r = muldivmod(b, l, ls)
    if r > 0 then q = q + 1 end
    if q >= l then a, b = a + 1, q - l else b = q end
  end
  if a >= now then return a, b end
  return now, 0
end
--- parse
a@, b@ = tb_parse(V@, now, L@, R, Rs)
--- fits
-- tb_wait(a@, b@, now, L@, W@, X@, cost), written out (a call costs more than its arithmetic).
if cost > X@ then w@ = -1
else
  local qd, rd = muldivmod(X@ - cost, W@, L@)
  local dm, dt = a@ - now - qd, b@ - rd
  if dm > 0 or (dm == 0 and dt > 0) then w@ = dm + (dt > 0 and 1 or 0) end
end
--- commit
local q, r = muldivmod(cost, W@, L@)
a@, b@ = a@ + q, b@ + r
if b@ >= L@ then a@, b@ = a@ + 1, b@ - L@ end
--- mark
b@
--- refund
-- RA@, MK@: the limit's reset instant and mark right after the decision; RF@: refunded before.
local a1, b1 = (MK@ > 0 and RA@ - 1 or RA@), MK@
if b1 < L@ then
  local pq, pr = muldivmod(RF@, W@, L@)
  a1, b1 = a1 - pq, b1 - pr
  if b1 < 0 then a1, b1 = a1 - 1, b1 + L@ end
  if a1 > now or (a1 == now and b1 > 0) then
    local uq, ur = muldivmod(U@, W@, L@)
    local oq = a1 - now
    if oq < uq or (oq == uq and b1 < ur) then uq, ur = oq, b1 end
    a@, b@ = a@ - uq, b@ - ur
    if b@ < 0 then a@, b@ = a@ - 1, b@ + L@ end
    if a@ < now then a@, b@ = now, 0 end
  end
end
--- until
RA@
--- remaining
tb_remaining(a@, b@, now, L@, W@, X@)
--- expires
(b@ > 0 and a@ + 1 or a@)
--- encode
int(a@) .. '|' .. int(b@) .. '|' .. int(L@) .. '|' .. Rs
`;
