// Authenticators, PDPs and audit sinks are plug-ins: each kind a descriptor in one registry. For every kind, its
// schema must be part of the one configuration schema (at its place, strict), and its preflight must reach
// `keyward config check` with the real field path, inside a chain too. The tables are keyed by type, so a new
// kind does not compile here until it has its rows.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { auditConfigSchema, auditProductionProblems } from '../../src/audit/config.ts';
import { generateSigningKeyFile } from '../../src/audit/keys.ts';
import { SINKS, SINK_TYPES, sinkDescriptor, type SinkType } from '../../src/audit/sinks/index.ts';
import { AUTHENTICATORS, AUTHENTICATOR_TYPES, authnConfigSchema, authnProductionProblems, type AuthenticatorType } from '../../src/authn/config.ts';
import { fingerprint } from '../../src/authn/fingerprint.ts';
import { createAuthenticator } from '../../src/authn/index.ts';
import { PDPS, PDP_TYPES, type PdpType } from '../../src/authz/config.ts';
import { systemClock } from '../../src/core/clock.ts';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { runCli } from '../cli/helpers.ts';

const HASH_ENV = 'KEYWARD_TEST_DESCRIPTORS_HASH';
const API_KEY = { type: 'api_key', keys: [{ id: 'ci', hash_env: HASH_ENV }] };
/** mTLS needs server.tls; its files are only checked for being readable. */
const devWithTls = (tlsFile: string) => ({ mode: 'dev', server: { tls: { cert_file: tlsFile, key_file: tlsFile } } });

