import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/index.js';
import { loadEnvoyConfig, parseEnvoyConfig } from '../../src/server/envoy/index.js';
import { matchRule } from '../../src/server/envoy/match.js';
import { FIXTURES } from './envoy-support.js';

/** The issues a YAML text is refused with (as `path: message`). */
function issuesOf(yaml: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-envoy-'));
  writeFileSync(join(dir, 'rules.yaml'), yaml);
  try {
    loadEnvoyConfig(join(dir, 'rules.yaml'));
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((i) => `${i.path.replace(`${dir}/`, '')}: ${i.message}`);
  }
  throw new Error('accepted');
}

describe("envoyproxy/ratelimit's configuration", () => {
  it("loads every example of envoyproxy/ratelimit's README unchanged, one domain per file", () => {
    const rules = loadEnvoyConfig(FIXTURES);
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml'));
    expect(rules.domains.size).toBe(files.length);
    expect([...rules.domains.keys()].sort()).toEqual([
      'edge_proxy_per_ip',
      'example4',
      'example6',
      'example7',
      'example8',
      'example9',
      'hourly',
      'internal',
      'messaging',
      'mongo_cps',
    ]);
  });

  it('compiles rules with their full key, name, unit, shadow mode, replaces and unlimited', () => {
    const rules = loadEnvoyConfig([
      join(FIXTURES, 'example7.yaml'),
      join(FIXTURES, 'example5.yaml'),
      join(FIXTURES, 'example6.yaml'),
    ]);
    const seven = rules.domains.get('example7');
    const entries = (...pairs: string[][]) =>
      pairs.map(([key, value]) => ({ key: key as string, value: value as string }));
    expect(matchRule(seven as never, entries(['key_1', 'value_1'], ['user', 'bkthomps']))).toEqual({
      fullKey: 'example7.key_1_value_1.user_bkthomps',
      name: 'specific_limit',
      requestsPerUnit: 5,
      unit: 'SECOND',
      unlimited: false,
      shadowMode: false,
      replaces: [],
      algorithm: 'fixed-window',
    });
    expect(matchRule(seven as never, entries(['key_2', 'value_2'], ['user', 'bkthomps']))?.replaces).toEqual([
      'specific_limit',
    ]);
    const ldap = matchRule(rules.domains.get('internal') as never, entries(['ldap', 'x']));
    expect(ldap).toMatchObject({ unlimited: true, requestsPerUnit: 0 });
    expect(ldap?.unit).toBeUndefined();
    const userA = matchRule(
      rules.domains.get('example6') as never,
      entries(['service', 's'], ['user', 'user-a']),
    );
    expect(userA?.shadowMode).toBe(true);
  });

  it('refuses unknown keys, naming the path (a typo would otherwise be ignored)', () => {
    expect(
      issuesOf(
        'domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: second\n      request_per_unit: 5\n',
      ),
    ).toEqual([
      'rules.yaml: descriptors[0].rate_limit.request_per_unit: unknown key (expected one of unit, requests_per_unit, unlimited, name, replaces, algorithm)',
      'rules.yaml: descriptors[0].rate_limit.requests_per_unit: is required (0 refuses every request)',
    ]);
    expect(issuesOf('domain: d\nfoo: 1\ndescriptors: []\n')).toEqual([
      'rules.yaml: foo: unknown key (expected one of domain, descriptors)',
    ]);
  });

  it('refuses what envoyproxy/ratelimit refuses, every issue at once', () => {
    const yaml = [
      'domain: d',
      'descriptors:',
      '  - key: a',
      '    rate_limit: { unit: fortnight, requests_per_unit: 5 }',
      '  - key: b',
      '    rate_limit: { unlimited: true, unit: second }',
      '  - key: c',
      '    rate_limit: { unit: second, requests_per_unit: 5, name: me, replaces: [{ name: me }] }',
      '  - key: c',
      '    rate_limit: { unit: second, requests_per_unit: 1 }',
      '  - value: x',
      '  - key: e',
      '    shadow_mode: maybe',
      '    rate_limit: { unit: hour, requests_per_unit: -1, algorithm: leaky }',
      '    descriptors: { key: f }',
    ].join('\n');
    expect(issuesOf(yaml)).toEqual([
      'rules.yaml: descriptors[0].rate_limit.unit: "fortnight" is not a unit (second, minute, hour, day, week, month, year)',
      'rules.yaml: descriptors[1].rate_limit.unit: must not be given when unlimited is true',
      `rules.yaml: descriptors[2].rate_limit.replaces[0].name: must not be this rate_limit's own name "me"`,
      'rules.yaml: descriptors[3]: duplicate descriptor composite key "d.c"',
      'rules.yaml: descriptors[4].key: is required (a non-empty string)',
      'rules.yaml: descriptors[5].shadow_mode: must be true or false',
      'rules.yaml: descriptors[5].rate_limit.requests_per_unit: must be an integer from 0 to 1000000000',
      'rules.yaml: descriptors[5].rate_limit.algorithm: "leaky" is not one of fixed-window, sliding-window, sliding-log, token-bucket',
      'rules.yaml: descriptors[5].descriptors: must be a list',
    ]);
  });

  it('refuses a missing domain, a domain in two files, and bad YAML', () => {
    expect(issuesOf('descriptors: []\n')).toEqual(['rules.yaml: domain: is required (a non-empty string)']);
    expect(issuesOf('domain: [oops\n')[0]).toMatch(/^rules\.yaml: \(root\)|^rules\.yaml: not valid YAML/);
    expect(() =>
      parseEnvoyConfig([
        { source: 'a.yaml', document: { domain: 'd', descriptors: [] } },
        { source: 'b.yaml', document: { domain: 'd', descriptors: [] } },
      ]),
    ).toThrow('b.yaml: domain: duplicate domain "d" (already configured)');
  });

  it('reads scalars as text, as Go reads them into string fields', () => {
    const rules = parseEnvoyConfig([
      {
        source: 'x',
        document: {
          domain: 'd',
          descriptors: [{ key: 'code', value: 404, rate_limit: { unit: 'MINUTE', requests_per_unit: '7' } }],
        },
      },
    ]);
    expect(matchRule(rules.domains.get('d') as never, [{ key: 'code', value: '404' }])).toMatchObject({
      requestsPerUnit: 7,
      unit: 'MINUTE',
    });
    const dir = mkdtempSync(join(tmpdir(), 'sluice-envoy-'));
    writeFileSync(
      join(dir, 'r.yml'),
      'domain: d\ndescriptors:\n  - key: code\n    value: 010\n    shadow_mode: yes\n    rate_limit: {unit: day, requests_per_unit: 3}\n',
    );
    const loaded = loadEnvoyConfig(dir);
    expect(matchRule(loaded.domains.get('d') as never, [{ key: 'code', value: '010' }])).toMatchObject({
      shadowMode: true,
      requestsPerUnit: 3,
    });
  });
});
