import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verify, createPublicKey, randomBytes } from 'node:crypto';
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { canonicalBytes, chainHash, GENESIS_HASH, hashForAudit, signingInput, type AuditEvent } from '../../src/audit/canonical.ts';
import { auditConfigSchema, auditProductionProblems } from '../../src/audit/config.ts';
import { AuditRedactionError } from '../../src/audit/redact.ts';
import { readAuditPaths, verifyAuditLog } from '../../src/audit/verify.ts';
import { publicKeyFromPem } from '../../src/audit/keys.ts';
import { config, makeTrail, MemoryChain, MemorySettings, newKey, readLines, sampleEvent, tempDir } from './helpers.ts';
import { Writable } from 'node:stream';

test('events are chained with BLAKE3 and signed with Ed25519', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const path = join(dir, 'audit.log');
    const { trail } = await makeTrail({ config: config({ signing_key_path: key, sinks: [{ type: 'file', path }] }) });
    for (let i = 0; i < 5; i++) await trail.record(sampleEvent(i));
    const pub = createPublicKey(trail.publicKey().ed25519_public_key_pem);
    await trail.close();
    const events = (await readLines(path)).map((l) => JSON.parse(l) as AuditEvent);
    assert.equal(events[0]!.event_type, 'audit.started');
    assert.equal(events[0]!.prev_hash, GENESIS_HASH);
    events.forEach((e, i) => {
      assert.equal(e.sequence, i + 1);
      if (i > 0) assert.equal(e.prev_hash, events[i - 1]!.hash);
      assert.equal(chainHash(e.prev_hash, canonicalBytes(e)), e.hash);
      assert.ok(verify(null, signingInput(e.chain_id, e.sequence, e.hash), pub, Buffer.from(e.signature, 'base64')));
    });
    const e1 = events[1]!;
    for (const f of ['schema_version', 'event_id', 'time', 'chain_id', 'sequence', 'event_type', 'action', 'principal', 'resource', 'outcome', 'error_code', 'request_id', 'source_ip', 'user_agent', 'metadata', 'key_id', 'prev_hash', 'hash', 'signature']) {
      assert.ok(f in e1, `field ${f}`);
    }
    assert.deepEqual(e1.principal, { id: 'svc-0', type: 'service', auth_method: 'api_key' });
    assert.deepEqual(e1.resource, { type: 'key', id: 'key-0', version: 1 });
    assert.equal(e1.action, 'kms:Sign');
    // The stored line is the whole event as JSON; verifiers recompute the canonical bytes from it.
    assert.deepEqual(JSON.parse((await readLines(path))[1]!), e1);
    // close() wrote a final checkpoint? Not with checkpoint_interval 0.
    assert.equal(events.at(-1)!.event_type, 'key.sign');
  } finally {
    await cleanup();
  }
});

test('canonical bytes are stable (RFC 8785: sorted keys, no whitespace, ES number form)', () => {
  const e = {
    schema_version: 1, event_id: 'e', time: '2026-01-01T00:00:00.000Z', chain_id: 'c', sequence: 1,
    event_type: 't', action: 'kms:Sign', principal: null, resource: null, outcome: 'success' as const,
    error_code: null, request_id: null, source_ip: null, user_agent: 'ü', metadata: { z: 1e21, a: [1.5, 'x'], m: 0.000001 },
    key_id: 'k', prev_hash: GENESIS_HASH,
  };
  const shuffled = Object.fromEntries(Object.entries(e).reverse()) as typeof e;
  const bytes = canonicalBytes(e).toString('utf8');
  assert.equal(bytes, canonicalBytes(shuffled).toString('utf8'));
  assert.equal(
    bytes,
    '{"action":"kms:Sign","chain_id":"c","error_code":null,"event_id":"e","event_type":"t","key_id":"k","metadata":{"a":[1.5,"x"],"m":0.000001,"z":1e+21},"outcome":"success","prev_hash":"' +
      GENESIS_HASH + '","principal":null,"request_id":null,"resource":null,"schema_version":1,"sequence":1,"source_ip":null,"time":"2026-01-01T00:00:00.000Z","user_agent":"ü"}',
  );
  // hash and signature are never part of the hashed bytes
  assert.equal(canonicalBytes({ ...e, hash: 'x', signature: 'y' }).toString(), bytes);
  assert.match(hashForAudit(Buffer.from('abc')), /^blake3:6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85$/);
});

