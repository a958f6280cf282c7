// --json on the commands that printed text whatever they were told: one JSON document on stdout, the same facts.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runCli } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'kw-cli-json-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('audit keygen and public-key --json: key_id, the raw key and the PEM, never the private key', async () => {
  const key = join(dir, 'audit.pem');
  const made = await runCli(['audit', 'keygen', '--out', key, '--json'], {});
  assert.equal(made.code, 0, made.err);
  const info = JSON.parse(made.out);
  assert.deepEqual(Object.keys(info).sort(), ['ed25519_public_key_b64', 'ed25519_public_key_pem', 'key_id']);
  assert.match(info.key_id, /^[0-9a-f]{32}$/);
  assert.match(info.ed25519_public_key_pem, /^-----BEGIN PUBLIC KEY-----/);
  assert.doesNotMatch(made.out, /PRIVATE/);
  const shown = await runCli(['audit', 'public-key', '--key', key, '--json'], {});
  assert.equal(shown.code, 0, shown.err);
  assert.deepEqual(JSON.parse(shown.out), info);
  // Without --json, the text form is unchanged.
  assert.match((await runCli(['audit', 'public-key', '--key', key], {})).out, /^key_id: [0-9a-f]{32}\n/);
});

test('ldap render --json: the LDIF inside one object; with --out, the file written', async () => {
  const tenant = 'fixtures/identity/tenant.json';
  const ldif = readFileSync('fixtures/ldap/tenant.ldif', 'utf8');
  const r = await runCli(['ldap', 'render', tenant, '--json'], {});
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), { ok: true, ldif });
  const out = join(dir, 'tenant.ldif');
  const written = await runCli(['ldap', 'render', tenant, '--out', out, '--json'], {});
  assert.deepEqual(JSON.parse(written.out), { ok: true, out });
  assert.equal(readFileSync(out, 'utf8'), ldif);
});
