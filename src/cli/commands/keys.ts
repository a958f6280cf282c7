// `keyward keys create|list|show|rotate|release|sign|verify|encrypt|decrypt` against a running server.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { call, clientOptions, reportError } from '../client.ts';
import { EXIT, type CliIo } from '../io.ts';

const USAGE = `usage: keyward keys <command> [options]
  create ID --type EC-P256 [--label k=v]...   list [--state S] [--label k=v]   show ID
  rotate ID   release ID   sign ID (--message TEXT | --message-file F | --digest B64 --hash SHA-256) [--raw]
  verify ID --signature B64 (--message TEXT | --message-file F | --digest B64 --hash SHA-256)
  encrypt ID (--plaintext TEXT | --plaintext-file F) [--aad TEXT]   decrypt ID --ciphertext B64 [--aad TEXT]
common: --addr URL (KEYWARD_ADDR) --token T (KEYWARD_TOKEN) --json`;

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const enc = encodeURIComponent;

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        addr: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' },
        type: { type: 'string' }, label: { type: 'string', multiple: true }, state: { type: 'string' },
        message: { type: 'string' }, 'message-file': { type: 'string' }, digest: { type: 'string' }, hash: { type: 'string' },
        raw: { type: 'boolean' }, signature: { type: 'string' }, plaintext: { type: 'string' }, 'plaintext-file': { type: 'string' },
        ciphertext: { type: 'string' }, aad: { type: 'string' },
      },
    }));
  } catch (e) {
    io.err(`${(e as Error).message}\n${USAGE}`);
    return EXIT.usage;
  }
  const id = positionals[0];
  const needsId = sub !== 'list';
  if (!sub || (needsId && !id)) {
    io.err(USAGE);
    return EXIT.usage;
  }
  const opts = clientOptions(values, io);
  const labels = Object.fromEntries((values.label ?? []).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const input = () =>
    values.digest !== undefined
      ? { digest: values.digest, hash_algorithm: values.hash ?? 'SHA-256' }
      : { message: values['message-file'] ? readFileSync(values['message-file']).toString('base64') : b64(values.message ?? '') };
  try {
    let r: Record<string, unknown>;
    let human: string;
    switch (sub) {
      case 'create':
        if (!values.type) throw new UsageError('--type is required');
        r = await call(opts, 'POST', '/v1/keys', { key_id: id, key_type: values.type, labels });
        human = `created ${String(r['key_id'])} (${String(r['key_type'])}) ${String(r['fingerprint'])}`;
        break;
      case 'list': {
        const q = new URLSearchParams();
        if (values.state) q.set('state', values.state);
        if (values.label?.length) q.set('label', values.label.join(','));
        r = await call(opts, 'GET', `/v1/keys${q.size ? '?' + q.toString() : ''}`);
        const keys = r['keys'] as Array<Record<string, unknown>>;
        human = keys.length === 0 ? 'no keys' : keys.map((k) => `${String(k['key_id'])}\t${String(k['key_type'])}\t${String(k['state'])}\tv${String(k['current_version'])}`).join('\n');
        break;
      }
      case 'show':
        r = await call(opts, 'GET', `/v1/keys/${enc(id!)}`);
        human = JSON.stringify(r, null, 2);
        break;
      case 'rotate':
      case 'release':
        r = await call(opts, 'POST', `/v1/keys/${enc(id!)}/${sub}`);
        human = `${sub}d ${String(r['key_id'])}: state ${String(r['state'])}, version ${String(r['current_version'])}${r['destroy_at'] ? `, destroyed at ${String(r['destroy_at'])}` : ''}`;
        break;
      case 'sign':
        r = await call(opts, 'POST', `/v1/keys/${enc(id!)}/sign`, { ...input(), ...(values.raw ? { signature_format: 'raw' } : {}) });
        human = String(r['signature']);
        break;
      case 'verify':
        if (!values.signature) throw new UsageError('--signature is required');
        r = await call(opts, 'POST', `/v1/keys/${enc(id!)}/verify`, { ...input(), signature: values.signature });
        human = r['valid'] ? 'valid' : 'INVALID';
        if (!values.json) io.out(human);
        else io.out(JSON.stringify(r));
        return r['valid'] ? EXIT.ok : EXIT.failure;
      case 'encrypt':
        r = await call(opts, 'POST', `/v1/keys/${enc(id!)}/encrypt`, {
          plaintext: values['plaintext-file'] ? readFileSync(values['plaintext-file']).toString('base64') : b64(values.plaintext ?? ''),
          ...(values.aad !== undefined ? { associated_data: b64(values.aad) } : {}),
        });
        human = String(r['ciphertext']);
        break;
      case 'decrypt':
        if (!values.ciphertext) throw new UsageError('--ciphertext is required');
        r = await call(opts, 'POST', `/v1/keys/${enc(id!)}/decrypt`, { ciphertext: values.ciphertext, ...(values.aad !== undefined ? { associated_data: b64(values.aad) } : {}) });
        human = Buffer.from(String(r['plaintext']), 'base64').toString('utf8');
        break;
      default:
        io.err(USAGE);
        return EXIT.usage;
    }
    io.out(values.json ? JSON.stringify(r) : human);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`${e.message}\n${USAGE}`);
      return EXIT.usage;
    }
    return reportError(e, io);
  }
}

class UsageError extends Error {}
