/**
 * The console's built files (dist/console, from `npm run build`), read once into memory: a few small
 * files, served with their type, an ETag and cache headers (hashed assets are immutable; index.html is
 * revalidated, and carries the Content-Security-Policy that keeps every request on this origin).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ConsoleAsset {
  body: Buffer;
  type: string;
  etag: string;
  immutable: boolean;
}

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
};

/** Where the built console is: beside the bundled server (dist/), or dist/console from the sources. */
export function consoleDir(): string | undefined {
  const here = moduleDir();
  const candidates = [
    join(here, 'console'),
    join(here, '..', 'console'),
    join(here, '..', '..', 'dist', 'console'),
  ];
  return candidates.find((dir) => existsSync(join(dir, 'index.html')));
}

/** Every file of the built console by its path under /console/ ("index.html", "assets/app-1a2b.js"). */
export function loadConsoleAssets(dir: string): Map<string, ConsoleAsset> {
  const assets = new Map<string, ConsoleAsset>();
  for (const file of walk(dir)) {
    const path = relative(dir, file).split(sep).join('/');
    const body = readFileSync(file);
    assets.set(path, {
      body,
      type: TYPES[extname(file)] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      immutable: path.startsWith('assets/'),
    });
  }
  return assets;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

function moduleDir(): string {
  // The CommonJS build has __dirname; the ESM build and the sources have import.meta.url.
  if (typeof __dirname === 'string') return __dirname;
  return dirname(fileURLToPath(import.meta.url));
}
