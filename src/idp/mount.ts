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
import type { IdpConfig } from './config.ts';
import { DEV_CLIENT_ID, DEV_REALM, devRealmDocument } from './dev.ts';
import { idpPlugin } from './index.ts';
import { KeyServiceTokenSigner, isIdpSigningKey, keyServiceSecretBox, type RotationPolicy } from './key-service-signer.ts';
import type { Clock } from '../core/clock.ts';
import { formatText } from '../identity/findings.ts';
import { applyRealmDocument } from './realm-document.ts';
import type { IdpRepositories } from './store/repositories.ts';
import { IdpTelemetry } from './telemetry.ts';

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

