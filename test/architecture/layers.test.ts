// The folders of src/ import one way: each folder may import only folders listed before it (and itself). A back
// edge (store importing keys, the HTTP kernel importing a feature) fails here with the file and the import.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = join(import.meta.dirname, '..', '..', 'src');

/** Lowest first. Everything under src/ must be in a listed folder. */
export const LAYERS = [
  'core', // vocabulary and primitives every layer shares: clock, durations, the error registry, actions, key vocabulary
  'store', // storage: SQLite and PostgreSQL repositories
  'http', // the HTTP kernel: problem rendering, request ids, route security declarations, error handlers, OpenAPI
  'audit', // the audit trail and its sinks
  'authn', // authentication: credentials in, a Principal out; the authenticate hook
  'keys', // the key service: families, providers, seal, routes
  'authz', // authorization: permissions, PDPs; the authorize hook
  'grpc', // the key API over gRPC: a transport beside the REST routes, over the same stages and key service
  'identity', // the canonical identity model, its LDAP expression and validators
  'idp', // the OpenID Connect provider
  'migrate', // exports and migration reports
  'conformance', // the replacement suite run against any issuer
  'config', // the configuration schema, composed of every module's fragment
  'app', // the composition root
  'cli', // the keyward command
] as const;

/** Finer rules inside a layer: domain code that must not know HTTP (it throws domain errors; http maps them). */
const NO_HTTP = ['keys/families', 'keys/seal', 'keys/providers', 'store', 'identity', 'audit/sinks'];

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function edges(): Array<{ file: string; from: string; to: string; target: string }> {
  const out = [];
  for (const file of files(SRC)) {
    const rel = relative(SRC, file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2]!;
      const target = relative(SRC, resolve(dirname(file), spec));
      out.push({ file: rel, from: rel.split('/')[0]!, to: target.split('/')[0]!, target });
    }
  }
  return out;
}

test('every folder of src/ has a layer', () => {
  const folders = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());
  assert.deepEqual(folders.filter((f) => !(LAYERS as readonly string[]).includes(f)), []);
  assert.deepEqual(readdirSync(SRC).filter((n) => !statSync(join(SRC, n)).isDirectory()), [], 'no loose files at the top of src/');
});

test('folders import only folders below them', () => {
  const rank = (f: string) => (LAYERS as readonly string[]).indexOf(f);
  const back = edges().filter((e) => e.from !== e.to && rank(e.to) > rank(e.from));
  assert.deepEqual(back.map((e) => `${e.file} imports ${e.target} (${e.from} is below ${e.to})`), []);
});

test('domain code does not import the HTTP kernel', () => {
  const bad = edges().filter((e) => e.to === 'http' && NO_HTTP.some((d) => e.file.startsWith(d + '/')));
  assert.deepEqual(bad.map((e) => `${e.file} imports ${e.target}`), []);
});

test('only the storage layer and the identity provider repositories touch the query builder', () => {
  // Everything else gets repositories: src/store's for Keyward's tables, src/idp/store's for the provider's.
  const owners = ['store/', 'idp/store/'];
  const bad: string[] = [];
  for (const file of files(SRC)) {
    const rel = relative(SRC, file);
    if (owners.some((o) => rel.startsWith(o))) continue;
    const text = readFileSync(file, 'utf8');
    if (/(?:^|\n)\s*import\s[^'"]*?['"]kysely['"]|import\(\s*['"]kysely['"]\s*\)/.test(text)) bad.push(`${rel} imports kysely`);
    if (/\.kysely\b/.test(text)) bad.push(`${rel} takes the store's query builder (.kysely)`);
  }
  assert.deepEqual(bad, []);
});

test('only the composition root starts the gRPC transport', () => {
  const bad = edges().filter((e) => e.to === 'grpc' && e.from !== 'grpc' && e.from !== 'app');
  assert.deepEqual(bad.map((e) => `${e.file} imports ${e.target}`), []);
});
