/**
 * The README's fenced code blocks, for the tests that keep its examples true (test/package/readme.test.ts
 * validates the configuration blocks, test/package/tarball.test.ts type-checks and runs the TypeScript
 * ones against the packed tarball).
 *
 * A block may be preceded (on the line before its fence, blank lines allowed) by a marker:
 *   <!-- snippet: typecheck-only -->   a TypeScript block that is type-checked but not run
 *   <!-- snippet: skip -->             a block that is neither checked nor run (a shape, a fragment)
 *   <!-- snippet: file=NAME -->        a configuration block the TypeScript snippets read as file NAME
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const README = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'README.md');

export interface Block {
  /** The fence's info string: `ts`, `yaml`, `json`, `sh`, or '' for plain text. */
  lang: string;
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  skip: boolean;
  typecheckOnly: boolean;
  /** The file name the block is written to for the snippets (`file=NAME`). */
  file?: string;
}

const MARKER = /^<!--\s*snippet:\s*(typecheck-only|skip|file=[\w.-]+)\s*-->$/;

export function readmeBlocks(text = readFileSync(README, 'utf8')): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i += 1; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    if (i >= lines.length) throw new Error(`README.md:${start + 1}: the code block is not closed`);
    let previous = start - 1;
    while (previous >= 0 && lines[previous]!.trim() === '') previous--;
    const marker = previous >= 0 ? MARKER.exec(lines[previous]!.trim())?.[1] : undefined;
    if (previous >= 0 && !marker && /^<!--\s*snippet/.test(lines[previous]!.trim()))
      throw new Error(`README.md:${previous + 1}: unknown snippet marker ${lines[previous]}`);
    blocks.push({
      lang: open[1]!,
      line: start + 1,
      code: `${body.join('\n')}\n`,
      skip: marker === 'skip',
      typecheckOnly: marker === 'typecheck-only',
      ...(marker?.startsWith('file=') ? { file: marker.slice('file='.length) } : {}),
    });
  }
  return blocks;
}

/** Configuration blocks: every yaml or json block not marked skip. */
export function configBlocks(blocks = readmeBlocks()): Block[] {
  return blocks.filter((b) => (b.lang === 'yaml' || b.lang === 'json') && !b.skip);
}

/** TypeScript blocks not marked skip. */
export function typescriptBlocks(blocks = readmeBlocks()): Block[] {
  return blocks.filter((b) => (b.lang === 'ts' || b.lang === 'typescript') && !b.skip);
}

/** A snippet's Redis URLs pointed at the test's own server (never the Redis on localhost:6379). */
export function withRedis(code: string, url: string): string {
  return code.replace(/redis:\/\/(localhost|127\.0\.0\.1):6379/g, url);
}
