// The `keyward` command: dispatches to one module per command group.
import { EXIT, processIo, type CliIo } from './io.ts';

const USAGE = `usage: keyward <command>
  serve [--config FILE]        run the server (mode from the configuration; production by default)
  dev [--config FILE]          run in dev mode: SQLite under ./data, auto-unseal, bootstrap token printed
  config check FILE            validate a configuration without starting
  init | unseal | seal | status   system operations against a running server (--addr, --token, --json)
  keys <command>               create | list | show | rotate | release | sign | verify | encrypt | decrypt
  audit <command>              keygen | public-key | verify
  apikey generate --id X       print a raw API key and its fingerprint
  pdp serve                    run the embedded Cedar engine as a standalone HTTP PDP
  idp <command>                apply | users | clients | telemetry report | break-glass`;

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return (await import('./commands/serve.ts')).run(rest, io);
    case 'dev':
      return (await import('./commands/serve.ts')).run(rest, io, true);
    case 'config':
      return (await import('./commands/config.ts')).run(rest, io);
    case 'init':
    case 'unseal':
    case 'seal':
    case 'status':
      return (await import('./commands/sys.ts')).run(command, rest, io);
    case 'keys':
      return (await import('./commands/keys.ts')).run(rest, io);
    case 'audit':
      return (await import('./commands/audit.ts')).run(rest, io);
    case 'apikey':
      return (await import('./commands/apikey.ts')).run(rest, io);
    case 'pdp':
      return (await import('./commands/pdp.ts')).run(rest, io);
    case 'idp':
      return rest[0] === 'break-glass' ? (await import('./commands/break-glass.ts')).run(rest.slice(1), io) : (await import('./commands/idp.ts')).run(rest, io);
    case undefined:
    case 'help':
    case '--help':
      io.out(USAGE);
      return command === undefined ? EXIT.usage : EXIT.ok;
    default:
      io.err(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return EXIT.usage;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`keyward: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = EXIT.failure;
    },
  );
}
