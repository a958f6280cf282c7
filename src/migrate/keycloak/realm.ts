// Canonical identity document (+ credentials) -> a Keycloak realm in Keycloak's own export format (Path 1, or Path 2
// with an LDAP federation component in place of the directory users). Pure: reads nothing but its inputs, writes
// nothing; `files.ts` lays the result out as `<realm>-realm.json` and `<realm>-users-N.json`.
//
// Identity is kept: user ids become Keycloak user ids (so `sub` stays the same), a client_credentials client's
// service account gets the client id as its user id (Keyward's client tokens carry sub = client_id).
import type { Client, IdentityDocument, User } from '../../identity/model.ts';
import type { CredentialSource } from '../credentials.ts';
import type { Incompatibility } from '../incompatibility.ts';
import { PhcError } from '../phc.ts';
import { otpCredential, passwordCredential } from './credentials.ts';
import { ldapFederationComponent, USER_STORAGE_PROVIDER, type LdapFederationOptions } from './federation.ts';
import { optionalScope, profileClaimsScope, standardScopes, userProfileConfig } from './mappers.ts';
import type { KcClient, KcClientScope, KcGroup, KcRealm, KcRole, KcUser } from './types.ts';

/** Keycloak keeps user ids in a 36-character column. */
export const KEYCLOAK_ID_MAX = 36;
export const USER_PROFILE_PROVIDER = 'org.keycloak.userprofile.UserProfileProvider';
/** Realm roles Keycloak gives a meaning of its own. */
const KEYCLOAK_RESERVED_ROLES = ['offline_access', 'uma_authorization'];
/** The profile's assurance levels as Keycloak levels of authentication (realm attribute acr.loa.map). */
export const ACR_LOA_MAP = { aal1: 1, aal2: 2 } as const;

export interface TokenLifetimes {
  accessToken: number;
  idToken: number;
  authorizationCode: number;
  refreshToken: number;
  session: number;
}
/** Keyward's defaults (src/idp/config.ts), used when no configuration says otherwise. */
export const KEYWARD_DEFAULT_LIFETIMES: TokenLifetimes = { accessToken: 300, idToken: 300, authorizationCode: 60, refreshToken: 8 * 3600, session: 8 * 3600 };

export interface LockoutPolicy {
  maxFailures: number;
  windowSeconds: number;
  lockSeconds: number;
}
export const KEYWARD_DEFAULT_LOCKOUT: LockoutPolicy = { maxFailures: 5, windowSeconds: 900, lockSeconds: 900 };

export interface KeycloakExportOptions {
  /** The Keycloak realm name (and file prefix). */
  realmName: string;
  credentials: CredentialSource;
  lifetimes?: TokenLifetimes;
  lockout?: LockoutPolicy;
  /** Shown on Keycloak's sign-in pages. */
  displayName?: string | undefined;
  /** The access tokens' audience (Keyward's access_token_resource); none when undefined. */
  audience?: string | undefined;
  /** Path 2: federate this directory instead of exporting directory users. */
  directory?: LdapFederationOptions | undefined;
  /** Milliseconds since the epoch for credential createdDate (injected so output is reproducible). */
  now?: number;
}

export interface KeycloakExport {
  realm: KcRealm;
  /** Users for `<realm>-users-N.json`: directory users (Path 1 only) and client service accounts. */
  users: KcUser[];
  incompatibilities: Incompatibility[];
  /** Counts for reports. */
  summary: {
    path: 1 | 2;
    users: number;
    serviceAccounts: number;
    passwords: number;
    otpCredentials: number;
    clients: number;
    groups: number;
    roles: number;
  };
}

const groupPath = (name: string) => `/${name}`;

export function profileScopeName(doc: IdentityDocument): string {
  return `netkingdom-iam-${doc.profile_versions[0]!.version}`;
}

