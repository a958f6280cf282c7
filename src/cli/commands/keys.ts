// `keyward keys create|list|show|rotate|release|sign|verify|encrypt|decrypt` against a running server.
import { readFileSync } from 'node:fs';
import type { ParseArgsOptionsConfig } from 'node:util';
import { isHelp, parseCommand, usageError, UsageError, type CommandSpec, type OptionValues } from '../args.ts';
import { ApiError, call, CLIENT_OPTIONS, CLIENT_USAGE, clientOptions, runClient, type ClientOptions } from '../client.ts';
import { EXIT, type CliIo } from '../io.ts';
import { KEY_STATES } from '../../core/keys.ts';
import { KEY_TYPES } from '../../keys/families/index.ts';
import { PROVIDER_NAMES } from '../../keys/providers/types.ts';

const USAGE = `usage: keyward keys <command> [options]
  create ID --type TYPE [--provider P] [--overwrite] [--label NAME=VALUE]...  create a key ('keys create --help': the types)
  list [--state STATE] [--provider P] [--label NAME=VALUE]...    list keys (STATE: ${KEY_STATES.join(', ')})
  show ID                                           describe a key and its versions
  rotate ID                                         add a new current version
  release ID                                        schedule the key for destruction after the grace period
  sign ID (--message TEXT | --message-file FILE | --digest B64 [--hash SHA-256]) [--raw]
  verify ID --signature B64 (--message TEXT | --message-file FILE | --digest B64 [--hash SHA-256]) [--raw]
  encrypt ID (--plaintext TEXT | --plaintext-file FILE) [--aad TEXT]
  decrypt ID --ciphertext B64 [--aad TEXT]          writes the plaintext bytes as they are (--json: base64)
${CLIENT_USAGE}
'keyward keys COMMAND --help' describes one command.`;

function spec<const O extends ParseArgsOptionsConfig>(line: string, options: O, args: readonly string[] = ['ID']) {
  return {
    usage: `usage: keyward keys ${line}\n${CLIENT_USAGE}`,
    args,
    options: { ...CLIENT_OPTIONS, ...options },
  } satisfies CommandSpec<ParseArgsOptionsConfig>;
}

const LABEL = { label: { type: 'string', multiple: true } } as const;
const INPUT = { message: { type: 'string' }, 'message-file': { type: 'string' }, digest: { type: 'string' }, hash: { type: 'string' }, raw: { type: 'boolean' } } as const;
const AAD = { aad: { type: 'string' } } as const;

const SPECS = {
  create: spec(
    `create ID --type TYPE [--provider ${PROVIDER_NAMES.join('|')}] [--overwrite] [--label NAME=VALUE]...
  --type TYPE    one of ${KEY_TYPES.join(', ')}
  --provider P   where the key material lives: software (sealed in the database, the default), pkcs11 or kmip (an HSM)
  --overwrite    replace an existing key with this id (needs the overwrite permission; keys.allow_overwrite)`,
    { type: { type: 'string' }, provider: { type: 'string' }, overwrite: { type: 'boolean' }, ...LABEL },
  ),
  list: spec(
    `list [--state STATE] [--provider ${PROVIDER_NAMES.join('|')}] [--label NAME=VALUE]...\n  --state STATE  one of ${KEY_STATES.join(', ')}`,
    { state: { type: 'string' }, provider: { type: 'string' }, ...LABEL },
    [],
  ),
  show: spec('show ID', {}),
  rotate: spec('rotate ID', {}),
  release: spec('release ID', {}),
  sign: spec('sign ID (--message TEXT | --message-file FILE | --digest B64 [--hash SHA-256]) [--raw]\n  --raw: ECDSA signature as r||s instead of DER', INPUT),
  verify: spec('verify ID --signature B64 (--message TEXT | --message-file FILE | --digest B64 [--hash SHA-256]) [--raw]\n  --raw: the signature is ECDSA r||s instead of DER\n  exit 0 when valid, 1 when not', { ...INPUT, signature: { type: 'string' } }),
  encrypt: spec('encrypt ID (--plaintext TEXT | --plaintext-file FILE) [--aad TEXT]', { plaintext: { type: 'string' }, 'plaintext-file': { type: 'string' }, ...AAD }),
  decrypt: spec('decrypt ID --ciphertext B64 [--aad TEXT]\n  writes the plaintext bytes to stdout exactly as they are (no newline added); --json gives base64', { ciphertext: { type: 'string' }, ...AAD }),
};

type Sub = keyof typeof SPECS;
type Values<S extends Sub> = OptionValues<(typeof SPECS)[S]['options']>;

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const enc = encodeURIComponent;

