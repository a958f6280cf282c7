// `keyward doctor --production` against a real production-like deployment: Keyward started from a configuration
// file as `serve` starts it (TLS with a private CA, mTLS and API keys, embedded Cedar, PostgreSQL schema, a file
// sink and a NATS JetStream cluster with an R3 stream), unsealed. That deployment passes; then each check family
// is shown a configuration (or a deployment state) that breaks it, and must say so on its own line.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createSecureServer } from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { generateSigningKeyFile } from '../../src/audit/keys.ts';
import { fingerprint } from '../../src/authn/index.ts';
import { createKeyward, type Keyward } from '../../src/app/compose.ts';
import { bindListener } from '../../src/app/listener.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { TestPki } from '../support/certs.ts';
import { startNatsCluster } from '../support/nats-cluster.ts';
import { freePort } from '../../harness/net.ts';
import { pgTestSchema } from '../support/pg.ts';
import { closedPort, runCli } from './helpers.ts';
import { skipMissing } from '../support/missing.ts';

const REPO_POLICIES = join(import.meta.dirname, '..', '..', 'policies');

interface Report {
  ok: boolean;
  summary: { pass: number; warn: number; fail: number };
  checks: Array<{ id: string; title: string; status: 'pass' | 'warn' | 'fail'; detail: string; fix?: string }>;
}

const natsUp = await new Promise<boolean>((resolve) => {
  const s = tcpConnect(4222, '127.0.0.1');
  s.once('connect', () => (s.destroy(), resolve(true)));
  s.once('error', () => resolve(false));
});

/** A stand-in HTTP server answering every request with `handler`'s status and JSON. */
async function standIn(handler: (body: Record<string, unknown>) => [number, unknown]): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(data || '{}');
      } catch {
        // not JSON
      }
      const [status, json] = handler(body);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

