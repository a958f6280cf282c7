// keyward apikey generate --id X [--json]: a raw API key (32 random bytes, base64url), its sha256
// fingerprint and the config snippet. Only the fingerprint belongs in the server's environment.
import { randomBytes } from 'node:crypto';
import { parseCommand, usageError } from '../args.ts';
import { EXIT, type CliIo } from '../io.ts';
import { fingerprint } from '../../authn/fingerprint.ts';

const USAGE = `usage: keyward apikey generate --id <id> [--scope <permission>]... [--json]
  prints a new raw API key, its fingerprint and the configuration snippet; nothing is stored`;

export async function run(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(argv, io, {
    usage: USAGE,
    options: { id: { type: 'string' }, scope: { type: 'string', multiple: true }, json: { type: 'boolean' } },
    args: ['COMMAND'],
  });
  if (typeof parsed === 'number') return parsed;
  const { positionals, values } = parsed;
  if (positionals[0] !== 'generate') return usageError(io, USAGE, `unknown apikey command ${JSON.stringify(positionals[0])}`);
  const id = values.id;
  if (!id || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)) return usageError(io, USAGE, '--id is required (letters, digits, . _ -)');
  const key = newApiKey();
  const fp = fingerprint(key);
  const hashEnv = `KEYWARD_APIKEY_${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_HASH`;
  const scopes = values.scope ?? [];
  if (values.json) {
    io.out(JSON.stringify({ id, key, fingerprint: fp, hash_env: hashEnv, config: { id, hash_env: hashEnv, scopes } }));
    return EXIT.ok;
  }
  io.out(`api key id:   ${id}`);
  io.out(`raw key:      ${key}`);
  io.out(`fingerprint:  ${fp}`);
  io.out('');
  io.out('Give the raw key only to the caller; it is not shown again. Server environment:');
  io.out(`  export ${hashEnv}='${fp}'`);
  io.out('Configuration (authn.type: api_key):');
  io.out('  keys:');
  io.out(`    - id: ${id}`);
  io.out(`      hash_env: ${hashEnv}`);
  io.out(`      scopes: [${scopes.join(', ')}]`);
  return EXIT.ok;
}

/**
 * 32 random bytes, base64url, never starting with `-`: such a key (one in 64) would be taken for an option by
 * `--token KEY` and could only be passed as `--token=KEY`.
 */
export function newApiKey(): string {
  for (;;) {
    const key = randomBytes(32).toString('base64url');
    if (!key.startsWith('-')) return key;
  }
}
