/** The correlation id of a request: its `x-request-id`, else the trace id of its W3C `traceparent`. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/;

export function correlationIdOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const id = first(headers['x-request-id']);
  if (id !== undefined && REQUEST_ID.test(id)) return id;
  const parent = first(headers.traceparent);
  const trace = parent === undefined ? undefined : TRACEPARENT.exec(parent.trim())?.[1];
  return trace === undefined || /^0+$/.test(trace) ? undefined : trace;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
