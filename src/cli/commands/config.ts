// `keyward config check FILE [--json]`: validate without starting. Beyond the schema it runs the start-up checks
// that need no running server (secrets from the environment, files serve reads at start), so that a
// configuration passing here is not refused by `serve` for those reasons. Exit 3 on any problem, each with its path.
import { existsSync } from 'node:fs';
import { loadSigningKey } from '../../audit/keys.ts';
import { sinksPreflight } from '../../audit/sinks/index.ts';
import { authnMembers, authnPreflight } from '../../authn/config.ts';
import { pdpPreflight } from '../../authz/config.ts';
import type { KeywardConfig } from '../../config/index.ts';
import { unreadable } from '../../core/preflight.ts';
import { ConfigError, loadConfigFile } from '../../config/load.ts';
import { idpSettings } from '../../idp/config.ts';
import { directoryStartupProblems } from '../../idp/directories/index.ts';
import { productionProblems } from '../../config/production.ts';
import { providersPreflight } from '../../keys/providers/index.ts';
import { isHelp, parseCommand, usageError } from '../args.ts';
import { EXIT, type CliIo } from '../io.ts';

const USAGE = `usage: keyward config check FILE [--json]
  Validates FILE (with KEYWARD_* overrides from the environment) as \`keyward serve\` would, without starting:
  the schema, production-mode rules, the audit signing key file and sinks, each authenticator's secrets and files
  (API key and bootstrap token hashes, CA files), the TLS and policy files the configuration names, and the key
  providers' PIN and files.
  --json: print {"ok":true,"mode":...,"storage":...} or {"ok":false,"errors":[{"path":...,"message":...}]} on stdout
  exit 0 valid, 3 invalid (each problem with its field path), 2 usage`;

export interface ConfigProblem {
  /** Dotted field path (e.g. audit.signing_key_path, authn.keys.0.hash_env); null when it is about the file itself. */
  path: string | null;
  message: string;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (isHelp(sub)) {
    io.out(USAGE);
    return EXIT.ok;
  }
  if (sub !== 'check') return usageError(io, USAGE, sub === undefined ? 'missing config command' : `unknown config command ${JSON.stringify(sub)}`);
  const parsed = parseCommand(rest, io, { usage: USAGE, options: { json: { type: 'boolean' } }, args: ['FILE'] });
  if (typeof parsed === 'number') return parsed;
  const file = parsed.positionals[0]!;
  const json = parsed.values.json === true;

  let config: KeywardConfig;
  const errors: ConfigProblem[] = [];
  const warnings: string[] = [];
  try {
    config = loadConfigFile(file, io.env);
    const production = productionProblems(config);
    errors.push(...production.errors.map(toProblem));
    warnings.push(...production.warnings);
    const startup = await startupProblems(config, io.env);
    errors.push(...startup.errors);
    warnings.push(...startup.warnings);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return report(io, json, { errors: e.problems.map(toProblem), warnings });
  }
  return report(io, json, { errors, warnings, ok: { file, mode: config.mode, storage: config.storage.type } });
}

function report(io: CliIo, json: boolean, r: { errors: ConfigProblem[]; warnings: string[]; ok?: { file: string; mode: string; storage: string } }): number {
  const valid = r.errors.length === 0 && r.ok !== undefined;
  if (json) {
    io.out(JSON.stringify(valid ? { ok: true, ...r.ok, warnings: r.warnings } : { ok: false, errors: r.errors, warnings: r.warnings }));
  } else {
    for (const w of r.warnings) io.err(`warning: ${w}`);
    for (const e of r.errors) io.err(`error: ${e.path === null ? '' : `${e.path}: `}${e.message}`);
    if (valid) io.out(`${r.ok!.file}: ok (mode ${r.ok!.mode}, storage ${r.ok!.storage})`);
  }
  return valid ? EXIT.ok : EXIT.config;
}

/** Splits "path: message" (the loaders' format) or "a.dotted.path message" (some production rules). */
export function toProblem(text: string): ConfigProblem {
  const colon = /^([\w.()[\]-]+): (.*)$/s.exec(text);
  if (colon) return { path: colon[1]!, message: colon[2]! };
  const dotted = /^([a-z_]+(?:\.\w+)+) (.*)$/s.exec(text);
  if (dotted) return { path: dotted[1]!, message: dotted[2]! };
  return { path: null, message: text };
}

/** The checks `serve` makes at start that need neither the store nor the network, reusing its own loaders. */
export async function startupProblems(config: KeywardConfig, env: NodeJS.ProcessEnv): Promise<{ errors: ConfigProblem[]; warnings: string[] }> {
  const errors: ConfigProblem[] = [];
  const warnings: string[] = [];
  const production = config.mode === 'production';
  const readable = (path: string | undefined, field: string) => errors.push(...unreadable(path, field));

  const audit = config.audit;
  // Dev mode creates a missing key at start, so only an existing one can be wrong there.
  if (audit?.enabled && audit.signing_key_path && (production || existsSync(audit.signing_key_path))) {
    try {
      await loadSigningKey(audit.signing_key_path, { strict: production, warn: (m) => warnings.push(`audit.signing_key_path: ${m}`) });
    } catch (e) {
      errors.push({ path: 'audit.signing_key_path', message: (e as Error).message });
    }
  }

  // Each sink's own checks (a file sink's directory writable, NATS addresses well formed). serve starts regardless,
  // unready until the sink can be written; config check says so before that happens.
  if (audit?.enabled) errors.push(...sinksPreflight(audit.sinks, { env, production }));

  const tls = config.server.tls;
  if (tls) {
    readable(tls.cert_file, 'server.tls.cert_file');
    readable(tls.key_file, 'server.tls.key_file');
    readable(tls.client_ca_file, 'server.tls.client_ca_file');
  }

  // Each authenticator's own checks (secrets present, files readable), at its real path inside a chain.
  if (config.authn) errors.push(...authnPreflight(authnMembers(config.authn), { env, production }));

  const idp = idpSettings(config.idp);
  if (idp) {
    // Each realm's user directory: its secrets present, its files readable (no connection is made).
    for (const m of directoryStartupProblems(idp, env)) errors.push(toProblem(m));
    idp.realms.forEach((r, i) => {
      if (r.directory.type !== 'ldap') return;
      readable(r.directory.tls.ca_file, `idp.realms.${i}.directory.tls.ca_file`);
      readable(r.directory.tls.cert_file, `idp.realms.${i}.directory.tls.cert_file`);
      readable(r.directory.tls.key_file, `idp.realms.${i}.directory.tls.key_file`);
    });
  }

  // Key providers: PIN present (file or environment), files readable, a PIN file owner-only in production.
  errors.push(...providersPreflight(config.keys.providers, { env, production }));

  // The configured PDP's own checks (policy and TLS files readable).
  errors.push(...pdpPreflight(config.authz, { env, production }));
  return { errors, warnings };
}