export async function buildKeycloakRealm(doc: IdentityDocument, opts: KeycloakExportOptions): Promise<KeycloakExport> {
  const issues: Incompatibility[] = [];
  const note = (i: Incompatibility) => issues.push(i);
  const lifetimes = opts.lifetimes ?? KEYWARD_DEFAULT_LIFETIMES;
  const lockout = opts.lockout ?? KEYWARD_DEFAULT_LOCKOUT;
  const now = opts.now ?? Date.now();
  const profile = doc.profile_versions[0]!;
  const claimsScope = profileScopeName(doc);
  const path: 1 | 2 = opts.directory ? 2 : 1;

  if (opts.realmName !== doc.realm)
    note({
      code: 'keycloak.realm.renamed',
      direction: 'behaviour_differs',
      severity: 'blocking',
      subject: 'realm',
      message: `the document's realm is ${doc.realm}, the Keycloak realm ${opts.realmName}: the issuer path changes from /realms/${doc.realm} to /realms/${opts.realmName}`,
      action: 'reconfigure every application with the new issuer, or export under the same realm name',
    });

  // Roles. Keycloak's default role is given no composites, and users are imported with exactly their canonical roles
  // (realm import does not add the default role), so the `roles` claim carries only canonical roles.
  const defaultRoleName = `default-roles-${opts.realmName}`;
  const reserved = [...KEYCLOAK_RESERVED_ROLES, defaultRoleName];
  for (const r of doc.roles)
    if (reserved.includes(r.name))
      note({
        code: 'keycloak.role.reserved_name',
        direction: 'behaviour_differs',
        severity: 'degraded',
        subject: `role ${r.name}`,
        message: `Keycloak gives the realm role ${r.name} a meaning of its own (offline tokens, UMA or the default role)`,
        action: 'rename the role in the canonical document before migrating',
      });
  const roles: KcRole[] = doc.roles.map((r) => ({ name: r.name, ...(r.description ? { description: r.description } : {}), composite: false, clientRole: false }));
  const defaultRole: KcRole = { name: defaultRoleName, description: `Keycloak's default role of ${opts.realmName}, left empty: profile tokens carry only canonical roles`, composite: false, clientRole: false };
  if (!doc.roles.some((r) => r.name === defaultRoleName)) roles.push(defaultRole);

  const groups: KcGroup[] = doc.groups.map((g) => ({
    name: g.name,
    path: groupPath(g.name),
    ...(g.description ? { description: g.description } : {}),
    realmRoles: [...g.roles],
    attributes: {},
    subGroups: [],
  }));

  // Client scopes: the profile claims (default on every client), the standard scopes, the profile version's custom
  // scopes. `openid` is implicit in Keycloak.
  const scopes: KcClientScope[] = [profileClaimsScope(claimsScope, opts.audience), ...standardScopes()];
  for (const s of profile.custom_scopes) scopes.push(optionalScope(s.name, s.description ?? `custom scope ${s.name} (NetKingdom profile ${profile.version})`));
  const scopeNames = new Set(scopes.map((s) => s.name));
  if (opts.audience === undefined)
    note({
      code: 'keycloak.token.audience_unset',
      direction: 'source_not_expressible',
      severity: 'degraded',
      subject: 'claim aud',
      message: "no access-token audience was given (Keyward's access_token_resource comes from the realm configuration): Keycloak access tokens will carry its default audience",
      action: 'export with --config (the realm configuration) so the audience mapper is written',
    });

  // Clients and their service accounts.
  const clients: KcClient[] = [];
  const serviceAccounts: KcUser[] = [];
  const usedIds = new Set(doc.users.map((u) => u.id));
  const usedNames = new Set(doc.users.map((u) => u.username));
  for (const c of doc.clients) {
    clients.push(await buildClient(doc, c, opts, lifetimes, claimsScope, scopeNames, note));
    if (c.grant_types.includes('client_credentials') && c.principal) {
      const username = `service-account-${c.client_id}`.toLowerCase();
      const idOk = c.client_id.length <= KEYCLOAK_ID_MAX && !usedIds.has(c.client_id);
      if (!idOk)
        note({
          code: 'keycloak.service_account.sub_changes',
          direction: 'behaviour_differs',
          severity: 'degraded',
          subject: `client ${c.client_id}`,
          message: `the service account cannot take the client id as its Keycloak id (${c.client_id.length > KEYCLOAK_ID_MAX ? `longer than ${KEYCLOAK_ID_MAX} characters` : 'a user has that id'}): client_credentials tokens get a generated sub instead of ${c.client_id}`,
          action: 'applications that key on sub of service tokens must use azp/client_id instead',
        });
      if (usedNames.has(username))
        note({
          code: 'keycloak.service_account.username_taken',
          direction: 'source_not_expressible',
          severity: 'blocking',
          subject: `client ${c.client_id}`,
          message: `a user is named ${username}, the name Keycloak gives the client's service account`,
          action: 'rename that user before migrating',
        });
      serviceAccounts.push({
        ...(idOk ? { id: c.client_id } : {}),
        username,
        enabled: c.enabled,
        emailVerified: false,
        attributes: { tenant: [c.principal.tenant ?? doc.tenant], principal_type: [c.principal.principal_type], keyward_id: [c.client_id], display_name: [c.name] },
        realmRoles: [...c.principal.roles],
        groups: (c.principal.groups ?? []).map(groupPath),
        credentials: [],
        requiredActions: [],
        serviceAccountClientId: c.client_id,
      });
      usedNames.add(username);
    }
  }

  // Users (Path 1) or the federation component (Path 2).
  const users: KcUser[] = [];
  let passwords = 0;
  let otps = 0;
  const components: KcRealm['components'] = {
    [USER_PROFILE_PROVIDER]: [{ name: 'Declarative User Profile', providerId: 'declarative-user-profile', subComponents: {}, config: { 'kc.user.profile.config': [userProfileConfig()] } }],
  };
  if (opts.directory) {
    components[USER_STORAGE_PROVIDER] = [ldapFederationComponent(opts.directory, doc.tenant)];
    federationNotes(doc, opts.directory, note);
  } else {
    for (const u of doc.users) {
      const built = await buildUser(doc, u, opts.credentials, now, note);
      passwords += built.credentials.filter((c) => c.type === 'password').length;
      otps += built.credentials.filter((c) => c.type === 'otp').length;
      users.push(built);
    }
  }
  mfaNotes(doc, path, note);
  profileNotes(doc, lifetimes, note);

  const realm: KcRealm = {
    realm: opts.realmName,
    ...(opts.displayName !== undefined ? { displayName: opts.displayName } : {}),
    enabled: true,
    sslRequired: 'external',
    registrationAllowed: false,
    registrationEmailAsUsername: false,
    rememberMe: false,
    verifyEmail: false,
    loginWithEmailAllowed: false,
    duplicateEmailsAllowed: false,
    resetPasswordAllowed: false,
    editUsernameAllowed: false,
    bruteForceProtected: true,
    permanentLockout: false,
    failureFactor: lockout.maxFailures,
    waitIncrementSeconds: lockout.lockSeconds,
    maxFailureWaitSeconds: lockout.lockSeconds,
    maxDeltaTimeSeconds: lockout.windowSeconds,
    accessTokenLifespan: lifetimes.accessToken,
    accessCodeLifespan: lifetimes.authorizationCode,
    // Keyward has no idle timeout; its sessions end after `session` seconds.
    ssoSessionIdleTimeout: lifetimes.session,
    ssoSessionMaxLifespan: lifetimes.session,
    // Keyward rotates refresh tokens and treats reuse as theft.
    revokeRefreshToken: true,
    refreshTokenMaxReuse: 0,
    offlineSessionMaxLifespanEnabled: true,
    offlineSessionMaxLifespan: lifetimes.refreshToken,
    otpPolicyType: 'totp',
    otpPolicyAlgorithm: 'HmacSHA1',
    otpPolicyDigits: 6,
    otpPolicyPeriod: 30,
    otpPolicyInitialCounter: 0,
    otpPolicyLookAheadWindow: 1,
    otpPolicyCodeReusable: false,
    attributes: {
      'acr.loa.map': JSON.stringify(ACR_LOA_MAP),
      'keyward.profile': `${profile.profile} ${profile.version}`,
      'keyward.tenant': doc.tenant,
    },
    roles: { realm: roles, client: {} },
    defaultRole,
    groups,
    clients,
    clientScopes: scopes,
    defaultDefaultClientScopes: [claimsScope],
    defaultOptionalClientScopes: [],
    components,
  };
  return {
    realm,
    users: [...users, ...serviceAccounts],
    incompatibilities: issues,
    summary: {
      path,
      users: users.length,
      serviceAccounts: serviceAccounts.length,
      passwords,
      otpCredentials: otps,
      clients: clients.length,
      groups: groups.length,
      roles: doc.roles.length,
    },
  };
}

