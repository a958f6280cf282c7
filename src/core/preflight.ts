// Start-up checks that need no network and no store: secrets present, files readable. Plug-ins (authenticators,
// PDPs, audit sinks, key providers) each declare theirs; `serve` runs them before it starts and `config check`
// runs the same ones, so a configuration that passes the one is not refused by the other for these reasons.
import { accessSync, constants } from 'node:fs';

/** A configuration problem, with the dotted path of the field to fix (e.g. authn.authenticators.1.issued_at_env). */
export interface ConfigProblem {
  path: string;
  message: string;
}

export interface PreflightContext {
  env: NodeJS.ProcessEnv;
  production: boolean;
}

/** A file the configuration names that the process cannot read, as a problem of `field`. */
export function unreadable(path: string | undefined, field: string): ConfigProblem[] {
  if (path === undefined) return [];
  try {
    accessSync(path, constants.R_OK);
    return [];
  } catch (e) {
    return [{ path: field, message: `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})` }];
  }
}

/**
 * Runs a loader that throws `Error("<field>: <message>")` (the start-up loaders' format) and returns what it threw
 * as a problem of `field`, so preflight and start-up share one loader and one wording.
 */
export function attempt(field: string, load: () => unknown): ConfigProblem[] {
  try {
    load();
    return [];
  } catch (e) {
    const text = (e as Error).message;
    return [{ path: field, message: text.startsWith(`${field}: `) ? text.slice(field.length + 2) : text }];
  }
}

/** The problems as one start-up error: one line each, `path: message`. */
export function preflightError(what: string, problems: ConfigProblem[]): Error {
  if (problems.length === 1) return new Error(`${problems[0]!.path}: ${problems[0]!.message}`);
  return new Error(`${what}:\n  ${problems.map((p) => `${p.path}: ${p.message}`).join('\n  ')}`);
}
