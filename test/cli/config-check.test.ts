// `keyward config check` runs serve's start-up checks that need no running server, so a configuration it passes
// is not refused by `serve` for a missing key file, an unset secret or a missing TLS/CA/policy file.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateSigningKeyFile } from '../../src/audit/keys.ts';
import { fingerprint } from '../../src/authn/fingerprint.ts';
import { runCli } from './helpers.ts';

const HASH_ENV = 'KEYWARD_CLI_TEST_CI_HASH';

describe('keyward config check', () => {
  let dir: string;
  let key: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-config-check-'));
    key = join(dir, 'audit.pem');
    await generateSigningKeyFile(key);
    env = { [HASH_ENV]: fingerprint('a raw api key') };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A production configuration that `serve` accepts, with `extra` YAML lines appended at the top level. */
  function config(name: string, opts: { key?: string; extra?: string; authn?: string; seal?: string } = {}): string {
    const file = join(dir, name);
    writeFileSync(
      file,
      `storage: { type: sqlite, path: ${join(dir, 'kw.db')} }
seal: { dev_unseal_file: ${join(dir, 'dev-unseal.json')}${opts.seal ? `, ${opts.seal}` : ''} }
authn: ${opts.authn ?? `{ type: api_key, keys: [{ id: ci, hash_env: ${HASH_ENV}, scopes: [keyward.keys.list] }] }`}
audit:
  signing_key_path: ${opts.key ?? key}
  sinks: [{ type: file, path: ${join(dir, 'audit.log')} }]
${opts.extra ?? ''}
`,
    );
    return file;
  }

  test('a configuration serve accepts passes (exit 0)', async () => {
    const r = await runCli(['config', 'check', config('good.yaml')], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /good\.yaml: ok \(mode production, storage sqlite\)$/);
  });

  test('a missing audit signing key file and an unset hash_env are errors with their field paths (exit 3)', async () => {
    const file = config('missing.yaml', { key: join(dir, 'no-such-key.pem') });
    const r = await runCli(['config', 'check', file], {});
    assert.equal(r.code, 3);
    const errors = r.err.split('\n').filter((l) => l.startsWith('error: '));
    assert.ok(errors.some((l) => /^error: audit\.signing_key_path: cannot read the audit signing key at .*no-such-key\.pem: ENOENT$/.test(l)), r.err);
    assert.ok(errors.includes(`error: authn.keys.0.hash_env: environment variable ${HASH_ENV} is not set`), r.err);
    assert.equal(r.out, '');
  });

  test('a malformed hash_env, a hash_file and a bootstrap token hash are checked like serve checks them', async () => {
    const bad = await runCli(['config', 'check', config('malformed.yaml')], { [HASH_ENV]: 'sha256:nothex' });
    assert.equal(bad.code, 3);
    assert.match(bad.err, new RegExp(`^error: authn\\.keys\\.0\\.hash_env: environment variable ${HASH_ENV} must hold sha256:`, 'm'));

    const chain = `{ type: chain, authenticators: [{ type: api_key, keys: [{ id: a, hash_file: ${join(dir, 'nope.hash')} }] }, { type: bootstrap_token, token_hash_env: KEYWARD_CLI_TEST_BOOT, max_age: 600, issued_at_env: KEYWARD_CLI_TEST_AT }] }`;
    const r = await runCli(['config', 'check', config('chain.yaml', { authn: chain })], {});
    assert.equal(r.code, 3);
    assert.match(r.err, /^error: authn\.authenticators\.0\.keys\.0\.hash_file: cannot read .*nope\.hash \(ENOENT\)$/m);
    assert.match(r.err, /^error: authn\.authenticators\.1\.token_hash_env: environment variable KEYWARD_CLI_TEST_BOOT is not set$/m);
    assert.match(r.err, /^error: authn\.authenticators\.1\.issued_at_env: environment variable KEYWARD_CLI_TEST_AT is not set$/m);
    const notATime = await runCli(['config', 'check', config('chain.yaml', { authn: chain })], { KEYWARD_CLI_TEST_AT: 'yesterday' });
    assert.match(notATime.err, /^error: authn\.authenticators\.1\.issued_at_env: environment variable KEYWARD_CLI_TEST_AT is not a time/m);
  });

  test('in production a signing key readable by group or others is refused, as serve refuses it', async () => {
    const loose = join(dir, 'loose.pem');
    await generateSigningKeyFile(loose);
    chmodSync(loose, 0o640);
    const r = await runCli(['config', 'check', config('loose.yaml', { key: loose })], env);
    assert.equal(r.code, 3);
    assert.match(r.err, /^error: audit\.signing_key_path: audit signing key .*loose\.pem is accessible by group or others \(mode 640\)/m);
  });

  test('TLS, CA and policy files the configuration names must exist', async () => {
    const missing = (f: string) => join(dir, f);
    const extra = `server: { tls: { cert_file: ${missing('cert.pem')}, key_file: ${key}, client_ca_file: ${missing('ca.pem')} } }
authz: { pdp: { type: cedar, policies_path: ${missing('policies')} } }`;
    const r = await runCli(['config', 'check', config('files.yaml', { extra })], env);
    assert.equal(r.code, 3);
    assert.match(r.err, /^error: server\.tls\.cert_file: cannot read .*cert\.pem \(ENOENT\)$/m);
    assert.match(r.err, /^error: server\.tls\.client_ca_file: cannot read .*ca\.pem \(ENOENT\)$/m);
    assert.match(r.err, /^error: authz\.pdp\.policies_path: cannot read .*policies \(ENOENT\)$/m);
    assert.doesNotMatch(r.err, /server\.tls\.key_file/);
  });

  test('--json prints the result on stdout: ok with mode and storage, or each error with path and message', async () => {
    const good = await runCli(['config', 'check', config('good-json.yaml'), '--json'], env);
    assert.equal(good.code, 0);
    assert.equal(good.err, '');
    const ok = JSON.parse(good.out);
    assert.deepEqual([ok.ok, ok.mode, ok.storage], [true, 'production', 'sqlite']);

    const bad = await runCli(['config', 'check', '--json', config('bad-json.yaml', { key: join(dir, 'absent.pem') })], {});
    assert.equal(bad.code, 3);
    assert.equal(bad.err, '');
    const result = JSON.parse(bad.out);
    assert.equal(result.ok, false);
    const paths = (result.errors as Array<{ path: string; message: string }>).map((e) => e.path);
    assert.deepEqual(paths.sort(), ['audit.signing_key_path', 'authn.keys.0.hash_env']);
    assert.match(result.errors.find((e: { path: string }) => e.path === 'authn.keys.0.hash_env').message, /is not set/);

    // A schema error is reported the same way.
    const schema = join(dir, 'schema.yaml');
    writeFileSync(schema, 'mode: dev\nserver: { port: 8300, hots: x }\n');
    const invalid = JSON.parse((await runCli(['config', 'check', schema, '--json'], {})).out);
    assert.deepEqual(invalid.errors, [{ path: 'server', message: 'unknown key(s) "hots"' }]);
  });

  test('dev mode creates a missing signing key at start, so config check does not require one', async () => {
    const file = config('dev.yaml', { key: join(dir, 'later.pem'), extra: 'mode: dev' });
    const r = await runCli(['config', 'check', file], env);
    assert.equal(r.code, 0, r.err);
  });

  test("an LDAP-backed realm: its bind password and TLS files are checked; production refuses passwords in the clear", async () => {
    const idp = (directory: string) => `idp:
  enabled: true
  base_url: https://idp.example
  realms:
    - name: staff
      access_token_resource: urn:keyward:key-api
      directory: ${directory}`;
    const ldap = (extra: string) => `{ type: ldap, url: ldaps://ldap.example:636, base_dn: "dc=example,dc=com", bind_dn: "cn=keyward,ou=people,dc=example,dc=com", tenant: "tenant:acme", ${extra} }`;
    const missing = await runCli(['config', 'check', config('ldap-env.yaml', { extra: idp(ldap(`bind_password_env: KW_TEST_LDAP_PW, tls: { ca_file: ${join(dir, 'no-ca.pem')} }`)) })], env);
    assert.equal(missing.code, 3);
    assert.match(missing.err, /^error: idp\.realms\.0\.directory\.bind_password_env: environment variable KW_TEST_LDAP_PW is not set$/m);
    assert.match(missing.err, /^error: idp\.realms\.0\.directory\.tls\.ca_file: cannot read .*no-ca\.pem \(ENOENT\)$/m);
    const set = await runCli(['config', 'check', config('ldap-ok.yaml', { extra: idp(ldap('bind_password_env: KW_TEST_LDAP_PW')) })], { ...env, KW_TEST_LDAP_PW: 'x' });
    assert.equal(set.code, 0, set.err);
    const file = await runCli(['config', 'check', config('ldap-file.yaml', { extra: idp(ldap(`bind_password_file: ${join(dir, 'no-pw')}`)) })], env);
    assert.match(file.err, /^error: idp\.realms\.0\.directory\.bind_password_file: cannot read .*no-pw \(ENOENT\)$/m);
    const both = await runCli(['config', 'check', config('ldap-both.yaml', { extra: idp(ldap(`bind_password_env: A, bind_password_file: ${key}`)) })], env);
    assert.match(both.err, /set exactly one of bind_password_env and bind_password_file/);

    const clear = `{ type: ldap, url: "ldap://ldap.example:389", base_dn: "dc=example,dc=com", bind_dn: "cn=keyward,dc=example,dc=com", tenant: "tenant:acme", bind_password_env: KW_TEST_LDAP_PW }`;
    const refused = await runCli(['config', 'check', config('ldap-clear.yaml', { extra: idp(clear) })], { ...env, KW_TEST_LDAP_PW: 'x' });
    assert.equal(refused.code, 3);
    assert.match(refused.err, /idp\.realms\.0\.directory\.url: ldap:\/\/ldap\.example:389 would carry passwords in the clear; use ldaps:\/\/ or start_tls: true/);
    const startTls = await runCli(['config', 'check', config('ldap-starttls.yaml', { extra: idp(clear.replace(' }', ', start_tls: true }')) })], { ...env, KW_TEST_LDAP_PW: 'x' });
    assert.equal(startTls.code, 0, startTls.err);
  });

  test('idp: { enabled: false } alone is accepted, in dev mode too; a real idp section keeps its precise errors', async () => {
    for (const [name, extra] of [['idp-off.yaml', 'idp: { enabled: false }'], ['idp-off-dev.yaml', 'mode: dev\nidp: { enabled: false }']] as const) {
      const r = await runCli(['config', 'check', config(name, { extra })], env);
      assert.equal(r.code, 0, r.err);
    }
    // Anything beside the off switch is a section to run: it needs its fields, each reported at its own path.
    const half = await runCli(['config', 'check', config('idp-half.yaml', { extra: 'idp: { enabled: true }' })], env);
    assert.equal(half.code, 3);
    assert.match(half.err, /^error: idp\.base_url: /m);
    assert.match(half.err, /^error: idp\.realms: /m);
    const bad = await runCli(['config', 'check', config('idp-bad.yaml', { extra: 'idp: { enabled: true, base_url: "https://idp.example", realms: [{ name: Staff }], colour: red }' })], env);
    assert.equal(bad.code, 3);
    assert.match(bad.err, /^error: idp\.realms\.0\.name: /m);
    assert.match(bad.err, /^error: idp: unknown key\(s\) "colour"$/m);
    assert.doesNotMatch(bad.err, /Invalid input$/m);
  });

  test('key providers: the PIN comes from a file or the environment, never the configuration; files are checked', async () => {
    const pinFile = join(dir, 'pin');
    writeFileSync(pinFile, '1234\n', { mode: 0o644 });
    chmodSync(pinFile, 0o644);
    const p11 = (pin: string) => `keys: { default_provider: pkcs11, providers: { pkcs11: { module: ${process.execPath}, token_label: t, ${pin} } } }`;
    const unset = await runCli(['config', 'check', config('pin-env.yaml', { extra: p11('pin_env: KEYWARD_TEST_NO_SUCH_PIN') }), '--json'], env);
    assert.equal(unset.code, 3);
    assert.deepEqual(JSON.parse(unset.out).errors, [{ path: 'keys.providers.pkcs11.pin_env', message: 'environment variable KEYWARD_TEST_NO_SUCH_PIN is not set' }]);
    const readable = await runCli(['config', 'check', config('pin-file.yaml', { extra: p11(`pin_file: ${pinFile}`) }), '--json'], env);
    assert.deepEqual(JSON.parse(readable.out).errors, [{ path: 'keys.providers.pkcs11.pin_file', message: `${pinFile} is readable by group or others; make it owner-only (chmod 600)` }]);
    chmodSync(pinFile, 0o600);
    const good = await runCli(['config', 'check', config('pin-ok.yaml', { extra: p11(`pin_file: ${pinFile}`) })], env);
    assert.equal(good.code, 0, good.err);
    // A PIN in the configuration itself is not a field there is.
    const inline = await runCli(['config', 'check', config('pin-inline.yaml', { extra: p11('pin: "1234"') }), '--json'], env);
    assert.equal(inline.code, 3);
    assert.ok(JSON.parse(inline.out).errors.some((e: { path: string }) => e.path === 'keys.providers.pkcs11'), inline.out);
    const kmip = await runCli(['config', 'check', config('kmip.yaml', { extra: `keys: { providers: { kmip: { host: kmip.example, ca_file: ${join(dir, 'no-ca.pem')}, cert_file: ${join(dir, 'no-cert.pem')}, key_file: ${join(dir, 'no-key.pem')} } } }` }), '--json'], env);
    assert.deepEqual(JSON.parse(kmip.out).errors.map((e: { path: string }) => e.path), ['keys.providers.kmip.ca_file', 'keys.providers.kmip.cert_file', 'keys.providers.kmip.key_file']);
  });

  test('providers named by the default or the seal must be configured; production warns about software keys and a long cache TTL', async () => {
    const missing = await runCli(['config', 'check', config('no-provider.yaml', { extra: 'keys: { default_provider: kmip }', seal: 'type: pkcs11' }), '--json'], env);
    assert.equal(missing.code, 3);
    assert.deepEqual(JSON.parse(missing.out).errors.map((e: { path: string }) => e.path).sort(), ['keys.default_provider', 'seal.type']);
    const soft = await runCli(['config', 'check', config('soft.yaml')], env);
    assert.equal(soft.code, 0);
    assert.match(soft.err, /^warning: keys\.providers: no HSM provider is configured/m);
    const pinFile = join(dir, 'pin2');
    writeFileSync(pinFile, '1234', { mode: 0o600 });
    const ttl = await runCli(['config', 'check', config('ttl.yaml', { extra: `keys: { cache_ttl: 10m, providers: { pkcs11: { module: ${process.execPath}, token_label: t, pin_file: ${pinFile} } } }` })], env);
    assert.equal(ttl.code, 0, ttl.err);
    assert.match(ttl.err, /^warning: keys\.default_provider: software; keys created without a provider are sealed in the database rather than held by pkcs11/m);
    assert.match(ttl.err, /^warning: keys\.cache_ttl: 600s is the lockout bound for external \(HYOK\) keys/m);
  });

  test('usage: FILE is required, nothing else is taken, --help helps', async () => {
    assert.equal((await runCli(['config', 'check'], {})).code, 2);
    const extra = await runCli(['config', 'check', config('extra.yaml'), 'extra'], env);
    assert.equal(extra.code, 2);
    assert.match(extra.err, /^error: unexpected argument "extra"$/m);
    const help = await runCli(['config', 'check', '--help'], {});
    assert.equal(help.code, 0);
    assert.match(help.out, /^usage: keyward config check FILE/);
  });
});
