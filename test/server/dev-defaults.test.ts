// Dev mode without an audit section keeps its signed trail beside its SQLite file, wherever that is.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { parseConfig } from '../../src/config/load.ts';
import { createKeyward } from '../../src/server/compose.ts';

test('dev mode puts its audit key and trail next to the database, creating the directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-dev-'));
  const data = join(dir, 'not-yet', 'here');
  try {
    const config = parseConfig({ mode: 'dev', storage: { type: 'sqlite', path: join(data, 'k.db') }, seal: { dev_unseal_file: join(dir, 'u.json') } }, {});
    const kw = await createKeyward(config, { env: {}, logger: pino({ level: 'silent' }) });
    try {
      assert.ok(existsSync(join(data, 'audit-signing-key.pem')));
      const r = await kw.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(r.statusCode, 200, r.body);
      await kw.audit.flush();
      assert.ok(existsSync(join(data, 'audit', 'audit.log')));
    } finally {
      await kw.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
