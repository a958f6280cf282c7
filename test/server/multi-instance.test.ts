// Production shape: two stateless instances on one PostgreSQL database and one NATS audit subject. Keys made on
// one are usable on the other, state changes propagate within the cache TTL, and each instance keeps its own
// verifiable audit chain, in its file and in the shared stream.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect as tcpConnect } from 'node:net';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { readAuditNats, readAuditPaths, verifyAuditLog } from '../../src/audit/index.ts';
import { publicKeyFromPem } from '../../src/audit/keys.ts';
import { pgTestSchema } from '../support/pg.ts';
import { startKeyward } from '../support/keyward.ts';
import { req } from '../support/http.ts';
import { readFileSync } from 'node:fs';
import { whenMissing } from '../support/missing.ts';

/** Whether NATS answers at 127.0.0.1:4222 (required under CI; locally the shared-stream part is skipped without it). */
const natsUp = await new Promise<boolean>((resolve) => {
  const s = tcpConnect(4222, '127.0.0.1');
  s.once('connect', () => (s.destroy(), resolve(true)));
  s.once('error', () => resolve(false));
});

test('two instances on one PostgreSQL database', { timeout: 60_000 }, async (t) => {
  const pg = await pgTestSchema(t, 'multi-instance tests');
  if (!pg) return;
  const storage = { type: 'postgres', url: pg.url, schema: pg.schema };
  const id = randomUUID().slice(0, 8);
  const nats = { type: 'nats', url: 'nats://127.0.0.1:4222', subject: `keyward.audit.mi.${id}`, stream: `KEYWARD_AUDIT_MI_${id}`, create_stream: true, ack_timeout_ms: 3000 };
  const withNats = natsUp;
  if (!withNats) t.diagnostic(whenMissing('the shared-stream part of the multi-instance test', 'NATS not reachable at 127.0.0.1:4222'));
  const audit = (dir: string) => ({ audit: { sinks: [{ type: 'file', path: join(dir, 'audit', 'audit.log') }, ...(withNats ? [nats] : [])] } });
  const dirA = mkdtempSync(join(tmpdir(), 'keyward-mi-a-'));
  const dirB = mkdtempSync(join(tmpdir(), 'keyward-mi-b-'));
  const a = await startKeyward({ dir: dirA, config: { storage, server: { instance_id: 'kw-a' }, keys: { cache_ttl: '0s' }, ...audit(dirA) } });
  // B shares the database (and so the seal) and the audit subject; it is unsealed with the same shares.
  const b = await startKeyward({ dir: dirB, unseal: false, config: { storage, server: { instance_id: 'kw-b' }, keys: { cache_ttl: '0s' }, ...audit(dirB) } });
  try {
    // B finds the seal A initialised in the shared database and is unsealed with the same share.
    assert.equal(b.kw.seal.status().initialized, true);
    assert.equal(b.kw.seal.status().sealed, true);
    await b.kw.seal.submitShare(a.share!);

    const onA = await req(a.kw.app, { method: 'POST', url: '/v1/keys', headers: a.auth, payload: { key_id: 'shared', key_type: 'EC-P256' } });
    assert.equal(onA.status, 201);
    const sigOnB = await req(b.kw.app, { method: 'POST', url: '/v1/keys/shared/sign', headers: b.auth, payload: { message: 'aGk=' } });
    assert.equal(sigOnB.status, 200, JSON.stringify(sigOnB.body));
    const verifiedOnA = await req(a.kw.app, { method: 'POST', url: '/v1/keys/shared/verify', headers: a.auth, payload: { message: 'aGk=', signature: sigOnB.body.signature } });
    assert.equal(verifiedOnA.body.valid, true);
    await req(a.kw.app, { method: 'POST', url: '/v1/keys/shared/disable', headers: a.auth });
    assert.equal((await req(b.kw.app, { method: 'POST', url: '/v1/keys/shared/sign', headers: b.auth, payload: { message: 'aGk=' } })).body.code, 'key.disabled');

    // Each instance has its own chain, and each verifies on its own.
    assert.notEqual(a.kw.audit.head().chain_id, b.kw.audit.head().chain_id);
    await a.kw.audit.flush();
    await b.kw.audit.flush();
    for (const inst of [a, b]) {
      const pub = publicKeyFromPem(readFileSync(join(inst.dir, 'audit-signing-key.pem')));
      const { sources, checkpoints } = await readAuditPaths([join(inst.dir, 'audit')]);
      const result = verifyAuditLog(sources, { publicKey: pub, checkpoints });
      assert.equal(result.ok, true, JSON.stringify(result).slice(0, 500));
    }
    // Both chains are in the one stream, side by side (one audit key here: the harness made each its own, so
    // each chain is checked with its instance's key).
    const stream = withNats ? await readAuditNats({ url: nats.url, subject: nats.subject, stream: nats.stream }) : { name: '', lines: [] };
    for (const inst of withNats ? [a, b] : []) {
      const pub = publicKeyFromPem(readFileSync(join(inst.dir, 'audit-signing-key.pem')));
      const mine = stream.lines.filter((l) => JSON.parse(l.text).chain_id === inst.kw.audit.head().chain_id);
      assert.ok(mine.length > 0);
      const result = verifyAuditLog([{ name: stream.name, lines: mine }], { publicKey: pub, multiChain: true });
      assert.equal(result.ok, true, JSON.stringify(result.error));
      assert.equal(result.chains[0]!.last_sequence, inst.kw.audit.head().sequence);
    }
  } finally {
    await b.close();
    await a.close();
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
    if (withNats) {
      const nc = await connect({ servers: nats.url });
      await (await jetstreamManager(nc)).streams.delete(nats.stream).catch(() => {});
      await nc.close();
    }
    await pg.cleanup();
  }
});
