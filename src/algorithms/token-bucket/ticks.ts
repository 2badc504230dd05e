/**
 * Exact time arithmetic for the token bucket. A bucket refilling `limit` tokens per `windowMs` emits
 * one token every windowMs / limit ms, which is rarely a whole number (6 per second: 166.67 ms). At
 * epoch-millisecond instants (1.8e12) a double holds such an instant only to about 2.4e-4 ms, so a
 * fractional theoretical arrival time (TAT) drifts: exact fits are rejected, small charges vanish.
 *
 * Instead an instant is a pair (ms, ticks): a whole number of milliseconds plus `ticks` units of
 * 1/limit ms, 0 <= ticks < limit. Every quantity here is a whole number below 2^53, so doubles hold it
 * exactly, in TypeScript and in Redis' Lua alike (the Lua half below is the same arithmetic, step for
 * step). Products that could pass 2^53 are split into 15-bit halves.
 */

/** floor(a / b) and a mod b for whole a >= 0, b >= 1, both below 2^53 (the quotient corrected for rounding). */
function divmod(a: number, b: number): [number, number] {
  let q = Math.floor(a / b);
  let r = a - q * b;
  if (r < 0) {
    q -= 1;
    r += b;
  } else if (r >= b) {
    q += 1;
    r -= b;
  }
  return [q, r];
}

const HALF = 32768; // 2^15

/**
 * n * w / l as whole ms and remaining ticks: n*w = q*l + r. Needs n, l <= 2^30 and q < 2^53 (token
 * bucket validation bounds q by the full-refill time, at most 10 years).
 */
export function mulDivMod(n: number, w: number, l: number): [number, number] {
  const [a, b] = divmod(w, l); // w = a*l + b, b < l
  if (b === 0) return [n * a, 0];
  // n*b < 2^60: split n = hi*2^15 + lo, each partial product below 2^45.
  const hi = Math.floor(n / HALF);
  const lo = n - hi * HALF;
  const [qx, rx] = divmod(hi * b, l);
  const [qy, ry] = divmod(rx * HALF, l);
  const [qz, rz] = divmod(lo * b, l);
  let q = n * a + qx * HALF + qy + qz;
  let r = ry + rz;
  if (r >= l) {
    q += 1;
    r -= l;
  }
  return [q, r];
}

/** Lua half of {@link divmod} and {@link mulDivMod}: inlined into scripts that have a token bucket. */
export const TICKS_LUA = `local function divmod(a, b)
  local q = floor(a / b)
  local r = a - q * b
  if r < 0 then q, r = q - 1, r + b elseif r >= b then q, r = q + 1, r - b end
  return q, r
end
local function muldivmod(n, w, l)
  -- divmod(w, l) and, below, divmod(n * b, l), written out: a call costs more than the division.
  local a = floor(w / l)
  local b = w - a * l
  if b < 0 then a, b = a - 1, b + l elseif b >= l then a, b = a + 1, b - l end
  if b == 0 then return n * a, 0 end
  -- n*b exact (below 2^52, so q*l stays exact): one division. The same q and r as the split below,
  -- which only exists for products past that.
  local nb = n * b
  if nb < 4503599627370496 then
    local q = floor(nb / l)
    local r = nb - q * l
    if r < 0 then q, r = q - 1, r + l elseif r >= l then q, r = q + 1, r - l end
    return n * a + q, r
  end
  local hi = floor(n / 32768)
  local lo = n - hi * 32768
  local qx, rx = divmod(hi * b, l)
  local qy, ry = divmod(rx * 32768, l)
  local qz, rz = divmod(lo * b, l)
  local q, r = n * a + qx * 32768 + qy + qz, ry + rz
  if r >= l then q, r = q + 1, r - l end
  return q, r
end`;
