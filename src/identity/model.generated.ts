// GENERATED from schemas/identity/keycape-identity-v0.1.schema.json by scripts/generate-identity-types.ts
// (json-schema-to-typescript). Do not edit: change the schema and run `npm run identity:types`.

/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "EnvironmentName".
 */
export type EnvironmentName = string;
/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "ScopeName".
 */
export type ScopeName = string;
/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "RoleName".
 */
export type RoleName = string;
/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "GroupName".
 */
export type GroupName = string;
/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "Label".
 */
export type Label = string;
/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "PrincipalType".
 */
export type PrincipalType = 'human' | 'service' | 'agent';
/**
 * Where a secret comes from; never the secret itself. `env` names an environment variable read (and hashed) when the document is applied; `argon2id_hash` is a hash made elsewhere.
 *
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "SecretReference".
 */
export type SecretReference =
  | {
      env: string;
    }
  | {
      argon2id_hash: string;
    };
/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "UserId".
 */
export type UserId = string;
/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "Uri".
 */
export type Uri = string;
/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "Tenant".
 */
export type Tenant = string;
/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "ClientId".
 */
export type ClientId = string;

/**
 * KeyCape canonical identity model v0.1 (KeyCape specification section 10): one realm of one tenant, its users, groups, memberships, roles, clients, client scope assignments, MFA enrolment references and the profile version they belong to. Relations (memberships, scope assignments, MFA references) are entities of their own, so each fact is stated once. Cross-entity rules (references, uniqueness, redirect URIs, profile rules) are checked by `keyward identity validate`, not by this schema.
 */
export interface IdentityDocument {
  $schema?: string;
  /**
   * Version of this identity model.
   */
  schema_version: '0.1';
  description?: string;
  /**
   * Realm name (the issuer path segment).
   */
  realm: string;
  /**
   * Tenant of every principal that does not name its own.
   */
  tenant: string;
  /**
   * Environments the document is promoted through; clients name the ones they apply to.
   *
   * @minItems 1
   */
  environments: EnvironmentName[];
  /**
   * Exactly one: the profile version the document conforms to.
   */
  profile_versions: ProfileVersion[];
  roles: Role[];
  groups: Group[];
  users: User[];
  memberships: Membership[];
  clients: Client[];
  client_scope_assignments: ClientScopeAssignment[];
  mfa_enrollments: MFAEnrollmentReference[];
}
/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "ProfileVersion".
 */
export interface ProfileVersion {
  profile: 'netkingdom-iam';
  /**
   * NetKingdom IAM profile version.
   */
  version: string;
  /**
   * Version of the canonical LDAP schema the directory data follows.
   */
  ldap_schema: string;
  /**
   * Custom scopes, versioned with the profile (section 8.3).
   */
  custom_scopes: {
    name: ScopeName;
    description?: string;
  }[];
  /**
   * Whether this profile revision allows public clients (section 8.1).
   */
  public_clients_allowed: boolean;
}
/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "Role".
 */
export interface Role {
  name: RoleName;
  description?: string;
}
/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "Group".
 */
export interface Group {
  name: GroupName;
  description?: Label;
  /**
   * Roles every member holds.
   */
  roles: RoleName[];
}
/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "User".
 */
export interface User {
  /**
   * Stable internal identifier; never reused, never changes.
   */
  id: string;
  /**
   * Login name; lower case, as LLDAP stores it.
   */
  username: string;
  display_name: Label;
  email: string;
  email_verified?: boolean;
  enabled: boolean;
  principal_type: PrincipalType;
  /**
   * Defaults to the document's tenant.
   */
  tenant?: string;
  /**
   * Roles held directly, besides those of the user's groups.
   */
  roles?: RoleName[];
  password?: SecretReference;
  directory?: DirectoryAttributes;
}
/**
 * LDAP-oriented attributes the canonical LDAP schema needs beyond the user's own fields (givenName, sn).
 *
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "DirectoryAttributes".
 */
export interface DirectoryAttributes {
  given_name?: Label;
  family_name?: Label;
}
/**
 * A user in a group.
 *
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "Membership".
 */
export interface Membership {
  user_id: UserId;
  group: GroupName;
}
/**
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "Client".
 */
export interface Client {
  /**
   * Immutable client identifier.
   */
  client_id: string;
  /**
   * Display label.
   */
  name: string;
  enabled: boolean;
  type: 'confidential' | 'public';
  auth_method: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
  /**
   * Where a secret comes from; never the secret itself. `env` names an environment variable read (and hashed) when the document is applied; `argon2id_hash` is a hash made elsewhere.
   */
  secret?:
    | {
        env: string;
      }
    | {
        argon2id_hash: string;
      };
  /**
   * Public keys for private_key_jwt.
   */
  jwks?: {
    /**
     * @minItems 1
     */
    keys: {
      kty: string;
    }[];
  };
  /**
   * Exact redirect URIs (no wildcards).
   */
  redirect_uris: Uri[];
  post_logout_redirect_uris?: Uri[];
  /**
   * @minItems 1
   */
  grant_types: ('authorization_code' | 'refresh_token' | 'client_credentials')[];
  /**
   * PKCE challenge method; the profile allows S256 only and requires it with authorization_code.
   */
  pkce_method?: 'S256';
  token_profile: TokenProfile;
  /**
   * Environments this client exists in.
   *
   * @minItems 1
   */
  environments: EnvironmentName[];
  /**
   * Whether every login through this client needs a second factor.
   */
  mfa?: 'required' | 'optional';
  principal?: ServicePrincipal;
}
/**
 * How tokens for this client are signed and which claim profile they follow.
 *
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "TokenProfile".
 */
export interface TokenProfile {
  /**
   * Claim profile, e.g. netkingdom-iam-0.2; must match the document's profile version.
   */
  claims: string;
  signing_alg: 'ES256' | 'RS256';
}
/**
 * The identity a client acts as with client_credentials.
 *
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "ServicePrincipal".
 */
export interface ServicePrincipal {
  principal_type: 'service' | 'agent';
  tenant?: Tenant;
  roles: RoleName[];
  groups?: GroupName[];
}
/**
 * A scope a client may request.
 *
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "ClientScopeAssignment".
 */
export interface ClientScopeAssignment {
  client_id: ClientId;
  scope: ScopeName;
}
/**
 * Points at a second factor held elsewhere (Keyward's sealed TOTP store or privacyIDEA); never the seed or credential.
 *
 * This interface was referenced by `IdentityDocument`'s JSON-Schema
 * via the `definition` "MFAEnrollmentReference".
 */
export interface MFAEnrollmentReference {
  id: UserId;
  user_id: UserId;
  provider: 'keyward' | 'privacyidea';
  /**
   * The kind of token: privacyIDEA's sms, email and push tokens answer a challenge.
   */
  method: 'totp' | 'hotp' | 'webauthn' | 'sms' | 'email' | 'push';
  /**
   * Keyward enrolment id or privacyIDEA token serial.
   */
  reference: string;
  status: 'pending' | 'active';
}
