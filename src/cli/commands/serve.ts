// `keyward serve` and `keyward dev`: start the server. Dev mode is only ever entered explicitly: `keyward dev`
// or `mode: dev` in the configuration file.
import { resolve } from 'node:path';
import { ConfigError, loadConfigFile } from '../../config/load.ts';
import type { KeywardConfig } from '../../config/index.ts';
import { createKeyward, type Keyward } from '../../app/compose.ts';
import { bindListener, type Listener } from '../../app/listener.ts';
import { isLockHeld } from '../../app/writer-locks.ts';
import { parseCommand } from '../args.ts';
import { cannotListen, isListenError } from '../listen.ts';
import { EXIT, type CliIo } from '../io.ts';

const COMMON = `  --config, -c FILE  the configuration file (default: $KEYWARD_CONFIG; none: built-in defaults)
  SIGHUP reloads credentials and policies; SIGINT or SIGTERM stops the server (exit 0)
  exit 3: invalid configuration or a start-up check failed (\`keyward config check\` finds these)
  exit 4: cannot listen on the configured address (e.g. the port is in use), or another running Keyward holds
          this configuration's data directory, audit file or audit chain (nothing is changed then)`;

const USAGE = `usage: keyward serve [--config FILE]
  run the server; the mode comes from the configuration (production by default)
${COMMON}`;

const DEV_USAGE = `usage: keyward dev [--config FILE]
  run in dev mode: SQLite under ./data, auto-unseal, a bootstrap admin token printed; never for production
${COMMON}`;

export async function run(argv: string[], io: CliIo, forceDev = false): Promise<number> {
  const parsed = parseCommand(argv, io, { usage: forceDev ? DEV_USAGE : USAGE, options: { config: { type: 'string', short: 'c' } }, args: [] });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  let config: KeywardConfig;
  try {
    const env = forceDev ? { ...io.env, KEYWARD_MODE: 'dev' } : io.env;
    config = loadConfigFile(values.config ?? io.env['KEYWARD_CONFIG'], env);
  } catch (e) {
    if (e instanceof ConfigError) {
      io.err(e.message);
      return EXIT.config;
    }
    throw e;
  }
  const { host, port } = config.server;
  // The port first: an instance whose port is taken stops before it opens the store or the audit trail.
  let listener: Listener;
  try {
    listener = await bindListener(config);
  } catch (e) {
    if (isListenError(e)) {
      io.err(cannotListen(host, port, e as NodeJS.ErrnoException));
      return EXIT.unavailable;
    }
    io.err(`keyward: ${(e as Error).message}`);
    return EXIT.config;
  }
  let kw: Keyward;
  try {
    kw = await createKeyward(config, { env: io.env, listener });
  } catch (e) {
    await listener.close();
    io.err(`keyward: ${(e as Error).message}`);
    // The gRPC port (server.grpc) is bound while composing: taken, it is the same exit as REST's.
    return isLockHeld(e) || isListenError(e) ? EXIT.unavailable : EXIT.config;
  }
  listener.serve();
  const address = listener.address;
  kw.logger.info({ address, mode: config.mode, storage: config.storage.type }, 'keyward listening');
  if (kw.devToken) {
    const data = config.storage.type === 'sqlite' ? config.storage.path : 'PostgreSQL';
    // Over TLS the copy-paste lines trust the server's certificate file (self-signed in a dev setup).
    const ca = config.server.tls ? shellWord(resolve(config.server.tls.cert_file)) : undefined;
    printQuickstart(io, address, kw.devToken, kw.devClient, `Auto-unsealed from ${config.seal.dev_unseal_file}; data in ${data}. Restarting prints a new token.`, ca);
  }

  const onHup = () => {
    kw.reload().then(
      (what) => kw.logger.info({ reloaded: what }, 'reloaded on SIGHUP'),
      (e: unknown) => kw.logger.error({ err: String(e) }, 'reload on SIGHUP failed; keeping the previous configuration'),
    );
  };
  process.on('SIGHUP', onHup);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      kw.logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  process.off('SIGHUP', onHup);
  await kw.close();
  return EXIT.ok;
}

/** A path as one shell word: as is when plain, else single-quoted. */
function shellWord(path: string): string {
  return /^[\w./-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}

function printQuickstart(io: CliIo, address: string, token: string, client: Keyward['devClient'], where: string, ca: string | undefined): void {
  const bar = '='.repeat(78);
  const curl = ca ? `curl -s --cacert ${ca}` : 'curl -s';
  io.err(
    [
      bar,
      'KEYWARD DEV MODE - not for production.',
      where,
      '',
      'BOOTSTRAP ADMIN TOKEN (dev only, full access, valid 12h):',
      `  ${token}`,
      '',
      'Quickstart (copy-paste):',
      `  export KEYWARD_ADDR=${address} KEYWARD_TOKEN=${token}${ca ? ` NODE_EXTRA_CA_CERTS=${ca}` : ''}`,
      `  ${curl} -X POST $KEYWARD_ADDR/v1/keys -H "authorization: Bearer $KEYWARD_TOKEN" \\`,
      `       -H 'content-type: application/json' -d '{"key_id":"demo","key_type":"EC-P256"}'`,
      `  ${curl} -X POST $KEYWARD_ADDR/v1/keys/demo/sign -H "authorization: Bearer $KEYWARD_TOKEN" \\`,
      `       -H 'content-type: application/json' -d '{"message":"'$(printf hello | base64)'"}'`,
      '  npm run keyward -- keys list',
      ...(client
        ? [
            '',
            'Identity provider: get an access token as a service, then sign with it:',
            `  AT=$(${curl} -u ${client.clientId}:${client.secret} -d grant_type=client_credentials \\`,
            `       ${client.tokenUrl} | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')`,
            `  ${curl} -X POST $KEYWARD_ADDR/v1/keys/demo/sign -H "authorization: Bearer $AT" \\`,
            `       -H 'content-type: application/json' -d '{"message":"aGVsbG8="}'`,
          ]
        : []),
      `  API docs: ${address}/docs`,
      bar,
    ].join('\n'),
  );
}
