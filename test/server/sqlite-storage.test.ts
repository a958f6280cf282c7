// SQLite as an operator meets it: a database locked by another process is refused with 503 storage.unavailable
// (problem+json, audited) rather than 500, and service resumes once the lock is gone; the files Keyward creates
// are readable by their owner only.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { assertProblem } from '../support/http.ts';
import { startKeyward } from '../support/keyward.ts';

test('SQLite locked by another process: 503 storage.unavailable, audited, and service resumes', { timeout: 60_000 }, async (t) => {
  // A short busy_timeout: node:sqlite waits for a lock synchronously, stalling the process (and this test) meanwhile.
  const dir = mkdtempSync(join(tmpdir(), 'keyward-busy-'));
  const k = await startKeyward({ dir, config: { storage: { type: 'sqlite', path: join(dir, 'keyward.db'), busy_timeout: '300ms' } } });
  t.after(async () => (await k.close(), rmSync(dir, { recursive: true, force: true })));
  const create = (id: string) => k.post('/v1/keys', { key_id: id, key_type: 'EC-P256' });
  assert.equal((await create('before')).status, 201);

  // Another process (here: another connection) holds the write lock past busy_timeout.
  const other = new DatabaseSync(join(k.dir, 'keyward.db'));
  t.after(() => other.isOpen && other.close());
  other.exec('BEGIN IMMEDIATE');
  const refused = await create('during');
  assertProblem(refused, 503, 'storage.unavailable');
  assert.equal(refused.headers['retry-after'], '1');
  other.exec('ROLLBACK');
  other.close();

  assert.equal((await create('after')).status, 201);
  assert.equal((await k.get('/v1/keys/during')).status, 404, 'the refused create left nothing');
  const events = k.auditLines.map((l) => JSON.parse(l) as { event_type: string; outcome: string; error_code: string | null; resource: { id?: string } | null });
  assert.ok(events.some((e) => e.event_type === 'key.create' && e.resource?.id === 'during' && e.outcome === 'error' && e.error_code === 'storage.unavailable'));
});

test('the SQLite database, its -wal/-shm files, lock and acknowledgement state are created 0600 in a directory created 0700', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-modes-'));
  const dataDir = join(dir, 'fresh', 'data');
  const k = await startKeyward({ dir, config: { storage: { type: 'sqlite', path: join(dataDir, 'keyward.db') } } });
  t.after(async () => (await k.close(), rmSync(dir, { recursive: true, force: true })));
  assert.equal((await k.post('/v1/keys', { key_id: 'k', key_type: 'EC-P256' })).status, 201);

  const mode = (p: string) => statSync(p).mode & 0o777;
  assert.equal(mode(join(dir, 'fresh')).toString(8), '700');
  assert.equal(mode(dataDir).toString(8), '700');
  const files = readdirSync(dataDir).sort();
  // The writer lock and the audit acknowledgement state live beside the database, under the same rule.
  assert.deepEqual(files, ['keyward.db', 'keyward.db-shm', 'keyward.db-wal', 'keyward.db.audit-ack', 'keyward.db.lock']);
  for (const f of files) assert.equal(mode(join(dataDir, f)).toString(8), '600', f);
});
