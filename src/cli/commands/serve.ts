// `keyward serve` and `keyward dev`: start the server. Dev mode is only ever entered explicitly: `keyward dev`
// or `mode: dev` in the configuration file.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile } from '../../config/load.ts';
import type { KeywardConfig } from '../../config/index.ts';
import { createKeyward, type Keyward } from '../../server/compose.ts';
import { EXIT, type CliIo } from '../io.ts';

export async function run(argv: string[], io: CliIo, forceDev = false): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } }, allowPositionals: false });
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
  let kw;
  try {
    kw = await createKeyward(config, { env: io.env });
  } catch (e) {
    io.err(`keyward: ${(e as Error).message}`);
    return EXIT.config;
  }
  const address = await kw.app.listen({ host: config.server.host, port: config.server.port });
  kw.logger.info({ address, mode: config.mode, storage: config.storage.type }, 'keyward listening');
  if (kw.devToken) printQuickstart(io, address, kw.devToken, kw.devClient);

  process.on('SIGHUP', () => {
    kw.reload().then(
      (what) => kw.logger.info({ reloaded: what }, 'reloaded on SIGHUP'),
      (e: unknown) => kw.logger.error({ err: String(e) }, 'reload on SIGHUP failed; keeping the previous configuration'),
    );
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      kw.logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await kw.close();
  return EXIT.ok;
}

function printQuickstart(io: CliIo, address: string, token: string, client: Keyward['devClient']): void {
  const bar = '='.repeat(78);
  io.err(
    [
      bar,
      'KEYWARD DEV MODE - not for production.',
      'Auto-unsealed from ./data/dev-unseal.json; data in ./data. Restarting prints a new token.',
      '',
      'BOOTSTRAP ADMIN TOKEN (dev only, full access, valid 12h):',
      `  ${token}`,
      '',
      'Quickstart (copy-paste):',
      `  export KEYWARD_ADDR=${address} KEYWARD_TOKEN=${token}`,
      `  curl -s -X POST $KEYWARD_ADDR/v1/keys -H "authorization: Bearer $KEYWARD_TOKEN" \\`,
      `       -H 'content-type: application/json' -d '{"key_id":"demo","key_type":"EC-P256"}'`,
      `  curl -s -X POST $KEYWARD_ADDR/v1/keys/demo/sign -H "authorization: Bearer $KEYWARD_TOKEN" \\`,
      `       -H 'content-type: application/json' -d '{"message":"'$(printf hello | base64)'"}'`,
      '  npm run keyward -- keys list',
      ...(client
        ? [
            '',
            'Identity provider: get an access token as a service, then sign with it:',
            `  AT=$(curl -s -u ${client.clientId}:${client.secret} -d grant_type=client_credentials \\`,
            `       ${client.tokenUrl} | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')`,
            `  curl -s -X POST $KEYWARD_ADDR/v1/keys/demo/sign -H "authorization: Bearer $AT" \\`,
            `       -H 'content-type: application/json' -d '{"message":"aGVsbG8="}'`,
          ]
        : []),
      `  API docs: ${address}/docs`,
      bar,
    ].join('\n'),
  );
}
