// The two offline openers of the identity provider's store (keyward idp …, keyward migrate export --config) read a
// configuration file's idp and storage sections the same way, and name the section and field that is wrong.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runCli } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'keyward-idp-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function config(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

test('a wrong storage section: keyward idp exits 3 naming storage.<field>, creating nothing', async () => {
  const file = config('bad-storage.yaml', `mode: dev\nstorage: { type: sqlite, path: ${join(dir, 'k.db')}, bogus: 1 }\n`);
  const r = await runCli(['idp', 'users', 'list', '--config', file], { ...process.env });
  assert.equal(r.code, 3, r.err);
  assert.match(r.err, /storage/);
  assert.match(r.err, /bogus/);
});

test('a wrong idp section: keyward idp exits 3 naming idp.<field>; migrate export says migrate.config_invalid with idp', async () => {
  const file = config('bad-idp.yaml', `mode: production\nstorage: { type: sqlite, path: ${join(dir, 'k.db')} }\nidp: { enabled: true, realms: 7 }\n`);
  const r = await runCli(['idp', 'users', 'list', '--config', file], { ...process.env });
  assert.equal(r.code, 3, r.err);
  assert.match(r.err, /idp\.realms/);
  const m = await runCli(['migrate', 'export', '--to', 'ldif', '--config', file, '--realm', 'x', '--out', join(dir, 'out.ldif')], { ...process.env });
  assert.notEqual(m.code, 0);
  assert.equal(m.code, 3, m.err);
  assert.match(m.err, /migrate\.config_invalid: idp: .*realms: /);
});

test('idp: { enabled: false } (dev mode too): keyward idp and migrate export say the identity provider is off', async () => {
  const file = config('idp-off.yaml', `mode: dev\nstorage: { type: sqlite, path: ${join(dir, 'k.db')} }\nidp: { enabled: false }\n`);
  const r = await runCli(['idp', 'users', 'list', '--config', file], { ...process.env });
  assert.equal(r.code, 3, r.err);
  assert.match(r.err, /idp\.enabled: the identity provider is switched off/);
  const m = await runCli(['migrate', 'export', '--to', 'ldif', '--config', file, '--realm', 'x', '--out', join(dir, 'out.ldif')], { ...process.env });
  assert.equal(m.code, 3, m.err);
  assert.match(m.err, /migrate\.config_invalid: idp: enabled: the identity provider is switched off/);
});