async function buildClient(
  doc: IdentityDocument,
  c: Client,
  opts: KeycloakExportOptions,
  lifetimes: TokenLifetimes,
  claimsScope: string,
  scopeNames: Set<string>,
  note: (i: Incompatibility) => void,
): Promise<KcClient> {
  const code = c.grant_types.includes('authorization_code');
  const cc = c.grant_types.includes('client_credentials');
  const attributes: Record<string, string> = {
    'access.token.lifespan': String(lifetimes.accessToken),
    'use.refresh.tokens': String(c.grant_types.includes('refresh_token')),
    'client_credentials.use_refresh_token': 'false',
    'id.token.signed.response.alg': c.token_profile.signing_alg,
    'access.token.signed.response.alg': c.token_profile.signing_alg,
    // Keycloak features outside the profile, off per client (see the reverse incompatibilities).
    'oauth2.device.authorization.grant.enabled': 'false',
    'oidc.ciba.grant.enabled': 'false',
    'standard.token.exchange.enabled': 'false',
    'post.logout.redirect.uris': code && c.post_logout_redirect_uris?.length ? c.post_logout_redirect_uris.join('##') : '-',
    'keyward.environments': c.environments.join(','),
    ...(c.mfa ? { 'keyward.mfa': c.mfa } : {}),
  };
  if (code) attributes['pkce.code.challenge.method'] = 'S256';
  let clientAuthenticatorType: string | undefined;
  let secret: string | undefined;
  if (c.type === 'confidential') {
    if (c.auth_method === 'private_key_jwt') {
      clientAuthenticatorType = 'client-jwt';
      attributes['use.jwks.url'] = 'false';
      attributes['use.jwks.string'] = 'true';
      attributes['jwks.string'] = JSON.stringify(c.jwks ?? { keys: [] });
      const algs = [...new Set((c.jwks?.keys ?? []).map((k) => (k as { alg?: string }).alg).filter((a): a is string => typeof a === 'string'))];
      if (algs.length === 1) attributes['token.endpoint.auth.signing.alg'] = algs[0]!;
    } else {
      clientAuthenticatorType = 'client-secret';
      secret = await clientSecretPlaceholder(c, opts.credentials, note);
      note({
        code: 'keycloak.client.secret_auth_method_both',
        direction: 'behaviour_differs',
        severity: 'info',
        subject: `client ${c.client_id}`,
        message: `the profile pins ${c.auth_method}; Keycloak's client-secret authenticator accepts both client_secret_basic and client_secret_post`,
        action: '',
      });
    }
  }
  const optional = doc.client_scope_assignments.filter((a) => a.client_id === c.client_id && a.scope !== 'openid').map((a) => a.scope);
  for (const s of optional)
    if (!scopeNames.has(s))
      note({
        code: 'keycloak.scope.unknown',
        direction: 'source_not_expressible',
        severity: 'blocking',
        subject: `client ${c.client_id}`,
        message: `scope ${s} has no client scope in the export`,
        action: 'declare the scope as a custom scope of the profile version',
      });
  if (optional.includes('offline_access'))
    note({
      code: 'keycloak.scope.offline_access',
      direction: 'behaviour_differs',
      severity: 'degraded',
      subject: `client ${c.client_id}`,
      message:
        'Keycloak treats offline_access as a request for an offline token, which it issues only to users holding the realm role offline_access; granting that role adds "offline_access" to the roles claim. Refresh tokens are issued without it (use.refresh.tokens).',
      action: 'drop offline_access from the scope requests of the application, or grant the offline_access role knowingly',
    });
  return {
    clientId: c.client_id,
    name: c.name,
    enabled: c.enabled,
    protocol: 'openid-connect',
    publicClient: c.type === 'public',
    bearerOnly: false,
    ...(clientAuthenticatorType ? { clientAuthenticatorType } : {}),
    ...(secret !== undefined ? { secret } : {}),
    redirectUris: code ? [...c.redirect_uris] : [],
    // "+": exactly the origins of the redirect URIs, which is Keyward's CORS rule.
    webOrigins: code ? ['+'] : [],
    standardFlowEnabled: code,
    implicitFlowEnabled: false,
    directAccessGrantsEnabled: false,
    serviceAccountsEnabled: cc,
    consentRequired: false,
    frontchannelLogout: false,
    fullScopeAllowed: true,
    attributes,
    defaultClientScopes: [claimsScope],
    optionalClientScopes: optional.filter((s) => scopeNames.has(s)),
  };
}

