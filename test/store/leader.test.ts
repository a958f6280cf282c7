// The leader lease: of the instances sharing one schema exactly one leads; when its session ends (closed, killed,
// or cut off by the server) another takes over at its next attempt, and the old one stops believing it leads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { LeaderLease, soleLeader } from '../../src/store/leader.ts';
import { pgTestSchema } from '../support/pg.ts';

const logger = pino({ level: 'silent' });
const RETRY_MS = 100;

async function until(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('SQLite: the one process always leads', () => {
  assert.equal(soleLeader.leader, true);
});

test('PostgreSQL: one leader per schema and lease name; it moves when the leader goes', { timeout: 60_000 }, async (t) => {
  const db = await pgTestSchema(t, 'leader lease tests');
  if (!db) return;
  const other = await pgTestSchema(t, 'leader lease tests');
  const cfg = { url: db.url, schema: db.schema };
  const name = `jobs-${process.pid}`;
  const leases = await Promise.all([1, 2, 3].map(() => LeaderLease.start(cfg, name, logger, RETRY_MS)));
  const elsewhere = await LeaderLease.start({ url: db.url, schema: other!.schema }, name, logger, RETRY_MS);
  const otherName = await LeaderLease.start(cfg, 'other-jobs', logger, RETRY_MS);
  try {
    const leaders = () => leases.filter((l) => l.leader);
    assert.equal(leaders().length, 1);
    // Another schema and another lease name are other leases.
    assert.equal(elsewhere.leader, true);
    assert.equal(otherName.leader, true);

    // A leader that closes hands over.
    const first = leaders()[0]!;
    await first.close();
    assert.equal(first.leader, false);
    await until('a new leader after close', () => leaders().length === 1);
    assert.notEqual(leaders()[0], first);

    // A leader whose session the server ends (as when its process is killed or the network cuts it off) loses the
    // lease, and the lease is taken again on another session. The lease holders here and in the other schema are
    // the sessions of that application name holding an advisory lock.
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    const holders = async () =>
      (await admin.query<{ pid: number }>(`select distinct a.pid from pg_stat_activity a join pg_locks l on l.pid = a.pid
        where a.application_name = $1 and l.locktype = 'advisory' and l.granted`, [`keyward leader ${name}`])).rows.map((r) => r.pid);
    try {
      const before = await holders();
      assert.equal(before.length, 2);
      await admin.query('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [before]);
      await until('the lease to be held on new sessions, by one lease here', async () => {
        const now = await holders();
        return now.length === 2 && now.every((p) => !before.includes(p)) && leaders().length === 1 && elsewhere.leader;
      });
    } finally {
      await admin.end();
    }
  } finally {
    for (const l of [...leases, elsewhere, otherName]) await l.close();
    await db.cleanup();
    await other?.cleanup();
  }
});
