import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/policy/config.js';
import { parseEnvoyConfig } from '../../src/server/envoy/config.js';
import { configBlocks, readmeBlocks, typescriptBlocks, withRedis } from './readme-blocks.js';

// The README is executable: its configuration blocks are valid configurations (here), and its
// TypeScript snippets type-check and run against the packed tarball (tarball.test.ts).

describe('README', () => {
  const blocks = readmeBlocks();

  it('has configuration blocks and TypeScript snippets, few of them exempted', () => {
    expect(configBlocks(blocks).length).toBeGreaterThan(0);
    expect(typescriptBlocks(blocks).length).toBeGreaterThan(0);
    // Markers are for fragments, and for examples that need what a test has not (the LLM example
    // needs provider keys): use them sparingly.
    expect(blocks.filter((b) => b.skip || b.typecheckOnly).length).toBeLessThanOrEqual(4);
  });

  it.each(configBlocks(blocks).map((b) => [b.line, b] as const))(
    'the configuration at README.md:%i is valid',
    (_line, block) => {
      const doc = block.lang === 'json' ? JSON.parse(block.code) : parse(block.code);
      // A top-level `domain` makes it an envoyproxy/ratelimit configuration (sluice/envoy).
      if (typeof doc === 'object' && doc !== null && 'domain' in doc) {
        expect(() => parseEnvoyConfig([{ source: `README.md:${block.line}`, document: doc }])).not.toThrow();
      } else expect(() => parseConfig(doc, `README.md:${block.line}`)).not.toThrow();
    },
  );

  it('reads the blocks, their fence lines and their markers', () => {
    const text = [
      '# T', // 1
      '```ts', // 2
      "const a = 'redis://localhost:6379/0';", // 3
      '```', // 4
      '<!-- snippet: typecheck-only -->', // 5
      '', // 6
      '```ts', // 7
      'a;', // 8
      '```', // 9
      '<!-- snippet: file=sluice.yaml -->', // 10
      '```yaml', // 11
      'prefix: x', // 12
      '```', // 13
      '<!-- snippet: skip -->', // 14
      '```ts', // 15
      '```', // 16
    ].join('\n');
    const blocks = readmeBlocks(text);
    expect(blocks.map((b) => [b.lang, b.line, b.skip, b.typecheckOnly, b.file ?? null])).toEqual([
      ['ts', 2, false, false, null],
      ['ts', 7, false, true, null],
      ['yaml', 11, false, false, 'sluice.yaml'],
      ['ts', 15, true, false, null],
    ]);
    expect(typescriptBlocks(blocks).map((b) => b.line)).toEqual([2, 7]);
    expect(configBlocks(blocks).map((b) => b.code)).toEqual(['prefix: x\n']);
    expect(withRedis(blocks[0]!.code, 'redis://127.0.0.1:41234')).toBe(
      "const a = 'redis://127.0.0.1:41234/0';\n",
    );
    expect(() => readmeBlocks('<!-- snippet: run-twice -->\n```ts\n```\n')).toThrow(
      'README.md:1: unknown snippet marker',
    );
    expect(() => readmeBlocks('```ts\nopen\n')).toThrow('README.md:1: the code block is not closed');
  });
});
