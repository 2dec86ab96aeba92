/**
 * Loads the config: defaults < YAML file < FTPFLEET_* environment < flags,
 * validated once against the schema. Every failure names the key, the value
 * and what is allowed.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { gatewayConfigSchema, type GatewayConfig } from './gatewaySchema.js';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {}

type Tree = Record<string, unknown>;

const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Leaf key paths of the config, taken from the fully defaulted object. */
function leafPaths(tree: Tree, prefix: string[] = []): string[][] {
  return Object.entries(tree).flatMap(([k, v]) => {
    // portRange defaults to an object but is written as a string.
    if (isTree(v) && !('min' in v)) return leafPaths(v, [...prefix, k]);
    return [[...prefix, k]];
  });
}

/** passive.portRange -> FTPFLEET_PASSIVE_PORT_RANGE */
export function envName(path: string[]): string {
  return 'FTPFLEET_' + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

/** Environment variables that set config keys, with the key each one sets. */
export function configEnvNames(schema: z.ZodType = configSchema): Array<{ env: string; key: string }> {
  return leafPaths(schema.parse({}) as Tree).map((p) => ({ env: envName(p), key: p.join('.') }));
}

export function setPath(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    if (!isTree(node[key])) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

function getPath(tree: unknown, path: PropertyKey[]): unknown {
  let node = tree;
  for (const key of path) {
    if (!isTree(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** Env and flag values are YAML scalars or flow lists: "2121", "true", "[a, b]". */
export function parseScalar(text: string): unknown {
  try {
    return parseYaml(text);
  } catch {
    return text;
  }
}

export function formatIssues(issues: z.core.$ZodIssue[], raw: unknown, source: string): string {
  const lines = issues.map((issue) => {
    const key = issue.path.join('.') || '(top level)';
    if (issue.code === 'unrecognized_keys') {
      const where = issue.path.length ? `under "${key}"` : 'at the top level';
      return `unknown config key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')} ${where}`;
    }
    const value = getPath(raw, issue.path);
    const shown = value === undefined ? 'nothing' : JSON.stringify(value);
    return `config key "${key}": got ${shown}; ${issue.message}`;
  });
  return `invalid configuration (${source}):\n  ${lines.join('\n  ')}`;
}

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Dotted key -> value, from command-line flags. */
  overrides?: Record<string, unknown>;
}

export function loadConfig(options: LoadOptions = {}): Config {
  return loadWith(configSchema, options);
}

/** The gateway's config: the same layering (file < FTPFLEET_* < flags) over its own schema. */
export function loadGatewayConfig(options: LoadOptions = {}): GatewayConfig {
  return loadWith(gatewayConfigSchema, options);
}

function loadWith<S extends z.ZodType>(schema: S, options: LoadOptions): z.infer<S> {
  let raw: Tree = {};
  const sources: string[] = [];
  if (options.file) {
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${options.file}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text) ?? {};
    } catch (err) {
      throw new ConfigError(`config file ${options.file} is not valid YAML: ${(err as Error).message}`);
    }
    if (!isTree(parsed)) throw new ConfigError(`config file ${options.file} must hold a mapping of keys`);
    raw = parsed;
    sources.push(options.file);
  }
  const env = options.env ?? {};
  for (const { env: name, key } of configEnvNames(schema)) {
    const value = env[name];
    if (value !== undefined) {
      setPath(raw, key.split('.'), parseScalar(value));
      sources.push(name);
    }
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(raw, key.split('.'), value);
    sources.push(`flag ${key}`);
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(formatIssues(result.error.issues, raw, sources.join(', ') || 'defaults'));
  }
  return result.data;
}