/**
 * Keycloak stores a confidential client's secret itself (to compare it); Keyward stores only an argon2id hash. The
 * export never writes a secret: it writes a `${VARIABLE}` placeholder that Keycloak's import substitutes from its
 * environment. Where the plaintext is in an operator-controlled variable already, that variable is used.
 */
async function clientSecretPlaceholder(c: Client, credentials: CredentialSource, note: (i: Incompatibility) => void): Promise<string> {
  const src = await credentials.clientSecret(c.client_id);
  if (src?.kind === 'env') {
    note({
      code: 'keycloak.client.secret_from_environment',
      direction: 'behaviour_differs',
      severity: 'info',
      subject: `client ${c.client_id}`,
      message: `the client secret is written as \${${src.name}}; Keycloak's import substitutes it from its environment and then stores the secret itself (Keyward kept only a hash)`,
      action: `set ${src.name} in Keycloak's environment for the import`,
    });
    return `\${${src.name}}`;
  }
  const name = `KEYCLOAK_CLIENT_SECRET_${c.client_id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
  note({
    code: 'keycloak.client.secret_hash_only',
    direction: 'source_not_expressible',
    severity: 'blocking',
    subject: `client ${c.client_id}`,
    message: `Keyward holds only an argon2id hash of this client's secret; Keycloak needs the secret itself. It is written as \${${name}}`,
    action: `put the client's current secret (if the operator has it) or a newly generated one in ${name} for the import; with a new one, update the application's configuration at cut-over`,
  });
  return `\${${name}}`;
}

