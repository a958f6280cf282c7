// The canonical identity model: the committed types are exactly what the schema generates, the schema itself is a
// valid 2020-12 schema, and the canonical fixtures pass it and type-check as IdentityDocument.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { generateIdentityTypes, TYPES_PATH } from '../../scripts/generate-identity-types.ts';
import type { IdentityDocument, User } from '../../src/identity/model.ts';
import { identitySchema, identitySchemaValidator } from '../../src/identity/schema.ts';
import { validateIdentityDocument } from '../../src/identity/validate.ts';

const read = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as unknown;

describe('canonical identity model', () => {
  it('src/identity/model.generated.ts is what the schema generates (run `npm run identity:types` after changing the schema)', async () => {
    assert.equal(readFileSync(TYPES_PATH, 'utf8'), await generateIdentityTypes());
  });

  it('is a versioned JSON Schema 2020-12 document that compiles in strict mode', () => {
    assert.equal(identitySchema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.match(identitySchema.$id, /keycape-identity-v0\.1\.schema\.json$/);
    assert.equal(typeof identitySchemaValidator(), 'function');
    for (const entity of ['User', 'Group', 'Membership', 'Client', 'Role', 'ClientScopeAssignment', 'MFAEnrollmentReference', 'DirectoryAttributes', 'ProfileVersion'])
      assert.ok(entity in identitySchema.$defs, `$defs.${entity}`);
  });

  it('holds the user fields of §10.3 and the client fields of §10.4', () => {
    const user = Object.keys(identitySchema.$defs.User.properties);
    for (const f of ['id', 'username', 'display_name', 'email', 'enabled', 'roles', 'directory']) assert.ok(user.includes(f), f);
    const client = Object.keys(identitySchema.$defs.Client.properties);
    for (const f of ['client_id', 'name', 'redirect_uris', 'type', 'secret', 'token_profile', 'environments']) assert.ok(client.includes(f), f);
  });

  it('the canonical fixtures pass the schema and every rule, and type-check as IdentityDocument', () => {
    for (const path of ['fixtures/identity/tenant.json', 'fixtures/identity/minimal.json']) {
      const data = read(path);
      assert.deepEqual(validateIdentityDocument(data, path), [], path);
      // Compile-time half of the check: the validated value is used through the generated types.
      const doc = data as IdentityDocument;
      const humans: User[] = doc.users.filter((u) => u.principal_type === 'human');
      assert.ok(humans.length > 0);
    }
  });

  it('the fixture tenant has humans, a service account, an agent, groups, roles, a confidential and a public PKCE client and MFA references', () => {
    const doc = read('fixtures/identity/tenant.json') as IdentityDocument;
    const types = new Set(doc.users.map((u) => u.principal_type));
    assert.deepEqual([...types].sort(), ['agent', 'human', 'service']);
    assert.ok(doc.users.some((u) => !u.enabled), 'a disabled user');
    assert.ok(doc.clients.some((c) => c.type === 'confidential' && c.grant_types.includes('authorization_code')));
    assert.ok(doc.clients.some((c) => c.type === 'public' && c.pkce_method === 'S256'));
    assert.ok(doc.clients.some((c) => c.principal?.principal_type === 'service'));
    assert.ok(doc.clients.some((c) => c.principal?.principal_type === 'agent' && c.auth_method === 'private_key_jwt'));
    assert.ok(doc.mfa_enrollments.some((m) => m.provider === 'privacyidea') && doc.mfa_enrollments.some((m) => m.provider === 'keyward'));
    assert.ok(doc.groups.length >= 3 && doc.roles.length >= 3);
  });

  it('secret references: an env name or an argon2id hash, never a plaintext', () => {
    const doc = read('fixtures/identity/minimal.json') as IdentityDocument;
    const withHash = structuredClone(doc);
    withHash.clients[0]!.secret = { argon2id_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA' };
    assert.deepEqual(validateIdentityDocument(withHash, 'x'), []);
    const plain = structuredClone(doc) as unknown as { clients: { secret: unknown }[] };
    plain.clients[0]!.secret = { value: 'hunter2' };
    const codes = validateIdentityDocument(plain, 'x').map((f) => f.code);
    assert.ok(codes.includes('identity.schema.one_of') || codes.includes('identity.schema.additional_properties'), codes.join());
    assert.ok(!JSON.stringify(validateIdentityDocument(plain, 'x')).includes('hunter2'), 'findings never repeat the value');
  });
});
