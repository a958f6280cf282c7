// The identity provider's repositories over its own tables: the only way the rest of src/idp (and the CLI, and the
// migration source) reach them. Built once from the store's query builder by whoever opened the store.
import type { Kysely } from 'kysely';
import { announceChange } from '../../store/changes.ts';
import type { Store } from '../../store/types.ts';
import { createAdapterFactory, sweepExpired } from './adapter.ts';
import { Directory, ensureSetting, type SecretBox } from './directory.ts';
import { migrateIdp, type IdpDialect } from './migrations.ts';
import { demandStore, type DemandStore } from './telemetry.ts';
import { Throttle } from './throttle.ts';

export interface IdpRepositories {
  readonly dialect: IdpDialect;
  /** Creates or updates the identity provider's tables. */
  migrate(): Promise<void>;
  /** A realm's users, clients, groups, roles and second factors. */
  directory(realm: string, secretBox?: SecretBox): Directory;
  /** Runs `work` in one transaction on the realm's directory; instances drop what they cached of it when it commits. */
  writeRealm(realm: string, work: (directory: Directory) => Promise<void>): Promise<void>;
  /** oidc-provider's adapter for a realm's grants, sessions and interactions. */
  adapter(realm: string, directory: Directory): ReturnType<typeof createAdapterFactory>;
  /** Deletes expired provider artefacts of every realm; returns how many. */
  sweepExpired(at?: number): Promise<number>;
  /** Inserts unless present; returns the value that won (first writer wins across processes). */
  ensureSetting(name: string, value: string): Promise<string>;
  readonly throttle: Throttle;
  readonly demand: DemandStore;
  /** Throws when the identity provider's tables are missing or cannot be read (never creates them). */
  checkTables(): Promise<void>;
  /** Presence and state of a realm's TOTP enrolments, without their sealed seeds. */
  totpEnrolments(realm: string): Promise<Array<{ user_id: string; confirmed: boolean }>>;
}

/** The repositories over an opened store's database: the one place its query builder is taken from the store. */
export function storeIdpRepositories(store: Pick<Store, 'kysely' | 'dialect'>): IdpRepositories {
  return idpRepositories(store.kysely, store.dialect);
}

export function idpRepositories(db: Kysely<any>, dialect: IdpDialect): IdpRepositories {
  return {
    dialect,
    migrate: () => migrateIdp(db, dialect),
    directory: (realm, secretBox) => new Directory(db, realm, secretBox),
    writeRealm: (realm, work) =>
      db.transaction().execute(async (trx) => {
        await work(new Directory(trx, realm));
        await announceChange(trx, { kind: 'realm', id: realm });
      }),
    adapter: (realm, directory) => createAdapterFactory(db, realm, directory),
    sweepExpired: (at) => sweepExpired(db, at),
    ensureSetting: (name, value) => ensureSetting(db, name, value),
    throttle: new Throttle(db),
    demand: demandStore(db),
    checkTables: async () => {
      await db.selectFrom('idp_users').select('id').limit(1).execute();
    },
    totpEnrolments: async (realm) => {
      const rows: Array<{ user_id: string; confirmed: number | boolean }> = await db
        .selectFrom('idp_mfa')
        .select(['user_id', 'confirmed'])
        .where('realm', '=', realm)
        .where('kind', '=', 'totp')
        .orderBy('user_id')
        .execute();
      return rows.map((r) => ({ user_id: r.user_id, confirmed: r.confirmed === 1 || r.confirmed === true }));
    },
  };
}
