/**
 * A real Prometheus server for the observability tests (Debian's `prometheus` package; `.ci/run`
 * installs it when missing): started on a free port with its own data directory, scraping the targets
 * given every 500 ms and evaluating the rule files every 500 ms, queried over its HTTP API.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PROMETHEUS = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const PROMTOOL = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';

export interface PrometheusServer {
  readonly url: string;
  /** GET /api/v1/<path>, parsed; throws on an API error. */
  api<T = unknown>(path: string, params?: Record<string, string>): Promise<T>;
  /** An instant query's vector. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** Waits until `check` returns a value (not undefined), polling; throws after `timeoutMs`. */
  waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startPrometheus(targets: string[], ruleFiles: string[]): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-prometheus-'));
  const config = [
    'global:',
    '  scrape_interval: 500ms',
    '  evaluation_interval: 500ms',
    `rule_files: [${ruleFiles.map((f) => JSON.stringify(f)).join(', ')}]`,
    'scrape_configs:',
    '  - job_name: sluice',
    `    static_configs: [{ targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}] }]`,
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), `${config}\n`);
  const port = await freePort();
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // A test that crashes must not leave the server behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const api = async <T>(path: string, params: Record<string, string> = {}): Promise<T> => {
    const query = new URLSearchParams(params).toString();
    const response = await fetch(`${url}/api/v1/${path}${query ? `?${query}` : ''}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? response.status}`);
    return body.data;
  };
  const waitFor = async <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`prometheus: timed out waiting for ${what}\n${log}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const server: PrometheusServer = {
    url,
    api,
    query: async (expr) =>
      (
        await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>('query', {
          query: expr,
        })
      ).result,
    waitFor,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(undefined)));
      await rm(dir, { recursive: true, force: true });
    },
  };
  await waitFor('prometheus to be ready', async () => {
    const response = await fetch(`${url}/-/ready`);
    return response.ok ? true : undefined;
  });
  return server;
}
