import { type AlgorithmName, ConfigError, type ConfigIssue } from '../../index.js';
import { REQUEST_BOUNDS } from './request.js';
import { type Unit, unitOf } from './units.js';

/** One `rate_limit` of an envoyproxy/ratelimit configuration, with where it sits. */
export interface EnvoyRule {
  /** envoyproxy/ratelimit's full key of the rule: `domain.key_value.subkey` (its stats key). */
  fullKey: string;
  /** `rate_limit.name`: what `replaces` refers to. */
  name?: string;
  requestsPerUnit: number;
  /** Absent when `unlimited`. */
  unit?: Unit;
  unlimited: boolean;
  shadowMode: boolean;
  replaces: string[];
  /** Sluice's extension `rate_limit.algorithm`; `fixed-window` (envoyproxy's) by default. */
  algorithm: AlgorithmName;
}

/** One level of a domain's descriptor tree: entries by `key_value` (or `key` alone, the wildcard). */
export interface RuleNode {
  children: Map<string, RuleNode>;
  /** Child keys ending in `*`: prefix matches, tried after the exact `key_value`. */
  wildcards: string[];
  rule?: EnvoyRule;
}

/** A loaded configuration: every domain's tree. */
export interface EnvoyRules {
  domains: ReadonlyMap<string, RuleNode>;
}

/** One parsed configuration document and where it came from (a file name, for errors). */
export interface EnvoyConfigDocument {
  source: string;
  document: unknown;
}

const ROOT_KEYS = ['domain', 'descriptors'];
const DESCRIPTOR_KEYS = ['key', 'value', 'rate_limit', 'descriptors', 'shadow_mode', 'detailed_metric'];
const RATE_LIMIT_KEYS = ['unit', 'requests_per_unit', 'unlimited', 'name', 'replaces', 'algorithm'];
/** Sluice's counting algorithms a rule may ask for (concurrency counts leases, not requests). */
const RULE_ALGORITHMS: readonly AlgorithmName[] = [
  'fixed-window',
  'sliding-window',
  'sliding-log',
  'token-bucket',
];

/**
 * Validates and compiles envoyproxy/ratelimit configuration documents (one domain each; a domain in
 * two documents is an error, as in envoyproxy/ratelimit without MERGE_DOMAIN_CONFIG). Every problem
 * is collected and thrown as one ConfigError whose issues name the file and path.
 */
export function parseEnvoyConfig(documents: readonly EnvoyConfigDocument[]): EnvoyRules {
  const issues: ConfigIssue[] = [];
  const domains = new Map<string, RuleNode>();
  for (const { source, document } of documents) {
    const at = (path: string, message: string) => issues.push({ path: `${source}: ${path}`, message });
    const root = new Reader(at);
    const domain = compileDocument(document, root);
    if (domain === undefined) continue;
    if (domains.has(domain.name)) at('domain', `duplicate domain "${domain.name}" (already configured)`);
    else domains.set(domain.name, domain.node);
  }
  if (issues.length > 0) throw new ConfigError(issues, 'Envoy rate limit configuration');
  return { domains };
}

/** Reads loosely typed YAML values (scalars may arrive as strings) and reports issues by path. */
class Reader {
  constructor(readonly issue: (path: string, message: string) => void) {}

  object(value: unknown, path: string, keys: readonly string[]): Record<string, unknown> | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.issue(path, 'must be a mapping');
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (!keys.includes(key))
        this.issue(`${path}.${key}`.replace(/^\./, ''), `unknown key (expected one of ${keys.join(', ')})`);
    }
    return value as Record<string, unknown>;
  }

  /** A scalar as text; absent (undefined) for a missing or null value. */
  text(value: unknown, path: string): string | undefined {
    if (isAbsent(value)) return undefined;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    this.issue(path, 'must be a string');
    return undefined;
  }

  bool(value: unknown, path: string): boolean {
    if (isAbsent(value) || value === false || value === true) return value === true;
    const text = typeof value === 'string' ? value.toLowerCase() : '';
    if (['true', 'yes', 'on'].includes(text)) return true;
    if (['false', 'no', 'off'].includes(text)) return false;
    this.issue(path, 'must be true or false');
    return false;
  }

  count(value: unknown, path: string): number | undefined {
    const n = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value;
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= REQUEST_BOUNDS.quantity) return n;
    this.issue(path, `must be an integer from 0 to ${REQUEST_BOUNDS.quantity}`);
    return undefined;
  }

  list(value: unknown, path: string): unknown[] {
    if (isAbsent(value)) return [];
    if (Array.isArray(value)) return value;
    this.issue(path, 'must be a list');
    return [];
  }
}

/** YAML's null (`~`, `null`, nothing), whichever schema parsed it. */
function isAbsent(value: unknown): boolean {
  return value === undefined || value === null || value === '' || value === '~' || value === 'null';
}

