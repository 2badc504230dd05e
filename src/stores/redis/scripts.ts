import { createHash } from 'node:crypto';
import { ALGORITHMS, LUA_FRAGMENTS } from '../../algorithms/index.js';
import type { NormalizedLimit } from '../../core/types.js';

/**
 * The Lua scripts. Each operation is one script covering every limit of the call, so a decision is one
 * round trip and atomic. Time comes only from the Redis server's TIME, in whole milliseconds.
 *
 * Decisions, refunds and releases are generated per *layout*: the ordered algorithm codes of the call's
 * limits (and, for decisions, the number of block markers and the penalty mode). Each script is
 * straight-line Lua: every limit's part is its algorithm's fragment inlined with that limit's own
 * variables, so a call builds no tables or closures per limit and dispatches on nothing; only the
 * numbers that vary per call or per limit (cost, limit, window, capacity) travel as arguments. That is
 * most of the speed of a hand-written script for one algorithm, and Redis compiles each layout once.
 *
 * Fragments (src/algorithms/<name>/, beside the TypeScript half they mirror) are Lua in sections,
 * each opened by a line "--- <name>":
 *
 *   state: a, b      the limit's state variables (declared by the script, initially nil)
 *   parse            string states: the state from V@, the stored string (false when absent)
 *   load             sorted-set states: trim and read the state from the key itself
 *   fits             leave w@ false if `cost` fits now; else set it to the wait in ms (-1: never)
 *   commit           consume `cost`
 *   helpers          Lua functions the other sections call: emitted once per script, not per limit
 *   mark             expression: the limit's mark after the decision (token bucket: its TAT's ticks)
 *   refund           give back U@ units of decision `id` made at `at` (RA@ / MK@: the limit's reset
 *                    instant and mark right after it; RF@: units refunded before, from the ledger)
 *   until            expression: the instant after which a refund of that decision changes nothing
 *   release          (lease algorithms) remove the entry of lease `id` acquired at `at`
 *   remaining        expression: units left (the script rounds down)
 *   expires          expression: the instant the state is empty again: the key's TTL, and the
 *                    limit's reset instant (back to full capacity), which is the same instant
 *   encode           string states, expression: the string to store
 *   keep             string states, optional expression: the key's TTL is unchanged by this write
 *                    (SET KEEPTTL, which saves a number-to-string conversion)
 *
 * A fragment with `parse` is a string state (read by the script's one MGET, written with SET, its TTL
 * with PX); one with `load` is a sorted set (TTL with PEXPIRE). In fragments, `name@` is the limit's
 * own variable `name` (a state variable, L@ limit, W@ window ms, X@ capacity, w@ wait); KEY@ is its key.
 * Also in scope: now, cost, id (decision or lease id), R / Rs (the tenant's reset marker as a number /
 * as stored), int(x) (a whole number as a string: much cheaper than `..` or %.17g), num(x) (any
 * number, 17 digits), and floor, ceil, max, min (math's, as locals: cheaper than math.max). Expression
 * sections may be preceded by comment lines.
 *
 * Tenant meta key: the string "r|b": r = reset marker (ms; string states written before it are void,
 * log entries older than it are dropped), b = tenant blocked until (ms). Block keys hold "until".
 * Rounding matches stores/rounding.ts: remaining down, instants and waits up.
 */

/** The only clock: replaced by a pinned instant in the differential tests, so it is one exported line. */
export const SERVER_CLOCK_LUA =
  "local clock = redis.call('TIME')\nlocal now = clock[1] * 1000 + (clock[2] - clock[2] % 1000) / 1000";

/** Meta "r|b": the reset marker R, the tenant's block `blocked`, and Rs, r as stored (written back as is). */
const PARSE_META = `local R, blocked, Rs = 0, 0, '0'
if meta then
  local r, b = string.match(meta, '^([^|]*)|(.*)$')
  R, blocked, Rs = tonumber(r), tonumber(b), r
end
`;

// ---------------------------------------------------------------------------------------------------
// Fragments

interface Fragment {
  readonly code: string;
  /** 'string': one string, read by the MGET and written with SET; 'zset': a sorted set. */
  readonly kind: 'string' | 'zset';
  readonly state: readonly string[];
  /** Whether its algorithm holds leases (concurrency): penalties skip it, releases only touch it. */
  readonly leases: boolean;
  /** Whether the fragment uses X@ (capacity): only then is it passed (elsewhere capacity = limit). */
  readonly usesCapacity: boolean;
  readonly sections: ReadonlyMap<string, string>;
  /** Lua functions used by the sections (its `helpers` section), emitted once per script. */
  readonly helpers: string;
}

const SECTION_LINE = /^--- (\w+)(?::(.*))?$/;
const EXPRESSIONS = new Set(['mark', 'until', 'remaining', 'expires', 'encode', 'keep']);
const REQUIRED = ['fits', 'commit', 'mark', 'refund', 'until', 'remaining', 'expires'];
/**
 * Per-limit variables every fragment may use besides its state: parameters, the wait, and in refund
 * scripts the receipt's reset instant and mark, the ledger's refunded units and the units to refund.
 */
const LIMIT_VARIABLES = ['L', 'W', 'X', 'w', 'RA', 'MK', 'RF', 'U'];
const PLACEHOLDER = /\b([A-Za-z_]\w*)@/g;

