// keyward pdp serve --policies DIR [--schema FILE] [--host 127.0.0.1] [--port 8181]: the embedded Cedar
// engine as a standalone HTTP PDP (KeyRack contract). Runs until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { EXIT, type CliIo } from '../io.ts';
import { startPdpServer } from '../../authz/pdp-server.ts';

const USAGE = 'usage: keyward pdp serve --policies <dir|file> [--schema <file>] [--host 127.0.0.1] [--port 8181] [--no-watch]';

export async function run(argv: string[], io: CliIo, signal?: AbortSignal): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        policies: { type: 'string' },
        schema: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8181' },
        'no-watch': { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return EXIT.usage;
  }
  const { positionals, values } = parsed;
  const port = Number(values.port);
  if (positionals[0] !== 'serve' || positionals.length !== 1 || !values.policies || !Number.isInteger(port) || port < 0 || port > 65535) {
    io.err(USAGE);
    return EXIT.usage;
  }
  let server;
  try {
    server = await startPdpServer({
      policiesPath: values.policies,
      schemaPath: values.schema,
      host: values.host,
      port,
      watch: !values['no-watch'],
      logger: pino({ name: 'keyward-pdp' }, pino.destination(2)),
    });
  } catch (err) {
    io.err(`pdp: ${(err as Error).message}`);
    return EXIT.config;
  }
  io.out(`PDP listening on ${server.url} (POST /v1/authorize, GET /healthz), policy version ${server.engine.policyVersion}`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    if (signal?.aborted) return stop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    signal?.addEventListener('abort', stop, { once: true });
  });
  await server.close();
  return EXIT.ok;
}
