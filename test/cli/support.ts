import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { main } from '../../src/cli/main.js';

/** What one run of the CLI did. */
export interface Run {
  code: number;
  out: string;
  err: string;
}

/** main() in process, with captured output and an environment of the test's own (nothing inherited). */
export async function sluice(argv: string[], env: Record<string, string> = {}): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(argv, { write: (t) => (out += t) }, { write: (t) => (err += t) }, env);
  return { code, out, err };
}

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** `node dist/cli.js ...` as a child process (the build: `npm test` builds before it tests). */
export function sluiceProcess(argv: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...argv],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, out: stdout, err: stderr });
      },
    );
  });
}

/** A TCP port nothing listens on (bound once, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A temporary directory for the file's configuration documents, removed after the file. */
export function useTempDir(): { write(name: string, text: string): string } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
  };
}

/**
 * The policies the CLI tests decide against: 10 per minute per user, 100 per minute per tenant. The
 * store's time budget is generous (5 s, not 50 ms): the tests count exact admissions, and a loaded
 * machine must not turn a slow answer into a failure-mode decision.
 */
export function policyDocument(prefix: string): string {
  return `prefix: ${prefix}
tierPolicy: { enabled: false }
failure: { budget: 5s }
policies:
  - name: per-user
    scope: user
    limits:
      - { name: minute, limit: 10, window: 1m }
  - name: per-tenant
    scope: tenant
    additive: true
    limits:
      - { name: minute, limit: 100, window: 1m }
`;
}
