import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config/load.ts';
import { main } from '../../src/cli/main.ts';

const dev = { mode: 'dev' };
function problems(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(raw, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('configuration', () => {
  test('defaults: production mode, SQLite under ./data, SPIRL at /spirl; durations become milliseconds', () => {
    const c = parseConfig(dev);
    assert.equal(c.storage.type, 'sqlite');
    assert.equal(c.spirl.base_path, '/spirl');
    assert.equal(c.keys.release_grace_period, 24 * 3600_000);
    assert.equal(parseConfig({ ...dev, keys: { release_grace_period: '90s' } }).keys.release_grace_period, 90_000);
  });

  test('unknown keys and wrong types are rejected with the path of the bad field', () => {
    assert.deepEqual(problems({ ...dev, server: { prot: 1 } }), ['server: unknown key(s) "prot"']);
    assert.match(problems({ ...dev, server: { port: 'eighty' } })[0]!, /^server\.port: /);
    assert.match(problems({ ...dev, keys: { release_grace_period: 'soon' } })[0]!, /^keys\.release_grace_period: expected a duration/);
    assert.match(problems({ ...dev, storage: { type: 'postgres' } })[0]!, /^storage\.url: /);
    assert.match(problems({ ...dev, colour: 'red' })[0]!, /unknown key\(s\) "colour"/);
  });

  test('contradictions are rejected: production without authn; mtls without server TLS', () => {
    assert.ok(problems({}).some((p) => p.startsWith('authn: production mode requires')));
    assert.ok(problems({ ...dev, authn: { type: 'mtls', ca_file: '/x.pem' } }).some((p) => p.startsWith('server.tls: authn type mtls requires')));
  });

  test('secrets have no defaults: an API key without its variable fails naming it (at start-up)', () => {
    const c = parseConfig({ ...dev, authn: { type: 'api_key', keys: [{ id: 'a', hash_env: 'MY_KEY_HASH' }] } });
    assert.equal(c.authn?.type, 'api_key');
    assert.ok(problems({ ...dev, audit: { sinks: [{ type: 'stdout' }] } }).some((p) => p === 'audit.signing_key_path: required when audit is enabled'));
  });

  test('KEYWARD_* environment overrides: double underscore separates sections, values are YAML scalars', () => {
    const c = parseConfig(dev, { KEYWARD_SERVER__PORT: '9100', KEYWARD_SPIRL__ENABLED: 'false', KEYWARD_KEYS__CACHE_TTL: '2s', KEYWARD_UNRELATED: 'x' });
    assert.equal(c.server.port, 9100);
    assert.equal(c.spirl.enabled, false);
    assert.equal(c.keys.cache_ttl, 2000);
    assert.match(problems(dev, { KEYWARD_SERVER__PORT: 'abc' })[0]!, /^server\.port: /);
  });

  test('YAML files: syntax errors and duplicate keys are reported with the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-cfg-'));
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'mode: dev\nmode: production\n');
    assert.throws(() => loadConfigFile(f, {}), (e: ConfigError) => e.problems[0]!.startsWith(f));
    assert.throws(() => loadConfigFile(join(dir, 'missing.yaml'), {}), (e: ConfigError) => /cannot read \(ENOENT\)/.test(e.problems[0]!));
  });

  test('`keyward config check FILE` validates without starting: 0 when valid, 3 with each problem', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-cfg-'));
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'mode: dev\nserver:\n  port: 8300\n');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'mode: dev\nserver:\n  port: 8300\n  hots: x\n');
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l), env: {} };
    assert.equal(await main(['config', 'check', good], io), 0);
    assert.match(out[0]!, /ok/);
    assert.equal(await main(['config', 'check', bad], io), 3);
    assert.ok(err.some((l) => l.includes('server: unknown key(s) "hots"')));
    const prod = join(dir, 'prod.yaml');
    writeFileSync(prod, 'authn:\n  type: insecure\n');
    assert.equal(await main(['config', 'check', prod], io), 3);
    assert.ok(err.some((l) => /insecure/.test(l)));
    assert.equal(await main(['config'], io), 2);
  });
});
