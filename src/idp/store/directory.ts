// The built-in directory: users, groups, roles, clients (clients with client_credentials are the service
// accounts) and MFA enrolments, one namespace per realm. No HTTP here.
import { announceChange } from '../../store/changes.ts';
import type { JsonWebKey } from 'node:crypto';
import type { Kysely } from 'kysely';
import { Secret } from 'otpauth';
import type { MFAEnrollmentReference } from '../../identity/model.ts';
import { recoveryCodeHash } from '../recovery-codes.ts';

export type PrincipalType = 'human' | 'service' | 'agent';
export type ProfileGrant = 'authorization_code' | 'refresh_token' | 'client_credentials';
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';

export interface IdpUser {
  id: string;
  username: string;
  displayName: string | null;
  /** The canonical model's users[].directory.given_name / family_name (OIDC given_name, family_name). */
  givenName: string | null;
  familyName: string | null;
  email: string | null;
  emailVerified: boolean;
  enabled: boolean;
  principalType: PrincipalType;
  tenant: string;
  groups: string[];
  roles: string[];
  passwordHash: string | null;
}

export interface IdpClient {
  clientId: string;
  enabled: boolean;
  name: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  grantTypes: ProfileGrant[];
  scopes: string[];
  authMethod: ClientAuthMethod;
  /** Public keys for private_key_jwt. */
  jwks: { keys: JsonWebKey[] } | null;
  signingAlg: 'ES256' | 'RS256';
  /** MFA policy for logins through this client. */
  mfa: 'required' | 'optional';
  /** Identity of the client as a service principal (client_credentials). */
  principalType: 'service' | 'agent';
  tenant: string;
  roles: string[];
  groups: string[];
  secretHash: string | null;
}

export interface IdpGroup {
  name: string;
  description: string | null;
  roles: string[];
}

export interface TotpEnrolment {
  secret: string;
  confirmed: boolean;
  lastStep: number | null;
}

const json = (v: unknown) => JSON.stringify(v);
const arr = (v: unknown): string[] => (typeof v === 'string' ? JSON.parse(v) : (v as string[]));
const bool = (v: unknown) => v === 1 || v === true || v === '1';
const now = () => Math.floor(Date.now() / 1000);

function toUser(r: any): IdpUser {
  return {
    id: r.id,
    username: r.username,
    displayName: r.display_name ?? null,
    givenName: r.given_name ?? null,
    familyName: r.family_name ?? null,
    email: r.email ?? null,
    emailVerified: bool(r.email_verified),
    enabled: bool(r.enabled),
    principalType: r.principal_type,
    tenant: r.tenant,
    groups: arr(r.groups),
    roles: arr(r.roles),
    passwordHash: r.password_hash ?? null,
  };
}

function toClient(r: any): IdpClient {
  const m = JSON.parse(r.metadata);
  return { ...m, clientId: r.client_id, enabled: bool(r.enabled), secretHash: r.secret_hash ?? null };
}

/**
 * Encrypts secrets the directory must be able to read back (TOTP seeds) with a key that lives in the key service.
 * `context` is bound to the ciphertext, so a sealed seed copied to another user does not open.
 */
export interface SecretBox {
  seal(context: string, plaintext: string): Promise<string>;
  open(context: string, sealed: string): Promise<string>;
}

/** How long a client read from the store is reused by this process. */
export const CLIENT_CACHE_MS = 2000;

export class Directory {
  readonly db: Kysely<any>;
  readonly realm: string;
  readonly #box: SecretBox | undefined;
  constructor(db: Kysely<any>, realm: string, box?: SecretBox) {
    this.db = db;
    this.realm = realm;
    this.#box = box;
  }