test('the chain hash (hash-wasm) is BLAKE3 as @noble/hashes computes it, across chunk boundaries and after other hashes', () => {
  for (const size of [0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 5000, 70000]) {
    const prev = randomBytes(32).toString('hex');
    const bytes = randomBytes(size);
    const expected = Buffer.from(nobleBlake3(Buffer.concat([Buffer.from(prev, 'hex'), bytes]))).toString('hex');
    assert.equal(chainHash(prev, bytes), expected, `size ${size}`);
    assert.equal(hashForAudit(bytes), `blake3:${Buffer.from(nobleBlake3(bytes)).toString('hex')}`, `size ${size}`);
  }
  // The official test vector's empty input: BLAKE3("").
  assert.equal(hashForAudit(Buffer.alloc(0)), 'blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
});

test('redaction guard: secret-looking metadata is a programming error and never reaches the log', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const path = join(dir, 'audit.log');
    const { trail } = await makeTrail({ config: config({ signing_key_path: key, sinks: [{ type: 'file', path }] }) });
    const bad: Array<Record<string, unknown>> = [
      { plaintext: 'hello' }, { key_material: 'x' }, { token: 'abc' }, { api_key: 'k' }, { unseal_share: 's' },
      { password: 'p' }, { nested: { clientSecret: 's' } }, { private_key: 'x' }, { data_key: 'x' }, { digest: 'abcd' },
      { ciphertext: 'zzz' }, { blob: Buffer.from('x') }, { note: '-----BEGIN PRIVATE KEY-----\nMC4...' }, { list: [{ Authorization: 'Bearer x' }] },
    ];
    for (const metadata of bad) {
      await assert.rejects(trail.record(sampleEvent(1, { metadata })), AuditRedactionError, JSON.stringify(Object.keys(metadata)));
    }
    // Hashes and non-secret facts about secrets are fine.
    await trail.record(sampleEvent(2, { metadata: { digest: hashForAudit(Buffer.from('d')), ciphertext_hash: hashForAudit(Buffer.from('c')), token_type: 'jwt', share_count: 5, key_id: 'k1' } }));
    await trail.close();
    const text = await readFile(path, 'utf8');
    for (const word of ['hello', 'abc"', 'Bearer', 'PRIVATE KEY', '"password"', '"plaintext"']) assert.ok(!text.includes(word), word);
    assert.equal((await readLines(path)).length, 2); // start event + the good one: refused events took no sequence
  } finally {
    await cleanup();
  }
});

test('what is recorded is the metadata as validated, even if the caller changes its object afterwards', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const path = join(dir, 'audit.log');
    const { trail } = await makeTrail({ config: config({ signing_key_path: key, sinks: [{ type: 'file', path }] }) });
    const metadata: Record<string, unknown> = { note: 'as validated' };
    const recorded = trail.record(sampleEvent(1, { metadata }));
    // The batch is sealed on a later turn of the event loop; this change must not reach it (nor skip the guard).
    metadata['note'] = 'changed afterwards';
    metadata['password'] = 'hunter2';
    await recorded;
    await trail.close();
    const text = await readFile(path, 'utf8');
    assert.ok(text.includes('as validated'));
    assert.ok(!text.includes('changed afterwards'));
    assert.ok(!text.includes('hunter2'));
  } finally {
    await cleanup();
  }
});

test('group commit: 1000 concurrent record() calls share a handful of fsyncs, with strictly consecutive sequences', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const path = join(dir, 'audit.log');
    const { trail } = await makeTrail({ config: config({ signing_key_path: key, sinks: [{ type: 'file', path }] }) });
    const before = trail.stats()[`file:${path}`]!.fsyncs;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 1000 }, (_, i) => trail.record(sampleEvent(i))));
    const ms = performance.now() - t0;
    const fsyncs = trail.stats()[`file:${path}`]!.fsyncs - before;
    console.log(`group commit: 1000 concurrent events -> ${fsyncs} fsync(s) in ${ms.toFixed(0)} ms`);
    assert.ok(fsyncs <= 5, `expected far fewer than 1000 fsyncs, got ${fsyncs}`);
    // a second wave arriving while the first is being written still batches
    const waves = [];
    for (let w = 0; w < 10; w++) {
      waves.push(...Array.from({ length: 100 }, (_, i) => trail.record(sampleEvent(i))));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(waves);
    const fsyncs2 = trail.stats()[`file:${path}`]!.fsyncs - before - fsyncs;
    console.log(`group commit: 10 waves of 100 -> ${fsyncs2} fsync(s)`);
    assert.ok(fsyncs2 <= 10);
    await trail.close();
    const seqs = (await readLines(path)).map((l) => (JSON.parse(l) as AuditEvent).sequence);
    assert.deepEqual(seqs, Array.from({ length: 2001 }, (_, i) => i + 1));
    const { sources, checkpoints } = await readAuditPaths([path]);
    const r = verifyAuditLog(sources, { publicKey: publicKeyFromPem(await readFile(key)), checkpoints });
    assert.equal(r.ok, true, JSON.stringify(r.error));
  } finally {
    await cleanup();
  }
});

