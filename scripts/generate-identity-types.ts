// Derives src/identity/model.generated.ts from the canonical identity schema, so the TypeScript types can never
// disagree with the published JSON Schema. `npm run identity:types` rewrites the file; test/identity/model.test.ts
// fails when the committed file is not what this produces.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { compileFromFile } from 'json-schema-to-typescript';

export const SCHEMA_PATH = fileURLToPath(new URL('../schemas/identity/keycape-identity-v0.1.schema.json', import.meta.url));
export const TYPES_PATH = fileURLToPath(new URL('../src/identity/model.generated.ts', import.meta.url));

const BANNER = `// GENERATED from schemas/identity/keycape-identity-v0.1.schema.json by scripts/generate-identity-types.ts
// (json-schema-to-typescript). Do not edit: change the schema and run \`npm run identity:types\`.`;

export async function generateIdentityTypes(): Promise<string> {
  return compileFromFile(SCHEMA_PATH, {
    bannerComment: BANNER,
    additionalProperties: false,
    unreachableDefinitions: true,
    ignoreMinAndMaxItems: true,
    style: { singleQuote: true, printWidth: 140 },
  });
}

if (import.meta.main) {
  await writeFile(TYPES_PATH, await generateIdentityTypes());
  process.stdout.write(`wrote ${TYPES_PATH}\n`);
}