function parseFragment(code: string, text: string): Fragment {
  const sections = new Map<string, string[]>();
  let state: string[] = [];
  let lines: string[] | undefined;
  for (const line of text.split('\n')) {
    const header = SECTION_LINE.exec(line);
    if (!header) lines?.push(line);
    else if (header[1] === 'state') {
      state = (header[2] ?? '').split(',').map((name) => name.trim());
      lines = undefined;
    } else {
      lines = [];
      sections.set(header[1] as string, lines);
    }
  }
  const fail = (why: string) => new Error(`Lua fragment ${code}: ${why}`);
  const reserved = /\b[A-Za-z]\w*_(?!\w)/.exec(text.replace(PLACEHOLDER, ''));
  if (reserved) throw fail(`"${reserved[0]}": names ending in "_" are the batch script's own`);
  const kind = sections.has('parse') ? 'string' : 'zset';
  const needed = [...REQUIRED, ...(kind === 'string' ? ['encode'] : ['load'])];
  for (const name of needed) if (!sections.has(name)) throw fail(`no "--- ${name}" section`);
  const known = new Set([...state, ...LIMIT_VARIABLES, 'KEY', ...(kind === 'string' ? ['V'] : [])]);
  const texts = new Map<string, string>();
  for (const [name, body] of sections) {
    for (const [, variable] of body.join('\n').matchAll(PLACEHOLDER)) {
      if (!known.has(variable as string)) throw fail(`${name} uses ${variable}@, not a declared variable`);
    }
    if (name === 'helpers') continue;
    if (!EXPRESSIONS.has(name)) {
      texts.set(name, body.join('\n').trim());
      continue;
    }
    // An expression: its comment lines dropped, so that it can be inlined anywhere.
    const expression = body
      .filter((line) => !line.trim().startsWith('--'))
      .join(' ')
      .trim();
    if (expression.includes('--')) throw fail(`expression ${name} has a trailing comment`);
    texts.set(name, expression);
  }
  const helpers = (sections.get('helpers') ?? []).join('\n').trim();
  if (PLACEHOLDER.test(helpers)) throw fail('helpers must not use placeholders');
  PLACEHOLDER.lastIndex = 0;
  texts.delete('helpers');
  const leases = Object.values(ALGORITHMS).some((a) => a.code === code && a.leases);
  return { code, kind, state, leases, usesCapacity: /\bX@/.test(text), sections: texts, helpers };
}

const FRAGMENTS: ReadonlyMap<string, Fragment> = new Map(
  Object.entries(LUA_FRAGMENTS).map(([code, text]) => [code, parseFragment(code, text)]),
);

function fragment(code: string): Fragment {
  const found = FRAGMENTS.get(code);
  if (!found) throw new Error(`no Lua fragment for algorithm code ${code}`);
  return found;
}

/** One limit's script arguments: limit and window ms, then capacity if its algorithm uses it. */
export function limitArgs(code: string, limit: NormalizedLimit): string[] {
  const args = [String(limit.limit), String(limit.windowMs)];
  if (fragment(code).usesCapacity) args.push(String(limit.capacity));
  return args;
}

/** Whether a decide script takes the decision id (ARGV[2]): sorted-set states name entries by it. */
export function decideTakesId(codes: readonly string[]): boolean {
  return codes.some((code) => fragment(code).kind === 'zset');
}

// ---------------------------------------------------------------------------------------------------
// Generation

/**
 * Lua allows 200 local variables per function. Layouts whose limits would need more than this many
 * (leaving room for the script's own) keep each limit's variables in a table (`lim[i].count`) instead
 * of locals (`count_i`): a little slower, the same Lua otherwise.
 */
const MAX_LIMIT_LOCALS = 120;
/** Above this many keys, the MGET takes them from a table (a call's arguments take one register each). */
const MAX_MGET_ARGS = 50;

/** One limit of a layout, as the generator places it. */
interface Slot {
  /** 1-based position in the layout (and in the reply). */
  readonly i: number;
  readonly fragment: Fragment;
  /** Its key's index in KEYS. */
  readonly key: number;
  /** Lua expression of its stored string (string states). */
  value: string;
  /** Index in ARGV of its first parameter. */
  readonly arg: number;
}

class Generator {
  private readonly slots: Slot[];
  /** Whether the limits' variables live in a table rather than in locals (see MAX_LIMIT_LOCALS). */
  private readonly inTable: boolean;

  /**
   * @param deferred string states are read and written through the batch script's write-behind
   *   helpers (see WRITE_BEHIND) instead of directly.
   */
  /** Parameters each limit reads from ARGV after its own (refund scripts: the receipt's RA, MK). */
  private readonly extraParams: readonly string[];
  /**
   * Weighted decide scripts: the ARGV index of the first limit's own cost (limit i's is i - 1 later),
   * read into its variable C, which its sections use in place of the decision's `cost`.
   */
  private readonly costArg: number | undefined;

  /**
   * @param deferred string states are read and written through the batch script's write-behind
   *   helpers (see WRITE_BEHIND) instead of directly.
   * @param keyStride KEYS per limit (refund scripts: the state key, then its ledger key).
   */
  constructor(
    codes: readonly string[],
    firstKey: number,
    firstArg: number,
    readonly deferred = false,
    keyStride = 1,
    extraParams: readonly string[] = [],
    costArg?: number,
  ) {
    this.extraParams = extraParams;
    this.costArg = costArg;
    let arg = firstArg;
    this.slots = codes.map((code, index) => {
      const f = fragment(code);
      const slot = { i: index + 1, fragment: f, key: firstKey + index * keyStride, value: '', arg };
      arg += (f.usesCapacity ? 3 : 2) + extraParams.length;
      return slot;
    });
    const own = extraParams.length + (costArg === undefined ? 0 : 1);
    const locals = this.slots.reduce((n, s) => n + s.fragment.state.length + 4 + own + 2, 0);
    this.inTable = locals > MAX_LIMIT_LOCALS;
  }

  get limits(): readonly Slot[] {
    return this.slots;
  }

  /** The limit's variable `name`. */
  variable(slot: Slot, name: string): string {
    return this.inTable ? `lim[${slot.i}].${name}` : `${name}_${slot.i}`;
  }

