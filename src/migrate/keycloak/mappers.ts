// The client scopes and protocol mappers that make Keycloak issue the NetKingdom IAM profile's claims, and the
// declarative user profile that lets Keycloak (24 and later, which drops undeclared user attributes) keep the user
// attributes those mappers read.
//
// What maps, and how (claim: Keycloak mapper):
//   sub                 oidc-sub-mapper (Keycloak 25+ puts sub in a client scope; without it access tokens lack sub)
//   auth_time           oidc-usersessionmodel-note-mapper on the AUTH_TIME session note
//   preferred_username  oidc-usermodel-attribute-mapper on username
//   tenant              oidc-usermodel-attribute-mapper on the `tenant` attribute
//   principal_type      oidc-usermodel-attribute-mapper on the `principal_type` attribute
//   groups              oidc-group-membership-mapper, names without path (an empty list when there are none)
//   roles               oidc-usermodel-realm-role-mapper, top-level `roles` instead of realm_access.roles
//   acr                 oidc-acr-mapper with the realm's acr.loa.map {"aal1":1,"aal2":2}
//   aud                 oidc-audience-mapper (the realm's access_token_resource), access token only
//   scope               Keycloak's own `scope` claim (the profile accepts scope or scp)
//   name                oidc-usermodel-attribute-mapper on `display_name` (scope profile)
//   given_name, family_name  oidc-usermodel-property-mapper on firstName / lastName (scope profile)
//   email, email_verified  attribute / property mappers (scope email)
// What does not map (listed as incompatibilities by the exporter): assurance (an object computed from how the
// session authenticated: no built-in mapper computes it), amr (needs per-execution references in an authentication
// flow), permissions (Keyward's role→permission table), scp (Keyward's array twin of scope).
import type { KcClientScope, KcProtocolMapper, KcStringMap } from './types.ts';

const TRUE = 'true';
const tokens = (opts: { id?: boolean; access?: boolean; userinfo?: boolean; introspection?: boolean }): KcStringMap => ({
  'id.token.claim': String(opts.id ?? true),
  'access.token.claim': String(opts.access ?? true),
  'userinfo.token.claim': String(opts.userinfo ?? true),
  'introspection.token.claim': String(opts.introspection ?? true),
});

const mapper = (name: string, protocolMapper: string, config: KcStringMap): KcProtocolMapper => ({ name, protocol: 'openid-connect', protocolMapper, config });

export function attributeMapper(claim: string, attribute: string, jsonType = 'String'): KcProtocolMapper {
  return mapper(claim, 'oidc-usermodel-attribute-mapper', { 'user.attribute': attribute, 'claim.name': claim, 'jsonType.label': jsonType, ...tokens({}) });
}

/** A claim from a property of Keycloak's user model (firstName, lastName, emailVerified). */
function propertyMapper(claim: string, property: string, jsonType = 'String'): KcProtocolMapper {
  return mapper(claim, 'oidc-usermodel-property-mapper', { 'user.attribute': property, 'claim.name': claim, 'jsonType.label': jsonType, ...tokens({}) });
}

/** The scope every client gets by default: the claims the profile requires in every token. */
export function profileClaimsScope(name: string, audience: string | undefined): KcClientScope {
  const mappers: KcProtocolMapper[] = [
    mapper('sub', 'oidc-sub-mapper', { 'access.token.claim': TRUE, 'introspection.token.claim': TRUE }),
    mapper('auth_time', 'oidc-usersessionmodel-note-mapper', { 'user.session.note': 'AUTH_TIME', 'claim.name': 'auth_time', 'jsonType.label': 'long', ...tokens({}) }),
    attributeMapper('preferred_username', 'username'),
    attributeMapper('tenant', 'tenant'),
    attributeMapper('principal_type', 'principal_type'),
    mapper('groups', 'oidc-group-membership-mapper', { 'claim.name': 'groups', 'full.path': 'false', ...tokens({}) }),
    mapper('roles', 'oidc-usermodel-realm-role-mapper', { 'claim.name': 'roles', 'jsonType.label': 'String', multivalued: TRUE, ...tokens({}) }),
    mapper('acr', 'oidc-acr-mapper', { 'id.token.claim': TRUE, 'access.token.claim': TRUE, 'introspection.token.claim': TRUE }),
  ];
  if (audience !== undefined)
    mappers.push(mapper('audience', 'oidc-audience-mapper', { 'included.custom.audience': audience, 'id.token.claim': 'false', 'access.token.claim': TRUE, 'introspection.token.claim': TRUE }));
  return {
    name,
    description: 'NetKingdom IAM profile claims (migrated from Keyward): sub, auth_time, preferred_username, tenant, principal_type, groups, roles, acr',
    protocol: 'openid-connect',
    // Default scope: its name stays out of the token's `scope` claim, which then lists only what was requested.
    attributes: { 'include.in.token.scope': 'false', 'display.on.consent.screen': 'false' },
    protocolMappers: mappers,
  };
}

