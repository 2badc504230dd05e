import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './config.js';

/** Reads a configuration file, YAML or JSON (JSON is YAML too), without validating it. */
export function loadConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([{ path: '', message: `cannot read ${path}: ${(error as Error).message}` }], path);
  }
  try {
    return parseYaml(text);
  } catch (error) {
    throw new ConfigError(
      [{ path: '', message: `not valid YAML or JSON: ${(error as Error).message}` }],
      path,
    );
  }
}
