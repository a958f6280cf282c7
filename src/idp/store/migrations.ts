// The identity provider's own tables, migrated by its own Migrator so it can evolve independently of the
// key store. Times are epoch seconds (bigint) and JSON is text on both dialects to keep one code path.
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export type IdpDialect = 'sqlite' | 'postgres';

function initial(dialect: IdpDialect): Migration {
  const id = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('idp_users')
        .addColumn('realm', id, (c) => c.notNull())
        .addColumn('id', id, (c) => c.notNull())
        .addColumn('username', id, (c) => c.notNull())
        .addColumn('display_name', 'text')
        .addColumn('email', 'text')
        .addColumn('email_verified', 'integer', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('principal_type', 'text', (c) => c.notNull())
        .addColumn('tenant', 'text', (c) => c.notNull())
        .addColumn('groups', 'text', (c) => c.notNull())
        .addColumn('roles', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('idp_users_pk', ['realm', 'id'])
        .addUniqueConstraint('idp_users_username', ['realm', 'username'])
        .execute();
      await db.schema
        .createTable('idp_groups')
        .addColumn('realm', id, (c) => c.notNull())
        .addColumn('name', id, (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('roles', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('idp_groups_pk', ['realm', 'name'])
        .execute();
      await db.schema
        .createTable('idp_roles')
        .addColumn('realm', id, (c) => c.notNull())
        .addColumn('name', id, (c) => c.notNull())
        .addColumn('description', 'text')
        .addPrimaryKeyConstraint('idp_roles_pk', ['realm', 'name'])
        .execute();
      // A client with client_credentials is also a service account: its principal fields describe it.
      await db.schema
        .createTable('idp_clients')
        .addColumn('realm', id, (c) => c.notNull())
        .addColumn('client_id', id, (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('idp_clients_pk', ['realm', 'client_id'])
        .execute();
      await db.schema
        .createTable('idp_mfa')
        .addColumn('realm', id, (c) => c.notNull())
        .addColumn('user_id', id, (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('confirmed', 'integer', (c) => c.notNull())
        .addColumn('last_step', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('idp_mfa_pk', ['realm', 'user_id', 'kind'])
        .execute();
      // oidc-provider artefacts (sessions, interactions, codes, grants, refresh tokens...).
      await db.schema
        .createTable('idp_oidc')
        .addColumn('realm', id, (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('id', id, (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('grant_id', 'text')
        .addColumn('user_code', 'text')
        .addColumn('uid', 'text')
        .addColumn('expires_at', 'bigint')
        .addColumn('consumed_at', 'bigint')
        .addPrimaryKeyConstraint('idp_oidc_pk', ['realm', 'model', 'id'])
        .execute();
      await db.schema.createIndex('idp_oidc_grant').on('idp_oidc').columns(['realm', 'grant_id']).execute();
      await db.schema.createIndex('idp_oidc_uid').on('idp_oidc').columns(['realm', 'uid']).execute();
      await db.schema.createIndex('idp_oidc_expires').on('idp_oidc').column('expires_at').execute();
      await db.schema
        .createTable('idp_settings')
        .addColumn('name', id, (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('idp_telemetry')
        .addColumn('id', id, (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('realm', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('client_id', 'text')
        .addColumn('feature', 'text')
        .addColumn('error_class', 'text')
        .addColumn('result', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('idp_telemetry_at').on('idp_telemetry').column('at').execute();
    },
  };
}

/** Login throttling shared by every instance on the store (failures per account and per source address). */
function throttle(dialect: IdpDialect): Migration {
  const id = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('idp_throttle')
        .addColumn('key', id, (c) => c.primaryKey())
        .addColumn('failures', 'integer', (c) => c.notNull())
        .addColumn('window_start', 'bigint', (c) => c.notNull())
        .addColumn('locked_until', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}

/**
 * TOTP seeds offered during enrolment, one per sign-in session (interaction): a second session of the same user
 * gets a seed of its own, and an abandoned one expires. The confirmed seed moves to idp_mfa.
 */
function pendingMfa(dialect: IdpDialect): Migration {
  const id = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('idp_mfa_pending')
        .addColumn('realm', id, (c) => c.notNull())
        .addColumn('session_id', id, (c) => c.notNull())
        .addColumn('user_id', id, (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('idp_mfa_pending_pk', ['realm', 'session_id', 'user_id', 'kind'])
        .execute();
      await db.schema.createIndex('idp_mfa_pending_expiry').on('idp_mfa_pending').column('expires_at').execute();
    },
  };
}

/**
 * Recovery codes, stored as hashes only (see Directory.recoveryCodeHash); a code is used once: `used_at` is set by
 * one conditional update, so of two instances racing with the same code exactly one wins.
 */
function recoveryCodes(dialect: IdpDialect): Migration {
  const id = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('idp_recovery_codes')
        .addColumn('realm', id, (c) => c.notNull())
        .addColumn('user_id', id, (c) => c.notNull())
        .addColumn('code_hash', id, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addPrimaryKeyConstraint('idp_recovery_codes_pk', ['realm', 'user_id', 'code_hash'])
        .execute();
    },
  };
}

/**
 * The canonical model's MFA enrolment references (mfa_enrollments): which external authenticator, by which reference
 * (a privacyIDEA token serial), counts for a user. Keyward's own TOTP stays in idp_mfa; these are references only.
 */
function mfaReferences(dialect: IdpDialect): Migration {
  const id = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('idp_mfa_refs')
        .addColumn('realm', id, (c) => c.notNull())
        .addColumn('id', id, (c) => c.notNull())
        .addColumn('user_id', id, (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('reference', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('idp_mfa_refs_pk', ['realm', 'id'])
        .execute();
      await db.schema.createIndex('idp_mfa_refs_user').on('idp_mfa_refs').columns(['realm', 'user_id']).execute();
    },
  };
}

/**
 * The canonical model's users[].directory names (given_name, family_name): kept so tokens carry them under the
 * profile scope and an export from the store keeps them. Nullable: users written before this have none.
 */
function userNames(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('idp_users').addColumn('given_name', 'text').execute();
      await db.schema.alterTable('idp_users').addColumn('family_name', 'text').execute();
    },
  };
}

class Provider implements MigrationProvider {
  readonly #dialect: IdpDialect;
  constructor(dialect: IdpDialect) {
    this.#dialect = dialect;
  }
  async getMigrations(): Promise<Record<string, Migration>> {
    return {
      '0001_idp_initial': initial(this.#dialect),
      '0002_idp_throttle': throttle(this.#dialect),
      '0003_idp_mfa_pending': pendingMfa(this.#dialect),
      '0004_idp_recovery_codes': recoveryCodes(this.#dialect),
      '0005_idp_mfa_refs': mfaReferences(this.#dialect),
      '0006_idp_user_names': userNames(),
    };
  }
}

export async function migrateIdp(db: Kysely<any>, dialect: IdpDialect): Promise<void> {
  // Kysely's Migrator looks for its own tables in every schema unless told which one: another schema's tables in the
  // same database would make it skip creating ours. Pin it to the schema the store works in (as the key store does).
  let schema: string | undefined;
  if (dialect === 'postgres') {
    const r = await sql<{ s: string | null }>`select current_schema() as s`.execute(db);
    schema = r.rows[0]?.s ?? undefined;
    if (!schema) throw new Error('PostgreSQL search_path names no existing schema');
  }
  const migrator = new Migrator({
    db,
    provider: new Provider(dialect),
    migrationTableName: 'keyward_idp_migration',
    migrationLockTableName: 'keyward_idp_migration_lock',
    ...(schema !== undefined ? { migrationTableSchema: schema } : {}),
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}
