// The PostgreSQL writer lock of an audit chain: exclusive, kept across a dropped connection when nobody else
// wrote meanwhile, lost for good when another process took the chain while it was disconnected.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { openStore } from '../../src/store/open.ts';
import { WriterLockHeldError, WriterSession } from '../../src/store/writer-session.ts';
import { pgTestSchema } from '../support/pg.ts';

test('PostgreSQL writer lock: exclusive, survives a dropped connection, lost when another process takes it meanwhile', { timeout: 60_000 }, async (t) => {
  const pgs = await pgTestSchema(t, 'the PostgreSQL writer lock test');
  if (!pgs) return;
  const cfg = { url: pgs.url, schema: pgs.schema };
  const store = await openStore({ type: 'postgres', ...cfg }); // the settings table
  const name = `audit.chain_id:lock-test-${pgs.schema}`;
  const admin = new pg.Client({ connectionString: pgs.url });
  await admin.connect();
  const kill = () => admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [`keyward writer ${name}`.slice(0, 63)]);
  const logger = pino({ level: 'silent' });
  const sessions: WriterSession[] = [];
  const open = async (waitMs: number) => {
    const s = await WriterSession.open(cfg, name, logger, waitMs);
    sessions.push(s);
    return s;
  };
  const until = async (what: string, ok: () => Promise<boolean> | boolean) => {
    for (let i = 0; i < 100; i++) {
      if (await ok()) return;
      await sleep(100);
    }
    assert.fail(`timed out waiting for ${what}`);
  };
  try {
    const a = await open(0);
    await assert.rejects(open(0), WriterLockHeldError);
    // The same name in another schema is another chain.
    const elsewhere = await WriterSession.open({ url: pgs.url, schema: `${pgs.schema}_other` }, name, logger, 0);
    await elsewhere.close();
    await a.put('audit.ack:x', 'v1');
    assert.equal(await a.get('audit.ack:x'), 'v1');

    // Dropped connection, nobody else around: reconnected, lock taken again, still the writer.
    await kill();
    await until('a reconnects', async () => a.put('audit.ack:x', 'v2').then(() => true, () => false));
    assert.equal(a.lost(), undefined);
    await assert.rejects(open(0), WriterLockHeldError);

    // Dropped again, and another process takes the chain before it reconnects: lost for good.
    await kill();
    const b = await open(2000);
    await b.put('audit.ack:x', 'b1');
    await until('a notices', () => a.lost() !== undefined);
    assert.match(a.lost()!, /another process took the lock/);
    await assert.rejects(a.put('audit.ack:x', 'v3'), /writer lock lost/);
    assert.equal(await b.get('audit.ack:x'), 'b1');
  } finally {
    for (const s of sessions) await s.close();
    await admin.end();
    await store.close();
    await pgs.cleanup();
  }
});
