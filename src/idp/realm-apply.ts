// Applying a realm to the built-in tables, whichever file it came from (a canonical identity document, or the
// deprecated realm file): a plan of roles, groups, users and clients in the tables' terms, with secret references
// instead of secrets. Applying is idempotent (entities are upserted by id; unchanged ones are left alone; nothing
// is deleted), every secret is resolved before the first write, and the writes run in one transaction, so a
// refused or failed apply changes nothing. A dry run reports the same diff without writing.
import { verify } from '@node-rs/argon2';
import type { MFAEnrollmentReference } from '../identity/model.ts';
import { badRequest } from '../core/problem.ts';
import type { IdpConfig, IdpRealmConfig } from './config.ts';
import { hashSecret } from './passwords.ts';
import type { Directory, IdpClient, IdpGroup, IdpUser } from './store/directory.ts';
import type { IdpRepositories } from './store/repositories.ts';

/** Where a password or client secret comes from; never the secret itself. Neither: keep what is stored. */
export interface SecretSource {
  /** An argon2id hash made elsewhere. */
  hash?: string | undefined;
  /** An environment variable holding the plaintext, hashed when applied. */
  env?: string | undefined;
}

export type PlannedUser = Omit<IdpUser, 'passwordHash'> & { password: SecretSource };
export type PlannedClient = Omit<IdpClient, 'secretHash'> & { secret: SecretSource };

export interface RealmPlan {
  realm: string;
  roles: Array<{ name: string; description: string | null }>;
  groups: IdpGroup[];
  /** Undefined when the realm reads its users from elsewhere (an LDAP directory): the tables' users are left alone. */
  users: PlannedUser[] | undefined;
  clients: PlannedClient[];
  /**
   * MFA enrolment references (a privacyIDEA serial per enrolment); kept whatever the user directory, like TOTP.
   * Undefined (the deprecated realm file): left alone.
   */
  mfaReferences?: MFAEnrollmentReference[] | undefined;
  /** What the plan leaves out and why (a client for another environment, users that live in LDAP). */
  notes: string[];
}

export interface RealmChange {
  kind: 'role' | 'group' | 'user' | 'client' | 'mfa_reference';
  id: string;
  action: 'create' | 'update' | 'unchanged';
  fields?: string[];
}

export interface ApplyOptions {
  dryRun: boolean;
  env: NodeJS.ProcessEnv;
  argon2: IdpConfig['argon2'];
}

/** The secret's argon2id hash: the given one, the stored one while it still matches, else a new hash of the env value. */
async function resolveSecret(existing: string | null | undefined, src: SecretSource, opts: ApplyOptions, what: string): Promise<string | null> {
  if (src.hash) return src.hash;
  if (!src.env) return existing ?? null;
  const plain = opts.env[src.env];
  if (!plain) throw badRequest('idp.secret_env_missing', `${what}: environment variable ${src.env} is not set`);
  // Keep the stored hash when it still matches, so re-applying is a no-op.
  if (existing && (await verify(existing, plain).catch(() => false))) return existing;
  return opts.dryRun ? '(new hash)' : hashSecret(plain, opts.argon2);
}

function diffFields(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  // Secrets are compared but never shown: a changed hash is named, not printed.
  return Object.keys(after).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

/** What applying a realm needs of the store. */
export type RealmWriter = Pick<IdpRepositories, 'directory' | 'writeRealm'>;

export async function applyRealmPlan(repos: RealmWriter, realm: IdpRealmConfig, plan: RealmPlan, opts: ApplyOptions): Promise<RealmChange[]> {
  if (plan.realm !== realm.name) throw badRequest('idp.realm_mismatch', `the file is for realm ${plan.realm}, not ${realm.name}`);
  const dir = repos.directory(realm.name);
  const changes: RealmChange[] = [];
  const writes: Array<(d: Directory) => Promise<void>> = [];
  const note = (kind: RealmChange['kind'], id: string, before: object | undefined, after: object, write: (d: Directory) => Promise<void>) => {
    let change: RealmChange;
    if (!before) change = { kind, id, action: 'create' };
    else {
      const fields = diffFields(before as Record<string, unknown>, after as Record<string, unknown>);
      change = fields.length ? { kind, id, action: 'update', fields } : { kind, id, action: 'unchanged' };
    }
    changes.push(change);
    if (change.action !== 'unchanged') writes.push(write);
  };

  // Everything is read and every secret resolved first: nothing is written unless all of it can be.
  const roles = new Map((await dir.listRoles()).map((r) => [r.name, r]));
  for (const r of plan.roles) note('role', r.name, roles.get(r.name), r, (d) => d.putRole(r.name, r.description));
  const groups = new Map((await dir.listGroups()).map((g) => [g.name, g]));
  for (const g of plan.groups) note('group', g.name, groups.get(g.name), g, (d) => d.putGroup(g));
  for (const { password, ...u } of plan.users ?? []) {
    const before = await dir.getUser(u.id);
    const after: IdpUser = { ...u, passwordHash: await resolveSecret(before?.passwordHash, password, opts, `user ${u.username}`) };
    note('user', u.id, before, after, (d) => d.putUser(after));
  }
  for (const { secret, ...c } of plan.clients) {
    const before = await dir.getClient(c.clientId);
    const after: IdpClient = { ...c, secretHash: await resolveSecret(before?.secretHash, secret, opts, `client ${c.clientId}`) };
    note('client', c.clientId, before, after, (d) => d.putClient(after));
  }
  const refs = new Map((await dir.mfaReferences()).map((r) => [r.id, r]));
  for (const r of plan.mfaReferences ?? []) note('mfa_reference', r.id, refs.get(r.id), r, (d) => d.putMfaReference(r));
  if (!opts.dryRun && writes.length > 0) {
    // Instances serving the realm drop what they cached of it when (and only if) this commits.
    await repos.writeRealm(realm.name, async (d) => {
      for (const w of writes) await w(d);
    });
  }
  return changes;
}

/** One line per change, as `keyward idp apply` and `keyward identity provision --to builtin` print them. */
export function describeChange(c: RealmChange): string {
  return `${c.action === 'create' ? '+' : c.action === 'update' ? '~' : '='} ${c.kind} ${c.id}${c.fields ? ` (${c.fields.join(', ')})` : ''}`;
}
