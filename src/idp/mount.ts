// Mounting the identity provider in Keyward's server: its token signing keys in the key service, its tables in
// the same store, its routes public to Keyward's own authentication stage (the provider authenticates clients
// and users itself), plus the break-glass route. Dev mode gets a ready realm and client for the quickstart.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AuditRecorder } from '../audit/types.ts';
import type { KeyService } from '../keys/service.ts';
import { BREAK_GLASS_LIFETIME_SECONDS, breakGlassRoutes } from './break-glass.ts';
import { idpConfigSchema, KEY_API_AUDIENCE, type IdpConfig, type IdpRealmConfig } from './config.ts';
import { idpPlugin } from './index.ts';
import { KeyServiceTokenSigner, isIdpSigningKey, keyServiceSecretBox, type RotationPolicy } from './key-service-signer.ts';
import type { Clock } from '../core/clock.ts';
import type { IdentityDocument } from '../identity/model.ts';
import { formatText } from '../identity/findings.ts';
import { applyRealmDocument } from './realm-document.ts';
import type { IdpRepositories } from './store/repositories.ts';
import { storageConfigSchema, type StoreConfig } from '../store/open.ts';
import { IdpTelemetry } from './telemetry.ts';

export const DEV_REALM = 'keyward';
export const DEV_CLIENT_ID = 'dev-service';
export const DEV_RESOURCE = KEY_API_AUDIENCE;

/** The identity provider dev mode runs when the configuration has none: one realm whose tokens the key API accepts. */
export function devIdpConfig(baseUrl: string, permissionPrefix: string): IdpConfig {
  return idpConfigSchema.parse({
    enabled: true,
    base_url: baseUrl,
    environment: 'dev',
    // Long enough for openid-client's JWKS cache (an unknown kid is re-fetched after a minute), short for a laptop.
    signing_key_publish_ahead_seconds: 60,
    realms: [
      {
        name: DEV_REALM,
        access_token_resource: DEV_RESOURCE,
        role_permissions: {
          'key-user': [`${permissionPrefix}.key.*.create`, `${permissionPrefix}.key.*.sign`, `${permissionPrefix}.key.*.verify`, `${permissionPrefix}.key.*.public`, `${permissionPrefix}.keys.list`],
          admin: [`${permissionPrefix}.*`],
        },
      },
    ],
  });
}

/**
 * The dev realm as a canonical identity document: the quickstart service client (its secret comes from
 * KEYWARD_DEV_CLIENT_SECRET, new every start) acting as a service with the key-user role.
 */
export function devRealmDocument(realm: IdpRealmConfig, environment: string): IdentityDocument {
  return {
    schema_version: '0.1',
    description: 'Keyward dev mode: the quickstart service client',
    realm: realm.name,
    // An LDAP-backed dev realm holds that directory's tenant.
    tenant: realm.directory.type === 'ldap' ? realm.directory.tenant : 'tenant:platform',
    environments: [environment],
    profile_versions: [
      {
        profile: 'netkingdom-iam',
        version: '0.2',
        ldap_schema: '0.1',
        custom_scopes: realm.custom_scopes.map((s) => ({ name: s.name, description: s.description })),
        public_clients_allowed: realm.public_clients_allowed,
      },
    ],
    roles: [{ name: 'key-user', description: 'creates, signs and verifies with keys (dev mode)' }],
    groups: [],
    users: [],
    memberships: [],
    clients: [
      {
        client_id: DEV_CLIENT_ID,
        name: 'Dev quickstart service',
        enabled: true,
        type: 'confidential',
        auth_method: 'client_secret_basic',
        secret: { env: 'KEYWARD_DEV_CLIENT_SECRET' },
        redirect_uris: [],
        grant_types: ['client_credentials'],
        token_profile: { claims: 'netkingdom-iam-0.2', signing_alg: 'ES256' },
        environments: [environment],
        principal: { principal_type: 'service', tenant: 'tenant:platform', roles: ['key-user'] },
      },
    ],
    client_scope_assignments: [{ client_id: DEV_CLIENT_ID, scope: 'openid' }],
    mfa_enrollments: [],
  };
}

/**
 * A rotated key signs after the configured lead time; an old one stays published for the longest lifetime of what it
 * signed: access and ID tokens, break-glass tokens, and sessions (logout verifies the ID token it is handed as a hint).
 */
export function rotationPolicy(config: IdpConfig): RotationPolicy {
  return {
    publishAheadMs: config.signing_key_publish_ahead_seconds * 1000,
    retainMs: (name) => {
      const r = config.realms.find((x) => x.name === name);
      const longest = Math.max(BREAK_GLASS_LIFETIME_SECONDS, ...(r ? [r.ttl.access_token, r.ttl.id_token, r.ttl.session] : [86_400]));
      return longest * 1000;
    },
  };
}

export interface MountedIdp {
  plugin: (app: FastifyInstance) => Promise<void>;
  /** Dev mode: the quickstart client and its secret (new every start). */
  devClient?: { clientId: string; secret: string; tokenUrl: string } | undefined;
}

