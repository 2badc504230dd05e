import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export const ADMIN = 'admin-token-0123456789abcdef';
export const READER = 'reader-token-0123456789abcdef';
export const CALLER = 'caller-token-0123456789abcdef';

export const TOKENS = {
  adminTokens: [
    { name: 'ops', token: ADMIN, access: 'write' as const },
    { name: 'viewer', token: READER, access: 'read' as const },
  ],
};

/** JSON over HTTP: status, headers and parsed body. */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers of many shapes, read field by field by the tests
): Promise<{ status: number; headers: Headers; body: any }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text,
  };
}

/** seed 004's endpoint tables, as a policy document. */
export function seed004Config(extra: Record<string, unknown> = {}) {
  const per = (n: number, window: string) => [{ algorithm: 'sliding-log', limit: n, window }];
  const table = (free: number, pro: number, enterprise: number, window = '1m') => ({
    free: per(free, window),
    pro: per(pro, window),
    enterprise: per(enterprise, window),
  });
  return {
    tiers: { free: { rps: 1000 }, pro: { rps: 1000 }, enterprise: { rps: 1000 } },
    tierPolicy: { enabled: false },
    tenants: { bigcorp: { tier: 'enterprise' }, smallco: { tier: 'pro' } },
    policies: [
      { name: 'auth-login', scope: 'endpoint', match: ['/auth/login'], tierLimits: table(5, 10, 20) },
      { name: 'campaigns', scope: 'endpoint', match: ['/campaigns'], tierLimits: table(10, 100, 1000) },
      { name: 'default', scope: 'global', tierLimits: table(10, 100, 1000) },
    ],
    ...extra,
  };
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly output: string[];
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
}

/** Starts `node dist/cli.js serve ...` and waits for its "listening on" line. */
export function startServerProcess(args: string[], env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['dist/cli.js', 'serve', '--port', '0', ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr?.on('data', (chunk) => output.push(String(chunk)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output.join('')}`)), 20_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      output.push(line);
      const match = /^sluice: listening on (http:\/\/\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1] as string, output, exited });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening: ${output.join('\n')}`));
    });
  });
}