function readArgFile(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${option} ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function labels(values: string[] | undefined): Array<[string, string]> {
  return (values ?? []).map((l) => {
    const i = l.indexOf('=');
    if (i <= 0) throw new UsageError(`--label must be NAME=VALUE, not ${JSON.stringify(l)}`);
    return [l.slice(0, i), l.slice(i + 1)];
  });
}

/** The data to sign or verify: exactly one source, so a forgotten or doubled option never signs the wrong bytes. */
function signInput(v: Values<'sign'>): Record<string, string> {
  const given = (['message', 'message-file', 'digest'] as const).filter((k) => v[k] !== undefined);
  if (given.length === 0) throw new UsageError('give the data: --message TEXT, --message-file FILE or --digest B64');
  if (given.length > 1) throw new UsageError(`${given.map((k) => `--${k}`).join(' and ')} cannot be combined; give one`);
  if (v.hash !== undefined && v.digest === undefined) throw new UsageError('--hash goes with --digest');
  if (v.digest !== undefined) return { digest: v.digest, hash_algorithm: v.hash ?? 'SHA-256' };
  const message = v['message-file'] !== undefined ? readArgFile('--message-file', v['message-file']) : Buffer.from(v.message!, 'utf8');
  return { message: message.toString('base64') };
}

/** A value from a fixed list, or a usage error that names the list (checked here: a typo should not cost a request). */
function oneOf<T extends string>(option: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${option} must be one of ${allowed.join(', ')}, not ${JSON.stringify(value)}`);
  return value as T;
}

const str = (v: unknown) => (v === null || v === undefined || v === '' ? '-' : String(v));

function showKey(r: Record<string, unknown>): string {
  const labelText = Object.entries((r['labels'] ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(', ');
  const lines = [
    `key:          ${str(r['key_id'])}`,
    `type:         ${str(r['key_type'])}`,
    `state:        ${str(r['state'])}`,
    `origin:       ${str(r['origin'])}`,
    `provider:     ${str(r['provider'])}`,
    `version:      ${str(r['current_version'])} (current)`,
    `fingerprint:  ${str(r['fingerprint'])}`,
    `labels:       ${labelText || '-'}`,
    ...(r['description'] ? [`description:  ${String(r['description'])}`] : []),
    `created:      ${str(r['created_at'])}`,
    `updated:      ${str(r['updated_at'])}`,
    ...(r['destroy_at'] ? [`destroy at:   ${String(r['destroy_at'])}`] : []),
    'versions:',
    ...((r['versions'] ?? []) as Array<Record<string, unknown>>).map(
      (v) => `  v${str(v['version'])}  ${str(v['fingerprint'])}  created ${str(v['created_at'])}${v['destroyed_at'] ? `  destroyed ${String(v['destroyed_at'])}` : ''}`,
    ),
  ];
  return lines.join('\n');
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (isHelp(sub)) {
    io.out(USAGE);
    return EXIT.ok;
  }
  if (sub === undefined) return usageError(io, USAGE, 'missing keys command');
  if (!Object.hasOwn(SPECS, sub)) return usageError(io, USAGE, `unknown keys command ${JSON.stringify(sub)}`);
  const name = sub as Sub;
  const parsed = parseCommand(rest, io, SPECS[name]);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const id = positionals[0]!;
  return runClient(io, SPECS[name].usage, async () => {
    const opts = clientOptions(values, io);
    const out = (r: Record<string, unknown>, human: string) => {
      io.out(values.json ? JSON.stringify(r) : human);
      return EXIT.ok;
    };
    switch (name) {
      case 'create': {
        const v = values as Values<'create'>;
        if (!v.type) throw new UsageError(`--type is required: one of ${KEY_TYPES.join(', ')}`);
        const body = {
          key_id: id,
          key_type: oneOf('--type', v.type, KEY_TYPES),
          labels: Object.fromEntries(labels(v.label)),
          ...(v.provider ? { provider: oneOf('--provider', v.provider, PROVIDER_NAMES) } : {}),
          ...(v.overwrite ? { overwrite: true } : {}),
        };
        const r = await call(opts, 'POST', '/v1/keys', body).catch((e: unknown) => {
          if (e instanceof ApiError && e.body['code'] === 'key.exists') io.err(`hint: keyward keys create ${id} --overwrite replaces it`);
          throw e;
        });
        return out(r, `created ${String(r['key_id'])} (${String(r['key_type'])}) ${String(r['fingerprint'])}`);
      }
      case 'list': {
        const v = values as Values<'list'>;
        const q = new URLSearchParams();
        if (v.state !== undefined) q.set('state', oneOf('--state', v.state, KEY_STATES)!);
        if (v.provider !== undefined) q.set('provider', oneOf('--provider', v.provider, PROVIDER_NAMES)!);
        const filter = labels(v.label);
        if (filter.length) q.set('label', filter.map(([k, val]) => `${k}=${val}`).join(','));
        const r = await call(opts, 'GET', `/v1/keys${q.size ? '?' + q.toString() : ''}`);
        const keys = r['keys'] as Array<Record<string, unknown>>;
        return out(r, keys.length === 0 ? 'no keys' : keys.map((k) => `${String(k['key_id'])}\t${String(k['key_type'])}\t${String(k['state'])}\tv${String(k['current_version'])}`).join('\n'));
      }
      case 'show': {
        const r = await call(opts, 'GET', `/v1/keys/${enc(id)}`);
        return out(r, showKey(r));
      }
      case 'rotate': {
        const r = await call(opts, 'POST', `/v1/keys/${enc(id)}/rotate`);
        return out(r, `rotated ${String(r['key_id'])}: state ${String(r['state'])}, version ${String(r['current_version'])}`);
      }
      case 'release': {
        const r = await call(opts, 'POST', `/v1/keys/${enc(id)}/release`);
        // Release only schedules destruction; saying "destroyed" would make operators think it is too late to cancel.
        return out(
          r,
          r['destroy_at']
            ? `released ${String(r['key_id'])}; will be destroyed at ${String(r['destroy_at'])} unless the release is cancelled`
            : `released ${String(r['key_id'])}: state ${String(r['state'])}`,
        );
      }
      case 'sign': {
        const v = values as Values<'sign'>;
        const r = await call(opts, 'POST', `/v1/keys/${enc(id)}/sign`, withRaw(signInput(v), v.raw));
        return out(r, String(r['signature']));
      }
      case 'verify': {
        const v = values as Values<'verify'>;
        if (v.signature === undefined) throw new UsageError('--signature is required');
        const r = await call(opts, 'POST', `/v1/keys/${enc(id)}/verify`, { ...withRaw(signInput(v), v.raw), signature: v.signature });
        out(r, r['valid'] ? 'valid' : 'INVALID');
        return r['valid'] ? EXIT.ok : EXIT.failure;
      }
      case 'encrypt':
        return encrypt(opts, id, values as Values<'encrypt'>, io);
      case 'decrypt':
        return decrypt(opts, id, values as Values<'decrypt'>, io);
    }
  }, values.json === true);
}

const withRaw = (input: Record<string, string>, raw: boolean | undefined) => (raw ? { ...input, signature_format: 'raw' } : input);

async function encrypt(opts: ClientOptions, id: string, v: Values<'encrypt'>, io: CliIo): Promise<number> {
  if (v.plaintext === undefined && v['plaintext-file'] === undefined) throw new UsageError('give the plaintext: --plaintext TEXT or --plaintext-file FILE');
  if (v.plaintext !== undefined && v['plaintext-file'] !== undefined) throw new UsageError('--plaintext and --plaintext-file cannot be combined; give one');
  const plaintext = v['plaintext-file'] !== undefined ? readArgFile('--plaintext-file', v['plaintext-file']) : Buffer.from(v.plaintext!, 'utf8');
  const r = await call(opts, 'POST', `/v1/keys/${enc(id)}/encrypt`, {
    plaintext: plaintext.toString('base64'),
    ...(v.aad !== undefined ? { associated_data: b64(v.aad) } : {}),
  });
  io.out(v.json ? JSON.stringify(r) : String(r['ciphertext']));
  return EXIT.ok;
}

async function decrypt(opts: ClientOptions, id: string, v: Values<'decrypt'>, io: CliIo): Promise<number> {
  if (v.ciphertext === undefined) throw new UsageError('--ciphertext is required');
  // Checked before the call: a plaintext that cannot be shown should not be decrypted (and audited) for nothing.
  if (!v.json && !io.write) throw new UsageError('this output takes text lines only; use --json for base64');
  const r = await call(opts, 'POST', `/v1/keys/${enc(id)}/decrypt`, { ciphertext: v.ciphertext, ...(v.aad !== undefined ? { associated_data: b64(v.aad) } : {}) });
  if (v.json) io.out(JSON.stringify(r));
  // The plaintext may be binary: bytes go out untouched, without a decoding step or a trailing newline.
  else io.write!(Buffer.from(String(r['plaintext']), 'base64'));
  return EXIT.ok;
}
