import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/policy/config.js';
import { configBlocks, readmeBlocks, typescriptBlocks } from './readme-blocks.js';

// The README is executable: its configuration blocks are valid configurations (here), and its
// TypeScript snippets type-check and run against the packed tarball (tarball.test.ts).

describe('README', () => {
  const blocks = readmeBlocks();

  it('has configuration blocks and TypeScript snippets, few of them exempted', () => {
    expect(configBlocks(blocks).length).toBeGreaterThan(0);
    expect(typescriptBlocks(blocks).length).toBeGreaterThan(0);
    // Markers are for fragments: use them sparingly.
    expect(blocks.filter((b) => b.skip || b.typecheckOnly).length).toBeLessThanOrEqual(3);
  });

  it.each(configBlocks(blocks).map((b) => [b.line, b] as const))(
    'the configuration at README.md:%i is valid',
    (_line, block) => {
      const doc = block.lang === 'json' ? JSON.parse(block.code) : parse(block.code);
      expect(() => parseConfig(doc, `README.md:${block.line}`)).not.toThrow();
    },
  );
});
