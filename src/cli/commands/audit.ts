// keyward audit keygen | public-key | verify | export
import { open, readFile, rename, rm } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { isHelp, parseCommand, usageError } from '../args.ts';
import { EXIT, type CliIo } from '../io.ts';
import { isProblem } from '../../core/problem.ts';
import { generateSigningKeyFile, loadSigningKey, publicKeyFromPem, publicKeyInfo, type AuditPublicKeyInfo } from '../../audit/keys.ts';
import { readAuditNats, readAuditPaths, verifyAuditLog, type AuditLine, type AuditLogSource, type VerifyResult } from '../../audit/verify.ts';

const USAGE = [
  'usage: keyward audit keygen --out PATH [--json]',
  '       keyward audit public-key --key SIGNING_KEY_PATH [--json]',
  '       keyward audit verify (--public-key PEM_FILE | --key SIGNING_KEY_PATH) [--checkpoint FILE]... [--allow-partial-start] [--multi-chain] FILE_OR_DIR...',
  '       keyward audit verify (--public-key PEM_FILE | --key SIGNING_KEY_PATH) --nats URL --subject SUBJECT [--stream NAME] [--checkpoint FILE]...',
  '       keyward audit export --nats URL --subject SUBJECT [--stream NAME] --out FILE [--json]',
  '  --json                    one JSON object on stdout (keygen, public-key: key_id, ed25519_public_key_b64, ed25519_public_key_pem)',
  '  export                    dump every chain of a NATS stream, in stream order, as JSON lines (one event per line) to',
  '                            FILE; check it with `verify --multi-chain FILE` (and the file sinks\' sidecars as --checkpoint)',
  '  --nats URL                a NATS server, or a cluster\'s servers separated by commas',
  '  --multi-chain             the files interleave several chains (a dump of a shared NATS stream): verify each on its own',
  '  --require-checkpoints     fail (exit 1) unless a signed checkpoint sidecar vouches for every chain; the default for',
  '                            files when the chain was written in production mode (without it, a cut tail goes unnoticed)',
  '  --no-require-checkpoints  only warn about chains without a checkpoint (the default for --nats and for dev trails)',
];

function printKey(io: CliIo, info: AuditPublicKeyInfo, json: boolean | undefined): void {
  if (json) return io.out(JSON.stringify(info));
  io.out(`key_id: ${info.key_id}`);
  io.out(`ed25519_public_key_b64: ${info.ed25519_public_key_b64}`);
  io.out(info.ed25519_public_key_pem.trimEnd());
}

function describe(e: unknown): string {
  if (isProblem(e)) return `${e.code}: ${e.detail ?? e.title}`;
  const err = e as NodeJS.ErrnoException;
  if (!err?.code) return String(err?.message ?? e);
  // Node's fs errors already start with their code ("ENOENT: no such file or directory, open '/x'").
  return String(err.message).startsWith(`${err.code}: `) ? err.message : `${err.code}: ${err.message}`;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  const usageText = USAGE.join('\n');
  if (isHelp(sub)) {
    io.out(usageText);
    return EXIT.ok;
  }
  const args = parseCommand(rest, io, {
    usage: usageText,
    options: {
      out: { type: 'string' },
      key: { type: 'string' },
      'public-key': { type: 'string' },
      checkpoint: { type: 'string', multiple: true },
      'allow-partial-start': { type: 'boolean' },
      'multi-chain': { type: 'boolean' },
      'require-checkpoints': { type: 'boolean' },
      'no-require-checkpoints': { type: 'boolean' },
      nats: { type: 'string' },
      subject: { type: 'string' },
      stream: { type: 'string' },
      json: { type: 'boolean' },
    },
    args: ['FILE_OR_DIR...'],
  });
  if (typeof args === 'number') return args;
  const v = args.values;
  const usage = (msg: string) => usageError(io, usageText, msg);
  try {
    switch (sub) {
      case 'keygen': {
        if (!v.out || args.positionals.length > 0) return usage('keygen needs --out PATH');
        const key = await generateSigningKeyFile(v.out);
        io.err(`wrote the audit signing key to ${v.out} (mode 0600); back it up and set audit.signing_key_path`);
        printKey(io, key.info, v.json);
        return EXIT.ok;
      }
      case 'public-key': {
        if (!v.key || args.positionals.length > 0) return usage('public-key needs --key SIGNING_KEY_PATH (and no other argument)');
        const key = await loadSigningKey(v.key, { strict: false, warn: (m) => io.err(`warning: ${m}`) });
        printKey(io, key.info, v.json);
        return EXIT.ok;
      }
      case 'verify':
        return await verifyCommand(args.positionals, v, io, usage);
      case 'export':
        return await exportCommand(args.positionals, v, io, usage);
      default:
        return usage(sub ? `unknown audit command: ${sub}` : 'missing audit command');
    }
  } catch (e) {
    io.err(`error: ${describe(e)}`);
    return isProblem(e) && e.code.startsWith('audit.key') ? EXIT.config : EXIT.failure;
  }
}