test('restart resumes the chain from the persisted head; each instance keeps its own chain id', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const chain = new MemoryChain();
    const settings = new MemorySettings();
    const out: string[] = [];
    const stdout = new Writable({ write(c, _e, cb) { out.push(String(c)); cb(); } });
    const cfg = config({ signing_key_path: key, sinks: [{ type: 'stdout' }] });
    const { createAuditTrail } = await import('../../src/audit/trail.ts');
    const { captureLogger } = await import('./helpers.ts');
    const { ManualClock } = await import('../support/clock.ts');
    const mk = (instanceId?: string) =>
      createAuditTrail({ config: cfg, chain, settings, clock: new ManualClock(), logger: captureLogger().logger, production: false, stdout, ...(instanceId ? { instanceId } : {}) });
    const a = await mk();
    await a.record(sampleEvent(1));
    const headA = a.head();
    await a.close();
    assert.deepEqual(chain.heads.get(headA.chain_id), { chainId: headA.chain_id, sequence: headA.sequence, hash: headA.hash });
    const b = await mk();
    assert.equal(b.head().chain_id, headA.chain_id);
    await b.record(sampleEvent(2));
    await b.close();
    const events = out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent);
    assert.deepEqual(events.map((e) => e.sequence), [1, 2, 3, 4]);
    assert.equal(events[2]!.prev_hash, events[1]!.hash);
    assert.equal(events[2]!.event_type, 'audit.started');
    const r = verifyAuditLog([{ name: 'stdout', lines: events.map((e, i) => ({ text: JSON.stringify(e), location: `stdout:${i + 1}` })) }], { publicKey: publicKeyFromPem(await readFile(key)) });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    const other = await mk('node-2');
    assert.notEqual(other.head().chain_id, headA.chain_id);
    assert.equal(other.head().sequence, 1);
    await other.close();
  } finally {
    await cleanup();
  }
});

test('config schema: strict, defaults, no default key; production problems', () => {
  const c = auditConfigSchema.parse({ signing_key_path: '/k' });
  assert.equal(c.enabled, true);
  assert.equal(c.on_failure, 'deny');
  assert.equal(c.checkpoint_interval, 60);
  assert.deepEqual(c.sinks, [{ type: 'stdout' }]);
  assert.equal(auditConfigSchema.safeParse({}).success, false); // signing_key_path required
  assert.equal(auditConfigSchema.safeParse({ signing_key_path: '/k', bogus: 1 }).success, false);
  assert.equal(auditConfigSchema.safeParse({ signing_key_path: '/k', sinks: [{ type: 'file', path: '/a', extra: 1 }] }).success, false);
  const n = auditConfigSchema.parse({ signing_key_path: '/k', sinks: [{ type: 'nats' }] });
  assert.deepEqual(n.sinks[0], { type: 'nats', url: 'nats://127.0.0.1:4222', subject: 'keyward.audit', create_stream: false, ack_timeout_ms: 5000, publish_retry_ms: 15_000, replicas: 1 });
  assert.deepEqual(auditProductionProblems(auditConfigSchema.parse({ signing_key_path: '/k', sinks: [{ type: 'file', path: '/a' }] })), []);
  const p = auditProductionProblems(auditConfigSchema.parse({ signing_key_path: '/k', on_failure: 'continue' }));
  assert.equal(p.length, 2);
  assert.ok(p.some((x) => x.includes('continue')));
  assert.ok(p.some((x) => x.includes('stdout')));
});

test('continue is refused in production; production refuses a group-readable key', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    await assert.rejects(makeTrail({ production: true, config: config({ signing_key_path: key, on_failure: 'continue' }) }), { code: 'config.invalid' });
    const { chmod } = await import('node:fs/promises');
    await chmod(key, 0o644);
    await assert.rejects(makeTrail({ production: true, config: config({ signing_key_path: key, sinks: [{ type: 'file', path: join(dir, 'a.log') }] }) }), { code: 'audit.key_permissions' });
  } finally {
    await cleanup();
  }
});
