// The canonical identity model (KeyCape specification §10). The types are derived from the published JSON Schema
// (schemas/identity/keycape-identity-v0.1.schema.json) by json-schema-to-typescript, so schema and types share one
// source; this module re-exports them with the constants the validators and mappings agree on.
export type {
  Client,
  ClientScopeAssignment,
  DirectoryAttributes,
  Group,
  IdentityDocument,
  Membership,
  MFAEnrollmentReference,
  PrincipalType,
  ProfileVersion,
  Role,
  SecretReference,
  ServicePrincipal,
  TokenProfile,
  User,
} from './model.generated.ts';

/** Version of the identity model this code reads and writes (`schema_version`). */
export const IDENTITY_MODEL_VERSION = '0.1';

/** NetKingdom IAM profile versions this code knows the rules of. */
export const SUPPORTED_PROFILE_VERSIONS = ['0.2'] as const;

/** Scopes every profile version defines (§8.3); custom scopes are declared by the document's profile version. */
export const STANDARD_SCOPES = ['openid', 'profile', 'email', 'groups', 'offline_access'] as const;

/**
 * Group name reserved for the account state: the canonical LDAP schema represents a disabled user as a member of
 * this group (LDAP has no portable enabled flag; LLDAP has none at all), so no canonical group may use the name.
 */
export const DISABLED_GROUP = 'keyward-disabled';