/** A requestable scope; `mappers` add the claims the scope releases. */
export function optionalScope(name: string, description: string, mappers: KcProtocolMapper[] = []): KcClientScope {
  return {
    name,
    description,
    protocol: 'openid-connect',
    attributes: { 'include.in.token.scope': TRUE, 'display.on.consent.screen': 'false' },
    protocolMappers: mappers,
  };
}

/** The standard scopes of the profile (§8.3) as Keyward releases them (src/idp/profile.ts SCOPE_CLAIMS). */
export function standardScopes(): KcClientScope[] {
  return [
    optionalScope('profile', 'preferred_username, name, given_name and family_name', [
      attributeMapper('name', 'display_name'),
      propertyMapper('given_name', 'firstName'),
      propertyMapper('family_name', 'lastName'),
    ]),
    optionalScope('email', 'email and email_verified', [
      attributeMapper('email', 'email'),
      propertyMapper('email_verified', 'emailVerified', 'boolean'),
    ]),
    // groups is in every token already (the profile requires it); the scope exists so it can be requested.
    optionalScope('groups', 'group names (always present in NetKingdom profile tokens)'),
    optionalScope('offline_access', 'offline access (Keycloak: offline tokens, which need the offline_access realm role)'),
  ];
}

/** User attributes the mappers read; declared so Keycloak's user profile keeps them. */
export const USER_ATTRIBUTES = ['tenant', 'principal_type', 'keyward_id', 'display_name'] as const;

/** The declarative user profile (`kc.user.profile.config`): Keycloak's own attributes plus Keyward's, admin-edited. */
export function userProfileConfig(): string {
  const admin = { view: ['admin', 'user'], edit: ['admin'] };
  const attr = (name: string, displayName: string, validations: Record<string, unknown>, group?: string) => ({
    name,
    displayName,
    validations,
    permissions: admin,
    multivalued: false,
    ...(group ? { group } : {}),
  });
  const config = {
    attributes: [
      attr('username', 'Username', { length: { min: 1, max: 255 }, 'username-prohibited-characters': {}, 'up-username-not-idn-homograph': {} }),
      attr('email', 'Email', { email: {}, length: { max: 255 } }),
      attr('firstName', 'First name', { length: { max: 255 } }),
      attr('lastName', 'Last name', { length: { max: 255 } }),
      attr('tenant', 'Tenant', { pattern: { pattern: '^tenant:(platform|[a-z0-9][a-z0-9_-]{0,62})$', 'error-message': 'tenant is tenant:platform or tenant:<id>' } }, 'keyward'),
      attr('principal_type', 'Principal type', { options: { options: ['human', 'service', 'agent'] } }, 'keyward'),
      attr('keyward_id', 'Keyward id', { length: { min: 1, max: 128 } }, 'keyward'),
      attr('display_name', 'Display name', { length: { min: 1, max: 256 } }, 'keyward'),
    ],
    groups: [{ name: 'keyward', displayHeader: 'Keyward', displayDescription: 'Attributes carried over from Keyward for the NetKingdom IAM profile claims' }],
  };
  return JSON.stringify(config);
}
