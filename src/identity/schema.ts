// The compiled canonical identity schema (JSON Schema 2020-12, validated with ajv's 2020 draft). Compiled once per
// process; ajv-formats supplies the `email` format.
import ajv2020 from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import identitySchema from '../../schemas/identity/keycape-identity-v0.1.schema.json' with { type: 'json' };
import type { IdentityDocument } from './model.ts';

export { identitySchema };
export const IDENTITY_SCHEMA_ID = identitySchema.$id;

let compiled: ValidateFunction<IdentityDocument> | undefined;

/** The schema validator (strict mode, every error reported rather than the first). */
export function identitySchemaValidator(): ValidateFunction<IdentityDocument> {
  if (!compiled) {
    // Both packages are CommonJS with a `default` export; under Node's ESM interop the class sits on `.default`.
    const ajv = new ajv2020.default({ allErrors: true, strict: true });
    ajvFormats.default(ajv, ['email']);
    compiled = ajv.compile<IdentityDocument>(identitySchema);
  }
  return compiled;
}

export type SchemaError = ErrorObject;
