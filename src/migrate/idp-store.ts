// Keyward's built-in identity-provider store as a migration source: its tables, read through the Directory class of
// src/idp/store/directory.ts (read-only use of its API: this module never writes), become a canonical identity
// document plus a CredentialSource for what the document does not hold (argon2id password hashes, TOTP seeds,
// client-secret hashes).
//
// TOTP seeds are sealed by the key service (SecretBox). Without a box this process cannot open them and must not
// pretend to: Directory.getTotp without a box would hand back the sealed text as if it were the seed. So without a
// box the source only reports that an enrolment exists ('unavailable'), read from idp_mfa without its secret column.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { Client, IdentityDocument, MFAEnrollmentReference, User } from '../identity/model.ts';
import { LDAP_SCHEMA_VERSION } from '../identity/ldap/rules.ts';
import type { IdpConfig, IdpRealmConfig } from '../idp/config.ts';
import { idpStoreSections } from '../idp/store-sections.ts';
import type { SecretBox } from '../idp/store/directory.ts';
import { storeIdpRepositories, type IdpRepositories } from '../idp/store/repositories.ts';
import { ProblemError } from '../core/problem.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/types.ts';
import type { CredentialSource, TotpSeed } from './credentials.ts';
import type { Incompatibility } from './incompatibility.ts';
import { KEYWARD_DEFAULT_LIFETIMES, type LockoutPolicy, type TokenLifetimes } from './keycloak/realm.ts';

/** Keyward's TOTP parameters (src/idp/interactions.ts builds every TOTP with them). */
export const KEYWARD_TOTP = { digits: 6, period: 30, algorithm: 'SHA1' } as const;

/** What an export needs from a realm's configuration beyond the document. */
export interface RealmSettings {
  lifetimes: TokenLifetimes;
  lockout: LockoutPolicy;
  audience?: string | undefined;
  /** Groups whose members must pass a second factor (configuration, not the document). */
  mfaRequiredGroups: string[];
  /** Shown on sign-in pages (Keycloak's realm displayName). */
  displayName?: string | undefined;
}

export function realmSettings(realm: IdpRealmConfig): RealmSettings {
  return {
    lifetimes: {
      accessToken: realm.ttl.access_token,
      idToken: realm.ttl.id_token,
      authorizationCode: realm.ttl.authorization_code,
      refreshToken: realm.ttl.refresh_token,
      session: realm.ttl.session,
    },
    lockout: { maxFailures: realm.lockout.max_failures, windowSeconds: realm.lockout.window_seconds, lockSeconds: realm.lockout.lock_seconds },
    audience: realm.access_token_resource,
    mfaRequiredGroups: realm.mfa.required_groups,
    displayName: realm.display_name,
  };
}

export const DEFAULT_SETTINGS: RealmSettings = {
  lifetimes: KEYWARD_DEFAULT_LIFETIMES,
  lockout: { maxFailures: 5, windowSeconds: 900, lockSeconds: 900 },
  mfaRequiredGroups: [],
};

export interface IdpStoreSource {
  /** Not yet validated: the caller validates it like any canonical document. */
  document: IdentityDocument;
  credentials: CredentialSource;
  notes: Incompatibility[];
}

/** The most common value (ties: the first seen). */
function mode(values: string[], fallback: string): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = fallback;
  let n = 0;
  for (const [v, c] of counts) if (c > n) [best, n] = [v, c];
  return best;
}