async function verifyCommand(
  positionals: string[],
  v: {
    key?: string | undefined;
    'public-key'?: string | undefined;
    checkpoint?: string[] | undefined;
    'allow-partial-start'?: boolean | undefined;
    'multi-chain'?: boolean | undefined;
    'require-checkpoints'?: boolean | undefined;
    'no-require-checkpoints'?: boolean | undefined;
    nats?: string | undefined;
    subject?: string | undefined;
    stream?: string | undefined;
    json?: boolean | undefined;
  },
  io: CliIo,
  usage: (m: string) => number,
): Promise<number> {
  if (!!v.key === !!v['public-key']) return usage('verify needs exactly one of --public-key PEM_FILE or --key SIGNING_KEY_PATH');
  if (v.nats ? positionals.length > 0 || !v.subject : positionals.length === 0) {
    return usage('verify needs FILE_OR_DIR... or --nats URL --subject SUBJECT');
  }
  if (v['require-checkpoints'] && v['no-require-checkpoints']) return usage('--require-checkpoints and --no-require-checkpoints contradict each other');
  let publicKey: KeyObject;
  try {
    publicKey = v.key
      ? (await loadSigningKey(v.key, { strict: false, warn: (m) => io.err(`warning: ${m}`) })).publicKey
      : publicKeyFromPem(await readFile(v['public-key']!));
  } catch (e) {
    io.err(`error: cannot load the public key: ${describe(e)}`);
    return EXIT.config;
  }
  let sources: AuditLogSource[];
  let checkpoints: AuditLine[] = [];
  try {
    if (v.nats) {
      sources = [await readAuditNats({ url: v.nats, subject: v.subject!, stream: v.stream })];
    } else {
      ({ sources, checkpoints } = await readAuditPaths(positionals));
    }
    for (const f of v.checkpoint ?? []) checkpoints.push({ text: (await readFile(f, 'utf8')).replace(/\n$/, ''), location: `${f}:1` });
  } catch (e) {
    io.err(`error: cannot read the audit log: ${describe(e)}`);
    return v.nats ? EXIT.unavailable : EXIT.failure;
  }
  const result = verifyAuditLog(sources, {
    publicKey,
    checkpoints,
    allowPartialStart: !!v['allow-partial-start'],
    multiChain: !!v.nats || !!v['multi-chain'],
    // A stream has no sidecar of its own: checkpoints come from the file sinks' sidecars, given with --checkpoint.
    requireCheckpoints: v['require-checkpoints'] ? true : v['no-require-checkpoints'] || v.nats ? false : 'production',
  });
  report(io, result, publicKeyInfo(publicKey).key_id, !!v.json);
  return result.ok ? EXIT.ok : EXIT.failure;
}

async function exportCommand(
  positionals: string[],
  v: { nats?: string | undefined; subject?: string | undefined; stream?: string | undefined; out?: string | undefined; json?: boolean | undefined },
  io: CliIo,
  usage: (m: string) => number,
): Promise<number> {
  if (!v.nats || !v.subject || !v.out || positionals.length > 0) return usage('export needs --nats URL --subject SUBJECT --out FILE (and no other argument)');
  let source: AuditLogSource;
  try {
    source = await readAuditNats({ url: v.nats, subject: v.subject, stream: v.stream });
  } catch (e) {
    io.err(`error: cannot read the audit stream: ${describe(e)}`);
    return EXIT.unavailable;
  }
  // Written beside the target and renamed, so FILE is never a partial dump; owner-only like the trail's own files.
  const tmp = `${v.out}.${process.pid}.tmp`;
  try {
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(source.lines.map((l) => l.text + '\n').join(''));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, v.out);
  } catch (e) {
    await rm(tmp, { force: true });
    io.err(`error: cannot write ${v.out}: ${describe(e)}`);
    return EXIT.failure;
  }
  const chains = new Set(source.lines.map((l) => chainOf(l.text)));
  const summary = { stream: source.name.replace(/^nats:/, ''), events: source.lines.length, chains: chains.size, out: v.out };
  if (v.json) io.out(JSON.stringify(summary));
  else io.out(`wrote ${summary.events} events of ${summary.chains} chain(s) from stream ${summary.stream} to ${v.out}`);
  return EXIT.ok;
}

/** The chain id of a stored line, for counting only (verify checks everything else). */
function chainOf(text: string): string {
  try {
    return String((JSON.parse(text) as { chain_id?: unknown }).chain_id);
  } catch {
    return '(unparseable)';
  }
}

function report(io: CliIo, r: VerifyResult, keyId: string, json: boolean): void {
  if (json) {
    io.out(JSON.stringify(r));
    return;
  }
  for (const w of r.warnings) {
    if (w.reason === 'no_checkpoint') io.err(`WARNING: ${w.reason}: ${w.message} (--require-checkpoints makes this an error)`);
    else io.err(`warning: ${w.location ?? ''}: ${w.reason}: ${w.message}`);
  }
  if (r.error) {
    const e = r.error;
    io.out(`FAILED: ${e.reason}${e.sequence !== undefined ? ` at sequence ${e.sequence}` : ''}${e.location ? ` (${e.location})` : ''}: ${e.message}`);
    return;
  }
  for (const c of r.chains) {
    io.out(
      `OK: chain ${c.chain_id}: ${c.events} events, sequences ${c.first_sequence}..${c.last_sequence}, last hash ${c.last_hash}, ` +
        `last checkpoint ${c.last_checkpoint_sequence ?? 'none'}, key ${keyId}`,
    );
  }
}
