/**
 * The transport to a running service: the decision and admin endpoints of the HTTP API
 * (service-api), with Node's fetch. The admin token is SLUICE_ADMIN_TOKEN, the caller token
 * SLUICE_API_TOKEN; a connection that fails or does not answer within the timeout is `unreachable`.
 */
import type { Mode, RequestContext } from '../index.js';
import { CliFailure, invalid, unreachable } from './failures.js';
import type {
  Admin,
  AuditEntry,
  BlockTarget,
  CheckOutcome,
  HealthDocument,
  HealthReport,
  LimitUsage,
  ModeReport,
  ResetTarget,
  TenantEntry,
  TenantReport,
  TopEntry,
} from './transport.js';

const ADMIN = '/admin/ratelimit';

interface Call {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  body?: unknown;
  /** Which token authenticates it: the admin API's, the decision API's, or none (health). */
  token: 'admin' | 'api' | 'none';
  /** A non-2xx status that is still an answer to read. */
  acceptStatus?: number;
}

export class HttpAdmin implements Admin {
  readonly where: string;

  constructor(
    url: string,
    private readonly tokens: { admin?: string | undefined; api?: string | undefined },
    private readonly timeoutMs: number,
  ) {
    if (!/^https?:\/\/[^/]/.test(url))
      throw invalid('--url', `${JSON.stringify(url)} must be an http(s):// URL`);
    this.where = url.replace(/\/+$/, '');
  }

  async check(ctx: RequestContext, peek: boolean): Promise<CheckOutcome> {
    return this.call<CheckOutcome>(peek ? '/v1/peek' : '/v1/check', {
      method: 'POST',
      body: ctx,
      token: 'api',
    });
  }

  async tenant(tenant: string): Promise<TenantReport> {
    return this.call<TenantReport>(`${ADMIN}/tenants/${encodeURIComponent(tenant)}`, { token: 'admin' });
  }

  async status(ctx: RequestContext): Promise<LimitUsage[]> {
    const query = new URLSearchParams();
    for (const field of ['user', 'ip', 'endpoint'] as const) {
      const value = ctx[field];
      if (value !== undefined) query.set(field, value);
    }
    if (ctx.roles) query.set('roles', ctx.roles.join(','));
    const path = `${ADMIN}/tenants/${encodeURIComponent(ctx.tenant)}/status?${query}`;
    return (await this.call<{ limits: LimitUsage[] }>(path, { token: 'admin' })).limits;
  }

  async reset(tenant: string, target: ResetTarget): Promise<void> {
    const base = `${ADMIN}/tenants/${encodeURIComponent(tenant)}`;
    if (Object.keys(target).length === 0)
      await this.call(`${base}/reset`, { method: 'DELETE', token: 'admin' });
    else await this.call(`${base}/limits/reset`, { method: 'POST', body: target, token: 'admin' });
  }

  async top(tenant: string, count: number): Promise<TopEntry[]> {
    const path = `${ADMIN}/tenants/${encodeURIComponent(tenant)}/top?count=${count}`;
    return (await this.call<{ top: TopEntry[] }>(path, { token: 'admin' })).top;
  }

  async block(target: BlockTarget, duration: string | number): Promise<void> {
    await this.call(`${ADMIN}/blocks`, { method: 'POST', body: { ...target, duration }, token: 'admin' });
  }

  async unblock(target: BlockTarget): Promise<void> {
    await this.call(`${ADMIN}/blocks`, { method: 'DELETE', body: target, token: 'admin' });
  }

  async modes(): Promise<ModeReport> {
    const quotas = await this.call<{ mode: Mode; policies?: unknown; policyModes?: Record<string, Mode> }>(
      `${ADMIN}/quotas`,
      { token: 'admin' },
    );
    return { mode: quotas.mode, policies: { ...policyModesOf(quotas.policies), ...quotas.policyModes } };
  }

  async setMode(mode: Mode | null, policy?: string): Promise<number> {
    const body = policy === undefined ? { mode } : { mode, policy };
    return (await this.call<{ version: number }>(`${ADMIN}/mode`, { method: 'PUT', body, token: 'admin' }))
      .version;
  }

  async setTier(tenant: string, tier: string | null): Promise<number> {
    const path = `${ADMIN}/tenants/${encodeURIComponent(tenant)}/tier`;
    return (await this.call<{ version: number }>(path, { method: 'PUT', body: { tier }, token: 'admin' }))
      .version;
  }