async function buildUser(doc: IdentityDocument, u: User, credentials: CredentialSource, now: number, note: (i: Incompatibility) => void): Promise<KcUser> {
  const subject = `user ${u.username}`;
  const idOk = u.id.length <= KEYCLOAK_ID_MAX;
  if (!idOk)
    note({
      code: 'keycloak.user.sub_changes',
      direction: 'source_not_expressible',
      severity: 'blocking',
      subject,
      message: `the user id ${u.id} is longer than Keycloak's ${KEYCLOAK_ID_MAX} characters: Keycloak generates an id and sub changes (the old id stays in the keyward_id attribute)`,
      action: 'applications that key on sub must map the new sub via keyward_id',
    });
  const creds = [];
  const phc = await credentials.passwordHash(u.id);
  if (phc !== undefined) {
    try {
      creds.push(passwordCredential(phc, now));
    } catch (e) {
      if (!(e instanceof PhcError)) throw e;
      note({
        code: 'keycloak.password.unsupported_hash',
        direction: 'source_not_expressible',
        severity: 'blocking',
        subject,
        message: `the stored password hash cannot be given to Keycloak: ${e.message}`,
        action: 'the user sets a new password (Keycloak: required action UPDATE_PASSWORD after an administrator sets a temporary one)',
      });
    }
  } else if (u.password !== undefined)
    note({
      code: 'keycloak.password.unavailable',
      direction: 'source_not_expressible',
      severity: 'blocking',
      subject,
      message: `the user has a password reference (${'env' in u.password ? `environment variable ${u.password.env}, not set` : 'hash'}) but ${credentials.name} gave no hash`,
      action: 'export where the password source is available, or have the user set a new password',
    });
  const totp = await credentials.totp(u.id);
  if (totp === 'unavailable')
    note({
      code: 'keycloak.otp.seed_sealed',
      direction: 'source_not_expressible',
      severity: 'blocking',
      subject,
      message: 'the user has a confirmed TOTP enrolment whose seed is sealed by the key service and cannot be read by this export',
      action: 'export through a process with the key service unsealed, or have the user enrol again in Keycloak (required action CONFIGURE_TOTP)',
    });
  else if (totp) creds.push(otpCredential(totp, now));
  else if (doc.mfa_enrollments.some((e) => e.user_id === u.id && e.provider === 'keyward' && e.method === 'totp' && e.status === 'active'))
    note({
      code: 'keycloak.otp.seed_unavailable',
      direction: 'source_not_expressible',
      severity: 'blocking',
      subject,
      message: `the user has an active Keyward TOTP enrolment but ${credentials.name} holds no seed for it`,
      action: 'export from the identity provider store (keyward migrate export --config …), or have the user enrol again in Keycloak (required action CONFIGURE_TOTP)',
    });
  const given = u.directory?.given_name;
  const family = u.directory?.family_name;
  return {
    ...(idOk ? { id: u.id } : {}),
    username: u.username,
    enabled: u.enabled,
    emailVerified: u.email_verified ?? false,
    email: u.email,
    ...(given !== undefined ? { firstName: given } : {}),
    ...(family !== undefined ? { lastName: family } : {}),
    attributes: { tenant: [u.tenant ?? doc.tenant], principal_type: [u.principal_type], keyward_id: [u.id], display_name: [u.display_name] },
    realmRoles: [...(u.roles ?? [])],
    groups: doc.memberships.filter((m) => m.user_id === u.id).map((m) => groupPath(m.group)),
    credentials: creds,
    requiredActions: [],
  };
}

