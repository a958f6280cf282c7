// The parts of Keycloak's realm export format (RealmRepresentation and friends, as `kc.sh export --dir` writes and
// `kc.sh import --dir` / `--import-realm` reads them) that the exporter writes. Declared here so production code does
// not depend on a dev dependency; test/migrate/keycloak-types.test.ts checks every interface below, key by key,
// against the representation types of @keycloak/keycloak-admin-client (a wrong field name fails tsc).
//
// Two deliberate differences from those TypeScript types, both following Keycloak's Java representations (which is
// what the import parses): `components` maps a provider type to a LIST of components, and component `config` maps
// each key to a LIST of strings (both are MultivaluedHashMap in org.keycloak.representations.idm).

/** Client attributes and protocol-mapper config: Keycloak stores every value as a string. */
export type KcStringMap = Record<string, string>;

export interface KcProtocolMapper {
  name: string;
  protocol: 'openid-connect';
  protocolMapper: string;
  config: KcStringMap;
}

export interface KcClientScope {
  name: string;
  description: string;
  protocol: 'openid-connect';
  attributes: KcStringMap;
  protocolMappers: KcProtocolMapper[];
}

export interface KcRole {
  name: string;
  description?: string;
  composite: boolean;
  clientRole: boolean;
}

export interface KcGroup {
  name: string;
  path: string;
  description?: string;
  realmRoles: string[];
  attributes: Record<string, string[]>;
  subGroups: KcGroup[];
}

/** secretData and credentialData are JSON documents serialised into strings, exactly as Keycloak exports them. */
export interface KcCredential {
  type: 'password' | 'otp';
  userLabel: string;
  createdDate: number;
  secretData: string;
  credentialData: string;
}

export interface KcUser {
  id?: string;
  username: string;
  enabled: boolean;
  emailVerified: boolean;
  email?: string;
  firstName?: string;
  lastName?: string;
  attributes: Record<string, string[]>;
  realmRoles: string[];
  /** Group paths (`/admins`). */
  groups: string[];
  credentials: KcCredential[];
  requiredActions: string[];
  /** Set on the user Keycloak keeps for a client's service account. */
  serviceAccountClientId?: string;
}

export interface KcClient {
  clientId: string;
  name: string;
  description?: string;
  enabled: boolean;
  protocol: 'openid-connect';
  publicClient: boolean;
  bearerOnly: boolean;
  clientAuthenticatorType?: string;
  secret?: string;
  redirectUris: string[];
  webOrigins: string[];
  standardFlowEnabled: boolean;
  implicitFlowEnabled: boolean;
  directAccessGrantsEnabled: boolean;
  serviceAccountsEnabled: boolean;
  consentRequired: boolean;
  frontchannelLogout: boolean;
  fullScopeAllowed: boolean;
  attributes: KcStringMap;
  defaultClientScopes: string[];
  optionalClientScopes: string[];
}

export interface KcComponent {
  id?: string;
  name: string;
  providerId: string;
  subType?: string;
  subComponents: Record<string, KcComponent[]>;
  config: Record<string, string[]>;
}

export interface KcRealm {
  realm: string;
  displayName?: string;
  enabled: boolean;
  sslRequired: 'external' | 'all' | 'none';
  registrationAllowed: boolean;
  registrationEmailAsUsername: boolean;
  rememberMe: boolean;
  verifyEmail: boolean;
  loginWithEmailAllowed: boolean;
  duplicateEmailsAllowed: boolean;
  resetPasswordAllowed: boolean;
  editUsernameAllowed: boolean;
  bruteForceProtected: boolean;
  permanentLockout: boolean;
  failureFactor: number;
  waitIncrementSeconds: number;
  maxFailureWaitSeconds: number;
  maxDeltaTimeSeconds: number;
  accessTokenLifespan: number;
  accessCodeLifespan: number;
  ssoSessionIdleTimeout: number;
  ssoSessionMaxLifespan: number;
  revokeRefreshToken: boolean;
  refreshTokenMaxReuse: number;
  offlineSessionMaxLifespanEnabled: boolean;
  offlineSessionMaxLifespan: number;
  otpPolicyType: 'totp';
  otpPolicyAlgorithm: string;
  otpPolicyDigits: number;
  otpPolicyPeriod: number;
  otpPolicyInitialCounter: number;
  otpPolicyLookAheadWindow: number;
  otpPolicyCodeReusable: boolean;
  attributes: KcStringMap;
  roles: { realm: KcRole[]; client: Record<string, KcRole[]> };
  defaultRole: KcRole;
  groups: KcGroup[];
  clients: KcClient[];
  clientScopes: KcClientScope[];
  defaultDefaultClientScopes: string[];
  defaultOptionalClientScopes: string[];
  components: Record<string, KcComponent[]>;
}

/** One `<realm>-users-N.json` file of a directory export. */
export interface KcUsersFile {
  realm: string;
  users: KcUser[];
}
