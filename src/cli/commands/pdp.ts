// keyward pdp serve --policies DIR [--schema FILE] [--host 127.0.0.1] [--port 8181]: the embedded Cedar
// engine as a standalone HTTP PDP (KeyRack contract). Runs until SIGINT/SIGTERM.
import { pino } from 'pino';
import { parseCommand, usageError } from '../args.ts';
import { cannotListen, isListenError } from '../listen.ts';
import { EXIT, type CliIo } from '../io.ts';
import { startPdpServer } from '../../authz/pdp-server.ts';

const USAGE = 'usage: keyward pdp serve --policies <dir|file> [--schema <file>] [--host 127.0.0.1] [--port 8181] [--no-watch]';

export async function run(argv: string[], io: CliIo, signal?: AbortSignal): Promise<number> {
  const parsed = parseCommand(argv, io, {
    usage: USAGE,
    options: {
      policies: { type: 'string' },
      schema: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'no-watch': { type: 'boolean' },
    },
    args: ['COMMAND'],
  });
  if (typeof parsed === 'number') return parsed;
  const { positionals, values } = parsed;
  if (positionals[0] !== 'serve') return usageError(io, USAGE, `unknown pdp command ${JSON.stringify(positionals[0])}`);
  if (!values.policies) return usageError(io, USAGE, '--policies is required');
  const port = Number(values.port ?? '8181');
  if (!/^\d+$/.test(values.port ?? '8181') || port > 65535) return usageError(io, USAGE, `--port must be 0-65535, not ${JSON.stringify(values.port)}`);
  let server;
  try {
    server = await startPdpServer({
      policiesPath: values.policies,
      schemaPath: values.schema,
      host: values.host ?? '127.0.0.1',
      port,
      watch: !values['no-watch'],
      logger: pino({ name: 'keyward-pdp' }, pino.destination(2)),
    });
  } catch (err) {
    if (isListenError(err)) {
      io.err(cannotListen(values.host ?? '127.0.0.1', port, err as NodeJS.ErrnoException));
      return EXIT.unavailable;
    }
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
