/**
 * Tests of the published artifact, not of the source: the package is packed with `npm pack`, the tarball
 * is installed into a throwaway project, and that project uses it the way a consumer would (ESM import,
 * CommonJS require, TypeScript with NodeNext resolution in both module systems).
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis } from '../support/redis-servers.js';
import { readmeBlocks, typescriptBlocks, withRedis } from './readme-blocks.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ROOT_PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
};
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string, timeout = 110_000): RunResult {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout, env: process.env });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs a command without blocking the others (the README's snippets run side by side). */
function runAsync(command: string, args: string[], cwd: string, timeout = 30_000): Promise<RunResult> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd, env: process.env, timeout });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', fail);
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

/** Runs a command that must succeed; its output is in the failure message otherwise. */
function runOk(command: string, args: string[], cwd: string, timeout?: number): string {
  const result = run(command, args, cwd, timeout);
  expect(result.status, `${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

/** Runs a script of the consumer project with node and parses the one JSON line it prints. */
function runScript(file: string): unknown {
  const stdout = runOk(process.execPath, [file], app, 30_000);
  return JSON.parse(stdout.trim());
}

let tmp: string;
let app: string;
let tarball: string;
let tarballEntries: string[];

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'sluice-tarball-'));
  const packDir = join(tmp, 'pack');
  app = join(tmp, 'app');
  mkdirSync(packDir);
  mkdirSync(app);

  if (!existsSync(join(ROOT, 'dist'))) runOk('npm', ['run', 'build'], ROOT);
  runOk('npm', ['pack', '--pack-destination', packDir], ROOT);
  const tarballs = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
  expect(tarballs).toEqual([`${ROOT_PACKAGE.name}-${ROOT_PACKAGE.version}.tgz`]);
  tarball = join(packDir, tarballs[0]!);
  tarballEntries = runOk('tar', ['-tzf', tarball], tmp)
    .split('\n')
    .filter((line) => line !== '');

  writeFileSync(
    join(app, 'package.json'),
    `${JSON.stringify({ name: 'sluice-consumer', version: '1.0.0', private: true }, null, 2)}\n`,
  );
  runOk('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], app);
}, 120_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const LIMITS = `[{ name: 'per-second', limit: 2, window: '1s' }]`;

/** Body shared by the ESM and CJS scripts; `createLimiter` is in scope. */
const THREE_DECISIONS = `
  const limiter = createLimiter({ limits: ${LIMITS} });
  const decisions = [];
  for (let i = 0; i < 3; i++) decisions.push(await limiter.limit({ tenant: 't', key: 'k' }));
  await limiter.close();
  console.log(JSON.stringify({
    allowed: decisions.map((d) => d.allowed),
    remaining: decisions.map((d) => d.remaining),
    reasons: decisions.map((d) => d.reason),
    backend: decisions[0].backend,
    storeIsMemory: limiter.store instanceof MemoryStore,
  }));
`;

const EXPECTED_DECISIONS = {
  allowed: [true, true, false],
  remaining: [1, 0, 0],
  reasons: ['allowed', 'allowed', 'rate_limited'],
  backend: 'memory',
  storeIsMemory: true,
};

/** Body shared by the ESM and CJS scripts; `createLimiter`, `ValidationError`, `SluiceError` are in scope. */
const INVALID_COST = `
  const limiter = createLimiter({ limits: ${LIMITS} });
  let outcome = { rejected: false };
  try {
    await limiter.limit({ tenant: 't', key: 'k', cost: -1 });
  } catch (err) {
    outcome = {
      rejected: true,
      code: err.code,
      name: err.name,
      field: err.field,
      isValidationError: err instanceof ValidationError,
      isSluiceError: err instanceof SluiceError,
      isError: err instanceof Error,
    };
  }
  // Nothing was consumed by the invalid call.
  outcome.remainingAfter = (await limiter.peek({ tenant: 't', key: 'k' })).remaining;
  await limiter.close();
  console.log(JSON.stringify(outcome));
`;

const EXPECTED_INVALID_COST = {
  rejected: true,
  code: 'ERR_SLUICE_INVALID_COST',
  name: 'ValidationError',
  field: 'cost',
  isValidationError: true,
  isSluiceError: true,
  isError: true,
  remainingAfter: 2,
};

describe('packed tarball', () => {
  it('contains the build and the docs, and no sources or tests', () => {
    const required = [
      'package/package.json',
      'package/dist/index.js',
      'package/dist/index.cjs',
      'package/dist/index.d.ts',
      'package/dist/index.d.cts',
    ];
    if (existsSync(join(ROOT, 'README.md'))) required.push('package/README.md');
    expect(tarballEntries).toEqual(expect.arrayContaining(required));

    expect(
      tarballEntries.filter((e) => e.startsWith('package/src/') || e.startsWith('package/test/')),
    ).toEqual([]);
    expect(
      tarballEntries.filter((e) => /\.test\.|(^|\/)tsconfig|\.ts$/.test(e) && !e.endsWith('.d.ts')),
    ).toEqual([]);
    // Only the build output and the top-level metadata files npm always or explicitly includes.
    const allowedTopLevel = /^package\/(package\.json|README\.md|CHANGELOG\.md|LICENSE(\.md|\.txt)?)$/;
    // Besides them, the Envoy service's protos (sluice/envoy loads them at run time).
    const shipped = (e: string) => e.startsWith('package/dist/') || /^package\/proto\/.+\.proto$/.test(e);
    expect(tarballEntries.filter((e) => !shipped(e) && !allowedTopLevel.test(e))).toEqual([]);
    expect(tarballEntries).toContain('package/proto/envoy/service/ratelimit/v3/rls.proto');
  });

  it('exposes sluice/package.json to require and import', () => {
    writeFileSync(
      join(app, 'package-json.cjs'),
      `const pkg = require('sluice/package.json');
console.log(JSON.stringify({ name: pkg.name, version: pkg.version, path: require.resolve('sluice/package.json') }));
`,
    );
    writeFileSync(
      join(app, 'package-json.mjs'),
      `import { fileURLToPath } from 'node:url';
import pkg from 'sluice/package.json' with { type: 'json' };
console.log(JSON.stringify({
  name: pkg.name,
  version: pkg.version,
  path: fileURLToPath(import.meta.resolve('sluice/package.json')),
}));
`,
    );
    const expected = {
      name: ROOT_PACKAGE.name,
      version: ROOT_PACKAGE.version,
      path: join(app, 'node_modules', 'sluice', 'package.json'),
    };
    expect(runScript('package-json.cjs')).toEqual(expected);
    expect(runScript('package-json.mjs')).toEqual(expected);
  });

  it('exposes the HTTP adapters as sluice/express, sluice/fastify, sluice/hono without their frameworks installed', () => {
    // The frameworks are optional peer dependencies: the adapters import their types only.
    expect(existsSync(join(app, 'node_modules', 'express'))).toBe(false);
    writeFileSync(
      join(app, 'adapters.mjs'),
      `import { sluice as express } from 'sluice/express';
import fastify from 'sluice/fastify';
import { sluice as hono } from 'sluice/hono';
console.log(JSON.stringify({
  express: typeof express,
  fastify: typeof fastify,
  skipOverride: fastify[Symbol.for('skip-override')],
  hono: typeof hono,
}));
`,
    );
    writeFileSync(
      join(app, 'adapters.cjs'),
      `const express = require('sluice/express').sluice;
const fastify = require('sluice/fastify').default;
const hono = require('sluice/hono').sluice;
console.log(JSON.stringify({
  express: typeof express,
  fastify: typeof fastify,
  skipOverride: fastify[Symbol.for('skip-override')],
  hono: typeof hono,
}));
`,
    );
    const expected = { express: 'function', fastify: 'function', skipOverride: true, hono: 'function' };
    expect(runScript('adapters.mjs')).toEqual(expected);
    expect(runScript('adapters.cjs')).toEqual(expected);
  });

  it('exposes sluice/metrics (both module systems) once its optional peers are installed', () => {
    for (const name of ['prom-client', '@opentelemetry']) {
      const target = join(app, 'node_modules', name);
      if (!existsSync(target)) symlinkSync(join(ROOT, 'node_modules', name), target, 'dir');
    }
    const body = `const metrics = new SluiceMetrics();
metrics.decided({ decision: { id: '', at: 0, allowed: false, reason: 'rate_limited', tenant: 't', cost: 1,
  binding: { name: 'rpm' }, limits: [], remaining: 0, resetAt: 0, retryAfterMs: 1, backend: 'memory', path: 'store' },
  durationMs: 1 });
metrics.text().then((text) => console.log(JSON.stringify({
  observers: typeof observers, log: typeof DecisionLog, tracing: typeof DecisionTracing,
  rejected: /sluice_decisions_total\\{outcome="rejected"[^}]*\\} 1/.test(text),
})));
`;
    writeFileSync(
      join(app, 'metrics.mjs'),
      `import { DecisionLog, DecisionTracing, observers, SluiceMetrics } from 'sluice/metrics';\n${body}`,
    );
    writeFileSync(
      join(app, 'metrics.cjs'),
      `const { DecisionLog, DecisionTracing, observers, SluiceMetrics } = require('sluice/metrics');\n${body}`,
    );
    const expected = { observers: 'function', log: 'function', tracing: 'function', rejected: true };
    expect(runScript('metrics.mjs')).toEqual(expected);
    expect(runScript('metrics.cjs')).toEqual(expected);
  });

  it('exposes sluice/envoy (both module systems): its protos found in the package, a call answered', () => {
    const target = join(app, 'node_modules', '@grpc');
    if (!existsSync(target)) symlinkSync(join(ROOT, 'node_modules', '@grpc'), target, 'dir');
    const body = `const rules = parseEnvoyConfig([{ source: 'inline', document: { domain: 'd', descriptors: [
  { key: 'k', rate_limit: { unit: 'minute', requests_per_unit: 1 } }] } }]);
const service = createRateLimitService({ limiter: new Limiter({}), envoyConfig: rules });
const definition = loader.loadSync(RLS_PROTO, { includeDirs: [protoDir()], keepCase: true, enums: String });
const Service = grpc.loadPackageDefinition(definition).envoy.service.ratelimit.v3.RateLimitService;
startGrpcServer({ port: 0, service }).then(async (server) => {
  const client = new Service('127.0.0.1:' + server.port, grpc.credentials.createInsecure());
  const call = () => new Promise((ok, ko) => client.ShouldRateLimit(
    { domain: 'd', descriptors: [{ entries: [{ key: 'k', value: 'v' }] }] }, (e, r) => (e ? ko(e) : ok(r.overall_code))));
  const codes = [await call(), await call()];
  client.close();
  await server.close(1000);
  console.log(JSON.stringify({ dir: protoDir(), codes }));
});
`;
    writeFileSync(
      join(app, 'envoy.mjs'),
      `import * as grpc from '@grpc/grpc-js';\nimport * as loader from '@grpc/proto-loader';\nimport { Limiter } from 'sluice';\nimport { createRateLimitService, parseEnvoyConfig, protoDir, RLS_PROTO, startGrpcServer } from 'sluice/envoy';\n${body}`,
    );
    writeFileSync(
      join(app, 'envoy.cjs'),
      `const grpc = require('@grpc/grpc-js');\nconst loader = require('@grpc/proto-loader');\nconst { Limiter } = require('sluice');\nconst { createRateLimitService, parseEnvoyConfig, protoDir, RLS_PROTO, startGrpcServer } = require('sluice/envoy');\n${body}`,
    );
    const expected = { dir: join(app, 'node_modules', 'sluice', 'proto'), codes: ['OK', 'OVER_LIMIT'] };
    expect(runScript('envoy.mjs')).toEqual(expected);
    expect(runScript('envoy.cjs')).toEqual(expected);
  });

  it('works from ESM (import)', () => {
    writeFileSync(
      join(app, 'decisions.mjs'),
      `import { createLimiter, MemoryStore, ValidationError } from 'sluice';
if (typeof ValidationError !== 'function') throw new Error('ValidationError is not exported');
${THREE_DECISIONS}`,
    );
    expect(runScript('decisions.mjs')).toEqual(EXPECTED_DECISIONS);
  });

  it('works from CommonJS (require)', () => {
    writeFileSync(
      join(app, 'decisions.cjs'),
      `const { createLimiter, MemoryStore, ValidationError } = require('sluice');
if (typeof ValidationError !== 'function') throw new Error('ValidationError is not exported');
(async () => {
${THREE_DECISIONS}
})().catch((err) => { console.error(err); process.exit(1); });
`,
    );
    expect(runScript('decisions.cjs')).toEqual(EXPECTED_DECISIONS);
  });

  it('loads the CommonJS build for require and the ESM build for import', () => {
    writeFileSync(join(app, 'which-build.cjs'), `console.log(JSON.stringify(require.resolve('sluice')));\n`);
    writeFileSync(
      join(app, 'which-build.mjs'),
      `import { fileURLToPath } from 'node:url';
console.log(JSON.stringify(fileURLToPath(import.meta.resolve('sluice'))));
`,
    );
    const dist = join(app, 'node_modules', 'sluice', 'dist');
    expect(runScript('which-build.cjs')).toBe(join(dist, 'index.cjs'));
    expect(runScript('which-build.mjs')).toBe(join(dist, 'index.js'));
  });

  it('rejects an invalid cost with the exported ValidationError, from ESM', () => {
    writeFileSync(
      join(app, 'invalid-cost.mjs'),
      `import { createLimiter, SluiceError, ValidationError } from 'sluice';
${INVALID_COST}`,
    );
    expect(runScript('invalid-cost.mjs')).toEqual(EXPECTED_INVALID_COST);
  });

  it('rejects an invalid cost with the exported ValidationError, from CommonJS', () => {
    writeFileSync(
      join(app, 'invalid-cost.cjs'),
      `const { createLimiter, SluiceError, ValidationError } = require('sluice');
(async () => {
${INVALID_COST}
})().catch((err) => { console.error(err); process.exit(1); });
`,
    );
    expect(runScript('invalid-cost.cjs')).toEqual(EXPECTED_INVALID_COST);
  });

  describe.each([
    { type: 'module', declarations: 'index.d.ts' },
    { type: 'commonjs', declarations: 'index.d.cts' },
  ])('types, in a "type": "$type" TypeScript project', ({ type, declarations }) => {
    const CONSUMER_TS = `import { createLimiter, type Decision, type LimitDefinition, ValidationError } from 'sluice';

const limits: LimitDefinition[] = [{ name: 'per-second', limit: 2, window: '1s' }];
const limiter = createLimiter({ limits, penalty: false });

export async function remaining(tenant: string): Promise<number> {
  const decision: Decision = await limiter.limit({ tenant, key: 'k' });
  const allowed: boolean = decision.allowed;
  return allowed ? decision.remaining : -decision.retryAfterMs;
}

export function codeOf(err: unknown): string | undefined {
  return err instanceof ValidationError ? err.code : undefined;
}

// @ts-expect-error 'nope' is not an algorithm name.
export const wrong: LimitDefinition = { limit: 1, window: '1s', algorithm: 'nope' };
`;

    it('type-checks with NodeNext resolution and strict mode', () => {
      const dir = join(app, `ts-${type}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ type, private: true })}\n`);
      writeFileSync(
        join(dir, 'tsconfig.json'),
        `${JSON.stringify(
          {
            compilerOptions: {
              target: 'ES2022',
              module: 'NodeNext',
              moduleResolution: 'NodeNext',
              strict: true,
              noEmit: true,
              // ioredis' declarations need Node's; use the @types/node of the sluice project.
              typeRoots: [join(ROOT, 'node_modules', '@types')],
              types: ['node'],
            },
            files: ['consumer.ts'],
          },
          null,
          2,
        )}\n`,
      );
      writeFileSync(join(dir, 'consumer.ts'), CONSUMER_TS);

      const result = run(process.execPath, [TSC, '-p', 'tsconfig.json', '--listFiles'], dir, 170_000);
      expect(result.status, `tsc failed:\n${result.stdout}\n${result.stderr}`).toBe(0);
      const sluiceDeclarations = result.stdout
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line.includes('/node_modules/sluice/'));
      // The entry's declarations, plus the chunks it shares with the subpath entries (sluice/express...,
      // so that their PolicyLimiter is the same declaration), all of the same module system.
      const dist = join(dir, '..', 'node_modules', 'sluice', 'dist');
      expect(sluiceDeclarations).toContain(join(dist, declarations));
      const extension = declarations.endsWith('.d.cts') ? '.d.cts' : '.d.ts';
      expect(
        sluiceDeclarations.filter((file) => !file.startsWith(`${dist}/`) || !file.endsWith(extension)),
      ).toEqual([]);
    }, 180_000); // tsc over the installed declarations: 10-25 s here, more on a loaded machine
  });
});

/**
 * The README's TypeScript snippets, as pasted by a user: each one a module of a `"type": "module"`
 * project that installed the tarball (and the frameworks, for the HTTP ones), type-checked together
 * with tsc --strict (NodeNext), then each run with node (but those marked typecheck-only). Redis URLs
 * point at a redis-server of the test's own; configuration blocks marked `file=NAME` are written as
 * NAME beside them. A `console.log(...)` line ending in `// prints: TEXT` must print TEXT.
 */
