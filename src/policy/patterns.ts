import { ValidationError } from '../core/errors.js';

/**
 * Tier rules and policy `match` patterns, run on client-controlled values (tenant ids, users, roles,
 * endpoints) on the request path, so they must cost little whatever the value:
 *
 * - a glob (`*` matches any run of characters, everything else is literal) is matched without
 *   backtracking: its literal segments are found left to right, each at its first place, which is
 *   exact for `*`-only globs and costs at most (value length + 1) x (pattern length + 1) steps;
 * - a "/regex/" is refused at configuration time when it can backtrack catastrophically in a way that
 *   is simple to see (a repeated group that contains a quantifier or an alternation, as in `(a+)+` or
 *   `(a|ab)*`; backreferences), and it only ever runs on values of at most MAX_REGEX_INPUT characters
 *   (a longer value does not match it). Its results are cached per value (bounded).
 */
export interface Matcher {
  /** The pattern as configured. */
  readonly source: string;
  readonly kind: 'exact' | 'glob' | 'regex';
  test(value: string): boolean;
  /** Steps (character comparisons) of the last glob test: for tests that count work. */
  readonly steps: number;
}

/** Longest value a "/regex/" pattern runs on (the identifier bound): longer values never match it. */
export const MAX_REGEX_INPUT = 256;
/** Values whose regex result is remembered, per pattern (oldest first out). */
const MAX_REGEX_CACHE = 1024;

/** A tier rule or match pattern: "/regex/", or a glob where `*` matches anything. */
export function compilePattern(pattern: string, field: string): Matcher {
  if (typeof pattern !== 'string' || pattern.length === 0) {
    throw new ValidationError('ERR_SLUICE_INVALID_OPTION', field, 'must be a non-empty string');
  }
  if (pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    const source = pattern.slice(1, -1);
    let regex: RegExp;
    try {
      regex = new RegExp(source);
    } catch (error) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        field,
        `is not a valid regular expression: ${(error as Error).message}`,
      );
    }
    const unsafe = catastrophicPart(source);
    if (unsafe) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        field,
        `can backtrack catastrophically (${unsafe}): rewrite it without repeating a group that holds a quantifier or an alternation, or use a glob`,
      );
    }
    return new RegexMatcher(pattern, regex);
  }
  return pattern.includes('*') ? new GlobMatcher(pattern) : new ExactMatcher(pattern);
}

class ExactMatcher implements Matcher {
  readonly kind = 'exact';
  readonly steps = 0;
  constructor(readonly source: string) {}
  test(value: string): boolean {
    return value === this.source;
  }
}

class GlobMatcher implements Matcher {
  readonly kind = 'glob';
  steps = 0;
  private readonly head: string;
  private readonly tail: string;
  private readonly middle: string[];
  /** Characters the value needs at least (every literal). */
  private readonly literal: number;

  constructor(readonly source: string) {
    const parts = source.split('*');
    this.head = parts[0] as string;
    this.tail = parts[parts.length - 1] as string;
    this.middle = parts.slice(1, -1).filter((p) => p.length > 0);
    this.literal = parts.reduce((n, p) => n + p.length, 0);
  }

  test(value: string): boolean {
    this.steps = 0;
    const { head, tail } = this;
    if (value.length < this.literal) return false;
    if (!this.same(value, 0, head) || !this.same(value, value.length - tail.length, tail)) return false;
    // Each literal segment at its first place after the previous one: if a match exists, this finds
    // one (a later place only leaves less room for the rest). No backtracking.
    let from = head.length;
    const end = value.length - tail.length;
    for (const part of this.middle) {
      let at = -1;
      for (let i = from; i + part.length <= end; i++) {
        if (this.same(value, i, part)) {
          at = i;
          break;
        }
      }
      if (at < 0) return false;
      from = at + part.length;
    }
    return true;
  }

  /** Whether `part` is at `at` in `value`, counting comparisons. */
  private same(value: string, at: number, part: string): boolean {
    for (let j = 0; j < part.length; j++) {
      this.steps++;
      if (value.charCodeAt(at + j) !== part.charCodeAt(j)) return false;
    }
    return true;
  }
}