function mfaNotes(doc: IdentityDocument, path: 1 | 2, note: (i: Incompatibility) => void): void {
  const userName = new Map(doc.users.map((u) => [u.id, u.username]));
  for (const e of doc.mfa_enrollments) {
    const subject = `user ${userName.get(e.user_id) ?? e.user_id}`;
    if (e.provider === 'privacyidea')
      note({
        code: 'keycloak.mfa.privacyidea',
        direction: 'behaviour_differs',
        severity: 'blocking',
        subject,
        message: `the ${e.method} factor ${e.reference} lives in privacyIDEA (Path 3): Keycloak has no built-in privacyIDEA check`,
        action: "install privacyIDEA's Keycloak provider and put its authenticator in the browser flow; the token serial stays the enrolment reference",
      });
    else if (e.method !== 'totp')
      note({
        code: 'keycloak.mfa.method_unsupported',
        direction: 'source_not_expressible',
        severity: 'blocking',
        subject,
        message: `the ${e.method} enrolment ${e.reference} has no Keyward credential to carry over`,
        action: 'the user enrols again in Keycloak',
      });
    else if (e.status !== 'active')
      note({ code: 'keycloak.mfa.pending_skipped', direction: 'source_not_expressible', severity: 'info', subject, message: `the pending enrolment ${e.reference} is not carried over`, action: '' });
    else if (path === 2)
      note({
        code: 'keycloak.mfa.federated_user_otp',
        direction: 'source_not_expressible',
        severity: 'blocking',
        subject,
        message: 'with LDAP federation the user does not exist in Keycloak until the first sync, so the TOTP credential cannot be imported with the realm',
        action: 'the user enrols again (required action CONFIGURE_TOTP), or MFA moves to privacyIDEA (Path 3)',
      });
  }
  const required = doc.clients.filter((c) => c.mfa === 'required').map((c) => c.client_id);
  if (required.length)
    note({
      code: 'keycloak.mfa.required_clients',
      direction: 'source_not_expressible',
      severity: 'blocking',
      subject: `clients ${required.join(', ')}`,
      message:
        "these clients require a second factor for every login. Keycloak expresses that with an authentication flow bound to the client, which the export does not write (a realm import that names any flow must name all of Keycloak's built-in flows)",
      action:
        'after import: copy the browser flow, make its OTP step REQUIRED (or add a Condition - Level Of Authentication step for aal2), and bind it to these clients (Client > Advanced > Authentication flow overrides)',
    });
}