export async function readIdpStore(repos: Pick<IdpRepositories, 'directory' | 'totpEnrolments'>, idp: IdpConfig, realm: IdpRealmConfig, secretBox?: SecretBox): Promise<IdpStoreSource> {
  const dir = repos.directory(realm.name, secretBox);
  const [users, clients, groups, roles] = await Promise.all([dir.listUsers(), dir.listClients(), dir.listGroups(), dir.listRoles()]);
  // Presence and state of TOTP enrolments only; the sealed seed column is never selected here.
  const mfaRows = await repos.totpEnrolments(realm.name);
  // privacyIDEA enrolment references (token serials; Path 3). A store from before idp migration 0005 has none, and
  // this reader never migrates.
  const piRefs = (await dir.mfaReferences().catch(() => [])).filter((r) => r.provider === 'privacyidea');
  const tenant = mode([...users.map((u) => u.tenant), ...clients.map((c) => c.tenant)], 'tenant:platform');
  const notes: Incompatibility[] = [];

  const docUsers = users.map((u): User => {
    const out: Record<string, unknown> = {
      id: u.id,
      username: u.username,
      display_name: u.displayName ?? u.username,
      email: u.email ?? undefined,
      email_verified: u.emailVerified,
      enabled: u.enabled,
      principal_type: u.principalType,
      ...(u.tenant !== tenant ? { tenant: u.tenant } : {}),
      ...(u.roles.length ? { roles: [...u.roles] } : {}),
      ...(u.givenName !== null || u.familyName !== null
        ? { directory: { ...(u.givenName !== null ? { given_name: u.givenName } : {}), ...(u.familyName !== null ? { family_name: u.familyName } : {}) } }
        : {}),
    };
    // Missing emails stay missing: the document then fails validation and names the user, rather than getting an
    // invented address.
    if (out.email === undefined) delete out.email;
    return out as unknown as User;
  });
  const docClients = clients.map((c): Client => {
    const code = c.grantTypes.includes('authorization_code');
    const secretAuth = c.authMethod === 'client_secret_basic' || c.authMethod === 'client_secret_post';
    return {
      client_id: c.clientId,
      name: c.name,
      enabled: c.enabled,
      type: c.authMethod === 'none' ? 'public' : 'confidential',
      auth_method: c.authMethod,
      ...(secretAuth && c.secretHash ? { secret: { argon2id_hash: c.secretHash } } : {}),
      ...(c.authMethod === 'private_key_jwt' && c.jwks ? { jwks: c.jwks as Client['jwks'] } : {}),
      redirect_uris: [...c.redirectUris],
      ...(c.postLogoutRedirectUris.length ? { post_logout_redirect_uris: [...c.postLogoutRedirectUris] } : {}),
      grant_types: [...c.grantTypes],
      ...(code ? { pkce_method: 'S256' as const } : {}),
      token_profile: { claims: `netkingdom-iam-${idp.profile_version}`, signing_alg: c.signingAlg },
      environments: [idp.environment],
      mfa: c.mfa,
      ...(c.grantTypes.includes('client_credentials')
        ? {
            principal: {
              principal_type: c.principalType,
              ...(c.tenant !== tenant ? { tenant: c.tenant } : {}),
              roles: [...c.roles],
              ...(c.groups.length ? { groups: [...c.groups] } : {}),
            },
          }
        : {}),
    };
  });
  if (realm.mfa.required_groups.length)
    notes.push({
      code: 'keycloak.mfa.required_groups',
      direction: 'source_not_expressible',
      severity: 'blocking',
      subject: `groups ${realm.mfa.required_groups.join(', ')}`,
      message: 'the realm configuration requires a second factor for members of these groups; Keycloak expresses that with a conditional authentication flow, which the export does not write',
      action: 'after import: in a copy of the browser flow, add Condition - User Role (the groups\' roles) before a REQUIRED OTP Form, and bind the flow to the realm',
    });

  for (const u of users) {
    const codes = await dir.unusedRecoveryCodes(u.id);
    if (codes > 0)
      notes.push({
        code: 'keycloak.mfa.recovery_codes',
        direction: 'source_not_expressible',
        severity: 'degraded',
        subject: `user ${u.username}`,
        message: `${codes} unused recovery code(s) are not carried over: Keyward keeps only digests bound to realm and user, which Keycloak's recovery-codes credential cannot verify`,
        action: 'the user sets up recovery codes again in Keycloak (if the realm offers them) before the second factor is lost',
      });
  }

  const document: IdentityDocument = {
    schema_version: '0.1',
    description: `exported from Keyward's identity provider store, realm ${realm.name}`,
    realm: realm.name,
    tenant,
    environments: [idp.environment],
    profile_versions: [
      {
        profile: 'netkingdom-iam',
        version: idp.profile_version,
        ldap_schema: LDAP_SCHEMA_VERSION,
        custom_scopes: realm.custom_scopes.map((s) => ({ name: s.name, ...(s.description ? { description: s.description } : {}) })),
        public_clients_allowed: realm.public_clients_allowed,
      },
    ],
    roles: roles.map((r) => ({ name: r.name, ...(r.description ? { description: r.description } : {}) })),
    groups: groups.map((g) => ({ name: g.name, ...(g.description ? { description: g.description } : {}), roles: [...g.roles] })),
    users: docUsers,
    memberships: users.flatMap((u) => u.groups.map((group) => ({ user_id: u.id, group }))),
    clients: docClients,
    client_scope_assignments: clients.flatMap((c) => c.scopes.map((scope) => ({ client_id: c.clientId, scope }))),
    mfa_enrollments: [
      ...mfaRows.map((r): MFAEnrollmentReference => ({
        id: `keyward-totp-${r.user_id}`,
        user_id: r.user_id,
        provider: 'keyward',
        method: 'totp',
        reference: `idp_mfa:${realm.name}:${r.user_id}:totp`,
        status: r.confirmed ? 'active' : 'pending',
      })),
      ...piRefs,
    ],
  };

  const confirmed = new Set(mfaRows.filter((r) => r.confirmed).map((r) => r.user_id));
  const credentials: CredentialSource = {
    name: secretBox ? "the identity provider's store" : "the identity provider's store (TOTP seeds sealed)",
    passwordHash: async (id) => (await dir.getUser(id))?.passwordHash ?? undefined,
    totp: async (id): Promise<TotpSeed | 'unavailable' | undefined> => {
      if (!confirmed.has(id)) return undefined;
      if (!secretBox) return 'unavailable';
      const t = await dir.getTotp(id);
      return t?.confirmed ? { secretBase32: t.secret, ...KEYWARD_TOTP } : undefined;
    },
    clientSecret: async (clientId) => {
      const h = (await dir.getClient(clientId))?.secretHash;
      return h ? { kind: 'argon2id_hash', hash: h } : undefined;
    },
  };
  return { document, credentials, notes };
}

