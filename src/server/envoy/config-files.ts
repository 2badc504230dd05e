import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigError } from '../../index.js';
import { type EnvoyConfigDocument, type EnvoyRules, parseEnvoyConfig } from './config.js';

/**
 * Loads envoyproxy/ratelimit configuration files: each path a YAML file, or a directory whose
 * `*.yaml` / `*.yml` files are all loaded (as envoyproxy/ratelimit loads its runtime directory).
 * Scalars are read as text (YAML's failsafe schema), as envoyproxy/ratelimit's Go YAML reads them into
 * string fields: `value: 010` is the value "010".
 */
export function loadEnvoyConfig(paths: string | readonly string[]): EnvoyRules {
  const files = (typeof paths === 'string' ? [paths] : paths).flatMap(expand);
  if (files.length === 0)
    throw new ConfigError(
      [{ path: '', message: 'no configuration file given' }],
      'Envoy rate limit configuration',
    );
  return parseEnvoyConfig(files.map(readDocument));
}

function expand(path: string): string[] {
  let directory: boolean;
  try {
    directory = statSync(path).isDirectory();
  } catch (error) {
    throw new ConfigError(
      [{ path, message: `cannot read: ${(error as Error).message}` }],
      'Envoy rate limit configuration',
    );
  }
  if (!directory) return [path];
  return readdirSync(path)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => join(path, name));
}

function readDocument(path: string): EnvoyConfigDocument {
  const fail = (message: string): never => {
    throw new ConfigError([{ path, message }], 'Envoy rate limit configuration');
  };
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    fail(`cannot read: ${(error as Error).message}`);
  }
  const documents = parseAllDocuments(text, { schema: 'failsafe', uniqueKeys: true });
  if (!Array.isArray(documents)) return fail('is empty');
  if (documents.length !== 1)
    fail(documents.length === 0 ? 'is empty' : 'holds several YAML documents (one domain per file)');
  const [document] = documents;
  if (document && document.errors.length > 0) fail(`not valid YAML: ${document.errors[0]?.message}`);
  return { source: path, document: document?.toJS() };
}
