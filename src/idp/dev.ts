// Dev mode's identity provider: its realm, audience and quickstart client. Apart from the provider itself
// (mount.ts, which loads oidc-provider), so that the composition root and the offline tools can name them cheaply.
import { idpConfigSchema, KEY_API_AUDIENCE, type IdpConfig, type IdpRealmConfig } from './config.ts';
import type { IdentityDocument } from '../identity/model.ts';

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