export interface OpenedIdpStore {
  repos: IdpRepositories;
  idp: IdpConfig;
  close(): Promise<void>;
}

const storeProblem = (detail: string) => new ProblemError({ code: 'migrate.store_unavailable', detail });

/**
 * Opens the store a Keyward configuration file names (storage + idp sections), read-only in intent: nothing is
 * migrated or created, and a store without the identity provider's tables is an error, not an empty realm.
 */
export async function openIdpStore(configPath: string): Promise<OpenedIdpStore> {
  let raw: Record<string, any>;
  try {
    raw = (parseYaml(await readFile(configPath, 'utf8')) ?? {}) as Record<string, any>;
  } catch (e) {
    throw new ProblemError({ code: 'migrate.config_invalid', detail: `cannot read ${configPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
  }
  const sections = idpStoreSections(raw);
  if ('section' in sections) {
    throw new ProblemError({ code: 'migrate.config_invalid', detail: `${sections.section}: ${sections.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` });
  }
  const s = sections.storage;
  // Opening a missing SQLite file would create an empty database.
  if (s.type === 'sqlite' && !existsSync(s.path)) throw storeProblem(`no store at ${s.path}`);
  // The server's way of opening it (pool, schema search path), as an existing store: nothing is created or migrated.
  let store: Store;
  try {
    store = await openStore(s, { existing: true });
  } catch (e) {
    throw storeProblem(`the store cannot be opened: ${(e as Error).message.split('\n')[0]}`);
  }
  const repos = storeIdpRepositories(store);
  try {
    await repos.checkTables();
  } catch (e) {
    await store.close();
    throw storeProblem(`the store has no identity provider tables or cannot be read: ${(e as Error).message.split('\n')[0]}`);
  }
  return { repos, idp: sections.idp, close: () => store.close() };
}