  /** Whether each limit is asked its own cost (see costArg). */
  get weighted(): boolean {
    return this.costArg !== undefined;
  }

  /** A section of the limit's fragment with its placeholders filled in (and its own cost, if weighted). */
  section(slot: Slot, name: string): string {
    const text = slot.fragment.sections.get(name);
    if (text === undefined)
      throw new Error(`Lua fragment ${slot.fragment.code} has no "--- ${name}" section`);
    const filled = text.replace(PLACEHOLDER, (_, variable: string) =>
      variable === 'KEY'
        ? `KEYS[${slot.key}]`
        : variable === 'V'
          ? slot.value
          : this.variable(slot, variable),
    );
    return this.costArg === undefined ? filled : filled.replace(/\bcost\b/g, this.variable(slot, 'C'));
  }

  /**
   * A statement assigning the limit's variable `name` (declaring it, unless in the table):
   * `assign(target, ...)` makes the statement for the variable's expression.
   */
  assign(slot: Slot, name: string, assign: (target: string, key: number) => string): string {
    const statement = assign(this.variable(slot, name), slot.key);
    return this.inTable ? statement : `local ${statement}`;
  }

  /** Declares the limit's parameters (from ARGV), its wait and its state variables. */
  declare(slot: Slot, variables: readonly string[] = []): string {
    const params = [...(slot.fragment.usesCapacity ? ['L', 'W', 'X'] : ['L', 'W']), ...this.extraParams];
    const values = params.map((_, k) => `tonumber(ARGV[${slot.arg + k}])`);
    if (this.costArg !== undefined) {
      params.push('C');
      values.push(`tonumber(ARGV[${this.costArg + slot.i - 1}])`);
    }
    const names = [...params, 'w', ...variables, ...slot.fragment.state];
    if (this.inTable) {
      const fields = params.map((p, k) => `${p} = ${values[k]}`).join(', ');
      return `lim[${slot.i}] = { ${fields}, w = false }`;
    }
    return `local ${names.map((n) => this.variable(slot, n)).join(', ')} = ${values.join(', ')}, false`;
  }

