// The `keyward` command: dispatches to one module per command group.
import { usageError } from './args.ts';
import { EXIT, processIo, type CliIo } from './io.ts';

const USAGE = `usage: keyward <command> [options]      'keyward <command> --help' describes each command
  serve [--config FILE]        run the server (mode from the configuration; production by default)
  dev [--config FILE]          run in dev mode: SQLite under ./data, auto-unseal, bootstrap token printed
  config check FILE [--json]   validate a configuration and run the start-up checks, without starting
  doctor --production          check a configuration and its running deployment against the production checklist
  init | unseal | seal | status   system operations against a running server (unseal [--reset] [SHARE...])
  keys <command>               create | list | show | rotate | release | sign | verify | encrypt | decrypt
  audit <command>              keygen | public-key | verify | export
  apikey generate --id X       print a raw API key and its fingerprint
  pdp serve                    run the embedded Cedar engine as a standalone HTTP PDP
  idp <command>                apply | users | clients | telemetry report | break-glass
  identity <command>           validate | provision: canonical identity documents
  ldap <command>               validate --mode … | snapshot | render: the canonical LDAP schema
  migrate <command>            export | report --to keycloak|ldif: migration to Keycloak or a full LDAP directory
  conformance <command>        run | list: the replacement suite (KeyCape §15) against any issuer
client commands: --addr URL (KEYWARD_ADDR)  --token T (KEYWARD_TOKEN)  --timeout SECONDS (KEYWARD_TIMEOUT, default 30)  --json
exit codes: 0 ok, 1 operation failed (e.g. invalid signature, tampered audit log), 2 usage, 3 configuration,
            4 server unreachable, sealed or not answering (serve: cannot listen), 5 authentication/authorization refused`;

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return (await import('./commands/serve.ts')).run(rest, io);
    case 'dev':
      return (await import('./commands/serve.ts')).run(rest, io, true);
    case 'config':
      return (await import('./commands/config.ts')).run(rest, io);
    case 'doctor':
      return (await import('./commands/doctor.ts')).run(rest, io);
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
    case 'identity':
      return (await import('./commands/identity.ts')).run(rest, io);
    case 'ldap':
      return (await import('./commands/ldap.ts')).run(rest, io);
    case 'migrate':
      return (await import('./commands/migrate.ts')).run(rest, io);
    case 'conformance':
      return (await import('./commands/conformance.ts')).run(rest, io);
    case 'help':
    case '--help':
    case '-h':
      io.out(USAGE);
      return EXIT.ok;
    case undefined:
      return usageError(io, USAGE, 'missing command');
    default:
      return usageError(io, USAGE, `${command.startsWith('-') ? 'unknown option' : 'unknown command'} ${JSON.stringify(command)}`);
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