class RegexMatcher implements Matcher {
  readonly kind = 'regex';
  readonly steps = 0;
  private readonly results = new Map<string, boolean>();
  constructor(
    readonly source: string,
    private readonly regex: RegExp,
  ) {}

  test(value: string): boolean {
    if (value.length > MAX_REGEX_INPUT) return false;
    const known = this.results.get(value);
    if (known !== undefined) return known;
    const result = this.regex.test(value);
    if (this.results.size >= MAX_REGEX_CACHE) this.results.delete(this.results.keys().next().value as string);
    this.results.set(value, result);
    return result;
  }
}

/**
 * The part of a regex source that can backtrack catastrophically, simply detected: a group repeated
 * by `*`, `+` or `{n,}`/`{n,m}` (m > 1) that holds a quantifier or an alternation; or a backreference.
 * Undefined when none is seen. Not a proof of safety: patterns with several `.*` still cost a power
 * of the (bounded) input length.
 */
export function catastrophicPart(source: string): string | undefined {
  /** Open groups: where each starts, and whether it holds a quantifier or an alternation. */
  const open: Array<{ start: number; quantified: boolean; alternation: boolean }> = [];
  let last: { start: number; quantified: boolean; alternation: boolean } | undefined;
  let i = 0;
  const mark = () => {
    for (const g of open) g.quantified = true;
  };
  while (i < source.length) {
    const c = source[i] as string;
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      if ((next >= '1' && next <= '9') || next === 'k') return `backreference \\${next}`;
      last = undefined;
      i += 2;
      continue;
    }
    if (c === '[') {
      // A character class: one atom, whatever it holds.
      i++;
      if (source[i] === '^') i++;
      if (source[i] === ']') i++;
      while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
      i++;
      last = undefined;
      continue;
    }
    if (c === '(') {
      open.push({ start: i, quantified: false, alternation: false });
      last = undefined;
      i++;
      if (source[i] === '?') {
        // (?:  (?=  (?!  (?<=  (?<!  (?<name>
        i++;
        if (source[i] === '<' && source[i + 1] !== '=' && source[i + 1] !== '!') {
          while (i < source.length && source[i] !== '>') i++;
        }
        i++;
      }
      continue;
    }
    if (c === ')') {
      last = open.pop();
      if (last && (last.quantified || last.alternation)) {
        // Whatever holds a risky group holds its risk (a quantifier over it is as bad).
        for (const g of open) {
          g.quantified ||= last.quantified;
          g.alternation ||= last.alternation;
        }
      }
      i++;
      const repeat = repetition(source, i);
      if (repeat.length > 0) {
        if (repeat.many && last && (last.quantified || last.alternation)) {
          return `${source.slice(last.start, i)}${repeat.text} repeats a group holding ${last.quantified ? 'a quantifier' : 'an alternation'}`;
        }
        if (repeat.many) mark();
        i += repeat.length;
      }
      last = undefined;
      continue;
    }
    if (c === '|') {
      const group = open[open.length - 1];
      if (group) group.alternation = true;
      i++;
      continue;
    }
    const repeat = repetition(source, i);
    if (repeat.length > 0) {
      if (repeat.many) mark();
      i += repeat.length;
      continue;
    }
    i++;
  }
  return undefined;
}

/** A quantifier at `i` (with its lazy `?`): its length (0: none), and whether it repeats more than once. */
function repetition(source: string, i: number): { length: number; many: boolean; text: string } {
  const c = source[i];
  let length = 0;
  let many = false;
  if (c === '*' || c === '+') {
    length = 1;
    many = true;
  } else if (c === '?') {
    length = 1;
  } else if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i, i + 24));
    if (m) {
      length = m[0].length;
      const low = Number(m[1]);
      const high = m[2] === undefined ? low : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
      many = high > 1;
    }
  }
  if (length > 0 && source[i + length] === '?') length++;
  return { length, many, text: source.slice(i, i + length) };
}
