// A throwaway SQLite store, a Fastify app with only the idp plugin, and a realm applied from YAML.
import { mkdtempSync, rmSync } from 'node:fs';
import { freePort } from '../../../harness/net.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { Kysely } from 'kysely';
import type { AuditEventInput, AuditRecorder } from '../../../src/audit/types.ts';
import { idpConfigSchema, type IdpConfig } from '../../../src/idp/config.ts';
import { idpPlugin } from '../../../src/idp/index.ts';
import { applyRealmFile, parseRealmFile } from '../../../src/idp/realm-file.ts';
import { applyRealmDocument } from '../../../src/idp/realm-document.ts';
import { migrateIdp } from '../../../src/idp/store/migrations.ts';
import type { TokenSigner } from '../../../src/idp/signing.ts';
import { nodeSqliteDialect } from '../../../src/store/sqlite-dialect.ts';
import { memorySigner } from './signer.ts';
import { idpRepositories } from '../../../src/idp/store/repositories.ts';
import type { IdpLogger } from '../../../src/idp/telemetry.ts';

export const RESOURCE = 'https://keyward.test/api';
export const SECRETS = { SVC_SECRET: 'svc-secret-0123456789abcdef', WEB_SECRET: 'web-secret-0123456789abcdef', ALICE_PW: 'correct horse battery staple', BOB_PW: 'bob password 0123', CAROL_PW: 'carol password 0123' };

export const REALM_YAML = `
realm: main
roles:
  - { name: signer }
  - { name: reader }
groups:
  - { name: ops, roles: [reader] }
  - { name: admins, roles: [signer] }
users:
  - { id: u-alice, username: alice, display_name: Alice A, given_name: Alice, family_name: Anders, email: alice@example.test, email_verified: true, tenant: "tenant:acme", groups: [ops], roles: [reader], password_env: ALICE_PW }
  - { id: u-bob, username: bob, tenant: "tenant:platform", groups: [admins], roles: [], password_env: BOB_PW }
  - { id: u-carol, username: carol, tenant: "tenant:acme", roles: [reader], enabled: false, password_env: CAROL_PW }
  - { id: a-robot, username: robot, principal_type: agent, tenant: "tenant:acme", roles: [reader], password_env: BOB_PW }
clients:
  - client_id: svc
    grant_types: [client_credentials]
    scopes: [keys.sign]
    secret_env: SVC_SECRET
    roles: [signer]
    tenant: "tenant:acme"
  - client_id: svc-rs
    grant_types: [client_credentials]
    scopes: [keys.sign]
    secret_env: SVC_SECRET
    auth_method: client_secret_post
    signing_alg: RS256
    principal_type: agent
    roles: [reader]
  - client_id: web
    grant_types: [authorization_code, refresh_token]
    scopes: [openid, profile, email, groups, offline_access, keys.sign]
    redirect_uris: [http://127.0.0.1:1/cb]
    post_logout_redirect_uris: [http://127.0.0.1:1/bye]
    secret_env: WEB_SECRET
    roles: [reader]
`;

export const TEST_ARGON2 = { memory_kib: 8192, iterations: 1, parallelism: 1 };

export function realmConfig(port: number, extra: Record<string, unknown> = {}, argon2 = TEST_ARGON2): IdpConfig {
  return idpConfigSchema.parse({
    enabled: true,
    base_url: `http://127.0.0.1:${port}`,
    environment: 'test',
    argon2,
    realms: [
      {
        name: 'main',
        access_token_resource: RESOURCE,
        custom_scopes: [{ name: 'keys.sign', description: 'sign with keys' }],
        role_permissions: { signer: ['keyward.key.app-*.sign'], reader: ['keyward.key.*.read'] },
        mfa: { required_groups: ['admins'] },
        ...extra,
      },
      { name: 'other', access_token_resource: RESOURCE },
    ],
  });
}


export { freePort };

export class MemoryAudit implements AuditRecorder {
  events: AuditEventInput[] = [];
  async record(e: AuditEventInput) {
    this.events.push(e);
  }
  ready() {
    return true;
  }
  async close() {}
}

export interface TestEnv {
  app: FastifyInstance;
  base: string;
  issuer: string;
  db: Kysely<any>;
  dbPath: string;
  signer: TokenSigner;
  audit: MemoryAudit;
  config: IdpConfig;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startEnv(
  opts: { redirect?: (port: number) => string; yaml?: string; realm?: Record<string, unknown>; document?: (port: number) => unknown; secrets?: Record<string, string>; argon2?: typeof TEST_ARGON2; logger?: IdpLogger } = {},
): Promise<TestEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'kw-idp-'));
  const dbPath = join(dir, 'idp.db');
  const port = await freePort();
  const config = realmConfig(port, opts.realm, opts.argon2);
  let db = new Kysely<any>({ dialect: nodeSqliteDialect(dbPath) });
  await migrateIdp(db, 'sqlite');
  if (opts.document) {
    // A canonical identity document (realm main, environment test).
    const outcome = await applyRealmDocument(idpRepositories(db, 'sqlite'), config, opts.document(port), 'test realm document', { dryRun: false, env: { ...SECRETS, ...opts.secrets } });
    if (!outcome.result) throw new Error(`test realm document refused: ${JSON.stringify(outcome.findings)}`);
  } else {
    let yaml = opts.yaml ?? REALM_YAML;
    yaml = yaml.replaceAll('http://127.0.0.1:1/', `http://127.0.0.1:${port}/rp/`);
    await applyRealmFile(idpRepositories(db, 'sqlite'), config.realms[0]!, parseRealmFile(yaml), { dryRun: false, env: { ...SECRETS }, argon2: config.argon2 });
  }
  const signer = memorySigner();
  const audit = new MemoryAudit();
  const env: TestEnv = {
    app: undefined as unknown as FastifyInstance,
    base: `http://127.0.0.1:${port}`,
    issuer: `http://127.0.0.1:${port}/realms/main`,
    db,
    dbPath,
    signer,
    audit,
    config,
    async restart() {
      await env.app.close();
      await db.destroy();
      // Let clients notice the closed keep-alive sockets before the new server takes the port.
      await new Promise((r) => setTimeout(r, 100));
      db = new Kysely<any>({ dialect: nodeSqliteDialect(dbPath) });
      env.db = db;
      await boot();
    },
    async close() {
      await env.app.close();
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const boot = async () => {
    const app = Fastify();
    app.get('/rp/cb', async () => 'callback');
    app.get('/rp/bye', async () => 'bye');
    await app.register(idpPlugin({ config, repos: idpRepositories(db, 'sqlite'), signer, audit, env: {}, logger: opts.logger }));
    await app.listen({ host: '127.0.0.1', port });
    env.app = app;
  };
  await boot();
  return env;
}
