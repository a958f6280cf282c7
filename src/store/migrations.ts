// Versioned schema migrations, provided in code (no files to find at run time). Never edit a released
// migration; add the next one.
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export type StoreDialect = 'sqlite' | 'postgres';

function types(dialect: StoreDialect) {
  return dialect === 'postgres'
    ? {
        // "C" collation: ids sort bytewise, as on SQLite, so list order and cursors agree across dialects.
        id: sql`text collate "C"`,
        blob: sql`bytea`,
        date: sql`timestamptz`,
        json: sql`jsonb`,
        bigint: sql`bigint`,
      }
    : { id: sql`text`, blob: sql`blob`, date: sql`text`, json: sql`text`, bigint: sql`integer` };
}

function initial(dialect: StoreDialect): Migration {
  const t = types(dialect);
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('keys')
        .addColumn('id', t.id, (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('labels', t.json, (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('current_version', 'integer', (c) => c.notNull())
        .addColumn('revision', 'integer', (c) => c.notNull())
        .addColumn('created_at', t.date, (c) => c.notNull())
        .addColumn('updated_at', t.date, (c) => c.notNull())
        .addColumn('destroy_at', t.date)
        .addColumn('origin', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('keys_state_destroy_at').on('keys').columns(['state', 'destroy_at']).execute();

      await db.schema
        .createTable('key_versions')
        .addColumn('key_id', t.id, (c) => c.notNull().references('keys.id').onDelete('cascade'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('public_key_spki', t.blob)
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('sealed_material', t.blob)
        .addColumn('created_at', t.date, (c) => c.notNull())
        .addColumn('destroyed_at', t.date)
        .addPrimaryKeyConstraint('key_versions_pk', ['key_id', 'version'])
        .execute();

      await db.schema
        .createTable('seal')
        .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
        .addColumn('shares', 'integer', (c) => c.notNull())
        .addColumn('threshold', 'integer', (c) => c.notNull())
        .addColumn('wrapped_root_key', t.blob, (c) => c.notNull())
        .addColumn('share_digests', 'text', (c) => c.notNull())
        .addColumn('created_at', t.date, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('audit_chain_heads')
        .addColumn('chain_id', 'text', (c) => c.primaryKey())
        .addColumn('sequence', t.bigint, (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('settings')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<any>) {
      for (const table of ['settings', 'audit_chain_heads', 'seal', 'key_versions', 'keys']) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  };
}

/**
 * Key providers: a key's material may live in an HSM (PKCS#11 token, KMIP server) instead of sealed in the
 * database. Each key names its provider; each version keeps either sealed material (software) or the provider's
 * reference to the object holding it (token object id/label, KMIP unique identifier), never both. The seal may be
 * wrapped by an HSM key too (auto-unseal), with the Shamir-wrapped root key kept for recovery.
 */
function providers(dialect: StoreDialect): Migration {
  const t = types(dialect);
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('keys').addColumn('provider', 'text', (c) => c.notNull().defaultTo('software')).execute();
      await db.schema.createIndex('keys_provider').on('keys').columns(['provider', 'id']).execute();
      await db.schema.alterTable('key_versions').addColumn('provider_ref', 'text').execute();
      await db.schema.alterTable('seal').addColumn('kind', 'text', (c) => c.notNull().defaultTo('shamir')).execute();
      await db.schema.alterTable('seal').addColumn('hsm_wrapped_root_key', t.blob).execute();
      await db.schema.alterTable('seal').addColumn('hsm_key_ref', 'text').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropIndex('keys_provider').ifExists().execute();
      await db.schema.alterTable('keys').dropColumn('provider').execute();
      await db.schema.alterTable('key_versions').dropColumn('provider_ref').execute();
      for (const c of ['kind', 'hsm_wrapped_root_key', 'hsm_key_ref']) await db.schema.alterTable('seal').dropColumn(c).execute();
    },
  };
}

export function migrationProvider(dialect: StoreDialect): MigrationProvider {
  return {
    async getMigrations() {
      return { '0001_initial': initial(dialect), '0002_providers': providers(dialect) };
    },
  };
}
