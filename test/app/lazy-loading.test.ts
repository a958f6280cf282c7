// A Keyward process loads only what its configuration uses: `keyward serve` runs under a --import hook that records
// every npm package the process loads (test/support/loaded-packages.ts). A minimal key service loads none of the
// optional subsystems' libraries; configuring them loads theirs, which shows the recording sees them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { freePort } from '../../harness/net.ts';
import { fingerprint } from '../../src/authn/fingerprint.ts';
import { pgTestSchema } from '../support/pg.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const HOOK = join(ROOT, 'test', 'support', 'loaded-packages.ts');

/** The optional subsystems' libraries, and what selects each. */
const OPTIONAL = {
  'oidc-provider': 'the identity provider',
  koa: 'the identity provider (oidc-provider runs on koa)',
  qrcode: "the identity provider's TOTP enrolment page",
  '@node-rs/argon2': "the identity provider's passwords and client secrets",
  '@grpc/grpc-js': 'server.grpc',
  '@grpc/proto-loader': 'server.grpc',
  protobufjs: 'server.grpc',
  '@cedar-policy/cedar-wasm': 'authz.pdp type cedar',
  '@nats-io/transport-node': 'an audit sink of type nats',
  '@nats-io/jetstream': 'an audit sink of type nats',
  ldapts: 'an identity provider realm with an LDAP directory',
  pg: 'storage type postgres',
  pkcs11js: 'keys.providers.pkcs11',
  'node-forge': 'a PSS signature over a digest',
  'playwright-core': 'keyward conformance run (the browser scenarios)',
} as const;

interface Recorded {
  packages: Set<string>;
  stderr: string;
}

/**
 * `keyward serve --config` with `yaml` under the recording hook, until `path` answers 200; the packages it loaded
 * by then. Stopped (and its directory removed) before this returns.
 */
async function serveRecorded(yaml: (dir: string, port: number) => string, opts: { path?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Recorded> {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-lazy-'));
  const port = await freePort();
  const config = join(dir, 'keyward.yaml');
  writeFileSync(config, yaml(dir, port));
  const loaded = join(dir, 'loaded.txt');
  const proc = spawn(process.execPath, ['--import', HOOK, MAIN, 'serve', '--config', config], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...opts.env, KEYWARD_LOADED_PACKAGES_FILE: loaded },
  });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  try {
    const url = `http://127.0.0.1:${port}${opts.path ?? '/readyz'}`;
    for (let i = 0; i < 300 && proc.exitCode === null; i++) {
      if (await fetch(url).then((r) => r.ok, () => false)) {
        const packages = new Set(existsSync(loaded) ? readFileSync(loaded, 'utf8').split('\n').filter(Boolean) : []);
        return { packages, stderr };
      }
      await sleep(100);
    }
    throw new Error(`keyward serve did not answer ${url}:\n${stderr}`);
  } finally {
    proc.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const loadedOf = (r: Recorded) => Object.keys(OPTIONAL).filter((p) => r.packages.has(p));

test('a minimal key service (SQLite, audit off, API keys, idp off, no gRPC) loads no optional subsystem', { timeout: 60_000 }, async () => {
  const r = await serveRecorded((dir, port) => {
    writeFileSync(join(dir, 'ci.hash'), fingerprint('a raw api key of the minimal service') + '\n');
    return `mode: dev
server: { port: ${port} }
storage: { type: sqlite, path: ${join(dir, 'kw.db')} }
seal: { dev_unseal_file: ${join(dir, 'unseal.json')} }
logging: { level: warn }
audit: { enabled: false }
authn: { type: api_key, keys: [{ id: ci, hash_file: ${join(dir, 'ci.hash')}, scopes: [keyward.keys.list] }] }
idp: { enabled: false }
`;
  });
  // The recording works: what every server runs is there.
  for (const p of ['fastify', 'kysely', 'zod', 'pino']) assert.ok(r.packages.has(p), `${p} not recorded: ${[...r.packages].join(' ')}`);
  assert.deepEqual(loadedOf(r).map((p) => `${p} (${OPTIONAL[p as keyof typeof OPTIONAL]})`), []);
});

test('configured subsystems load their libraries: the dev identity provider with an LDAP realm, gRPC, Cedar, a NATS sink, PKCS#11', { timeout: 60_000 }, async () => {
  // Nothing listens on `closed`: the NATS sink and the LDAP directory are configured, never reached.
  const [closed, grpcPort] = [await freePort(), await freePort()];
  const r = await serveRecorded((dir, port) => `mode: dev
server: { port: ${port}, base_url: "http://127.0.0.1:${port}", grpc: { port: ${grpcPort} } }
storage: { type: sqlite, path: ${join(dir, 'kw.db')} }
seal: { dev_unseal_file: ${join(dir, 'unseal.json')} }
logging: { level: error }
authz: { pdp: { type: cedar, policies_path: ${join(ROOT, 'policies')}, watch: false } }
audit:
  signing_key_path: ${join(dir, 'audit.pem')}
  on_failure: continue
  sinks: [{ type: nats, url: "nats://127.0.0.1:${closed}", ack_timeout_ms: 200, publish_retry_ms: 0 }]
keys: { providers: { pkcs11: { module: ${process.execPath}, token_label: lazy, pin_env: KEYWARD_LAZY_TEST_PIN } } }
idp:
  enabled: true
  base_url: "http://127.0.0.1:${port}"
  realms:
    - name: keyward
    - name: staff
      directory: { type: ldap, url: "ldap://127.0.0.1:${closed}", base_dn: "dc=example,dc=com", bind_dn: "cn=keyward,dc=example,dc=com", tenant: "tenant:acme", bind_password_env: KEYWARD_LAZY_TEST_LDAP_PW }
`, {
    // The NATS sink cannot be written (on_failure continue lets the server start): alive, not ready.
    path: '/healthz',
    env: { KEYWARD_LAZY_TEST_PIN: '1234', KEYWARD_LAZY_TEST_LDAP_PW: 'x' },
  });
  const expected = ['oidc-provider', 'koa', 'qrcode', '@node-rs/argon2', '@grpc/grpc-js', '@grpc/proto-loader', '@cedar-policy/cedar-wasm', '@nats-io/transport-node', '@nats-io/jetstream', 'ldapts', 'pkcs11js'];
  assert.deepEqual(expected.filter((p) => !r.packages.has(p)), [], r.stderr);
});

test('a PostgreSQL store loads pg', { timeout: 60_000 }, async (t) => {
  const pg = await pgTestSchema(t, 'the PostgreSQL case of the lazy-loading test');
  if (!pg) return;
  t.after(() => pg.cleanup());
  const r = await serveRecorded((dir, port) => `mode: dev
server: { port: ${port} }
storage: { type: postgres, url: "${pg.url}", schema: ${pg.schema} }
seal: { dev_unseal_file: ${join(dir, 'unseal.json')} }
logging: { level: warn }
audit: { enabled: false }
idp: { enabled: false }
`);
  assert.ok(r.packages.has('pg'), [...r.packages].join(' '));
});
