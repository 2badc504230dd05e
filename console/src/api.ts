/** The admin API from the browser: the token from sessionStorage, always in a header, never in a URL. */
const KEY = 'sluice.adminToken';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const token = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (value: string) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export const ADMIN = '/admin/ratelimit';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers of many shapes, read field by field by the views
export async function api(method: string, path: string, body?: unknown): Promise<any> {
  const headers: Record<string, string> = { authorization: `Bearer ${token.get() ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(ADMIN + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (error) {
    throw new ApiError(0, `the service is unreachable (${(error as Error).message})`);
  }
  const text = await response.text();
  const parsed = text.startsWith('{') ? JSON.parse(text) : text;
  if (!response.ok) {
    throw new ApiError(response.status, parsed?.detail ?? parsed?.title ?? `HTTP ${response.status}`);
  }
  return parsed;
}

export const enc = encodeURIComponent;

/**
 * Reads a server-sent event stream with fetch() (EventSource cannot send an Authorization header).
 * Calls onEvent for each event until aborted; rejects when the stream fails.
 */
export async function stream(
  path: string,
  signal: AbortSignal,
  onEvent: (event: string, data: unknown) => void,
): Promise<void> {
  const response = await fetch(ADMIN + path, {
    headers: { authorization: `Bearer ${token.get() ?? ''}`, accept: 'text/event-stream' },
    signal,
    cache: 'no-store',
  });
  if (!response.ok || !response.body)
    throw new ApiError(response.status, `live stream: HTTP ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      dispatch(buffer.slice(0, end), onEvent);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
    }
  }
}

function dispatch(block: string, onEvent: (event: string, data: unknown) => void): void {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
  }
  if (data.length > 0) onEvent(event, JSON.parse(data.join('\n')));
}
