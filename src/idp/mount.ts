// Mounting the identity provider in Keyward's server: its token signing keys in the key service, its tables in
// the same store, its routes public to Keyward's own authentication stage (the provider authenticates clients
// and users itself), plus the break-glass route. Dev mode gets a ready realm and client for the quickstart.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AuditRecorder } from '../audit/types.ts';
import type { KeyService } from '../keys/service.ts';
import type { Store } from '../store/types.ts';
import { BREAK_GLASS_LIFETIME_SECONDS, breakGlassRoutes } from './break-glass.ts';
import { idpConfigSchema, KEY_API_AUDIENCE, type IdpConfig } from './config.ts';
import { idpPlugin } from './index.ts';
import { KeyServiceTokenSigner, isIdpSigningKey, keyServiceSecretBox, type RotationPolicy } from './key-service-signer.ts';
import type { Clock } from '../core/clock.ts';
import { applyRealmFile, type RealmFile } from './realm-file.ts';
import { migrateIdp } from './store/migrations.ts';
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

/** The dev realm's quickstart service client (its secret comes from KEYWARD_DEV_CLIENT_SECRET, new every start). */
function devRealmFile(realm: string): RealmFile {
  return {
    realm,
    roles: [{ name: 'key-user' }],
    groups: [],
    users: [],
    clients: [
      {
        client_id: DEV_CLIENT_ID,
        name: 'Dev quickstart service',
        enabled: true,
        redirect_uris: [],
        post_logout_redirect_uris: [],
        grant_types: ['client_credentials'],
        scopes: ['openid'],
        auth_method: 'client_secret_basic',
        secret_env: 'KEYWARD_DEV_CLIENT_SECRET',
        signing_alg: 'ES256',
        mfa: 'optional',
        principal_type: 'service',
        tenant: 'tenant:platform',
        roles: ['key-user'],
        groups: [],
      },
    ],
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
  store: Store;
  keys: KeyService;
  audit: AuditRecorder;
  metrics: Registry;
  logger: Logger;
  env: NodeJS.ProcessEnv;
  dev: boolean;
  permissionPrefix: string;
  sealChanges: (listener: (sealed: boolean) => void) => () => void;
  clock: Clock;
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
      await migrateIdp(deps.store.kysely, deps.store.dialect);
      await applyRealmFile(deps.store.kysely, realm, devRealmFile(realm.name), { dryRun: false, env, argon2: deps.config.argon2 });
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
    db: deps.store.kysely,
  });
  const plugin = idpPlugin({
    config: deps.config,
    db: deps.store.kysely,
    dialect: deps.store.dialect,
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