  /**
   * The prelude of every script: the clock, then the helpers the body uses (locals: a global lookup
   * per use costs more than defining them), and the table of limit variables if needed.
   */
  prelude(body: string): string {
    const lines = [SERVER_CLOCK_LUA];
    // Helpers of the fragments present, once each (sliding-log and concurrency share theirs).
    const helpers = [...new Set(this.slots.map((s) => s.fragment.helpers).filter((h) => h !== ''))];
    const code = [...helpers, body].join('\n');
    const math = ['floor', 'ceil', 'max', 'min'].filter((f) => new RegExp(`\\b${f}\\(`).test(code));
    const names = ['tonumber', ...math];
    lines.push(`local ${names.join(', ')} = tonumber${math.map((f) => `, math.${f}`).join('')}`);
    // string.match as a local: a global and a field lookup saved per call (see assemble).
    if (/\bstring\.match\(/.test(code)) lines.push('local match_ = string.match');
    if (/\b(int|num)\(/.test(code)) lines.push('local fmt = string.format');
    if (/\bint\(/.test(code))
      lines.push(this.deferred ? MEMO_INT : "local function int(x) return fmt('%d', x) end");
    if (/\bnum\(/.test(code)) lines.push("local function num(x) return fmt('%.17g', x) end");
    lines.push(...helpers);
    if (this.inTable) lines.push('local lim = {}');
    return lines.join('\n');
  }

  /**
   * Writes the state back with its TTL (the instant it is empty again), or deletes it if it is empty.
   * `keep`: the write may keep the key's current TTL when the fragment says it is unchanged.
   */
  save(slot: Slot, keep: boolean): string {
    const key = `KEYS[${slot.key}]`;
    const ttl = 'int(ceil(exp - now))';
    const deferred = this.deferred && slot.fragment.kind === 'string';
    const lines = [
      `local exp = ${this.section(slot, 'expires')}`,
      `if exp <= now then ${deferred ? `del_(${key})` : `redis.call('DEL', ${key})`}`,
    ];
    if (slot.fragment.kind === 'zset') {
      lines.push(`else redis.call('PEXPIRE', ${key}, ${ttl}) end`);
    } else {
      const encoded = this.section(slot, 'encode');
      const set = (ttlArgs: string, deferredTtl: string) =>
        deferred
          ? `set_(${key}, ${encoded}, ${deferredTtl})`
          : `redis.call('SET', ${key}, ${encoded}, ${ttlArgs})`;
      if (keep && slot.fragment.sections.has('keep')) {
        lines.push(`elseif ${this.section(slot, 'keep')} then ${set("'KEEPTTL'", 'false')}`);
      }
      lines.push(`else ${set(`'PX', ${ttl}`, ttl)} end`);
    }
    return block(lines.join('\n'));
  }

  /** Reads the limit's state: from its stored string, or from its sorted set. */
  read(slot: Slot): string {
    return block(this.section(slot, slot.fragment.kind === 'string' ? 'parse' : 'load'));
  }
}

/**
 * int() of the batch script: each whole number converted once per batch (counts, window starts and
 * TTLs repeat from decision to decision; a conversion costs more than a table lookup). NaN, which
 * cannot be a table key, is converted every time.
 */
const MEMO_INT = `local ints_ = {}
local function int(x)
  local s = ints_[x]
  if not s then
    s = fmt('%d', x)
    if x == x then ints_[x] = s end
  end
  return s
end`;

/** A `do ... end` block: the section's own locals end with it. */
function block(lua: string): string {
  return `do\n${indent(lua)}\nend`;
}

function indent(lua: string): string {
  return lua.replace(/^(?=.)/gm, '  ');
}

/** `redis.call('MGET', ...)` of these KEYS indexes. */
function mget(keys: readonly number[]): string {
  const list = keys.map((k) => `KEYS[${k}]`).join(', ');
  return keys.length <= MAX_MGET_ARGS
    ? `redis.call('MGET', ${list})`
    : `redis.call('MGET', unpack({ ${list} }))`;
}

/** Keys per MGET of the batch's read: under Lua's limit on the values one call can take. */
const READ_CHUNK = 1000;

/**
 * The batch script's string states (write-behind). Every key of the batch is read by one MGET before
 * the first decision (got_, by KEYS index: a sorted set reads as absent there, and is never looked up
 * in it; Redis checks the ACL of declared keys before it runs a script, so this MGET does not fail);
 * a decision reads a string state from the writes pending in the batch (pv_) or, when the
 * batch has not written it, from got_. Writes are pending until the end of the batch: pv_ (the value;
 * false: DEL) and pt_ (the PX ms as a string; false: KEEPTTL, or the TTL of an earlier PX write of
 * the batch, which has the same `now`) by key, pk_ the keys in the order first written; each key is
 * written once, by the flush. Sorted sets are read and written directly.
 *
 * Isolation without tables per decision: each write of the running decision logs what it replaces
 * (ul_: key, value, TTL; un_ entries), and a decision that fails has them restored in reverse (undo_),
 * so it leaves nothing behind for the flush; the next decision starts the log afresh. Helpers and
 * variables named with a trailing underscore, like the batch's own.
 */
const WRITE_BEHIND = `local pv_, pt_, pk_, pn_ = {}, {}, {}, 0
local ul_, un_, ttls_ = {}, 0, {}
local function read_()
  local n_ = #KEYS
  if n_ <= ${READ_CHUNK} then return redis.call('MGET', unpack(KEYS)) end
  local all_ = {}
  for i_ = 1, n_, ${READ_CHUNK} do
    local got_ = redis.call('MGET', unpack(KEYS, i_, min(n_, i_ + ${READ_CHUNK - 1})))
    for j_ = 1, #got_ do all_[i_ + j_ - 1] = got_[j_] end
  end
  return all_
end
local got_ = read_()
-- Writes of the running decision log what they replace, for undo_.
local function set_(key_, value_, ttl_)
  local u_, p_ = un_, pv_[key_]
  ul_[u_ + 1], ul_[u_ + 2], ul_[u_ + 3] = key_, p_, pt_[key_]
  un_ = u_ + 3
  if p_ == nil then
    pn_ = pn_ + 1
    pk_[pn_] = key_
    pt_[key_] = ttl_
  elseif ttl_ then
    pt_[key_] = ttl_
  end
  pv_[key_] = value_
end
local function del_(key_)
  local u_, p_ = un_, pv_[key_]
  ul_[u_ + 1], ul_[u_ + 2], ul_[u_ + 3] = key_, p_, pt_[key_]
  un_ = u_ + 3
  if p_ == nil then
    pn_ = pn_ + 1
    pk_[pn_] = key_
  end
  pv_[key_], pt_[key_] = false, false
end
local function undo_()
  for u_ = un_ - 2, 1, -3 do
    local key_ = ul_[u_]
    pv_[key_], pt_[key_] = ul_[u_ + 1], ul_[u_ + 2]
  end
  un_ = 0
end
-- The key's PTTL as the flush will leave it (Redis' own read once per batch: only the flush writes).
local function pttl_(key_)
  local v_ = pv_[key_]
  if v_ == false then return -2 end
  if v_ and pt_[key_] then return tonumber(pt_[key_]) end
  local t_ = ttls_[key_]
  if not t_ then
    t_ = redis.call('PTTL', key_)
    ttls_[key_] = t_
  end
  return t_
end`;

/** Writes the batch's pending string states, each once (a key undone and written again is listed twice). */
const WRITE_BEHIND_FLUSH = `for i_ = 1, pn_ do
  local key_ = pk_[i_]
  local v_ = pv_[key_]
  if v_ == false then redis.call('DEL', key_)
  elseif v_ then
    local t_ = pt_[key_]
    if t_ then redis.call('SET', key_, v_, 'PX', t_)
    else redis.call('SET', key_, v_, 'KEEPTTL') end
  end
  pv_[key_] = nil
end`;

export interface DecideLayout {
  /** The limits' algorithm codes, in the plan's order. */
  readonly codes: readonly string[];
  /** How many block markers the decision honours. */
  readonly blockKeys: number;
  /** Penalty mode: limits with room are charged even when the decision is rejected. */
  readonly penalty: boolean;
  /**
   * Each limit is asked its own cost (DecisionPlan.costs): ARGV holds them after the decision's cost
   * and id, one per limit, and a limit asked 0 is not charged.
   */
  readonly weighted?: boolean;
}

/**
 * The decide script of a layout.
 * KEYS: meta, the block markers, then one state key per limit.
 * ARGV: cost, the decision id (only if a limit has a sorted-set state), weighted layouts each limit's
 * own cost, then per limit: limit, window ms, and capacity for the algorithms that use it.
 * Returns: blocked-until (0: not blocked), now, then per limit: retry-after (0: fits, -1: never),
 * remaining, reset-at, mark (see the fragment sections). The decision is admitted when it is not blocked and every limit fits.
 */
export function decideSource(layout: DecideLayout): string {
  const { g, body, reply } = decideParts(layout);
  body.push(`return {\n${indent(reply.map((item) => item.expression).join(',\n'))}\n}`);
  return assemble(decideTitle(layout), g, body);
}

/** Reply items per limit of a decision: retry-after, remaining, reset-at, mark. */
export const REPLY_PER_LIMIT = 4;

/** How many KEYS, ARGV and reply items one decision of a layout has. */
export function decideShape({ codes, blockKeys, weighted }: DecideLayout): {
  keys: number;
  args: number;
  reply: number;
} {
  const args = codes.reduce(
    (n, code) => n + (fragment(code).usesCapacity ? 3 : 2),
    ownArgs({ codes, weighted }),
  );
  return { keys: 1 + blockKeys + codes.length, args, reply: 2 + REPLY_PER_LIMIT * codes.length };
}

/** A decision's own ARGV (not its limits'): its cost, its id if the layout takes one, its limits' costs. */
export function ownArgs({ codes, weighted }: Pick<DecideLayout, 'codes' | 'weighted'>): number {
  return (decideTakesId(codes) ? 2 : 1) + (weighted ? codes.length : 0);
}

/**
 * Which limits of a layout have a mark in the batch reply: those whose fragment's mark is not the
 * constant 0 (the token bucket's). The batch reply leaves the others' out, as it leaves out `now`.
 */
export function batchMarks(codes: readonly string[]): boolean[] {
  return codes.map((code) => fragment(code).sections.get('mark') !== '0');
}

/** Reply items of one decision in a layout's batch reply (see decideBatchSource). */
export function batchReplySize(codes: readonly string[]): number {
  return batchMarks(codes).reduce((n, mark) => n + (mark ? 4 : 3), 1);
}

/**
 * The batch variant of a layout's decide script: any number of decisions of that layout in one call,
 * decided one after the other, each exactly as `decideSource` decides it (at one `now`, read once).
 * Lets a store coalesce the decisions of one event-loop turn into one script call, so that the client
 * and Redis pay a call's fixed cost once per batch.
 *
 * What decisions share is sent once: their tenants' meta keys, the keys of decisions of the same
 * request (a group: the same block markers and states), their limits' arguments (a set: decisions of
 * every key share their limits').
 * KEYS: the M distinct meta keys; then each group's keys (block markers and states, as for
 * decideSource), group after group.
 * ARGV: S, the number of limit-argument sets; M; G, the number of groups; each set (the limits'
 * arguments, as for decideSource); per group: its meta key (1-based, only when M > 1) and its set
 * (0-based, only when S > 1); then per decision: its group (0-based, only when G is less than the
 * number of decisions: else decision d is group d), its cost, and its id if the layout takes one.
 * Each decision runs in isolation: one that raises an error (a key of the wrong type, a state it
 * cannot read) fails alone. Its reply is then the error marker: the error's message as a string in
 * place of its blocked-until, then zeros (its reply keeps its size, so the others' offsets hold); its
 * string writes are undone (see WRITE_BEHIND) and the other decisions commit as usual. A decision
 * reads every state before it writes any, so such an error comes before its sorted-set writes too.
 * The decisions run in one pcall, which an error ends: the next pcall resumes after the decision that
 * raised it (a pcall per decision would cost every decision what only a failing one needs).
 */
export function decideBatchSource(layout: DecideLayout): string {
  const { g, body, reply } = decideParts(layout, true);
  const shape = decideShape(layout);
  const size = batchReplySize(layout.codes);
  const own = ownArgs(layout); // cost, then the id, then (weighted) the limits' costs
  const shared = shape.args - own; // the limits' arguments: the set's
  // The single-decision body reading its KEYS at its own offset, its cost and id at p_, its limits'
  // arguments (as numbers, converted once per batch) from its set's, at s_ in PN_ (offsets named with a
  // trailing underscore: no fragment variable is).
  const groupKeys = shape.keys - 1; // a group's keys: block markers and states (the meta key aside)
  const shift = (lua: string) =>
    lua
      // The memo of int() looked up inline, a call only when it misses (see MEMO_INT).
      .replace(/\bint\(([A-Za-z_]\w*)\)/g, '(ints_[$1] or int($1))')
      .replace(/\b(KEYS|got_)\[(\d+)\]/g, (_, table: string, n: string) =>
        n === '1' ? `${table}[m_]` : `${table}[k_ + ${Number(n) - 1}]`,
      )
      .replace(/\btonumber\(ARGV\[(\d+)\]\)/g, (whole, n: string) =>
        Number(n) > own ? `PN_[s_ + ${Number(n) - own}]` : whole,
      )
      .replace(/\bARGV\[(\d+)\]/g, (_, n: string) => {
        if (Number(n) > own) throw new Error(`batch script: limit argument ${n} read as a string`);
        return Number(n) === 1 ? 'ARGV[p_]' : `ARGV[p_ + ${Number(n) - 1}]`;
      });
  const items = reply.filter((item) => item.inBatch);
  const decision = [
    "-- Its offsets: its own ARGV (p_), its group's keys (k_), meta key (m_) and set (s_), its reply (o_).",
    'local p_, g_, m_, s_ = first_ + d_ * stride_, d_, 1, 0',
    'if grouped_ then',
    '  g_ = tonumber(ARGV[p_])',
    '  p_ = p_ + 1',
    'end',
    'if shared_ then m_, s_ = GM_[g_] or 1, GS_[g_] or 0 end',
    `local k_, o_ = metas_ + g_ * ${groupKeys}, 1 + d_ * ${size}`,
    'un_ = 0',
    shift(body.join('\n')),
    "-- The decision's reply.",
    ...items.map((item, i) => shift(item.statement(`out_[o_ + ${i + 1}]`))),
    'd_ = d_ + 1',
  ];
  const loop = [
    'local KEYS, ARGV = KEYS, ARGV',
    WRITE_BEHIND,
    '-- The tenant meta of the decision before: parsed again only when it differs (it rarely does).',
    "local pm_, pR_, pb_, pRs_ = false, 0, 0, '0'",
    'local sets_, metas_, groups_ = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])',
    "-- The limit-argument sets as numbers, and each group's meta key and set: converted once per batch.",
    'local PN_, GM_, GS_ = {}, {}, {}',
    `for i_ = 1, sets_ * ${shared} do PN_[i_] = tonumber(ARGV[3 + i_]) end`,
    `local first_ = 4 + sets_ * ${shared}`,
    'if metas_ > 1 then',
    '  for g_ = 0, groups_ - 1 do GM_[g_] = tonumber(ARGV[first_ + g_]) end',
    '  first_ = first_ + groups_',
    'end',
    'if sets_ > 1 then',
    `  for g_ = 0, groups_ - 1 do GS_[g_] = tonumber(ARGV[first_ + g_]) * ${shared} end`,
    '  first_ = first_ + groups_',
    'end',
    `local stride_ = ${own}`,
    `if groups_ * ${own} < #ARGV - first_ + 1 then stride_ = ${own + 1} end`,
    'local decisions_, d_, out_ = (#ARGV - first_ + 1) / stride_, 0, { now }',
    '-- Whether decisions name their group, and whether groups name their meta key or set.',
    'local grouped_, shared_ = groups_ < decisions_, metas_ > 1 or sets_ > 1',
    '-- Decides decision d_ and the ones after it, until one raises an error.',
    'local function run_()',
    `  while d_ < decisions_ do\n${indent(indent(decision.join('\n')))}\n  end`,
    'end',
    'while d_ < decisions_ do',
    indent(
      [
        'local ok_, err_ = pcall(run_)',
        'if not ok_ then',
        '  undo_()',
        `  local o_ = 1 + d_ * ${size}`,
        '  -- The error marker: the message (a string) where a reply starts with a number.',
        "  out_[o_ + 1] = type(err_) == 'table' and tostring(err_.err) or tostring(err_)",
        `  for i_ = 2, ${size} do out_[o_ + i_] = 0 end`,
        '  d_ = d_ + 1',
        'end',
      ].join('\n'),
    ),
    'end',
    WRITE_BEHIND_FLUSH,
    'return out_',
  ];
  return assemble(`${decideTitle(layout)}, batch`, g, loop);
}

function decideTitle({ codes, blockKeys, penalty, weighted }: DecideLayout): string {
  const costs = weighted ? ', a cost per limit' : '';
  return `decide ${describe(codes)}, ${blockKeys} block key(s), penalty ${penalty ? 'on' : 'off'}${costs}`;
}

/**
 * A decide script's generator, its body (without the reply) and its reply items. `batch`: the body of
 * one decision of the batch script, reading its string states as the batch left them (see WRITE_BEHIND).
 */
function decideParts(
  { codes, blockKeys, penalty, weighted }: DecideLayout,
  batch = false,
): {
  g: Generator;
  body: string[];
  reply: ReplyItem[];
} {
  const withId = decideTakesId(codes);
  const costArg = weighted ? (withId ? 3 : 2) : undefined;
  const firstArg = ownArgs({ codes, weighted }) + 1;
  const g = new Generator(codes, 2 + blockKeys, firstArg, batch, 1, [], costArg);
  const body: string[] = batch ? batchReads(g, blockKeys, withId) : singleReads(g, blockKeys, withId);
  body.push('local admitted = blocked == 0');
  for (const slot of g.limits) {
    body.push(`-- ${slot.i}: ${slot.fragment.code}`, g.declare(slot));
    if (batch && slot.fragment.kind === 'string') body.push(g.assign(slot, 'V', readCached));
    body.push(
      g.read(slot),
      block(g.section(slot, 'fits')),
      `if ${g.variable(slot, 'w')} then admitted = false end`,
    );
  }
  body.push(
    penalty
      ? '-- Penalty mode: unless blocked, the limits with room are charged even if the decision is rejected.\nlocal charge = cost > 0 and blocked == 0'
      : 'local charge = cost > 0 and admitted',
  );
  const reply: ReplyItem[] = [
    {
      expression: 'ceil(blocked)',
      statement: (at) => `${at} = blocked == 0 and 0 or ceil(blocked)`,
      inBatch: true,
    },
    plain('now', false),
  ];
  for (const slot of g.limits) {
    const w = g.variable(slot, 'w');
    const key = `KEYS[${slot.key}]`;
    const deferred = batch && slot.fragment.kind === 'string';
    // A key that lost its TTL (PERSIST, a restore...) gets one back when a decision reads it.
    const heal = slot.fragment.kind === 'string' ? `elseif ${slot.value} then` : 'else';
    body.push(
      `-- ${slot.i}: ${slot.fragment.code}`,
      // Penalties never charge lease-based limits: nobody could release a rejected decision's slots.
      // Weighted, a limit asked 0 is not charged.
      `if charge and not ${w}${slot.fragment.leases ? ' and admitted' : ''}${g.weighted ? ` and ${g.variable(slot, 'C')} > 0` : ''} then`,
      indent(block(g.section(slot, 'commit'))),
      indent(g.save(slot, true)),
      heal,
      `  if ${deferred ? `pttl_(${key})` : `redis.call('PTTL', ${key})`} == -1 then`,
      indent(indent(g.save(slot, false))),
      '  end',
      'end',
    );
    reply.push(
      plain(`${w} and (${w} == -1 and -1 or max(1, ceil(${w}))) or 0`),
      remainingItem(g.section(slot, 'remaining')),
      instantItem(g.section(slot, 'expires')),
      plain(g.section(slot, 'mark'), g.section(slot, 'mark') !== '0'),
    );
  }
  return { g, body, reply };
}

/**
 * One item of a decision's reply: the expression of the single script's reply table, and the batch
 * script's statement writing it to `at` (its out_ slot), which skips math's rounding (a C call) when
 * the value is whole already, as it mostly is.
 */
interface ReplyItem {
  readonly expression: string;
  statement(at: string): string;
  /** In the batch reply too (see batchMarks: not `now`, not a constant mark). */
  readonly inBatch: boolean;
}

function plain(expression: string, inBatch = true): ReplyItem {
  return { expression, statement: (at) => `${at} = ${expression}`, inBatch };
}

/** Units left, rounded down, at least 0. */
function remainingItem(value: string): ReplyItem {
  return {
    expression: `max(0, floor(${value}))`,
    inBatch: true,
    statement: (at) =>
      `do\n  local x_ = ${value}\n  ${at} = x_ % 1 == 0 and (x_ > 0 and x_ or 0) or max(0, floor(x_))\nend`,
  };
}

/** An instant, rounded up. */
function instantItem(value: string): ReplyItem {
  return {
    expression: `ceil(${value})`,
    inBatch: true,
    statement: (at) => `do\n  local x_ = ${value}\n  ${at} = x_ % 1 == 0 and x_ or ceil(x_)\nend`,
  };
}

/** Assigns a string key's value as the batch left it to `target` (see WRITE_BEHIND). */
function readCached(target: string, key: number | string): string {
  return `${target} = pv_[KEYS[${key}]]; if ${target} == nil then ${target} = got_[${key}] end`;
}

/** The single script's reads: one MGET of the meta key, the block markers and every string state. */
function singleReads(g: Generator, blockKeys: number, withId: boolean): string[] {
  const reads = [1];
  for (let j = 0; j < blockKeys; j++) reads.push(2 + j);
  for (const slot of g.limits) {
    if (slot.fragment.kind !== 'string') continue;
    reads.push(slot.key);
    slot.value = `values[${reads.length}]`;
  }
  const body = [
    `local cost = tonumber(ARGV[1])${withId ? '\nlocal id = ARGV[2]' : ''}`,
    '-- One MGET reads the meta key, the block markers and every string state.',
    `local values = ${mget(reads)}`,
    'local meta = values[1]',
    `${PARSE_META}if blocked <= now then blocked = 0 end`,
  ];
  if (blockKeys > 0) {
    body.push(`for j = 2, ${1 + blockKeys} do
  local until_ms = tonumber(values[j])
  if until_ms and until_ms > now and until_ms > blocked then blocked = until_ms end
end`);
  }
  return body;
}

/**
 * A batch decision's reads, from the batch's cache: its cost (almost always "1": no conversion), the
 * tenant meta (parsed only when it differs from the decision before's), the block markers. The string
 * states are read by each limit's part (into `V`, its variable).
 */
function batchReads(g: Generator, blockKeys: number, withId: boolean): string[] {
  for (const slot of g.limits) if (slot.fragment.kind === 'string') slot.value = g.variable(slot, 'V');
  const body = [
    `local cost = ARGV[1] == '1' and 1 or tonumber(ARGV[1])${withId ? '\nlocal id = ARGV[2]' : ''}`,
    // The decide scripts never write meta keys or block markers: they are as the batch read them.
    'local meta = got_[m_]',
    `if meta ~= pm_ then
${indent(PARSE_META.trimEnd())}
  pm_, pR_, pb_, pRs_ = meta, R, blocked, Rs
end
local R, blocked, Rs = pR_, pb_, pRs_
if blocked <= now then blocked = 0 end`,
  ];
  if (blockKeys > 0) {
    // Unrolled: a block marker is mostly absent, and then costs one lookup.
    for (let j = 1; j <= blockKeys; j++) {
      body.push(`do
  local until_ms = got_[k_ + ${j}]
  if until_ms then
    until_ms = tonumber(until_ms)
    if until_ms and until_ms > now and until_ms > blocked then blocked = until_ms end
  end
end`);
    }
  }
  return body;
}

/**
 * The refund script of a layout: the limits of one admitted decision that refunds apply to (not the
 * lease-based ones), each giving back what that decision took there (see the `refund` sections).
 * KEYS: meta, then per limit its state key and its ledger key (units of this decision refunded so
 * far: string states only; a log finds its decision's own entry).
 * ARGV: units, decision id, decision instant, decision cost, then per limit: limit, window ms,
 * capacity for the algorithms that use it, the limit's reset instant and mark right after the decision,
 * and (`weighted`: a decision whose limits were asked their own costs) the decision's cost there and
 * the units to give back there, which replace `cost` and `units` for that limit.
 * A decision made at or before the tenant's last reset gives nothing back: its units were voided.
 */
export function refundSource(codes: readonly string[], weighted = false): string {
  const g = new Generator(codes, 2, 5, false, 2, weighted ? ['RA', 'MK', 'C', 'UN'] : ['RA', 'MK']);
  const body: string[] = [
    'local units, id, at, cost = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])',
    "local meta = redis.call('GET', KEYS[1])",
    PARSE_META.trimEnd(),
    'if at <= R then return 0 end',
  ];
  for (const slot of g.limits) {
    const U = g.variable(slot, 'U');
    const RF = g.variable(slot, 'RF');
    const cost = weighted ? g.variable(slot, 'C') : 'cost';
    const units = weighted ? g.variable(slot, 'UN') : 'units';
    const ledger = `KEYS[${slot.key + 1}]`;
    body.push(`-- ${slot.i}: ${slot.fragment.code}`, g.declare(slot, ['RF', 'U']));
    if (slot.fragment.kind === 'string') {
      slot.value = 'value';
      body.push(
        block(`local value = redis.call('GET', KEYS[${slot.key}])\n${g.section(slot, 'parse')}`),
        `${RF} = tonumber(redis.call('GET', ${ledger})) or 0`,
        `${U} = min(${units}, ${cost} - ${RF})`,
        `local until_${slot.i} = ${g.section(slot, 'until')}`,
        `if ${U} > 0 and until_${slot.i} > now then`,
        indent(block(g.section(slot, 'refund'))),
        indent(g.save(slot, false)),
        `  redis.call('SET', ${ledger}, ${RF} + ${U}, 'PX', int(ceil(until_${slot.i} - now)))`,
        'end',
      );
    } else {
      body.push(
        g.read(slot),
        `${RF}, ${U} = 0, min(${units}, ${cost})`,
        block(g.section(slot, 'refund')),
        g.save(slot, false),
      );
    }
  }
  body.push(`return ${codes.length}`);
  return assemble(`refund ${describe(codes)}`, g, body);
}

/**
 * The release script of a layout: the lease-based limits of one admitted decision, each freeing the
 * entry of that lease (found by its id at the instant it was acquired, whatever cost a caller states).
 * KEYS: meta, then one state key per limit. ARGV: lease id, acquired instant, then per limit: limit,
 * window ms.
 */
export function releaseSource(codes: readonly string[]): string {
  const { g, body } = leaseParts(codes, 'release');
  body.push(`return ${codes.length}`);
  return assemble(`release ${describe(codes)}`, g, body);
}

/**
 * The renew script of a layout: the lease-based limits of one admitted decision, each re-timing the
 * entry of that lease to now, where the lease still holds it (its TTL then runs again from now).
 * KEYS and ARGV as for releaseSource. Returns: now, then per limit 1 (renewed) or 0 (not held).
 */
export function renewSource(codes: readonly string[]): string {
  const { g, body } = leaseParts(codes, 'renew');
  const held = g.limits.map((slot) => `${g.variable(slot, 'renewed')} or 0`);
  body.push(`return { now, ${held.join(', ')} }`);
  return assemble(`renew ${describe(codes)}`, g, body);
}

/** A lease script's body but its reply: per limit, its state read, its `section` run, its state saved. */
function leaseParts(
  codes: readonly string[],
  section: 'release' | 'renew',
): { g: Generator; body: string[] } {
  const g = new Generator(codes, 2, 3);
  const body: string[] = [
    'local id, at = ARGV[1], tonumber(ARGV[2])',
    "local meta = redis.call('GET', KEYS[1])",
    PARSE_META.trimEnd(),
  ];
  for (const slot of g.limits) {
    body.push(
      `-- ${slot.i}: ${slot.fragment.code}`,
      g.declare(slot),
      g.read(slot),
      block(g.section(slot, section)),
      g.save(slot, false),
    );
  }
  return { g, body };
}

function describe(codes: readonly string[]): string {
  return codes.length === 0 ? 'no limits' : codes.join(', ');
}

/**
 * The first line of every script: a Redis 7 shebang, declaring the script's flags. None are declared
 * (no `no-writes`, no `allow-oom`): the script may write, so Redis refuses it up front, before it runs
 * a single command, when it is out of memory (`maxmemory` with `noeviction`) or a read-only replica.
 * Without a shebang Redis only refuses a script's first write, after its reads, and lets the rest of
 * its writes through (sorted-set states would still be charged). Requires Redis 7.
 */
export const SCRIPT_SHEBANG = '#!lua';

/**
 * A script's source with its flags declared (SCRIPT_SHEBANG as its first line) unless it declares
 * its own: what `script()` hashes and sends, so no script goes to Redis without one.
 */
export function withShebang(source: string): string {
  return source.startsWith('#!') ? source : `${SCRIPT_SHEBANG}\n${source}`;
}

function assemble(title: string, g: Generator, body: string[]): string {
  const text = body.join('\n');
  const lua = `${g.prelude(text)}\n${text}`.replace(/\bstring\.match\(/g, 'match_(');
  return `${SCRIPT_SHEBANG}\n-- Sluice ${title}. Generated by src/stores/redis/scripts.ts.\n${lua}\n`;
}

/**
 * Administrative operations of one tenant. KEYS: meta, then the keys the op works on.
 * ARGV[1]: "delete" (DEL KEYS[2..]), "reset-tenant" (ARGV[2] = how long the marker must live),
 * "block" (ARGV[2] = duration; KEYS[2] = block key, or none for the whole tenant), "unblock".
 */
export const ADMIN_SOURCE = `${SERVER_CLOCK_LUA}
local function parse_meta(v)
  if not v then return 0, 0 end
  local r, b = string.match(v, '^(.-)|(.*)$')
  return tonumber(r), tonumber(b)
end
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
 * ARGV: expected version (0: absent; -1: present without a valid version, a broken document, which is
 * replaced if it still has none), new body, and the floor of the new version (used when replacing a
 * broken document: the writer's last known version, so that versions keep moving forward). Returns the
 * new version, or -1 if the document moved.
 */
export const DOCUMENT_SOURCE = `
local value = redis.call('GET', KEYS[1])
local current = 0
if value then current = tonumber(string.match(value, '^(%d+)\\n')) or -1 end
if current ~= tonumber(ARGV[1]) then return -1 end
local next = current + 1
if current == -1 then next = (tonumber(ARGV[3]) or 0) + 1 end
redis.call('SET', KEYS[1], next .. '\\n' .. ARGV[2])
return next
`;

export interface Script {
  readonly name: string;
  readonly source: string;
  /** SHA1 of the source, computed once: what EVALSHA sends. */
  readonly sha: string;
}

/**
 * A script as sent: its source with its flags declared (see withShebang: ADMIN_SOURCE and
 * DOCUMENT_SOURCE get theirs here) and its SHA1.
 */
export function script(name: string, source: string): Script {
  const flagged = withShebang(source);
  return { name, source: flagged, sha: createHash('sha1').update(flagged).digest('hex') };
}