function federationNotes(doc: IdentityDocument, dir: LdapFederationOptions, note: (i: Incompatibility) => void): void {
  note({
    code: 'keycloak.ldap.sub_changes',
    direction: 'behaviour_differs',
    severity: 'blocking',
    subject: 'claim sub',
    message: "federated users get Keycloak-generated ids, so sub changes; the canonical id is in LDAP's employeeNumber, mapped to the keyward_id attribute",
    action: 'applications that key on sub map it through keyward_id (add a keyward_id claim mapper if they need it in tokens)',
  });
  note({
    code: 'keycloak.ldap.disabled_needs_memberof',
    direction: 'behaviour_differs',
    severity: 'blocking',
    subject: 'account state',
    message:
      'LDAP has no portable enabled flag: a disabled user is a member of cn=keyward-disabled. The federation search filter excludes members through memberOf, which the directory must maintain (LLDAP does; OpenLDAP needs the memberof overlay)',
    action: 'enable memberOf on the directory before cut-over, then check that a disabled user cannot sign in',
  });
  const direct = doc.users.filter((u) => (u.roles ?? []).length > 0).map((u) => u.username);
  if (direct.length)
    note({
      code: 'keycloak.ldap.direct_roles',
      direction: 'source_not_expressible',
      severity: 'blocking',
      subject: `users ${direct.join(', ')}`,
      message: 'direct user roles are not in the canonical LDAP schema (only group roles are): federated users get their roles through groups only',
      action: 'move the roles onto groups in the canonical document, or assign them in Keycloak after the first sync',
    });
  if (doc.users.some((u) => u.email_verified === true))
    note({
      code: 'keycloak.ldap.email_verified',
      direction: 'source_not_expressible',
      severity: 'degraded',
      subject: 'claim email_verified',
      message: 'the canonical LDAP schema has no email-verified attribute: federated users have email_verified false (trustEmail is off)',
      action: 'set trustEmail on the federation provider if the directory\'s addresses are verified',
    });
  if (doc.users.some((u) => u.password !== undefined))
    note({
      code: 'keycloak.ldap.passwords_in_directory',
      direction: 'behaviour_differs',
      severity: 'info',
      subject: 'passwords',
      message: 'with federation Keycloak checks passwords by binding to the directory: Keyward password hashes are not exported',
      action: 'set the directory passwords with its own tools (ldappasswd, LLDAP admin) before cut-over',
    });
  if (dir.bindDn !== undefined)
    note({
      code: 'keycloak.ldap.bind_password_placeholder',
      direction: 'behaviour_differs',
      severity: 'info',
      subject: 'federation bind',
      message: `the bind password is written as \${${dir.bindPasswordEnv ?? 'KEYCLOAK_LDAP_BIND_PASSWORD'}}, substituted by Keycloak's import`,
      action: `set ${dir.bindPasswordEnv ?? 'KEYCLOAK_LDAP_BIND_PASSWORD'} in Keycloak's environment for the import`,
    });
}

/** What the profile's claims and lifetimes become, independent of the data. */
function profileNotes(doc: IdentityDocument, lifetimes: TokenLifetimes, note: (i: Incompatibility) => void): void {
  note({
    code: 'keycloak.claim.assurance',
    direction: 'source_not_expressible',
    severity: 'blocking',
    subject: 'claim assurance',
    message:
      'assurance {level, methods, mfa, source, at} is computed from how the session authenticated; no built-in Keycloak mapper computes it, and a hardcoded value would misstate MFA. Keycloak expresses the level as acr (aal1/aal2 through acr.loa.map)',
    action: 'deploy a custom ProtocolMapper (Java SPI) that derives assurance from the session, or change applications to read acr',
  });
  note({
    code: 'keycloak.claim.acr_step_up',
    direction: 'behaviour_differs',
    severity: 'degraded',
    subject: 'claim acr',
    message: 'acr is mapped (acr.loa.map {"aal1":1,"aal2":2}), but Keycloak reports aal2 only when the browser flow has Level Of Authentication conditions; the default flow yields aal1',
    action: 'add a step-up browser flow (levels 1: password, 2: password + OTP) if applications ask for acr_values=aal2',
  });
  note({
    code: 'keycloak.claim.amr',
    direction: 'source_not_expressible',
    severity: 'degraded',
    subject: 'claim amr',
    message: "Keycloak's amr mapper needs reference values configured on each execution of the authentication flow; none are exported",
    action: 'configure authenticator references (pwd, otp) in the browser flow and add the oidc-amr-mapper if applications read amr',
  });
  note({
    code: 'keycloak.claim.permissions',
    direction: 'source_not_expressible',
    severity: 'degraded',
    subject: 'claim permissions',
    message: "Keyward adds a permissions claim from its role_permissions table for its own key API; Keycloak has no equivalent (the profile does not require it)",
    action: "configure the key API's scope or role mapping to authorise by roles when it trusts Keycloak",
  });
  note({
    code: 'keycloak.claim.scp',
    direction: 'behaviour_differs',
    severity: 'info',
    subject: 'claim scp',
    message: 'Keycloak issues `scope` (a space-separated string) and no `scp` array; the profile accepts either',
    action: 'applications must read scope or scp, not only scp',
  });
  if (lifetimes.idToken !== lifetimes.accessToken)
    note({
      code: 'keycloak.token.id_token_lifetime',
      direction: 'source_not_expressible',
      severity: 'info',
      subject: 'ID token lifetime',
      message: `Keycloak gives ID tokens the access-token lifespan (${lifetimes.accessToken} s); Keyward's ID tokens lived ${lifetimes.idToken} s`,
      action: '',
    });
  note({
    code: 'keycloak.keys.new_signing_keys',
    direction: 'behaviour_differs',
    severity: 'degraded',
    subject: 'signing keys',
    message: "Keyward's signing keys never leave its key service: Keycloak signs with keys it generates, published at the same JWKS path ({issuer}/protocol/openid-connect/certs)",
    action: 'applications that pin keys instead of fetching the JWKS must be updated',
  });
  const es256 = doc.clients.filter((c) => c.token_profile.signing_alg === 'ES256').map((c) => c.client_id);
  if (es256.length)
    note({
      code: 'keycloak.keys.ecdsa_provider',
      direction: 'behaviour_differs',
      severity: 'blocking',
      subject: `clients ${es256.join(', ')}`,
      message: 'these clients sign tokens with ES256; a new Keycloak realm has only RSA and HMAC keys',
      action: 'after import add an ecdsa-generated key provider (P-256) to the realm: kcadm.sh create components -r REALM -s name=ecdsa-generated -s providerId=ecdsa-generated -s providerType=org.keycloak.keys.KeyProvider -s \'config.ecdsaEllipticCurveKey=["P-256"]\'',
    });
  note({
    code: 'keycloak.role.default_role',
    direction: 'behaviour_differs',
    severity: 'info',
    subject: 'realm default role',
    message: 'imported users carry exactly their canonical roles; users created later in Keycloak also get the (empty) default role, which then appears in their roles claim',
    action: 'create users through the canonical document, or remove the default role from new users',
  });
  for (const f of REVERSE) note(f);
}

