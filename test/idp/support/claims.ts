// Validates token claims against the shipped JSON Schema (ajv is already installed with Fastify).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const require = createRequire(import.meta.url);
const Ajv = require('ajv');
const addFormats = require('ajv-formats');
const schema = JSON.parse(readFileSync(new URL('../../../schemas/iam-profile-v0.2.claims.schema.json', import.meta.url), 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(schema);

export function assertProfileClaims(claims: unknown): void {
  const ok = validate(claims);
  assert.ok(ok, `claims do not match the profile schema: ${JSON.stringify(validate.errors)} in ${JSON.stringify(claims)}`);
}
