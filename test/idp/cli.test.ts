import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { run } from '../../src/cli/commands/idp.ts';
import { REALM_YAML, SECRETS } from './support/env.ts';

describe('keyward idp CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kw-idp-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'keyward.yaml');
  writeFileSync(
    cfg,
    `storage: { type: sqlite, path: ${join(dir, 'k.db')} }
idp:
  enabled: true
  base_url: http://127.0.0.1:8080
  argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 }
  realms:
    - name: main
      access_token_resource: https://keyward.test/api
      custom_scopes: [{ name: keys.sign }]
`,
  );
  const realmFile = join(dir, 'realm.yaml');
  writeFileSync(realmFile, REALM_YAML);
  const call = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await run([...argv, '--config', cfg], { out: (l) => out.push(l), err: (l) => err.push(l), env: { ...SECRETS, NEWPW: 'new password 123' } });
    return { code, out, err };
  };

  it('apply --dry-run shows the diff without writing, apply is idempotent', async () => {
    const dry = await call('apply', realmFile, '--dry-run');
    assert.equal(dry.code, 0, dry.err.join('\n'));
    assert.ok(dry.out.includes('+ client svc'));
    assert.equal((await call('users', 'list')).out.length, 0);
    const first = await call('apply', realmFile);
    assert.equal(first.code, 0, first.err.join('\n'));
    const again = await call('apply', realmFile);
    assert.ok(again.out.every((l) => l.startsWith('=') || l.startsWith('0 change')), again.out.join('\n'));
  });

  it('manages users and clients and reports demand', async () => {
    assert.equal((await call('users', 'disable', 'alice')).code, 0);
    assert.ok((await call('users', 'list')).out.some((l) => l.includes('alice\tdisabled')));
    assert.equal((await call('users', 'set-password', 'alice', '--password-env', 'NEWPW')).code, 0);
    assert.equal((await call('clients', 'disable', 'svc')).code, 0);
    assert.ok((await call('clients', 'list')).out.some((l) => l.startsWith('svc\tdisabled')));
    const rep = await call('telemetry', 'report');
    assert.equal(rep.code, 0);
    assert.equal((await call('telemetry', 'report', '--since', '3600')).code, 0);
    for (const since of ['abc', '0', '1.5']) {
      const bad = await call('telemetry', 'report', '--since', since);
      assert.equal(bad.code, 2, `--since ${since}`);
      assert.match(bad.err[0]!, /^error: --since is a whole number of seconds/);
    }
    assert.equal((await call('nope')).code, 2);
  });

  it('a bad configuration exits 3 and names the full path of each bad field', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, `storage: { type: sqlite, path: ${join(dir, 'k.db')}, extra: 1 }
idp: { enabled: true, base_url: http://127.0.0.1:8080, lockout: {}, realms: [{ name: main, access_token_resource: https://keyward.test/api, ttl: { access_token: soon } }] }
`);
    const out: string[] = [];
    const err: string[] = [];
    const code = await run(['users', 'list', '--config', bad], { out: (l) => out.push(l), err: (l) => err.push(l), env: {} });
    assert.equal(code, 3);
    const text = err.join('\n');
    assert.match(text, /idp: unknown key\(s\) "lockout"/);
    assert.match(text, /idp\.realms\.0\.ttl\.access_token: /);
  });

  it('a dev-mode configuration without an idp section manages the dev realm', async () => {
    const devCfg = join(dir, 'dev.yaml');
    writeFileSync(devCfg, `mode: dev\nstorage: { type: sqlite, path: ${join(dir, 'dev.db')} }\n`);
    const devRealm = join(dir, 'dev-realm.yaml');
    writeFileSync(devRealm, `realm: keyward
roles: [{ name: key-user }]
users:
  - { id: u-dev, username: dev, roles: [key-user], password_env: ALICE_PW }
clients:
  - { client_id: dev-web, grant_types: [authorization_code], scopes: [openid], redirect_uris: ["http://127.0.0.1:9/cb"], secret_env: WEB_SECRET, roles: [key-user] }
`);
    const err: string[] = [];
    const code = await run(['apply', devRealm, '--config', devCfg], { out: () => {}, err: (l) => err.push(l), env: { ...SECRETS } });
    assert.equal(code, 0, err.join('\n'));
  });
});
