// docs/identity.md, "Realm reference": the published schema of a realm's configuration is the one the server
// parses with, the two commented examples are valid and agree with each other, and the tables say what the code does.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Kysely } from 'kysely';
import { parse as parseYaml } from 'yaml';
import { realmConfigSchemaText, REALM_CONFIG_SCHEMA_PATH } from '../../scripts/generate-realm-config-schema.ts';
import { ACTION_PERMISSIONS } from '../../src/core/actions.ts';
import { idpConfigSchema } from '../../src/idp/config.ts';
import { devIdpConfig } from '../../src/idp/dev.ts';
import { permissionsFor } from '../../src/idp/provider.ts';
import { applyRealmDocument } from '../../src/idp/realm-document.ts';
import { Directory } from '../../src/idp/store/directory.ts';
import { migrateIdp } from '../../src/idp/store/migrations.ts';
import { nodeSqliteDialect } from '../../src/store/sqlite-dialect.ts';
import { idpRepositories } from '../../src/idp/store/repositories.ts';

const DOC = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'identity.md'), 'utf8');

/** The text of a section of the doc: from its `## ` or `### ` heading to the next heading of any level up to 3. */
function section(heading: string): string {
  const start = DOC.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `no "${heading}" in docs/identity.md`);
  const rest = DOC.slice(start + heading.length + 2);
  const end = rest.search(/\n#{2,3} /);
  return end < 0 ? rest : rest.slice(0, end);
}

/** The first fenced block of the given language in a section. */
function firstBlock(text: string, lang: string): string {
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)\\n```').exec(text);
  assert.ok(m, `no ${lang} block`);
  return m[1]!;
}

/** The rows of the first table of a section, as cells with the backticks kept. */
function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('|---'))
    .slice(1)
    .map((l) => l.slice(2, -2).split(' | '));
}

const ticked = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

const realmConfigExample = () => idpConfigSchema.parse((parseYaml(firstBlock(section('## Realm reference'), 'yaml')) as { idp: unknown }).idp);

describe('realm reference', () => {
  it('schemas/idp-realm-config.schema.json is what the realm configuration schema generates (npm run idp:realm-schema)', () => {
    assert.equal(readFileSync(REALM_CONFIG_SCHEMA_PATH, 'utf8'), realmConfigSchemaText());
  });

  it('the configuration example passes the server\'s schema and the published JSON Schema, which refuses what the server refuses', () => {
    const idp = realmConfigExample();
    const validate = new Ajv2020({ strict: false, allErrors: true }).compile(JSON.parse(realmConfigSchemaText()));
    const raw = (parseYaml(firstBlock(section('## Realm reference'), 'yaml')) as { idp: { realms: unknown[] } }).idp.realms[0] as Record<string, unknown>;
    assert.equal(validate(raw), true, JSON.stringify(validate.errors));
    assert.equal(idp.realms[0]!.name, 'staff');
    for (const wrong of [{ role_permissions: { signer: 'keyward.key.app-*.sign' } }, { roles: ['signer'] }, { name: 'Staff' }]) {
      assert.equal(validate({ ...raw, ...wrong }), false, JSON.stringify(wrong));
      assert.equal(idpConfigSchema.safeParse({ base_url: 'https://x.example', realms: [{ ...raw, ...wrong }] }).success, false);
    }
  });

  it('the document example applies to the configuration example, and alice\'s tokens carry the permissions the text states', async () => {
    const idp = { ...realmConfigExample(), argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 } };
    const document = parseYaml(firstBlock(section('## Realm documents'), 'yaml'));
    const db = new Kysely<any>({ dialect: nodeSqliteDialect(':memory:') });
    try {
      await migrateIdp(db, 'sqlite');
      const env = { STAFF_ALICE_PASSWORD: 'alice password 0123', STAFF_PORTAL_SECRET: 'portal-secret-0123456789' };
      const outcome = await applyRealmDocument(idpRepositories(db, 'sqlite'), idp, document, 'docs/identity.md', { dryRun: false, env });
      assert.ok(outcome.result, JSON.stringify(outcome.findings));
      assert.deepEqual(outcome.findings.filter((f) => f.severity === 'error'), []);
      const dir = new Directory(db, 'staff');
      const alice = await dir.findUserByUsername('alice');
      assert.ok(alice);
      const permissions = permissionsFor(idp.realms[0]!, await dir.effectiveRoles(alice));
      const stated = /alice \(group admins: signer and reader\) gets\s+`([^`]+)`/.exec(section('### Roles and what they grant').replace(/\n/g, ' '));
      assert.ok(stated, 'the text states alice\'s permissions');
      assert.deepEqual(permissions, stated[1]!.split(' '));
    } finally {
      await db.destroy();
    }
  });

  it('the permission table has one row per key API permission, and only those', () => {
    const rows = tableRows(section('### Roles and what they grant').slice(section('### Roles and what they grant').indexOf('| permission |')));
    const documented = rows.map((r) => ticked(r[0]!)[0]!.replace('<id>.', '').replace(/^keyward\./, ''));
    const actual = new Set(
      Object.values(ACTION_PERMISSIONS)
        .filter((p) => p.scope === 'key' || p.scope === 'keys')
        .map((p) => `${p.scope}.${p.segment}`),
    );
    actual.add('key.overwrite'); // create or import over an existing key (permissionFor)
    assert.deepEqual([...documented].sort(), [...actual].sort());
  });

  it('the dev realm\'s table is devIdpConfig\'s role_permissions', () => {
    const rows = tableRows(section('### The dev realm'));
    const documented = Object.fromEntries(rows.map((r) => [ticked(r[0]!)[0]!, ticked(r[1]!)]));
    assert.deepEqual(documented, devIdpConfig('http://127.0.0.1:8200', 'keyward').realms[0]!.role_permissions);
  });
});
