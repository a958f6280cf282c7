// Change announcements over LISTEN/NOTIFY: heard by listeners of the same schema once the announcing transaction
// commits, never for one that rolls back, not across schemas, not by the announcing store itself; a listener that
// lost its connection reconnects and says that anything may have changed meanwhile.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { announceChange, type Change } from '../../src/store/changes.ts';
import { openStore } from '../../src/store/open.ts';
import { pgTestSchema } from '../support/pg.ts';

const logger = pino({ level: 'silent' });

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('SQLite: no feed, and announcing is a no-op', async () => {
  const store = await openStore({ type: 'sqlite', path: ':memory:' });
  try {
    assert.equal(store.changes, undefined);
    await announceChange(store.kysely, { kind: 'key', id: 'k' });
  } finally {
    await store.close();
  }
});

test('PostgreSQL: announcements reach the other stores of the schema on commit only', { timeout: 60_000 }, async (t) => {
  const db = await pgTestSchema(t, 'change feed tests');
  if (!db) return;
  const other = await pgTestSchema(t, 'change feed tests');
  const a = await openStore({ type: 'postgres', url: db.url, schema: db.schema });
  const b = await openStore({ type: 'postgres', url: db.url, schema: db.schema });
  const c = await openStore({ type: 'postgres', url: db.url, schema: other!.schema });
  const heard = { a: [] as Array<Change | undefined>, b: [] as Array<Change | undefined>, c: [] as Array<Change | undefined> };
  try {
    for (const [name, s] of [['a', a], ['b', b], ['c', c]] as const) {
      await s.changes!.start(logger);
      s.changes!.subscribe((ch) => heard[name].push(ch));
      assert.equal(s.changes!.listening, true);
    }
    // A key write on A: B hears it, A (its author) and C (another schema) do not.
    const now = new Date();
    await a.keys.create({ id: 'k1', type: 'AES-256-GCM', labels: {}, description: null, origin: 'generated', createdAt: now }, { publicKeySpki: null, fingerprint: 'sha256:00', sealedMaterial: Buffer.from('x'), createdAt: now }, { overwrite: false });
    await until('B to hear the create', () => heard.b.length === 1);
    assert.deepEqual(heard.b, [{ kind: 'key', id: 'k1' }]);

    // A write whose guard refuses rolls back: nothing is announced. A later one is, in order.
    const k1 = (await a.keys.get('k1'))!;
    await assert.rejects(a.keys.setState('k1', k1.revision, { state: 'disabled', destroyAt: null, updatedAt: now }, async () => {
      throw new Error('audit refused');
    }));
    await a.keys.setState('k1', k1.revision, { state: 'disabled', destroyAt: null, updatedAt: now });
    // Announced without an origin (as the CLI's realm apply does) inside a transaction: heard by every store.
    await b.kysely.transaction().execute((trx) => announceChange(trx, { kind: 'realm', id: 'main' }));
    await until('the later changes', () => heard.b.length === 3 && heard.a.length === 1);
    assert.deepEqual(heard.b, [{ kind: 'key', id: 'k1' }, { kind: 'key', id: 'k1' }, { kind: 'realm', id: 'main' }], 'the rolled-back write was not announced');
    assert.deepEqual(heard.a, [{ kind: 'realm', id: 'main' }]);
    assert.deepEqual(heard.c, []);

    // The server ends B's listening session: B reconnects and reports that anything may have changed.
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      // Both listeners of this schema (A's and B's): each reconnects on its own.
      const r = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [`keyward changes ${db.schema}`]);
      assert.equal(r.rows.length, 2);
    } finally {
      await admin.end();
    }
    await until('the listeners to reconnect', () => heard.b.length === 4 && heard.b[3] === undefined && b.changes!.listening);
    await a.keys.setState('k1', k1.revision + 1, { state: 'enabled', destroyAt: null, updatedAt: now });
    await until('B to hear writes again', () => heard.b.length === 5);
    assert.deepEqual(heard.b.at(-1), { kind: 'key', id: 'k1' });
  } finally {
    await a.close();
    await b.close();
    await c.close();
    await db.cleanup();
    await other?.cleanup();
  }
});
