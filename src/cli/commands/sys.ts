// `keyward init|unseal|seal|status`: system operations against a running server.
import { parseArgs } from 'node:util';
import { call, clientOptions, reportError } from '../client.ts';
import { EXIT, type CliIo } from '../io.ts';

const common = { addr: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' } } as const;

function printStatus(io: CliIo, s: Record<string, unknown>, json: boolean) {
  if (json) return io.out(JSON.stringify(s));
  io.out(`state: ${String(s['state'])}  initialized: ${String(s['initialized'])}  sealed: ${String(s['sealed'])}  progress: ${String(s['progress'])}/${String(s['threshold'] ?? '-')}`);
}

export async function run(command: 'init' | 'unseal' | 'seal' | 'status', argv: string[], io: CliIo): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { ...common, shares: { type: 'string' }, threshold: { type: 'string' }, reset: { type: 'boolean' } },
      allowPositionals: true,
    }));
  } catch (e) {
    io.err(`usage: ${(e as Error).message}`);
    return EXIT.usage;
  }
  const opts = clientOptions(values, io);
  const json = values.json === true;
  try {
    switch (command) {
      case 'init': {
        const shares = Number(values.shares ?? 5);
        const threshold = Number(values.threshold ?? 3);
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
        // A share on the command line would land in shell history; read it from stdin unless given as an argument.
        const shares = positionals.length > 0 ? positionals : await readStdinLines();
        const r = await call(opts, 'POST', '/v1/sys/unseal', { shares, reset: values.reset === true });
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
  } catch (e) {
    return reportError(e, io);
  }
}

async function readStdinLines(): Promise<string[]> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\s+/).filter(Boolean);
}
