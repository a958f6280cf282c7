// Publishes the JSON Schema of a realm's server configuration (one entry of `idp.realms`), derived from its zod
// schema so the two cannot disagree. `npm run idp:realm-schema` rewrites the file; test/idp/realm-reference.test.ts
// fails when the committed file is not what this produces.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { idpRealmConfigSchema } from '../src/idp/config.ts';

export const REALM_CONFIG_SCHEMA_PATH = fileURLToPath(new URL('../schemas/idp-realm-config.schema.json', import.meta.url));

export function realmConfigSchemaText(): string {
  // `input`: what an operator writes (defaults make fields optional), not what the server holds after parsing.
  const generated = z.toJSONSchema(idpRealmConfigSchema, { io: 'input', target: 'draft-2020-12' });
  const { $schema, ...rest } = generated;
  const schema = {
    $schema,
    $id: 'https://keyward.dev/schemas/idp-realm-config.schema.json',
    title: 'Keyward identity provider: one realm of idp.realms in the server configuration',
    description:
      'Server settings of a realm: its directory, audience, custom scopes, role_permissions (role -> key API permissions put in its access tokens), MFA, lockout, lifetimes and theme. The realm\'s identity data (roles, groups, users, clients) is a canonical identity document (schemas/identity/keycape-identity-v0.1.schema.json). Generated from src/idp/config.ts by scripts/generate-realm-config-schema.ts; see docs/identity.md, "Realm reference".',
    ...rest,
  };
  return JSON.stringify(schema, null, 2) + '\n';
}

if (import.meta.main) {
  await writeFile(REALM_CONFIG_SCHEMA_PATH, realmConfigSchemaText());
  process.stdout.write(`wrote ${REALM_CONFIG_SCHEMA_PATH}\n`);
}