function compileDocument(document: unknown, r: Reader): { name: string; node: RuleNode } | undefined {
  const root = r.object(document, '', ROOT_KEYS);
  if (root === undefined) return undefined;
  const name = r.text(root.domain, 'domain');
  if (name === undefined || name === '') r.issue('domain', 'is required (a non-empty string)');
  else if (name.startsWith('~')) r.issue('domain', 'must not start with "~" (reserved for Sluice)');
  else if (Buffer.byteLength(name) > REQUEST_BOUNDS.domain)
    r.issue('domain', `is longer than ${REQUEST_BOUNDS.domain} bytes`);
  const node = emptyNode();
  compileLevel(node, r.list(root.descriptors, 'descriptors'), 'descriptors', `${name ?? ''}.`, r);
  return name ? { name, node } : undefined;
}

function compileLevel(level: RuleNode, list: unknown[], path: string, parentKey: string, r: Reader): void {
  for (const [i, raw] of list.entries()) {
    const at = `${path}[${i}]`;
    const d = r.object(raw, at, DESCRIPTOR_KEYS);
    if (d === undefined) continue;
    const key = r.text(d.key, `${at}.key`);
    if (key === undefined || key === '') {
      r.issue(`${at}.key`, 'is required (a non-empty string)');
      continue;
    }
    const value = r.text(d.value, `${at}.value`);
    const finalKey = value ? `${key}_${value}` : key;
    if (level.children.has(finalKey)) {
      r.issue(at, `duplicate descriptor composite key "${parentKey}${finalKey}"`);
      continue;
    }
    const node = emptyNode();
    const rule = isAbsent(d.rate_limit)
      ? undefined
      : compileRule(
          d.rate_limit,
          `${at}.rate_limit`,
          `${parentKey}${finalKey}`,
          r.bool(d.shadow_mode, `${at}.shadow_mode`),
          r,
        );
    if (rule) node.rule = rule;
    r.bool(d.detailed_metric, `${at}.detailed_metric`);
    compileLevel(
      node,
      r.list(d.descriptors, `${at}.descriptors`),
      `${at}.descriptors`,
      `${parentKey}${finalKey}.`,
      r,
    );
    level.children.set(finalKey, node);
    if (finalKey.endsWith('*')) level.wildcards.push(finalKey);
  }
}

function compileRule(
  raw: unknown,
  at: string,
  fullKey: string,
  shadowMode: boolean,
  r: Reader,
): EnvoyRule | undefined {
  const o = r.object(raw, at, RATE_LIMIT_KEYS);
  if (o === undefined) return undefined;
  const unlimited = r.bool(o.unlimited, `${at}.unlimited`);
  const unitText = r.text(o.unit, `${at}.unit`);
  const unit = unitText === undefined ? undefined : unitOf(unitText);
  if (unlimited && unitText !== undefined) r.issue(`${at}.unit`, 'must not be given when unlimited is true');
  if (!unlimited && unit === undefined) {
    r.issue(
      `${at}.unit`,
      `${unitText === undefined ? 'is required' : `"${unitText}" is not a unit`} (second, minute, hour, day, week, month, year)`,
    );
  }
  let requests: number | undefined = 0;
  if (!isAbsent(o.requests_per_unit)) requests = r.count(o.requests_per_unit, `${at}.requests_per_unit`);
  else if (!unlimited) r.issue(`${at}.requests_per_unit`, 'is required (0 refuses every request)');
  const name = r.text(o.name, `${at}.name`);
  const replaces = compileReplaces(o.replaces, `${at}.replaces`, name, r);
  const algorithm = compileAlgorithm(o.algorithm, `${at}.algorithm`, r);
  const rule: EnvoyRule = {
    fullKey,
    requestsPerUnit: requests ?? 0,
    unlimited,
    shadowMode,
    replaces,
    algorithm,
  };
  if (name) rule.name = name;
  if (unit && !unlimited) rule.unit = unit;
  return rule;
}

function compileReplaces(raw: unknown, at: string, own: string | undefined, r: Reader): string[] {
  const names: string[] = [];
  for (const [i, entry] of r.list(raw, at).entries()) {
    const o = r.object(entry, `${at}[${i}]`, ['name']);
    if (o === undefined) continue;
    const name = r.text(o.name, `${at}[${i}].name`);
    if (!name) r.issue(`${at}[${i}].name`, 'is required (the name of the rate_limit it replaces)');
    else if (name === own) r.issue(`${at}[${i}].name`, `must not be this rate_limit's own name "${own}"`);
    else names.push(name);
  }
  return names;
}

function compileAlgorithm(raw: unknown, at: string, r: Reader): AlgorithmName {
  const name = r.text(raw, at);
  if (name === undefined) return 'fixed-window';
  if ((RULE_ALGORITHMS as readonly string[]).includes(name)) return name as AlgorithmName;
  r.issue(at, `"${name}" is not one of ${RULE_ALGORITHMS.join(', ')}`);
  return 'fixed-window';
}

function emptyNode(): RuleNode {
  return { children: new Map(), wildcards: [] };
}