function problems(raw: unknown): string[] {
  try {
    parseConfig(raw, {});
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

interface Bad {
  /** The kind's configuration, broken in a way only its preflight can see. */
  config: Record<string, unknown>;
  /** The field below the kind's place (authn, authn.authenticators.1, authz.pdp, audit.sinks.1). */
  field: string;
  message: RegExp;
}

describe('plug-in registries', () => {
  let dir: string;
  let key: string;
  const env = { [HASH_ENV]: fingerprint('a raw api key') };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-descriptors-'));
    key = join(dir, 'audit.pem');
    await generateSigningKeyFile(key);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A production configuration config check passes, with `patch` applied. */
  function configFile(name: string, patch: (c: Record<string, any>) => void): string {
    const c: Record<string, any> = {
      storage: { type: 'sqlite', path: join(dir, 'kw.db') },
      seal: { dev_unseal_file: join(dir, 'dev-unseal.json') },
      server: { tls: { cert_file: key, key_file: key } },
      authn: API_KEY,
      audit: { signing_key_path: key, sinks: [{ type: 'file', path: join(dir, 'audit.log') }] },
    };
    patch(c);
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify(c));
    return file;
  }

  async function check(file: string): Promise<{ code: number; errors: Array<{ path: string; message: string }> }> {
    const r = await runCli(['config', 'check', file, '--json'], env);
    const out = JSON.parse(r.out) as { errors?: Array<{ path: string; message: string }> };
    return { code: r.code, errors: out.errors ?? [] };
  }

  test('the base configuration passes config check', async () => {
    const r = await check(configFile('base.json', () => {}));
    assert.deepEqual(r, { code: 0, errors: [] });
  });

  describe('authenticators', () => {
    const VALID: Record<AuthenticatorType, Record<string, unknown>> = {
      jwt: { type: 'jwt', issuer: 'https://idp.example', audience: 'keyward', jwks_url: 'https://idp.example/jwks' },
      api_key: API_KEY,
      mtls: { type: 'mtls', ca_file: '/etc/keyward/ca.pem' },
      bootstrap_token: { type: 'bootstrap_token', token_hash_env: 'KW_BOOT' },
      forwarded_identity: { type: 'forwarded_identity', trusted_proxies: ['10.0.0.1'] },
      insecure: { type: 'insecure' },
    };
    /** null: the kind has no preflight. */
    const BAD: Record<AuthenticatorType, Bad | null> = {
      jwt: null,
      api_key: { config: { type: 'api_key', keys: [{ id: 'a', hash_file: '/nonexistent/keyward.hash' }] }, field: 'keys.0.hash_file', message: /^cannot read \/nonexistent\/keyward\.hash \(ENOENT\)$/ },
      mtls: { config: { type: 'mtls', ca_file: '/nonexistent/ca.pem' }, field: 'ca_file', message: /^cannot read \/nonexistent\/ca\.pem \(ENOENT\)$/ },
      bootstrap_token: { config: { type: 'bootstrap_token', token_hash_env: 'KW_TEST_UNSET_BOOT', issued_at_env: 'KW_TEST_UNSET_AT' }, field: 'issued_at_env', message: /^environment variable KW_TEST_UNSET_AT is not set$/ },
      forwarded_identity: { config: { type: 'forwarded_identity', trusted_proxies: ['10.0.0.0/99'] }, field: 'trusted_proxies', message: /^10\.0\.0\.0\/99 has an invalid prefix length$/ },
      insecure: null,
    };

    test('the registry holds every declared type, once, in order', () => {
      assert.deepEqual(AUTHENTICATORS.map((d) => d.type), [...AUTHENTICATOR_TYPES]);
    });

    test("each kind's schema is part of the configuration: alone and as a chain member, strict, at its path", () => {
      for (const d of AUTHENTICATORS) {
        const valid = VALID[d.type];
        assert.equal(parseConfig({ ...devWithTls('/t'), authn: valid }, {}).authn?.type, d.type);
        const chain = parseConfig({ ...devWithTls('/t'), authn: { type: 'chain', authenticators: [API_KEY, valid] } }, {}).authn;
        assert.equal(chain?.type === 'chain' && chain.authenticators[1]!.type, d.type);
        assert.deepEqual(problems({ ...devWithTls('/t'), authn: { ...valid, bogus: 1 } }), ['authn: unknown key(s) "bogus"'], d.type);
        assert.deepEqual(problems({ ...devWithTls('/t'), authn: { type: 'chain', authenticators: [API_KEY, { ...valid, bogus: 1 }] } }), ['authn.authenticators.1: unknown key(s) "bogus"'], d.type);
      }
      assert.match(problems({ mode: 'dev', authn: { type: 'kerberos' } })[0]!, /^authn\.type: /);
    });

    test("config check reports each kind's preflight failure at the real field, alone and inside a chain", async () => {
      for (const d of AUTHENTICATORS) {
        const bad = BAD[d.type];
        assert.equal(d.preflight === undefined, bad === null, `${d.type}: a preflight needs a row in BAD, and a row needs a preflight`);
        if (bad === null) continue;
        const alone = await check(configFile(`${d.type}-alone.json`, (c) => (c.authn = bad.config)));
        assert.equal(alone.code, 3);
        const hit = alone.errors.find((e) => e.path === `authn.${bad.field}`);
        assert.ok(hit && bad.message.test(hit.message), `${d.type}: ${JSON.stringify(alone.errors)}`);
        const inChain = await check(configFile(`${d.type}-chain.json`, (c) => (c.authn = { type: 'chain', authenticators: [API_KEY, bad.config] })));
        assert.ok(inChain.errors.some((e) => e.path === `authn.authenticators.1.${bad.field}` && bad.message.test(e.message)), `${d.type}: ${JSON.stringify(inChain.errors)}`);
        assert.ok(!inChain.errors.some((e) => e.path.startsWith(`authn.${d.type}`)), 'no path names the type instead of the place');
      }
    });

    test('production rules and start-up errors inside a chain name the member, not its type', async () => {
      const chain = authnConfigSchema.parse({ type: 'chain', authenticators: [API_KEY, { type: 'bootstrap_token', token_hash_env: 'KW_BOOT', max_age: '2h' }] });
      assert.deepEqual(authnProductionProblems(chain), [
        'authn.authenticators.1.max_age: long-lived bootstrap tokens (over 1h) are refused in production',
        'authn.authenticators.1.issued_at_env: without it the token lifetime restarts with every process start',
      ]);
      const r = await check(configFile('chain-production.json', (c) => (c.authn = chain)));
      assert.deepEqual(r.errors.map((e) => e.path), ['authn.authenticators.1.max_age', 'authn.authenticators.1.issued_at_env', 'authn.authenticators.1.token_hash_env']);
      // serve: the same member's unset variable, by its place.
      const deps = { env: { [HASH_ENV]: env[HASH_ENV] }, logger: pino({ level: 'silent' }), clock: systemClock, mode: 'production' as const };
      await assert.rejects(createAuthenticator(chain, deps), { message: 'authn.authenticators.1.token_hash_env: environment variable KW_BOOT is not set' });
      const jwt = authnConfigSchema.parse({ type: 'chain', authenticators: [API_KEY, { ...VALID.jwt, jwks_url: 'http://idp.example/jwks' }] });
      assert.deepEqual(authnProductionProblems(jwt), ['authn.authenticators.1.jwks_url: http://idp.example/jwks must use https']);
    });
  });

  describe('PDPs', () => {
    const VALID: Record<PdpType, Record<string, unknown>> = {
      builtin: { type: 'builtin' },
      cedar: { type: 'cedar', policies_path: '/etc/keyward/policies' },
      http: { type: 'http', endpoint: 'https://pdp.example/v1/authorize' },
    };
    const BAD: Record<PdpType, Bad | null> = {
      builtin: null,
      cedar: { config: { type: 'cedar', policies_path: '/nonexistent/policies' }, field: 'policies_path', message: /^cannot read \/nonexistent\/policies \(ENOENT\)$/ },
      http: { config: { type: 'http', endpoint: 'https://pdp.example/v1/authorize', ca_file: '/nonexistent/pdp-ca.pem' }, field: 'ca_file', message: /^cannot read \/nonexistent\/pdp-ca\.pem \(ENOENT\)$/ },
    };

    test('the registry holds every declared type, once, in order', () => {
      assert.deepEqual(PDPS.map((d) => d.type), [...PDP_TYPES]);
    });

    test("each kind's schema is part of the configuration at authz.pdp, strict", () => {
      for (const d of PDPS) {
        assert.equal(parseConfig({ mode: 'dev', authz: { pdp: VALID[d.type] } }, {}).authz.pdp.type, d.type);
        assert.deepEqual(problems({ mode: 'dev', authz: { pdp: { ...VALID[d.type], bogus: 1 } } }), ['authz.pdp: unknown key(s) "bogus"'], d.type);
      }
    });

    test("config check reports each kind's preflight failure at its field", async () => {
      for (const d of PDPS) {
        const bad = BAD[d.type];
        assert.equal(d.preflight === undefined, bad === null, `${d.type}: a preflight needs a row in BAD, and a row needs a preflight`);
        if (bad === null) continue;
        const r = await check(configFile(`pdp-${d.type}.json`, (c) => (c.authz = { pdp: bad.config })));
        assert.equal(r.code, 3);
        assert.ok(r.errors.some((e) => e.path === `authz.pdp.${bad.field}` && bad.message.test(e.message)), `${d.type}: ${JSON.stringify(r.errors)}`);
      }
    });
  });

  describe('audit sinks', () => {
    const VALID: Record<SinkType, Record<string, unknown>> = {
      stdout: { type: 'stdout' },
      file: { type: 'file', path: '/var/lib/keyward/audit.log' },
      nats: { type: 'nats' },
    };
    const BAD = (blocker: string): Record<SinkType, Bad | null> => ({
      stdout: null,
      file: { config: { type: 'file', path: join(blocker, 'audit.log') }, field: 'path', message: /is not a directory, so .*audit\.log cannot be created$/ },
      nats: { config: { type: 'nats', url: 'nats://127.0.0.1:4222, http://nats.example' }, field: 'url', message: /^http:\/\/nats\.example is not a NATS server address/ },
    });

    test('the registry holds every declared type, once, in order', () => {
      assert.deepEqual(SINKS.map((d) => d.type), [...SINK_TYPES]);
    });

    test("each kind's schema is part of the configuration at audit.sinks.<i>, strict", () => {
      for (const d of SINKS) {
        const audit = { signing_key_path: '/k', sinks: [{ type: 'stdout' }, VALID[d.type]] };
        assert.equal(parseConfig({ mode: 'dev', audit }, {}).audit?.sinks[1]!.type, d.type);
        assert.deepEqual(problems({ mode: 'dev', audit: { ...audit, sinks: [{ type: 'stdout' }, { ...VALID[d.type], bogus: 1 }] } }), ['audit.sinks.1: unknown key(s) "bogus"'], d.type);
      }
    });

    test("config check reports each kind's preflight failure at its field", async () => {
      const blocker = join(dir, 'blocker');
      writeFileSync(blocker, 'a file, not a directory');
      const table = BAD(blocker);
      for (const d of SINKS) {
        const bad = table[d.type];
        assert.equal(d.preflight === undefined, bad === null, `${d.type}: a preflight needs a row in BAD, and a row needs a preflight`);
        if (bad === null) continue;
        const r = await check(configFile(`sink-${d.type}.json`, (c) => c.audit.sinks.push(bad.config)));
        assert.equal(r.code, 3);
        assert.ok(r.errors.some((e) => e.path === `audit.sinks.1.${bad.field}` && bad.message.test(e.message)), `${d.type}: ${JSON.stringify(r.errors)}`);
      }
    });

    test('production asks for a sink whose descriptor is durable, and the sink it makes says the same', async () => {
      for (const d of SINKS) {
        const cfg = auditConfigSchema.parse({ signing_key_path: '/k', sinks: [VALID[d.type]] });
        const refused = auditProductionProblems(cfg).filter((p) => p.startsWith('audit.sinks needs a durable sink'));
        assert.equal(refused.length, d.durable ? 0 : 1, d.type);
        const sink = sinkDescriptor(d.type).create(cfg.sinks[0]!, { clock: systemClock, logger: pino({ level: 'silent' }), chainId: 'c', stdout: process.stdout });
        assert.equal(sink.durable, d.durable, d.type);
        await sink.close();
      }
      const names = SINKS.filter((d) => d.durable).map((d) => d.type).join(' or ');
      assert.deepEqual(auditProductionProblems(auditConfigSchema.parse({ signing_key_path: '/k' })), [`audit.sinks needs a durable sink (${names}) in production: stdout alone is not durable`]);
    });
  });
});