export async function mountIdp(deps: {
  config: IdpConfig;
  /** The identity provider's tables, built by the composition root from the store. */
  repos: IdpRepositories;
  keys: KeyService;
  audit: AuditRecorder;
  metrics: Registry;
  logger: Logger;
  env: NodeJS.ProcessEnv;
  dev: boolean;
  permissionPrefix: string;
  sealChanges: (listener: (sealed: boolean) => void) => () => void;
  clock: Clock;
  /** Realm changes other instances or the CLI announced (PostgreSQL); none on a database one process owns. */
  realmChanges?: ((listener: (realm: string | undefined) => void) => () => void) | undefined;
  /** Whether this instance runs the once-only background work (instances sharing a database take turns). */
  leader?: (() => boolean) | undefined;
}): Promise<MountedIdp> {
  const signer = new KeyServiceTokenSigner(deps.keys, deps.clock, rotationPolicy(deps.config));
  let devClient: MountedIdp['devClient'];
  let env = deps.env;
  let applyDevRealm: (() => Promise<void>) | undefined;
  if (deps.dev) {
    const secret = randomBytes(24).toString('base64url');
    env = { ...deps.env, KEYWARD_DEV_CLIENT_SECRET: secret };
    const realm = deps.config.realms.find((r) => r.name === DEV_REALM) ?? deps.config.realms[0]!;
    devClient = { clientId: DEV_CLIENT_ID, secret, tokenUrl: `${deps.config.base_url}/realms/${realm.name}/protocol/openid-connect/token` };
    applyDevRealm = async () => {
      await deps.repos.migrate();
      const outcome = await applyRealmDocument(deps.repos, deps.config, devRealmDocument(realm, deps.config.environment), 'dev realm', { dryRun: false, env });
      // Should the dev configuration make it inapplicable, the start stops and says why.
      if (!outcome.result) throw new Error(`the dev realm cannot be applied:\n  ${formatText({ name: 'dev realm', sources: ['dev realm'], findings: outcome.findings, codes: [] }).join('\n  ')}`);
    };
  }

  const signingKeyChanges = (listener: () => void) => deps.keys.onKeyChange((id) => isIdpSigningKey(id) && listener());
  // One telemetry for the provider and the break-glass route (its counters register once).
  const telemetry = new IdpTelemetry({
    environment: deps.config.environment,
    deploymentMode: deps.config.deployment_mode,
    logger: deps.logger,
    registry: deps.metrics,
    audit: deps.audit,
    demand: deps.repos.demand,
  });
  const plugin = idpPlugin({
    config: deps.config,
    repos: deps.repos,
    signer,
    audit: deps.audit,
    metrics: deps.metrics,
    logger: deps.logger,
    env,
    signingKeyChanges,
    secretBox: keyServiceSecretBox(deps.keys),
    telemetry,
    // The signing keys are created on first start, which needs the root key: a sealed first boot starts the
    // provider on unseal instead.
    prepare: async () => {
      await signer.ensureKeys(deps.config.realms.map((r) => r.name));
      await applyDevRealm?.();
    },
    sealChanges: deps.sealChanges,
    realmChanges: deps.realmChanges,
    leader: deps.leader,
  });
  return {
    devClient,
    plugin: async (app) => {
      await app.register(async (scope) => {
        // The provider authenticates clients and users itself (OAuth client authentication, login pages).
        scope.addHook('onRoute', (route) => {
          route.config = { ...(route.config ?? {}), security: { public: true } };
        });
        await scope.register(plugin);
      });
      await app.register(breakGlassRoutes, {
        prefix: '/v1/idp',
        config: deps.config,
        keys: deps.keys,
        audit: deps.audit,
        permissionPrefix: deps.permissionPrefix,
        signingVersion: (realm, alg) => signer.signingVersion(realm, alg),
        telemetry,
      });
    },
  };
}

/** Where reading a configuration file's idp or storage section failed: the section and zod's issues. */
export interface IdpStoreSectionsProblem {
  section: 'idp' | 'storage';
  issues: Array<{ path: PropertyKey[]; message: string; code?: string }>;
}

/**
 * The two sections a tool working offline on the identity provider's store reads of a configuration file (the
 * server validates the rest). Dev mode runs its identity provider without an idp section (realm keyward).
 */
export function idpStoreSections(raw: Record<string, any>): { idp: IdpConfig; storage: StoreConfig } | IdpStoreSectionsProblem {
  const idp = raw.idp === undefined && raw.mode === 'dev'
    ? { success: true as const, data: devIdpConfig('http://127.0.0.1', String(raw.authz?.permission_prefix ?? 'keyward')) }
    : idpConfigSchema.safeParse(raw.idp);
  if (!idp.success) return { section: 'idp', issues: idp.error.issues };
  const storage = storageConfigSchema.safeParse(raw.storage ?? { type: 'sqlite' });
  if (!storage.success) return { section: 'storage', issues: storage.error.issues };
  return { idp: idp.data, storage: storage.data };
}