  #totpContext(userId: string): string {
    return `idp-totp:${this.realm}:${userId}`;
  }

  // Users
  async getUser(id: string): Promise<IdpUser | undefined> {
    const r = await this.db.selectFrom('idp_users').selectAll().where('realm', '=', this.realm).where('id', '=', id).executeTakeFirst();
    return r ? toUser(r) : undefined;
  }
  async findUserByUsername(username: string): Promise<IdpUser | undefined> {
    const r = await this.db
      .selectFrom('idp_users')
      .selectAll()
      .where('realm', '=', this.realm)
      .where('username', '=', username)
      .executeTakeFirst();
    return r ? toUser(r) : undefined;
  }
  async listUsers(): Promise<IdpUser[]> {
    const rows = await this.db.selectFrom('idp_users').selectAll().where('realm', '=', this.realm).orderBy('username').execute();
    return rows.map(toUser);
  }
  async putUser(u: IdpUser): Promise<void> {
    const t = now();
    const values = {
      username: u.username,
      display_name: u.displayName,
      given_name: u.givenName,
      family_name: u.familyName,
      email: u.email,
      email_verified: u.emailVerified ? 1 : 0,
      enabled: u.enabled ? 1 : 0,
      principal_type: u.principalType,
      tenant: u.tenant,
      groups: json(u.groups),
      roles: json(u.roles),
      password_hash: u.passwordHash,
      updated_at: t,
    };
    await this.db
      .insertInto('idp_users')
      .values({ realm: this.realm, id: u.id, created_at: t, ...values })
      .onConflict((oc) => oc.columns(['realm', 'id']).doUpdateSet(values))
      .execute();
  }
  async deleteUser(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('idp_users').where('realm', '=', this.realm).where('id', '=', id).executeTakeFirst();
    await this.db.deleteFrom('idp_mfa').where('realm', '=', this.realm).where('user_id', '=', id).execute();
    await this.db.deleteFrom('idp_mfa_pending').where('realm', '=', this.realm).where('user_id', '=', id).execute();
    await this.db.deleteFrom('idp_recovery_codes').where('realm', '=', this.realm).where('user_id', '=', id).execute();
    await this.db.deleteFrom('idp_mfa_refs').where('realm', '=', this.realm).where('user_id', '=', id).execute();
    return Number(r.numDeletedRows) > 0;
  }

  // Clients. The token endpoint reads the client several times per request; a short-lived cache bounds how long
  // a change made elsewhere (another instance, the CLI) takes to apply: CLIENT_CACHE_MS, or until the change is
  // announced (forgetClients).
  readonly #clients = new Map<string, { at: number; client: IdpClient | undefined }>();
  /** The realm changed elsewhere (an announced `keyward idp apply`): clients are read from the store again. */
  forgetClients(): void {
    this.#clientsForgotten++;
    this.#clients.clear();
  }
  #clientsForgotten = 0;
  async getClient(clientId: string): Promise<IdpClient | undefined> {
    const hit = this.#clients.get(clientId);
    if (hit && Date.now() - hit.at < CLIENT_CACHE_MS) return hit.client;
    const forgotten = this.#clientsForgotten;
    const client = await this.#loadClient(clientId);
    // A read the announcement overtook may hold the state before the change: used, not kept.
    if (forgotten !== this.#clientsForgotten) return client;
    if (this.#clients.size > 10_000) this.#clients.clear();
    this.#clients.set(clientId, { at: Date.now(), client });
    return client;
  }
  async #loadClient(clientId: string): Promise<IdpClient | undefined> {
    const r = await this.db
      .selectFrom('idp_clients')
      .selectAll()
      .where('realm', '=', this.realm)
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    return r ? toClient(r) : undefined;
  }
  async listClients(): Promise<IdpClient[]> {
    const rows = await this.db.selectFrom('idp_clients').selectAll().where('realm', '=', this.realm).orderBy('client_id').execute();
    return rows.map(toClient);
  }
  async putClient(c: IdpClient): Promise<void> {
    this.#clients.delete(c.clientId);
    const { clientId, enabled, secretHash, ...meta } = c;
    const t = now();
    const values = { enabled: enabled ? 1 : 0, metadata: json(meta), secret_hash: secretHash, updated_at: t };
    await this.db
      .insertInto('idp_clients')
      .values({ realm: this.realm, client_id: clientId, created_at: t, ...values })
      .onConflict((oc) => oc.columns(['realm', 'client_id']).doUpdateSet(values))
      .execute();
    // Other instances drop their cached clients (`keyward idp clients disable` from the CLI, say).
    await announceChange(this.db, { kind: 'realm', id: this.realm });
  }
  async deleteClient(clientId: string): Promise<boolean> {
    this.#clients.delete(clientId);
    const r = await this.db.deleteFrom('idp_clients').where('realm', '=', this.realm).where('client_id', '=', clientId).executeTakeFirst();
    await announceChange(this.db, { kind: 'realm', id: this.realm });
    return Number(r.numDeletedRows) > 0;
  }

  // Groups and roles
  async listGroups(): Promise<IdpGroup[]> {
    const rows = await this.db.selectFrom('idp_groups').selectAll().where('realm', '=', this.realm).orderBy('name').execute();
    return rows.map((r: any) => ({ name: r.name, description: r.description ?? null, roles: arr(r.roles) }));
  }
  async putGroup(g: IdpGroup): Promise<void> {
    const values = { description: g.description, roles: json(g.roles) };
    await this.db
      .insertInto('idp_groups')
      .values({ realm: this.realm, name: g.name, ...values })
      .onConflict((oc) => oc.columns(['realm', 'name']).doUpdateSet(values))
      .execute();
  }
  async deleteGroup(name: string): Promise<void> {
    await this.db.deleteFrom('idp_groups').where('realm', '=', this.realm).where('name', '=', name).execute();
  }
  async listRoles(): Promise<Array<{ name: string; description: string | null }>> {
    const rows = await this.db.selectFrom('idp_roles').selectAll().where('realm', '=', this.realm).orderBy('name').execute();
    return rows.map((r: any) => ({ name: r.name, description: r.description ?? null }));
  }
  async putRole(name: string, description: string | null): Promise<void> {
    await this.db
      .insertInto('idp_roles')
      .values({ realm: this.realm, name, description })
      .onConflict((oc) => oc.columns(['realm', 'name']).doUpdateSet({ description }))
      .execute();
  }
  async deleteRole(name: string): Promise<void> {
    await this.db.deleteFrom('idp_roles').where('realm', '=', this.realm).where('name', '=', name).execute();
  }

  /** Roles of a user: direct plus those of their groups. */
  async effectiveRoles(user: { roles: string[]; groups: string[] }): Promise<string[]> {
    const roles = new Set(user.roles);
    if (user.groups.length > 0) {
      for (const g of await this.listGroups()) if (user.groups.includes(g.name)) g.roles.forEach((r) => roles.add(r));
    }
    return [...roles].sort();
  }

  // MFA enrolment references of the canonical model (a privacyIDEA token serial per enrolment).
  async mfaReferences(userId?: string): Promise<MFAEnrollmentReference[]> {
    let q = this.db.selectFrom('idp_mfa_refs').selectAll().where('realm', '=', this.realm);
    if (userId !== undefined) q = q.where('user_id', '=', userId);
    const rows: any[] = await q.orderBy('id').execute();
    return rows.map((r) => ({ id: r.id, user_id: r.user_id, provider: r.provider, method: r.method, reference: r.reference, status: r.status }));
  }
  async putMfaReference(e: MFAEnrollmentReference): Promise<void> {
    const values = { user_id: e.user_id, provider: e.provider, method: e.method, reference: e.reference, status: e.status };
    await this.db
      .insertInto('idp_mfa_refs')
      .values({ realm: this.realm, id: e.id, ...values })
      .onConflict((oc) => oc.columns(['realm', 'id']).doUpdateSet(values))
      .execute();
  }

  // MFA
  async getTotp(userId: string): Promise<TotpEnrolment | undefined> {
    const r: any = await this.db
      .selectFrom('idp_mfa')
      .selectAll()
      .where('realm', '=', this.realm)
      .where('user_id', '=', userId)
      .where('kind', '=', 'totp')
      .executeTakeFirst();
    if (!r) return undefined;
    const secret = await this.#openTotp(userId, r.secret);
    return { secret, confirmed: bool(r.confirmed), lastStep: r.last_step == null ? null : Number(r.last_step) };
  }
  async putTotp(userId: string, e: TotpEnrolment): Promise<void> {
    const secret = await this.#sealTotp(userId, e.secret);
    const values = { secret, confirmed: e.confirmed ? 1 : 0, last_step: e.lastStep };
    await this.db
      .insertInto('idp_mfa')
      .values({ realm: this.realm, user_id: userId, kind: 'totp', created_at: now(), ...values })
      .onConflict((oc) => oc.columns(['realm', 'user_id', 'kind']).doUpdateSet(values))
      .execute();
  }
  /**
   * The seed offered to this sign-in session (`sessionId`, the interaction) for enrolment: its own, made on first
   * ask and kept until `ttlSeconds` after that, so a second session of the same user never sees it.
   */
  async pendingTotp(userId: string, sessionId: string, ttlSeconds: number): Promise<string> {
    const t = now();
    // Abandoned enrolments go; their seeds were never confirmed by anyone.
    await this.db.deleteFrom('idp_mfa_pending').where('expires_at', '<=', t).execute();
    const found = async () => {
      const r: any = await this.#pending(this.db, userId, sessionId).executeTakeFirst();
      return r ? await this.#openTotp(userId, r.secret) : undefined;
    };
    const existing = await found();
    if (existing !== undefined) return existing;
    const sealed = await this.#sealTotp(userId, new Secret({ size: 20 }).base32);
    await this.db
      .insertInto('idp_mfa_pending')
      .values({ realm: this.realm, session_id: sessionId, user_id: userId, kind: 'totp', secret: sealed, expires_at: t + ttlSeconds })
      .onConflict((oc) => oc.columns(['realm', 'session_id', 'user_id', 'kind']).doNothing())
      .execute();
    // Two requests of one session may race: whichever seed was stored first is the session's.
    const stored = await found();
    if (stored === undefined) throw new Error('the enrolment seed could not be stored');
    return stored;
  }

  /**
   * Makes this session's pending seed the user's confirmed TOTP, with `step` as its last used time step, and drops
   * every other pending enrolment of the user. `recoveryCodes` replace the user's recovery codes in the same
   * transaction (an enrolment never ends up without the codes that were shown). False when there is no pending
   * seed or another session confirmed one first.
   */
  async confirmTotp(userId: string, sessionId: string, step: number, recoveryCodes: string[] = []): Promise<boolean> {
    return await this.db.transaction().execute(async (trx) => {
      const r: any = await this.#pending(trx, userId, sessionId).where('expires_at', '>', now()).executeTakeFirst();
      if (!r) return false;
      const values = { secret: r.secret, confirmed: 1, last_step: step };
      const written = await trx
        .insertInto('idp_mfa')
        .values({ realm: this.realm, user_id: userId, kind: 'totp', created_at: now(), ...values })
        // Only over an unconfirmed row (left by an older version): a confirmed enrolment is never replaced here.
        .onConflict((oc) => oc.columns(['realm', 'user_id', 'kind']).doUpdateSet(values).where('idp_mfa.confirmed', '=', 0))
        .executeTakeFirst();
      if (Number(written.numInsertedOrUpdatedRows ?? 0n) === 0) return false;
      await trx.deleteFrom('idp_mfa_pending').where('realm', '=', this.realm).where('user_id', '=', userId).where('kind', '=', 'totp').execute();
      if (recoveryCodes.length > 0) await this.#writeRecoveryCodes(trx, userId, recoveryCodes);
      return true;
    });
  }

  // Recovery codes: hashes only (recovery-codes.ts says why SHA-256 and not argon2id).
  async #writeRecoveryCodes(db: Kysely<any>, userId: string, codes: string[]): Promise<void> {
    await db.deleteFrom('idp_recovery_codes').where('realm', '=', this.realm).where('user_id', '=', userId).execute();
    const t = now();
    await db
      .insertInto('idp_recovery_codes')
      .values(codes.map((c) => ({ realm: this.realm, user_id: userId, code_hash: recoveryCodeHash(this.realm, userId, c), created_at: t, used_at: null })))
      .execute();
  }
  /** Replaces every recovery code of the user (used or not) with these. */
  async replaceRecoveryCodes(userId: string, codes: string[]): Promise<void> {
    await this.db.transaction().execute((trx) => this.#writeRecoveryCodes(trx, userId, codes));
  }
  async unusedRecoveryCodes(userId: string): Promise<number> {
    const r = await this.db
      .selectFrom('idp_recovery_codes')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('realm', '=', this.realm)
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }
  /**
   * Spends a code: one conditional update, so of several requests (on any instance) presenting the same code exactly
   * one gets 'used'. 'already_used' and 'unknown' tell the refusals apart for the audit trail.
   */
  async useRecoveryCode(userId: string, code: string): Promise<'used' | 'already_used' | 'unknown'> {
    let hash: string;
    try {
      hash = recoveryCodeHash(this.realm, userId, code);
    } catch {
      return 'unknown';
    }
    const r = await this.db
      .updateTable('idp_recovery_codes')
      .set({ used_at: now() })
      .where('realm', '=', this.realm)
      .where('user_id', '=', userId)
      .where('code_hash', '=', hash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 1) return 'used';
    const known = await this.db
      .selectFrom('idp_recovery_codes')
      .select('used_at')
      .where('realm', '=', this.realm)
      .where('user_id', '=', userId)
      .where('code_hash', '=', hash)
      .executeTakeFirst();
    return known ? 'already_used' : 'unknown';
  }
  /** Gives back a code spent by a sign-in that then could not complete (the audit trail refused the event). */
  async restoreRecoveryCode(userId: string, code: string): Promise<void> {
    await this.db
      .updateTable('idp_recovery_codes')
      .set({ used_at: null })
      .where('realm', '=', this.realm)
      .where('user_id', '=', userId)
      .where('code_hash', '=', recoveryCodeHash(this.realm, userId, code))
      .execute();
  }

  /** This session's pending TOTP enrolment of the user. */
  #pending(db: Kysely<any>, userId: string, sessionId: string) {
    return db
      .selectFrom('idp_mfa_pending')
      .selectAll()
      .where('realm', '=', this.realm)
      .where('session_id', '=', sessionId)
      .where('user_id', '=', userId)
      .where('kind', '=', 'totp');
  }

  async #sealTotp(userId: string, secret: string): Promise<string> {
    return this.#box ? await this.#box.seal(this.#totpContext(userId), secret) : secret;
  }
  async #openTotp(userId: string, sealed: string): Promise<string> {
    return this.#box ? await this.#box.open(this.#totpContext(userId), sealed) : sealed;
  }

  /** Records the time step just used; false when it was already used (replay). */
  async useTotpStep(userId: string, step: number): Promise<boolean> {
    const r = await this.db
      .updateTable('idp_mfa')
      .set({ last_step: step })
      .where('realm', '=', this.realm)
      .where('user_id', '=', userId)
      .where('kind', '=', 'totp')
      .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
}

export async function getSetting(db: Kysely<any>, name: string): Promise<string | undefined> {
  const r: any = await db.selectFrom('idp_settings').select('value').where('name', '=', name).executeTakeFirst();
  return r?.value;
}

/** Inserts unless present; returns the value that won (first writer wins across processes). */
export async function ensureSetting(db: Kysely<any>, name: string, value: string): Promise<string> {
  await db
    .insertInto('idp_settings')
    .values({ name, value })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  return (await getSetting(db, name)) ?? value;
}
