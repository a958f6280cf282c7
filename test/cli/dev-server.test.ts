// `keyward dev` started without a configuration file, as a newcomer runs it, and the commands they run next in the
// same directory: `keyward idp …` finds the dev server's store without --config, --json works, and the server's
// log stays JSON (oidc-provider prints no plain-text warning when a token is requested).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLIENT_CACHE_MS } from '../../src/idp/store/directory.ts';
import { startDevProcess, type DevProcess } from '../../harness/dev-process.ts';
import { freePort } from '../../harness/net.ts';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

/** The CLI as a separate process, as a user runs it: in `cwd`, with no KEYWARD_CONFIG. */
function cli(cwd: string, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const { KEYWARD_CONFIG: _c, ...rest } = process.env;
  const proc = spawn(process.execPath, [MAIN, ...argv], { cwd, env: { ...rest, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code: code ?? -1, out, err })));
}

const DOCUMENT = `schema_version: "0.1"
realm: keyward
tenant: "tenant:dev"
environments: [dev]
profile_versions:
  - { profile: netkingdom-iam, version: "0.2", ldap_schema: "0.1", custom_scopes: [], public_clients_allowed: false }
roles:
  - { name: key-user, description: creates keys and signs with them }
groups: []
users:
  - { id: u-newcomer, username: newcomer, display_name: New Comer, email: newcomer@example.test, email_verified: true, enabled: true, principal_type: human, roles: [key-user], password: { env: NEWCOMER_PW } }
memberships: []
clients: []
client_scope_assignments: []
mfa_enrollments: []
`;

describe('keyward dev without a configuration file, and the idp commands next to it', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'kw-dev-noconfig-'));
  let dev: DevProcess;
  before(async () => {
    const port = await freePort();
    const { KEYWARD_CONFIG: _c, ...env } = process.env;
    dev = await startDevProcess({ cwd: dir, base: `http://127.0.0.1:${port}`, env: { ...env, KEYWARD_SERVER__PORT: String(port) } });
  });
  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const token = async (c: { id: string; secret: string; tokenUrl: string }) =>
    fetch(c.tokenUrl, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${c.id}:${c.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });

  test('idp apply, users, clients and telemetry work on the running dev server\'s store, with --json', async () => {
    const client = dev.devClient();
    const listed = await cli(dir, ['idp', 'clients', 'list', '--json']);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.err, /no configuration given: using the store of the dev server in this directory \(\.\/data\/keyward\.db\)/);
    const clients = JSON.parse(listed.out) as { realm: string; clients: Array<{ client_id: string; enabled: boolean }> };
    assert.equal(clients.realm, 'keyward');
    assert.deepEqual(clients.clients.find((c) => c.client_id === client.id)?.enabled, true);

    writeFileSync(join(dir, 'realm.yaml'), DOCUMENT);
    const dry = await cli(dir, ['idp', 'apply', 'realm.yaml', '--dry-run', '--json'], { NEWCOMER_PW: 'a newcomer password' });
    assert.equal(dry.code, 0, dry.err);
    const plan = JSON.parse(dry.out);
    assert.equal(plan.ok, true);
    assert.equal(plan.dry_run, true);
    assert.ok(plan.changed >= 1, dry.out);
    assert.ok(plan.changes.some((l: string) => l.includes('newcomer')), dry.out);
    const applied = JSON.parse((await cli(dir, ['idp', 'apply', 'realm.yaml', '--json'], { NEWCOMER_PW: 'a newcomer password' })).out);
    assert.deepEqual([applied.ok, applied.dry_run, applied.changed], [true, false, plan.changed]);
    const users = JSON.parse((await cli(dir, ['idp', 'users', 'list', '--json'])).out) as { users: Array<Record<string, unknown>> };
    const newcomer = users.users.find((u) => u.username === 'newcomer');
    assert.deepEqual(newcomer, {
      id: 'u-newcomer', username: 'newcomer', display_name: 'New Comer', given_name: null, family_name: null, email: 'newcomer@example.test',
      enabled: true, principal_type: 'human', tenant: 'tenant:dev', groups: [], roles: ['key-user'],
    });
    assert.doesNotMatch(JSON.stringify(users), /argon2/);

    // A refused document: findings as JSON, exit 1, nothing applied.
    writeFileSync(join(dir, 'bad.yaml'), DOCUMENT.replace('realm: keyward', 'realm: elsewhere'));
    const refused = await cli(dir, ['idp', 'apply', 'bad.yaml', '--json'], { NEWCOMER_PW: 'x' });
    assert.equal(refused.code, 1);
    const report = JSON.parse(refused.out);
    assert.equal(report.ok, false);
    assert.ok(report.findings.some((f: { code: string }) => f.code === 'idp.realm_unknown'), refused.out);

    // The running server reads the same store; it caches a client for CLIENT_CACHE_MS, so a change shows within that.
    const tokenStatusBecomes = async (status: number) => {
      const deadline = Date.now() + 5 * CLIENT_CACHE_MS;
      let last: number;
      do {
        last = (await token(client)).status;
        if (last === status) return;
        await sleep(200);
      } while (Date.now() < deadline);
      assert.fail(`the token endpoint still answers ${last}, not ${status}`);
    };
    await tokenStatusBecomes(200);
    const disabled = await cli(dir, ['idp', 'clients', 'disable', client.id, '--json']);
    assert.deepEqual(JSON.parse(disabled.out), { ok: true, realm: 'keyward', action: 'disable', client_id: client.id });
    await tokenStatusBecomes(401);
    assert.equal((await cli(dir, ['idp', 'clients', 'enable', client.id])).out.trim(), `enable: ${client.id}`);
    await tokenStatusBecomes(200);

    const telemetry = await cli(dir, ['idp', 'telemetry', 'report', '--json']);
    assert.equal(telemetry.code, 0, telemetry.err);
    assert.ok((JSON.parse(telemetry.out) as Array<{ client_id: string }>).some((r) => r.client_id === client.id), telemetry.out);
  });

  test('elsewhere, without a configuration, the idp commands refuse (exit 3) and create nothing', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'kw-no-dev-'));
    try {
      const r = await cli(elsewhere, ['idp', 'users', 'list']);
      assert.equal(r.code, 3);
      assert.match(r.err, /no configuration: pass --config FILE or set KEYWARD_CONFIG .*no \.\/data\/dev-unseal\.json here/);
      assert.equal(existsSync(join(elsewhere, 'data')), false);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  test('the server\'s stdout is JSON log lines only, and nothing follows the dev banner on stderr (no oidc-provider warning)', async () => {
    // A token request with a form body: the request oidc-provider used to warn about.
    assert.equal((await token(dev.devClient())).status, 200);
    const lines = dev.stdout().split('\n').filter((l) => l !== '');
    assert.ok(lines.length > 0);
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
    assert.ok(lines.some((l) => JSON.parse(l).event === 'token_issued'), 'the token request is logged');
    const afterBanner = dev.stderr().split(/={78}\n/).at(-1)!;
    assert.equal(afterBanner, '', `stderr after the banner: ${afterBanner}`);
    assert.doesNotMatch(dev.stderr() + dev.stdout(), /oidc-provider/);
  });
});
