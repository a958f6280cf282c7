// `keyward doctor --production [--config FILE] [--url URL] [--json]`: checks a configuration and the running
// deployment it names against the production checklist; one line per item (pass, warn or fail, and what to do).
import { readFileSync } from 'node:fs';
import type { KeywardConfig } from '../../config/index.ts';
import { ConfigError, loadConfigFile } from '../../config/load.ts';
import { integerOption, isHelp, parseCommand, usageError, UsageError } from '../args.ts';
import { type CheckResult, runDoctor } from '../doctor/index.ts';
import { EXIT, type CliIo } from '../io.ts';
import { toProblem } from './config.ts';

const USAGE = `usage: keyward doctor --production [--config FILE] [--url URL] [--token T] [--ca FILE] [--cert FILE --key FILE]
                      [--hyok-lockout SECONDS] [--audit-key-backup FILE] [--timeout SECONDS] [--json]
  Checks the configuration and the running deployment it names against the production checklist: TLS on every
  listener, PostgreSQL, a policy decision point that denies by default and fails closed (probed with a request it
  must deny, evaluated only), JWT or mTLS authentication, a durable audit sink that answers, the audit signing key
  (owner only, the key the server signs with, and its backup), an HSM key provider, the key cache TTL against the
  HYOK lockout bound, /metrics, /healthz and /readyz. Nothing is changed.
  --production          the production checklist (the only one so far)
  --config FILE         the deployment's configuration (default: $KEYWARD_CONFIG), read with its KEYWARD_* overrides
  --url URL             where the deployment answers (default: server.base_url, else the configured listener)
  --token T             a credential granted authz:Explain, for the server-side PDP probe (default: $KEYWARD_TOKEN)
  --ca FILE             CA bundle that signed the server certificate; --cert/--key: a client certificate (mTLS)
  --hyok-lockout SECONDS  the longest a revoked key may keep working; keys.cache_ttl must not exceed it
  --audit-key-backup FILE a backup copy of the audit signing key, checked to be the same key
  --timeout SECONDS     per probe (default 10)
  --json                {"ok":…,"summary":{"pass":n,"warn":n,"fail":n},"checks":[{"id","title","status","detail","fix"}]}
  exit 0 nothing failed (warnings allowed), 1 something failed, 2 usage, 3 the configuration cannot be read`;

const OPTIONS = {
  production: { type: 'boolean' },
  config: { type: 'string', short: 'c' },
  url: { type: 'string' },
  token: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'hyok-lockout': { type: 'string' },
  'audit-key-backup': { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** Where a configuration's REST listener answers, seen from this machine. */
function defaultUrl(config: KeywardConfig): string {
  if (config.server.base_url) return config.server.base_url;
  const host = ['0.0.0.0', '::', ''].includes(config.server.host) ? '127.0.0.1' : config.server.host;
  return `${config.server.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${config.server.port}`;
}

function readOption(path: string | undefined, name: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`${name}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  if (isHelp(argv[0])) {
    io.out(USAGE);
    return EXIT.ok;
  }
  const parsed = parseCommand(argv, io, { usage: USAGE, options: OPTIONS, args: [] });
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  if (!v.production) return usageError(io, USAGE, 'doctor needs --production (the production checklist is the only one)');
  const configFile = v.config ?? io.env['KEYWARD_CONFIG'];
  if (!configFile) return usageError(io, USAGE, 'doctor needs --config FILE (or KEYWARD_CONFIG)');

  let input;
  try {
    if ((v.cert === undefined) !== (v.key === undefined)) throw new UsageError('--cert and --key go together');
    const timeoutMs = 1000 * integerOption('--timeout', v.timeout, 10);
    const lockout = v['hyok-lockout'] === undefined ? undefined : 1000 * integerOption('--hyok-lockout', v['hyok-lockout'], 0, 0);
    let url: URL | undefined;
    if (v.url !== undefined) {
      try {
        url = new URL(v.url);
      } catch {
        throw new UsageError(`--url is not a URL: ${JSON.stringify(v.url)}`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--url must be an http:// or https:// URL');
    }
    const probeFiles = { ca: readOption(v.ca, '--ca'), cert: readOption(v.cert, '--cert'), key: readOption(v.key, '--key') };
    let config: KeywardConfig;
    try {
      config = loadConfigFile(configFile, io.env);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const p of e.problems) io.err(`error: ${p}`);
      io.err('the configuration cannot be read; `keyward config check FILE` says the same');
      // --json promises one document on stdout: the same errors as `config check --json`, with nothing probed.
      if (v.json) io.out(JSON.stringify({ ok: false, config: configFile, errors: e.problems.map(toProblem) }));
      return EXIT.config;
    }
    input = {
      config,
      env: io.env,
      probe: { url: (url?.toString() ?? defaultUrl(config)).replace(/\/$/, ''), token: v.token ?? (io.env['KEYWARD_TOKEN'] || undefined), ...probeFiles, timeoutMs },
      hyokLockoutMs: lockout,
      auditKeyBackup: v['audit-key-backup'],
    };
  } catch (e) {
    if (e instanceof UsageError) return usageError(io, USAGE, e.message);
    throw e;
  }

  const results = await runDoctor(input);
  const summary = { pass: 0, warn: 0, fail: 0 };
  for (const r of results) summary[r.status]++;
  const ok = summary.fail === 0;
  if (v.json) {
    io.out(JSON.stringify({ ok, config: configFile, url: input.probe.url, summary, checks: results }));
  } else {
    io.out(`keyward doctor --production: ${configFile} against ${input.probe.url}`);
    const width = Math.max(...results.map((r) => r.title.length));
    for (const r of results) io.out(line(r, width));
    io.out(`${summary.pass} pass, ${summary.warn} warn, ${summary.fail} fail`);
  }
  return ok ? EXIT.ok : EXIT.failure;
}

function line(r: CheckResult, width: number): string {
  return `${r.status.toUpperCase().padEnd(4)}  ${r.title.padEnd(width)}  ${r.detail}${r.fix ? ` -> ${r.fix}` : ''}`;
}
