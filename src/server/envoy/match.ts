import type { EnvoyRule, RuleNode } from './config.js';
import type { DescriptorEntry, RlsDescriptor } from './types.js';

/**
 * The rule a descriptor's entries select, as envoyproxy/ratelimit matches: level by level, the exact
 * `key_value` first, then a `value*` prefix, then the key alone (any value); a rule applies only at the
 * level of the descriptor's last entry (a request deeper or shallower than the rule does not match).
 */
export function matchRule(domain: RuleNode, entries: readonly DescriptorEntry[]): EnvoyRule | undefined {
  let level = domain;
  for (const [i, entry] of entries.entries()) {
    const next = childFor(level, entry);
    if (next === undefined) return undefined;
    if (i === entries.length - 1) return next.rule;
    if (next.children.size === 0) return undefined;
    level = next;
  }
  return undefined;
}

function childFor(level: RuleNode, { key, value }: DescriptorEntry): RuleNode | undefined {
  const exact = `${key}_${value}`;
  const found = level.children.get(exact);
  if (found) return found;
  for (const wildcard of level.wildcards) {
    if (exact.startsWith(wildcard.slice(0, -1))) return level.children.get(wildcard);
  }
  return level.children.get(key);
}

/** What one descriptor of a request is limited by. */
export type Target =
  /** No rule (or one replaced by another): OK, nothing counted. */
  | { kind: 'none' }
  /** `unlimited: true`: OK, nothing counted, remaining reported as the largest uint32. */
  | { kind: 'unlimited'; rule: EnvoyRule }
  /** A limit to count (a configured rule, or Envoy's override). */
  | { kind: 'limit'; rule: EnvoyRule };

/**
 * Every descriptor's target: Envoy's limit override when given (never in shadow mode, as in
 * envoyproxy/ratelimit), else the matched rule; a rule whose name another matched rule `replaces` is
 * dropped. An unknown domain limits nothing (overrides included), as in envoyproxy/ratelimit.
 */
export function targetsOf(
  domainName: string,
  domain: RuleNode | undefined,
  descriptors: readonly RlsDescriptor[],
): Target[] {
  if (domain === undefined) return descriptors.map(() => ({ kind: 'none' }));
  const rules = descriptors.map((d) =>
    d.limit ? overrideRule(domainName, d) : matchRule(domain, d.entries),
  );
  const replaced = new Set(rules.flatMap((rule) => rule?.replaces ?? []));
  return rules.map((rule): Target => {
    if (rule === undefined || (rule.name !== undefined && replaced.has(rule.name))) return { kind: 'none' };
    return rule.unlimited ? { kind: 'unlimited', rule } : { kind: 'limit', rule };
  });
}

function overrideRule(domain: string, d: RlsDescriptor): EnvoyRule {
  const { requestsPerUnit, unit } = d.limit as NonNullable<RlsDescriptor['limit']>;
  return {
    fullKey: descriptorKey(domain, d.entries),
    requestsPerUnit,
    unit,
    unlimited: false,
    shadowMode: false,
    replaces: [],
    algorithm: 'fixed-window',
  };
}

/** envoyproxy/ratelimit's key of a descriptor: `domain.key_value.key2_value2`. */
export function descriptorKey(domain: string, entries: readonly DescriptorEntry[]): string {
  return `${domain}.${entries.map((e) => (e.value ? `${e.key}_${e.value}` : e.key)).join('.')}`;
}
