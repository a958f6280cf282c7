// Sealing on the worker thread and on the main thread produce the same, independently verifiable construction,
// and one chain can be continued by either.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateSigningKeyFile, publicKeyFromPem } from '../../src/audit/keys.ts';
import { config, makeTrail, MemoryChain, MemorySettings } from './helpers.ts';
import { independentVerify } from './independent-verifier.ts';

test('worker and main-thread sealing continue one chain that verifies independently', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'keyward-seal-'));
  try {
    const key = join(dir, 'k.pem');
    await generateSigningKeyFile(key);
    const path = join(dir, 'audit.log');
    const chain = new MemoryChain();
    const settings = new MemorySettings();
    const ev = (n: number) => ({ event_type: 'key.sign', action: 'kms:Sign', principal: { id: 'p', type: 'service', auth_method: 'jwt' }, resource: { type: 'Key', id: 'k', version: 1 }, outcome: 'success' as const, metadata: { n } });
    for (const seal_in_worker of [true, false, true]) {
      const { trail: t } = await makeTrail({ config: config({ signing_key_path: key, seal_in_worker, sinks: [{ type: 'file', path }] }), chain, settings });
      try {
        await Promise.all(Array.from({ length: 50 }, (_, i) => t.record(ev(i))));
      } finally {
        await t.close();
      }
    }
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    const pem = publicKeyFromPem(await readFile(key)).export({ type: 'spki', format: 'pem' }).toString();
    const r = independentVerify(lines, pem);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(lines.length, 3 * 51); // 50 events and an audit.started per trail
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