  async health(): Promise<HealthDocument> {
    // 503 is the answer when the service is down (unhealthy): still a health document.
    const body = await this.call<{
      status: string;
      version?: string;
      uptimeSeconds?: number;
      ratelimit: HealthReport;
    }>('/health', { token: 'none', acceptStatus: 503 });
    const doc: HealthDocument = { status: body.ratelimit.status, report: body.ratelimit };
    if (body.version !== undefined) doc.version = body.version;
    if (body.uptimeSeconds !== undefined) doc.uptimeSeconds = body.uptimeSeconds;
    return doc;
  }

  async tenants(count: number): Promise<TenantEntry[]> {
    const path = `${ADMIN}/tenants?count=${count}`;
    return (await this.call<{ tenants: TenantEntry[] }>(path, { token: 'admin' })).tenants;
  }

  async audit(count: number): Promise<AuditEntry[]> {
    return (await this.call<{ entries: AuditEntry[] }>(`${ADMIN}/audit?count=${count}`, { token: 'admin' }))
      .entries;
  }

  async close(): Promise<void> {}

  /** One request; a non-2xx answer becomes a CliFailure carrying the problem body's detail. */
  private async call<T>(path: string, call: Call): Promise<T> {
    const method = call.method ?? 'GET';
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = call.token === 'none' ? undefined : this.tokens[call.token];
    if (token) headers.authorization = `Bearer ${token}`;
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.where}${path}`, {
        method,
        headers,
        ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      // fetch refuses some ports outright (the Fetch standard's "bad ports"): the URL is wrong, not the service.
      if ((error as { cause?: { message?: string } }).cause?.message === 'bad port') {
        throw invalid('--url', `${this.where}: fetch refuses to connect to this port (a "bad port")`);
      }
      throw unreachable(`${this.where}: ${connectionProblem(error, this.timeoutMs)}`);
    }
    if (!response.ok && response.status !== call.acceptStatus)
      throw refusal(method, path, response.status, text, call.token);
    try {
      return (text === '' ? {} : JSON.parse(text)) as T;
    } catch {
      throw new CliFailure(
        `${method} ${path.split('?')[0]}: the answer is not JSON: is ${this.where} a Sluice service?`,
      );
    }
  }
}

/** Why fetch failed, shortly: `connection refused (ECONNREFUSED)`, `no answer within 5000 ms`. */
function connectionProblem(error: unknown, timeoutMs: number): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const code = e.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED): is `sluice serve` running there?';
  return e.cause?.message ?? (code ? `${e.message} (${code})` : e.message);
}

/** A non-2xx answer: the problem body's detail, and what the status means for the CLI user. */
function refusal(
  method: string,
  path: string,
  status: number,
  text: string,
  token: Call['token'],
): CliFailure {
  let detail = text.slice(0, 500);
  try {
    const problem = JSON.parse(text) as { title?: string; detail?: string; field?: string };
    detail = problem.detail ?? problem.title ?? detail;
  } catch {
    // Not a problem body (a proxy's page?): its text, cut short.
  }
  const route = `${method} ${path.split('?')[0]}`;
  const hint =
    status === 401
      ? ` (set ${token === 'admin' ? 'SLUICE_ADMIN_TOKEN' : 'SLUICE_API_TOKEN'} to a token the service knows)`
      : status === 403
        ? ' (a read-only token: this needs a read-write one)'
        : status === 404 && path.startsWith(ADMIN)
          ? ' (no such tenant or route, or the admin API is off: the service has no admin token configured)'
          : '';
  const message = `${route}: ${status} ${detail}${hint}`;
  // 502-504: the service (or a proxy in front of it) cannot answer now; that is "unreachable".
  return new CliFailure(message, status >= 502 && status <= 504 ? 3 : 1);
}

/** The configured mode of each policy of the quotas endpoint (its definitions; default enforce). */
function policyModesOf(policies: unknown): Record<string, Mode> {
  const modes: Record<string, Mode> = {};
  if (!Array.isArray(policies)) return modes;
  for (const p of policies as Array<{ name?: string; mode?: Mode }>)
    if (p.name) modes[p.name] = p.mode ?? 'enforce';
  return modes;
}