describe('README snippets, against the packed tarball', () => {
  const blocks = readmeBlocks();
  const snippets = typescriptBlocks(blocks);
  let dir: string;
  let redis: RedisServer;
  let typecheck: RunResult;
  const runs = new Map<number, RunResult>();

  beforeAll(async () => {
    redis = await startRedis();
    dir = join(tmp, 'readme');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'package.json'),
      `${JSON.stringify({ name: 'sluice-readme', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`,
    );
    runOk('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], dir);
    // The optional peer dependencies and the types a TypeScript user installs, from this project.
    for (const name of [
      'express',
      'fastify',
      'hono',
      '@types',
      'prom-client',
      '@opentelemetry',
      'pino',
      '@grpc',
      'openai',
      '@anthropic-ai',
      '@google',
      'gpt-tokenizer',
    ]) {
      const target = join(dir, 'node_modules', name);
      if (!existsSync(target)) symlinkSync(join(ROOT, 'node_modules', name), target, 'dir');
    }
    for (const block of blocks) {
      if (block.file) writeFileSync(join(dir, block.file), withRedis(block.code, redis.url));
    }
    for (const snippet of snippets) {
      writeFileSync(
        join(dir, `snippet-${snippet.line}.ts`),
        `${withRedis(snippet.code, redis.url)}export {};\n`,
      );
      writeFileSync(
        join(dir, `run-${snippet.line}.mjs`),
        `await import('./out/snippet-${snippet.line}.js');\nprocess.exit(0);\n`,
      );
    }
    writeFileSync(
      join(dir, 'tsconfig.json'),
      `${JSON.stringify(
        {
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            skipLibCheck: true,
            outDir: 'out',
            types: ['node'],
          },
          files: snippets.map((s) => `snippet-${s.line}.ts`),
        },
        null,
        2,
      )}\n`,
    );
    typecheck = run(process.execPath, [TSC, '-p', 'tsconfig.json'], dir, 90_000);
    if (typecheck.status !== 0) return;
    const runnable = snippets.filter((s) => !s.typecheckOnly);
    const results = await Promise.all(
      runnable.map((s) => runAsync(process.execPath, [`run-${s.line}.mjs`], dir, 60_000)),
    );
    for (const [i, s] of runnable.entries()) runs.set(s.line, results[i]!);
  }, 180_000);

  afterAll(async () => {
    await redis?.stop();
  });

  it('type-check under strict mode, as pasted', () => {
    expect(snippets.length).toBeGreaterThan(0);
    // tsc reports README.md's lines: snippet-<fence line>.ts(<line>,<col>) is README.md:<fence + line>.
    const report = `${typecheck.stdout}${typecheck.stderr}`.replace(
      /snippet-(\d+)\.ts\((\d+),(\d+)\)/g,
      (_m, fence: string, line: string, col: string) => `README.md:${Number(fence) + Number(line)}:${col}`,
    );
    expect(typecheck.status, `tsc failed on the README's snippets:\n${report}`).toBe(0);
  });

  it.each(snippets.filter((s) => !s.typecheckOnly).map((s) => [s.line, s] as const))(
    'the snippet at README.md:%i runs',
    (line, snippet) => {
      expect(typecheck.status, 'the snippets do not type-check').toBe(0);
      const result = runs.get(line)!;
      expect(result.status, `README.md:${line} failed:\n${result.stdout}\n${result.stderr}`).toBe(0);
      const expected = snippet.code
        .split('\n')
        .map((l) => /^\s*console\.log\(.*\/\/ prints: (.*)$/.exec(l)?.[1]?.trim())
        .filter((l): l is string => l !== undefined);
      if (expected.length > 0) expect(result.stdout.trim().split('\n')).toEqual(expected);
    },
  );
});