test('keyward doctor --production', { timeout: 240_000 }, async (t) => {
  if (!natsUp) {
    skipMissing(t, 'the doctor tests', 'NATS is not reachable at 127.0.0.1:4222');
    return;
  }
  const pg = await pgTestSchema(t, 'the doctor tests');
  if (!pg) return;
  // After-hooks run in the order they are registered: the server stops before its database and NATS go.
  let kw: Keyward | undefined;
  t.after(async () => {
    await kw?.close();
    await pg.cleanup();
  });
  const cluster = await startNatsCluster(t, 'the doctor tests');
  if (!cluster) return;

  const dir = mkdtempSync(join(tmpdir(), 'kw-doctor-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pki = new TestPki();
  t.after(() => rmSync(pki.dir, { recursive: true, force: true }));
  // Valid for months, as a production certificate is (the doctor warns about one expiring within 14 days).
  pki.ca('ca', 365);
  pki.ca('rogue');
  pki.leaf('server', 'ca', 'localhost', 'IP:127.0.0.1', 90);
  pki.leaf('other', 'ca', 'other', 'IP:127.0.0.1');

  const auditKey = join(dir, 'audit.key');
  await generateSigningKeyFile(auditKey);
  const backup = join(dir, 'audit.key.backup');
  copyFileSync(auditKey, backup);
  const policies = join(dir, 'policies');
  mkdirSync(policies);
  for (const f of ['keys.cedar', 'system.cedar']) copyFileSync(join(REPO_POLICIES, f), join(policies, f));
  // The operator's API key may do everything, the doctor's probe principal nothing.
  writeFileSync(join(policies, 'ops.cedar'), '@id("ops-admin")\npermit (principal == Service::"ops", action, resource);\n');

  const token = randomBytes(32).toString('base64url');
  const env: NodeJS.ProcessEnv = { KW_DOCTOR_OPS_HASH: fingerprint(token) };
  const id = randomUUID().slice(0, 8);
  const nats = { type: 'nats', url: cluster.url, subject: `keyward.audit.doctor.${id}`, stream: `KEYWARD_AUDIT_DOCTOR_${id}`, create_stream: true, replicas: 3 };
  const port = await freePort();
  const base = {
    mode: 'production',
    server: { host: '127.0.0.1', port, instance_id: 'doctor-test', tls: { cert_file: pki.path('server.pem'), key_file: pki.path('server.key') } },
    storage: { type: 'postgres', url: pg.url, schema: pg.schema },
    seal: { dev_unseal_file: join(dir, 'no-dev-unseal.json') },
    keys: { cache_ttl: '5s' },
    authn: {
      type: 'chain',
      authenticators: [
        { type: 'mtls', ca_file: pki.path('ca.pem'), trust_domains: ['prod.example'], identities: { 'spiffe://prod.example/ns/ops/*': ['keyward.keys.list'] } },
        { type: 'api_key', keys: [{ id: 'ops', hash_env: 'KW_DOCTOR_OPS_HASH', scopes: ['keyward.*'] }] },
      ],
    },
    authz: { pdp: { type: 'cedar', policies_path: policies, schema_path: join(REPO_POLICIES, 'keyward.cedarschema'), watch: false } },
    audit: { signing_key_path: auditKey, sinks: [{ type: 'file', path: join(dir, 'audit', 'audit.log') }, nats] },
    logging: { level: 'warn' },
  };
  let n = 0;
  /** Writes a configuration file: the base, changed by `edit`. */
  const configFile = (edit: (c: any) => void = () => {}) => {
    const c = structuredClone(base) as any;
    edit(c);
    const file = join(dir, `keyward-${n++}.yaml`);
    writeFileSync(file, JSON.stringify(c, null, 2)); // JSON is YAML
    return file;
  };
  const baseFile = configFile();

  // The deployment, started the way `keyward serve` starts it.
  const config = loadConfigFile(baseFile, env);
  const listener = await bindListener(config);
  try {
    kw = await createKeyward(config, { env, listener, logger: pino({ level: 'silent' }) });
  } catch (e) {
    await listener.close();
    throw e;
  }
  const server = kw;
  listener.serve();
  const { shares } = await server.seal.init({ shares: 1, threshold: 1 });
  await server.seal.submitShare(shares[0]!);
  const url = `https://127.0.0.1:${port}`;

  /** The doctor's options: everything a complete run passes, each replaceable or (null) left out. */
  const opts = (o: { ca?: string; token?: string | null; lockout?: string | null; backup?: string | null } = {}) => [
    '--production', '--url', url, '--ca', o.ca ?? pki.path('ca.pem'),
    ...(o.token === null ? [] : ['--token', o.token ?? token]),
    ...(o.lockout === null ? [] : ['--hyok-lockout', o.lockout ?? '60']),
    ...(o.backup === null ? [] : ['--audit-key-backup', o.backup ?? backup]),
  ];
  const std = opts();
  const doctor = async (args: string[], file = baseFile, runEnv = env): Promise<{ code: number; report: Report; err: string }> => {
    const r = await runCli(['doctor', '--config', file, ...args, '--json'], runEnv);
    assert.equal(r.err, '', r.err);
    return { code: r.code, report: JSON.parse(r.out) as Report, err: r.err };
  };
  const line = (report: Report, checkId: string) => report.checks.find((c) => c.id === checkId)!;
  const expectLine = (report: Report, checkId: string, status: 'pass' | 'warn' | 'fail', detail: RegExp) => {
    const l = line(report, checkId);
    assert.equal(l.status, status, `${checkId}: ${JSON.stringify(l)}`);
    assert.match(l.detail, detail, `${checkId}: ${JSON.stringify(l)}`);
    if (status !== 'pass') assert.ok(l.fix, `${checkId} says what to do`);
  };

  await t.test('the production-like deployment passes: every item but the HSM provider (none configured)', async () => {
    const { code, report } = await doctor(std);
    assert.equal(code, 0, JSON.stringify(report, null, 1));
    assert.equal(report.ok, true);
    assert.deepEqual(report.checks.map((c) => c.id), ['config', 'tls', 'storage', 'pdp', 'authn', 'audit_sink', 'audit_key', 'hsm', 'cache_ttl', 'metrics', 'health']);
    for (const c of report.checks) assert.equal(c.status, c.id === 'hsm' ? 'warn' : 'pass', JSON.stringify(c));
    expectLine(report, 'tls', 'pass', /REST listener: certificate .*127\.0\.0\.1:\d+ presents a trusted certificate/);
    expectLine(report, 'storage', 'pass', new RegExp(`PostgreSQL \\d[\\d.]* .*at .*schema ${pg.schema} at migration`));
    expectLine(report, 'pdp', 'pass', /embedded Cedar .* denies an unknown principal with no grants.*the running server's PDP \(cedar\) denies the same probe/);
    expectLine(report, 'authn', 'pass', /mtls \(prod\.example\), api_key.*refuses a request without credentials \(401/);
    expectLine(report, 'audit_sink', 'pass', new RegExp(`stream ${nats.stream} \\(R3, leader n\\d`));
    expectLine(report, 'audit_key', 'pass', /owner only.*the running server signs its trail with it.*holds the same key/);
    expectLine(report, 'hsm', 'warn', /no HSM provider/);
    expectLine(report, 'cache_ttl', 'pass', /5 s is within the HYOK lockout bound of 60 s/);
    expectLine(report, 'metrics', 'pass', /keyward_\*/);
    expectLine(report, 'health', 'pass', /\/healthz ok.*\/readyz ready/);
    // The human form: a header, one line per item, a summary.
    const human = await runCli(['doctor', '--config', baseFile, ...std], env);
    assert.equal(human.code, 0);
    const lines = human.out.split('\n');
    assert.equal(lines.length, 13);
    assert.match(lines[8]!, /^WARN  HSM key provider\s+keys.providers: no HSM provider is configured, so every key is a software key[^;]*;[^;]* -> configure a PKCS#11 or KMIP key provider/);
    assert.match(lines.at(-1)!, /^10 pass, 1 warn, 0 fail$/);
    assert.ok(!human.out.includes(token), 'the token is never printed');
  });

  await t.test('config: a dev-mode configuration fails its line; an unreadable one exits 3', async () => {
    let { code, report } = await doctor(std, configFile((c) => (c.mode = 'dev')));
    assert.equal(code, 1);
    expectLine(report, 'config', 'fail', /mode is dev/);
    // A dev configuration without an audit section (as `keyward dev` runs): its server audits all the same.
    ({ report } = await doctor(std, configFile((c) => ((c.mode = 'dev'), delete c.audit))));
    expectLine(report, 'audit_sink', 'fail', /^no audit section \(dev mode keeps a trail of its own/);
    expectLine(report, 'audit_key', 'fail', /^no audit section/);
    const bad = await runCli(['doctor', '--production', '--config', configFile((c) => (c.server.bogus = 1))], env);
    assert.equal(bad.code, 3);
    assert.match(bad.err, /server: unknown key\(s\) "bogus"/);
    // --json: still one document on stdout, the errors with their paths as `config check --json` gives them.
    const badFile = configFile((c) => (c.server.bogus = 1));
    const badJson = await runCli(['doctor', '--production', '--json', '--config', badFile], env);
    assert.equal(badJson.code, 3);
    assert.deepEqual(JSON.parse(badJson.out), { ok: false, config: badFile, errors: [{ path: 'server', message: 'unknown key(s) "bogus"' }] });
    assert.equal((await runCli(['doctor', '--config', baseFile], env)).code, 2, '--production is required');
  });

  await t.test('tls: plain HTTP on a public address, a key that is not the certificate\'s, a certificate the client does not trust', async () => {
    // (mTLS needs server.tls: API keys only here.)
    let { code, report } = await doctor(std, configFile((c) => (delete c.server.tls, (c.server.host = '0.0.0.0'), (c.authn = c.authn.authenticators[1]))));
    assert.equal(code, 1);
    expectLine(report, 'tls', 'fail', /REST listener 0\.0\.0\.0:\d+ serves plain HTTP/);
    // Plain HTTP on loopback, probed at its http:// URL: one thing to do, said once (the listener and the URL have
    // the same remedy).
    const plainUrl = std.map((a) => (a === url ? `http://127.0.0.1:${port}` : a));
    ({ report } = await doctor(plainUrl, configFile((c) => (delete c.server.tls, (c.authn = c.authn.authenticators[1])))));
    expectLine(report, 'tls', 'warn', /plain HTTP on loopback.*answers plain HTTP/);
    assert.equal(line(report, 'tls').fix, 'configure server.tls (cert_file, key_file) with a certificate for the name clients use');
    ({ report } = await doctor(std, configFile((c) => (c.server.tls.key_file = pki.path('other.key')))));
    expectLine(report, 'tls', 'fail', /other\.key is not the key of .*server\.pem/);
    ({ report } = await doctor(opts({ ca: pki.path('rogue.pem') })));
    expectLine(report, 'tls', 'fail', /TLS with 127\.0\.0\.1:\d+ failed: .*(SELF_SIGNED|UNABLE_TO|certificate)/i);
  });

  await t.test('tls: the gRPC listener (server.grpc) is probed with a TLS handshake, and plaintext gRPC fails', async () => {
    // An HTTP/2 server with the deployment's certificate stands in for its gRPC port (ALPN h2, as gRPC clients ask).
    const h2 = createSecureServer({ cert: readFileSync(pki.path('server.pem')), key: readFileSync(pki.path('server.key')) });
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    t.after(() => h2.close());
    const h2Port = (h2.address() as { port: number }).port;
    let { report } = await doctor(std, configFile((c) => (c.server.grpc = { port: h2Port })));
    expectLine(report, 'tls', 'pass', new RegExp(`gRPC 127\\.0\\.0\\.1:${h2Port} completes a TLS.* handshake`));
    // REST's port speaks HTTP/1.1 only: no gRPC there.
    ({ report } = await doctor(std, configFile((c) => (c.server.grpc = { port }))));
    expectLine(report, 'tls', 'fail', new RegExp(`gRPC 127\\.0\\.0\\.1:${port}: no TLS handshake`));
    const closed = await closedPort();
    ({ report } = await doctor(std, configFile((c) => (c.server.grpc = { port: closed }))));
    expectLine(report, 'tls', 'fail', new RegExp(`gRPC 127\\.0\\.0\\.1:${closed}: no TLS handshake`));
    ({ report } = await doctor(std, configFile((c) => (delete c.server.tls, (c.server.grpc = { host: '0.0.0.0', port: closed }), (c.authn = c.authn.authenticators[1])))));
    expectLine(report, 'tls', 'fail', new RegExp(`gRPC listener 0\\.0\\.0\\.0:${closed} serves plaintext`));
  });

  await t.test('storage: SQLite, and a PostgreSQL that does not answer', async () => {
    let { report } = await doctor(std, configFile((c) => (c.storage = { type: 'sqlite', path: join(dir, 'k.db') })));
    expectLine(report, 'storage', 'fail', /SQLite at .*k\.db/);
    const closed = await closedPort();
    ({ report } = await doctor(std, configFile((c) => (c.storage.url = `postgres://postgres:secret-pw@127.0.0.1:${closed}/test`))));
    expectLine(report, 'storage', 'fail', /PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/test unreachable: ECONNREFUSED/);
    assert.ok(!JSON.stringify(report).includes('secret-pw'), 'the database password is never printed');
  });

  await t.test('pdp: permit-all policies (configuration and running server), an HTTP PDP that permits, one that is down, one that denies', async () => {
    const permitAll = join(dir, 'permit-all');
    mkdirSync(permitAll);
    writeFileSync(join(permitAll, 'all.cedar'), '@id("everyone")\npermit (principal, action, resource);\n');
    let { report } = await doctor(std, configFile((c) => (c.authz.pdp.policies_path = permitAll)));
    expectLine(report, 'pdp', 'fail', /embedded Cedar .* permits kms:DestroyKey .*sys:Seal .*not default-deny/);

    // The running server reloads a permit-all policy: the server-side probe (explain, evaluated only) catches it.
    writeFileSync(join(policies, 'zz-all.cedar'), '@id("everyone")\npermit (principal, action == Action::"sys:Seal", resource);\n');
    await server.reload();
    try {
      ({ report } = await doctor(std));
      expectLine(report, 'pdp', 'fail', /the running server's PDP \(cedar\) permits sys:Seal to an unknown principal/);
      assert.equal(server.seal.status().sealed, false, 'the probe was evaluated, never executed');
    } finally {
      rmSync(join(policies, 'zz-all.cedar'));
      await server.reload();
    }

    const decisions = (decision: string) => standIn((b) => [200, { request_id: b.request_id, decision, reasons: [{ policy_id: `stand-in-${decision}` }] }]);
    const permits = await decisions('Permit');
    const forbids = await decisions('Forbid');
    t.after(() => (permits.server.close(), forbids.server.close()));
    ({ report } = await doctor(std, configFile((c) => (c.authz.pdp = { type: 'http', endpoint: `${permits.url}/v1/authorize` }))));
    expectLine(report, 'pdp', 'fail', /HTTP PDP .* permits kms:DestroyKey/);
    const down = await closedPort();
    ({ report } = await doctor(std, configFile((c) => (c.authz.pdp = { type: 'http', endpoint: `http://127.0.0.1:${down}/v1/authorize` }))));
    expectLine(report, 'pdp', 'fail', /HTTP PDP .* is unavailable: the policy decision point is unreachable/);
    ({ report } = await doctor(std, configFile((c) => (c.authz.pdp = { type: 'http', endpoint: `${forbids.url}/v1/authorize` }))));
    // Denies, and fails closed; the running server runs Cedar, not this PDP, which the line also says.
    expectLine(report, 'pdp', 'warn', /uses the cedar PDP, this configuration the http PDP.*HTTP PDP .* denies an unknown principal.*an unreachable HTTP PDP is refused with 503 authz\.pdp_unavailable \(fail closed\)/);

    ({ report } = await doctor(opts({ token: null })));
    expectLine(report, 'pdp', 'warn', /running server's PDP was not probed \(no --token\)/);
  });

  await t.test('authn: insecure, a bootstrap token alone, API keys alone', async () => {
    let { report } = await doctor(std, configFile((c) => (c.authn = { type: 'insecure' })));
    expectLine(report, 'authn', 'fail', /insecure authentication is for development only/);
    const bootstrapEnv = { ...env, KW_BOOT_HASH: fingerprint('x'.repeat(43)), KW_BOOT_AT: String(Math.floor(Date.now() / 1000)) };
    ({ report } = await doctor(std, configFile((c) => (c.authn = { type: 'bootstrap_token', token_hash_env: 'KW_BOOT_HASH', issued_at_env: 'KW_BOOT_AT', max_age: 900 })), bootstrapEnv));
    expectLine(report, 'authn', 'fail', /bootstrap_token is the only method/);
    ({ report } = await doctor(std, configFile((c) => (c.authn = c.authn.authenticators[1]))));
    expectLine(report, 'authn', 'warn', /no JWT or mTLS authenticator \(api_key\)/);
  });

  await t.test('audit sink: NATS unreachable, no stream, a one-replica stream, an unwritable file sink', async () => {
    const closed = await closedPort();
    let { report } = await doctor(std, configFile((c) => (c.audit.sinks[1].url = `nats://127.0.0.1:${closed}`)));
    expectLine(report, 'audit_sink', 'fail', /cannot connect/);
    ({ report } = await doctor(std, configFile((c) => Object.assign(c.audit.sinks[1], { stream: undefined, create_stream: false, subject: `keyward.audit.nowhere.${id}` }))));
    expectLine(report, 'audit_sink', 'fail', /no JetStream stream captures keyward\.audit\.nowhere\.\w+\.\*/);
    // One replica on the shared single NATS.
    const r1 = { subject: `keyward.audit.doctor-r1.${id}`, stream: `KEYWARD_AUDIT_DOCTOR_R1_${id}` };
    const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: r1.stream, subjects: [r1.subject, `${r1.subject}.*`] });
    try {
      ({ report } = await doctor(std, configFile((c) => Object.assign(c.audit.sinks[1], { url: 'nats://127.0.0.1:4222', ...r1 }))));
      expectLine(report, 'audit_sink', 'warn', /has 1 replica\(s\): losing that server stops the audit trail/);
    } finally {
      await jsm.streams.delete(r1.stream).catch(() => {});
      await nc.close();
    }
    ({ report } = await doctor(std, configFile((c) => (c.audit.sinks[0].path = join(dir, 'missing-dir', 'audit.log')))));
    expectLine(report, 'audit_sink', 'fail', /missing-dir is not writable \(ENOENT\)/);
  });

  await t.test('audit key: another key than the server\'s, readable by others, a backup of another key, no backup', async () => {
    const other = join(dir, 'other.key');
    await generateSigningKeyFile(other);
    let { report } = await doctor(std, configFile((c) => (c.audit.signing_key_path = other)));
    expectLine(report, 'audit_key', 'fail', /the running server signs its trail with key_id \w+, not this file's \w+/);
    const loose = join(dir, 'loose.key');
    copyFileSync(auditKey, loose);
    chmodSync(loose, 0o644);
    ({ report } = await doctor(std, configFile((c) => (c.audit.signing_key_path = loose))));
    expectLine(report, 'audit_key', 'fail', /accessible by group or others \(mode 644\)/);
    ({ report } = await doctor(opts({ backup: other })));
    expectLine(report, 'audit_key', 'fail', /backup .*other\.key holds another key/);
    ({ report } = await doctor(opts({ backup: null })));
    expectLine(report, 'audit_key', 'warn', /backup not verified/);
  });

  await t.test('hsm: without keys.providers the line warns and says what to configure', async () => {
    const { report } = await doctor(std);
    const l = line(report, 'hsm');
    assert.equal(l.status, 'warn');
    assert.match(l.fix!, /PKCS#11 or KMIP/);
  });

  await t.test('cache TTL: above the HYOK lockout bound fails; no bound given warns', async () => {
    let { code, report } = await doctor(opts({ lockout: '2' }));
    assert.equal(code, 1);
    expectLine(report, 'cache_ttl', 'fail', /keys\.cache_ttl 5 s exceeds the HYOK lockout bound of 2 s/);
    ({ report } = await doctor(opts({ lockout: null })));
    expectLine(report, 'cache_ttl', 'warn', /no lockout bound given/);
  });

  await t.test('metrics and health: a sealed server is not ready; something that is not Keyward has neither', async () => {
    server.seal.seal();
    try {
      const { report } = await doctor(std);
      expectLine(report, 'health', 'fail', /\/readyz answered 503: not ready: unsealed/);
      assert.match(line(report, 'health').fix!, /unseal/);
    } finally {
      await server.seal.submitShare(shares[0]!);
    }
    const notKeyward = await standIn(() => [404, { error: 'no' }]);
    t.after(() => notKeyward.server.close());
    const { report } = await doctor(['--production', '--url', notKeyward.url, '--token', token]);
    expectLine(report, 'metrics', 'fail', /GET \/metrics answered 404/);
    expectLine(report, 'health', 'fail', /\/healthz answered 404/);
    const gone = await doctor(['--production', '--url', `https://127.0.0.1:${await closedPort()}`, '--ca', pki.path('ca.pem')]);
    expectLine(gone.report, 'health', 'fail', /unreachable: ECONNREFUSED/);
  });
});