/**
 * Keycloak features the NetKingdom profile forbids (Keyward refuses them: src/idp/profile.ts UNSUPPORTED), with what
 * the export sets to keep each off and what stays the operator's to keep off.
 */
const REVERSE: Incompatibility[] = [
  ['implicit_grant', 'implicit and hybrid flows', 'implicitFlowEnabled is false on every client and only response_type=code clients are written', ''],
  ['resource_owner_password_grant', 'the password grant (direct access grants)', 'directAccessGrantsEnabled is false on every client', ''],
  ['pkce_plain', 'PKCE plain', 'pkce.code.challenge.method is S256 on every authorization-code client', ''],
  ['wildcard_redirect_uri', 'wildcard redirect URIs', 'redirect URIs are written exactly as in the canonical document', 'never add * to redirect URIs in the admin console'],
  ['device_authorization_grant', 'the device authorization grant', 'oauth2.device.authorization.grant.enabled is false on every client', ''],
  ['ciba', 'client-initiated backchannel authentication', 'oidc.ciba.grant.enabled is false on every client', ''],
  ['token_exchange', 'token exchange', 'standard.token.exchange.enabled is false on every client', 'keep the token-exchange features disabled on the server'],
  ['dynamic_client_registration', 'dynamic client registration', 'nothing in the realm file can disable the registration endpoint', 'keep the client-registration policies restrictive (no anonymous trusted hosts) and issue no initial access tokens'],
  ['pushed_authorization_requests', 'pushed authorization requests', 'Keycloak always accepts PAR at its endpoint; clients are not required to use it', 'none: PAR is harmless for the profile but outside it'],
  ['request_objects', 'request objects', 'request.object.required is left unset', 'do not register request URIs'],
  ['identity_brokering', 'identity brokering', 'no identity providers are written', 'add no identity providers'],
  ['saml', 'SAML', 'no SAML clients are written', 'add no SAML clients'],
  ['self_registration', 'user self-registration and password reset by email', 'registrationAllowed and resetPasswordAllowed are false', ''],
  ['admin_rest_api', 'the admin REST API', 'Keycloak serves it; the profile has none (Keyward answers available_in_keycloak_mode_only)', 'restrict the admin console and API to operators'],
].map(([feature, what, how, action]) => ({
  code: `keycloak.profile_forbids.${feature}`,
  direction: 'target_forbidden_by_profile' as const,
  severity: (action ? 'degraded' : 'info') as 'degraded' | 'info',
  subject: `feature ${feature}`,
  message: `Keycloak offers ${what}; the profile forbids it. ${how}.`,
  action: action!,
}));
