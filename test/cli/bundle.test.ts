/**
 * The built `sluice` loads only what a verb needs: what dist/cli.js imports statically (its chunks,
 * followed through) names none of the service's or the store's dependencies. So `--version`, `--help`
 * and the verbs over HTTP start fast, and work where the optional peers (Fastify, gRPC) are absent.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from './support.js';

/** Every package a file imports statically, following its relative imports (the chunks). */
function staticPackages(file: string, seen = new Set<string>(), packages = new Set<string>()): Set<string> {
  if (seen.has(file)) return packages;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  // Static imports only: `import ... from "x"` and `import "x"`, not `import("x")`.
  for (const match of text.matchAll(/^(?:import|export)\s[^;(]*?["']([^"']+)["'];?$/gm)) {
    const target = match[1] as string;
    if (target.startsWith('.')) staticPackages(join(dirname(file), target), seen, packages);
    else packages.add(target);
  }
  return packages;
}

describe('dist/cli.js', () => {
  it('imports no store, configuration or service dependency before a verb asks for it', () => {
    const packages = [...staticPackages(CLI)].sort();
    for (const heavy of ['zod', 'ioredis', 'yaml', 'fastify', '@grpc/grpc-js', 'prom-client']) {
      expect(packages).not.toContain(heavy);
    }
    expect(packages).toContain('util');
  });
});
