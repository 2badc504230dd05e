/**
 * An open loop that really is one: requests sent at evenly spaced instants (`rate` per second, in
 * steps of about a millisecond), each on an idle keep-alive connection, one request at a time per
 * connection. Latency runs from the tick that found a request due, not from when a connection was
 * free, so a server that falls behind pays for the queue it causes (no coordinated omission).
 *
 * Why not autocannon's `overallRate`: each connection sends its quota of a second as fast as it can,
 * then waits for the next second, so "half the maximum" is a full-speed burst for half of every second
 * and its p99 is close to the saturated p99.
 *
 * The answers are parsed just enough for these servers: a status line and a Content-Length.
 */
import { connect, type Socket } from 'node:net';
import { build } from 'hdr-histogram-js';
import { contextOf } from './load.js';

export interface PacedLoadOptions {
  url: string;
  path: string;
  rate: number;
  seconds: number;
  connections: number;
  tenants: number;
}

export interface PacedFigures {
  requestsPerSec: number;
  p50Us: number;
  p99Us: number;
  non2xx: number;
  /** Requests due but not sent by the end (every connection busy): the server fell behind. */
  unsent: number;
}

interface Connection {
  socket: Socket;
  pending: Buffer;
  /** When the request in flight was due (performance.now(), ms); undefined: idle. */
  dueAt: number | undefined;
}

export async function runPacedLoad(o: PacedLoadOptions): Promise<PacedFigures> {
  const target = new URL(o.url);
  const histogram = build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
  const idle: Connection[] = [];
  const backlog: number[] = [];
  let next = 0;
  let done = 0;
  let non2xx = 0;
  // Every request of the run made before it starts: the loader's own garbage collections (2-5 ms
  // each on this machine) would otherwise hold requests back and show up in the server's p99.
  const requests = Array.from({ length: Math.ceil(o.rate * o.seconds) + 1 }, (_, i) => {
    const body = JSON.stringify(contextOf(i, o.tenants));
    const head = `POST ${o.path} HTTP/1.1\r\nhost: ${target.host}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    return Buffer.from(head + body);
  });
  const send = (c: Connection, dueAt: number) => {
    c.dueAt = dueAt;
    c.socket.write(requests[next++ % requests.length] as Buffer);
  };
  const answered = (c: Connection, status: number) => {
    histogram.recordValue(Math.max(1, Math.round((performance.now() - (c.dueAt as number)) * 1000)));
    if (status < 200 || status >= 300) non2xx++;
    done++;
    const due = backlog.shift();
    if (due === undefined) {
      c.dueAt = undefined;
      idle.push(c);
    } else send(c, due);
  };
  const connections = await Promise.all(Array.from({ length: o.connections }, () => open(target, answered)));
  idle.push(...connections);
  const start = performance.now();
  const end = start + o.seconds * 1000;
  const interval = 1000 / o.rate;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const dueNow = Math.floor((Math.min(now, end) - start) / interval);
      // Stamped when this tick finds them due: the timer's own lateness is the loader's, not the server's.
      for (; sent < dueNow; sent++) {
        const c = idle.pop();
        if (c) send(c, now);
        else backlog.push(now);
      }
      if (now < end) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  const unsent = backlog.length;
  backlog.length = 0;
  await waitUntil(() => idle.length === connections.length, 5000);
  for (const c of connections) c.socket.destroy();
  return {
    requestsPerSec: done / o.seconds,
    p50Us: histogram.getValueAtPercentile(50),
    p99Us: histogram.getValueAtPercentile(99),
    non2xx,
    unsent,
  };
}

function open(target: URL, answered: (c: Connection, status: number) => void): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.hostname, port: Number(target.port), noDelay: true });
    const c: Connection = { socket, pending: EMPTY, dueAt: undefined };
    socket.once('connect', () => resolve(c));
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      c.pending = c.pending.length === 0 ? chunk : Buffer.concat([c.pending, chunk]);
      for (let r = responseLength(c.pending); r !== undefined; r = responseLength(c.pending)) {
        const p = c.pending;
        const status =
          ((p[9] as number) - 48) * 100 + ((p[10] as number) - 48) * 10 + ((p[11] as number) - 48);
        c.pending = r === p.length ? EMPTY : p.subarray(r);
        answered(c, status);
      }
    });
  });
}

const EMPTY = Buffer.alloc(0);
const HEAD_END = Buffer.from('\r\n\r\n');
const LENGTH = Buffer.from('\r\ncontent-length:');

/** Bytes of the first complete response in `buffer`, or undefined while it is incomplete (no strings made). */
function responseLength(buffer: Buffer): number | undefined {
  const headEnd = buffer.indexOf(HEAD_END);
  if (headEnd < 0) return undefined;
  // Fastify writes the header in lower case; anything else is not one of these servers.
  let at = buffer.indexOf(LENGTH);
  if (at < 0 || at > headEnd) throw new Error('an answer without content-length');
  at += LENGTH.length;
  while (buffer[at] === 32) at++;
  let length = 0;
  for (let b = buffer[at] as number; b >= 48 && b <= 57; b = buffer[++at] as number)
    length = length * 10 + b - 48;
  const total = headEnd + 4 + length;
  return buffer.length >= total ? total : undefined;
}

function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (condition()) resolve();
      else if (Date.now() > deadline) reject(new Error('answers still outstanding after the run'));
      else setTimeout(poll, 5);
    };
    poll();
  });
}
