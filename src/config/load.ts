// Loads one YAML file plus KEYWARD_* environment overrides and validates the result with the one schema.
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { CONFIG_SECTIONS, configSchema, type KeywardConfig } from './index.ts';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const ENV_PREFIX = 'KEYWARD_';

/**
 * KEYWARD_SERVER__PORT=8300 sets server.port; segments are separated by a double underscore because keys contain
 * single ones. Values are read as YAML scalars (numbers, booleans, strings). Only variables whose first segment
 * names a top-level section are overrides; other KEYWARD_* variables (secret hashes, test settings) are not.
 */
export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out = structuredClone(raw);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const path = name.slice(ENV_PREFIX.length).toLowerCase().split('__');
    if (!CONFIG_SECTIONS.has(path[0]!)) continue;
    let node: Record<string, unknown> = out;
    for (const seg of path.slice(0, -1)) {
      const next = node[seg];
      if (next === undefined || next === null) node[seg] = {};
      else if (typeof next !== 'object' || Array.isArray(next)) throw new ConfigError([`${name}: ${seg} is not a section`]);
      node = node[seg] as Record<string, unknown>;
    }
    node[path.at(-1)!] = parseYaml(value);
  }
  return out;
}

export function formatIssues(issues: z.core.$ZodIssue[]): string[] {
  return issues.map((i) => {
    const path = i.path.length ? i.path.join('.') : '(root)';
    if (i.code === 'unrecognized_keys') return `${path}: unknown key(s) ${i.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    return `${path}: ${i.message}`;
  });
}

export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): KeywardConfig {
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(['(root): expected a mapping']);
  const merged = applyEnvOverrides(raw as Record<string, unknown>, env);
  const result = configSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues));
  return result.data;
}

export function loadConfigFile(path: string | undefined, env: NodeJS.ProcessEnv): KeywardConfig {
  let raw: unknown = {};
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new ConfigError([`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`]);
    }
    try {
      raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
    } catch (e) {
      if (e instanceof YAMLParseError) throw new ConfigError([`${path}: ${e.message.split('\n')[0]}`]);
      throw e;
    }
  }
  return parseConfig(raw, env);
}
