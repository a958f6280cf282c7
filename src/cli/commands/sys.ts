// `keyward init|unseal|seal|status`: system operations against a running server.
import type { ParseArgsOptionsConfig } from 'node:util';
import { integerOption, parseCommand, UsageError, type OptionValues } from '../args.ts';
import { call, CLIENT_OPTIONS, CLIENT_USAGE, clientOptions, runClient } from '../client.ts';
import { EXIT, type CliIo } from '../io.ts';

const SPECS = {
  init: {
    usage: `usage: keyward init [--shares N] [--threshold M]\n  split a new root key into N shares (default 5), any M of which unseal (default 3); the shares are shown once\n${CLIENT_USAGE}`,
    options: { ...CLIENT_OPTIONS, shares: { type: 'string' }, threshold: { type: 'string' } },
    args: [],
  },
  unseal: {
    usage:
      'usage: keyward unseal [--reset] [SHARE...]\n' +
      '  submit unseal shares: read from stdin, one per line, unless given as arguments (which would land in shell history)\n' +
      '  --reset: discard the shares submitted so far first (alone: just reset the progress)\n' +
      CLIENT_USAGE,
    options: { ...CLIENT_OPTIONS, reset: { type: 'boolean' } },
    args: ['SHARE...'],
  },
  seal: { usage: `usage: keyward seal\n  drop all key material from the server's memory\n${CLIENT_USAGE}`, options: CLIENT_OPTIONS, args: [] },
  status: { usage: `usage: keyward status\n  show the seal state; exits 4 while sealed\n${CLIENT_USAGE}`, options: CLIENT_OPTIONS, args: [] },
} as const;

function printStatus(io: CliIo, s: Record<string, unknown>, json: boolean) {
  if (json) return io.out(JSON.stringify(s));
  io.out(`state: ${String(s['state'])}  initialized: ${String(s['initialized'])}  sealed: ${String(s['sealed'])}  progress: ${String(s['progress'])}/${String(s['threshold'] ?? '-')}`);
}

export async function run(command: 'init' | 'unseal' | 'seal' | 'status', argv: string[], io: CliIo): Promise<number> {
  const spec = SPECS[command];
  const parsed = parseCommand<ParseArgsOptionsConfig>(argv, io, spec);
  if (typeof parsed === 'number') return parsed;
  // One parse for the four commands: an option the command does not declare is refused, so its value is absent.
  const values = parsed.values as OptionValues<typeof SPECS.init.options & typeof SPECS.unseal.options>;
  const { positionals } = parsed;
  const json = values.json === true;
  return runClient(io, spec.usage, async () => {
    const opts = clientOptions(values, io);
    switch (command) {
      case 'init': {
        const shares = integerOption('--shares', values.shares, 5);
        const threshold = integerOption('--threshold', values.threshold, 3);
        if (threshold > shares) throw new UsageError(`--threshold ${threshold} is more than --shares ${shares}`);
        const r = await call(opts, 'POST', '/v1/sys/init', { shares, threshold });
        if (json) {
          io.out(JSON.stringify(r));
        } else {
          io.out(`Initialised with ${shares} shares, threshold ${threshold}. These shares are shown ONCE; give each to a different custodian:`);
          for (const [i, s] of (r['shares'] as string[]).entries()) io.out(`  share ${i + 1}: ${s}`);
          io.out('Keyward is sealed: run `keyward unseal` with any threshold of these shares.');
        }
        return EXIT.ok;
      }
      case 'unseal': {
        const reset = values.reset === true;
        // A share on the command line would land in shell history; read it from stdin unless given as an argument.
        // `--reset` alone at a terminal means "just reset": waiting for shares there would look like a hang.
        const shares = positionals.length > 0 ? positionals : reset && io.stdin?.isTTY ? [] : await readStdinShares(io);
        if (shares.length === 0 && !reset) throw new UsageError('no unseal shares: pipe them on stdin, one per line, or pass them as arguments');
        const r = await call(opts, 'POST', '/v1/sys/unseal', { shares, reset });
        printStatus(io, r, json);
        return EXIT.ok;
      }
      case 'seal':
        printStatus(io, await call(opts, 'POST', '/v1/sys/seal'), json);
        return EXIT.ok;
      case 'status': {
        const r = await call(opts, 'GET', '/v1/sys/status');
        printStatus(io, r, json);
        return r['sealed'] === true ? EXIT.unavailable : EXIT.ok;
      }
    }
  }, json);
}

async function readStdinShares(io: CliIo): Promise<string[]> {
  if (!io.stdin) return [];
  if (io.stdin.isTTY) io.err('enter the unseal shares, one per line, then Ctrl-D:');
  const chunks: Buffer[] = [];
  for await (const c of io.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8').split(/\s+/).filter(Boolean);
}
