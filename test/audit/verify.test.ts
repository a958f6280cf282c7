import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, createHash, type KeyObject } from 'node:crypto';
import { readdir, readFile, stat, writeFile, mkdir, appendFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { canonicalBytes, chainHash, signingInput, type AuditEvent } from '../../src/audit/canonical.ts';
import { publicKeyFromPem, rawPublicKey } from '../../src/audit/keys.ts';
import { readAuditPaths, verifyAuditLog, type VerifyResult } from '../../src/audit/verify.ts';
import { run } from '../../src/cli/commands/audit.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { config, makeTrail, MemoryChain, MemorySettings, newKey, readLines, sampleEvent, tempDir } from './helpers.ts';
import { independentVerify } from './independent-verifier.ts';

function io(): CliIo & { outs: string[]; errs: string[] } {
  const outs: string[] = [];
  const errs: string[] = [];
  return { outs, errs, out: (l) => outs.push(l), err: (l) => errs.push(l), env: {} };
}

async function writeLog(dir: string, name: string, lines: string[], torn = ''): Promise<string> {
  await mkdir(dir, { recursive: true });
  const p = join(dir, name);
  await writeFile(p, lines.map((l) => l + '\n').join('') + torn);
  return p;
}

async function verifyFiles(paths: string[], pub: KeyObject): Promise<VerifyResult> {
  const { sources, checkpoints } = await readAuditPaths(paths);
  return verifyAuditLog(sources, { publicKey: pub, checkpoints });
}

function forge(e: Omit<AuditEvent, 'hash' | 'signature'>, key: KeyObject): AuditEvent {
  const hash = chainHash(e.prev_hash, canonicalBytes(e));
  return { ...e, hash, signature: sign(null, signingInput(e.chain_id, e.sequence, hash), key).toString('base64') };
}

test('file sink rotates by size and by age without breaking the chain; verify orders rotated files by chain', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const logs = join(dir, 'logs');
    const path = join(logs, 'audit.log');
    const { trail, clock } = await makeTrail({ config: config({ signing_key_path: key, sinks: [{ type: 'file', path, max_bytes: 3000, max_age_seconds: 0 }] }) });
    for (let i = 0; i < 20; i++) await trail.record(sampleEvent(i));
    await Promise.all(Array.from({ length: 20 }, (_, i) => trail.record(sampleEvent(i)))); // one batch spanning files
    const cp = await trail.checkpoint();
    const stats = trail.stats()[`file:${path}`]!;
    await trail.close();
    assert.ok(stats.rotations >= 5, `rotations ${stats.rotations}`);
    const names = (await readdir(logs)).sort();
    const rotated = names.filter((n) => /^audit\.log\.\d{12}-\d{12}$/.test(n));
    assert.equal(rotated.length, stats.rotations);
    for (const n of rotated) assert.ok((await stat(join(logs, n))).size <= 3000 + 1000);
    assert.ok(names.includes('audit.log.checkpoint'));
    const pubPem = await readFile(key);
    const pub = publicKeyFromPem(pubPem);
    const r = await verifyFiles([logs], pub);
    assert.equal(r.ok, true, JSON.stringify(r.error));
    assert.equal(r.chains[0]!.last_sequence, cp.sequence);
    assert.equal(r.chains[0]!.last_checkpoint_sequence, cp.sequence);
    // explicit file list in reverse name order: still ordered by chain
    const files = names.filter((n) => !n.endsWith('.checkpoint')).map((n) => join(logs, n)).reverse();
    const r2 = await verifyFiles(files, pub);
    assert.equal(r2.ok, true, JSON.stringify(r2.error));
    // the independent verifier agrees on the real output
    const ordered: string[] = [];
    for (const n of [...rotated, 'audit.log']) ordered.push(...(await readLines(join(logs, n))));
    const pem = pub.export({ type: 'spki', format: 'pem' }).toString();
    const ind = independentVerify(ordered, pem, (await readFile(join(logs, 'audit.log.checkpoint'), 'utf8')).trim());
    assert.deepEqual(ind, { ok: true, count: cp.sequence });

    // by age (ManualClock)
    const path2 = join(dir, 'aged', 'audit.log');
    const t = await makeTrail({ config: config({ signing_key_path: key, sinks: [{ type: 'file', path: path2, max_bytes: 0, max_age_seconds: 60 }] }), clock });
    await t.trail.record(sampleEvent(1));
    clock.advance(59_000);
    await t.trail.record(sampleEvent(2));
    assert.equal(t.trail.stats()[`file:${path2}`]!.rotations, 0);
    clock.advance(2_000);
    await t.trail.record(sampleEvent(3));
    assert.equal(t.trail.stats()[`file:${path2}`]!.rotations, 1);
    await t.trail.close();
    assert.deepEqual((await readdir(join(dir, 'aged'))).sort(), ['audit.log', 'audit.log.000000000001-000000000003']);
    assert.equal((await verifyFiles([join(dir, 'aged')], pub)).ok, true);
  } finally {
    await cleanup();
  }
});

test('tampering is detected with a specific reason, by the library and the CLI', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const pubPem = (await readFile(key)).toString();
    const pub = publicKeyFromPem(pubPem);
    const pubFile = join(dir, 'audit.pub.pem');
    await writeFile(pubFile, pub.export({ type: 'spki', format: 'pem' }));
    const mkLog = async (name: string, settings = new MemorySettings()) => {
      const path = join(dir, name, 'audit.log');
      const { trail } = await makeTrail({ settings, chain: new MemoryChain(), config: config({ signing_key_path: key, sinks: [{ type: 'file', path }] }) });
      for (let i = 0; i < 8; i++) await trail.record(sampleEvent(i));
      await trail.checkpoint(); // sequence 10
      await trail.close();
      return { lines: await readLines(path), checkpoint: (await readFile(path + '.checkpoint', 'utf8')).trim() };
    };
    const a = await mkLog('a');
    const b = await mkLog('b');
    assert.equal(a.lines.length, 10);
    const ev = (l: string) => JSON.parse(l) as AuditEvent;
    const attacker = generateKeyPairSync('ed25519').privateKey;

    let n = 0;
    const expectFailure = async (label: string, lines: string[], reason: string, sequence: number | undefined, opts: { checkpoint?: string; torn?: string } = {}) => {
      const d = join(dir, `case-${n++}`);
      const p = await writeLog(d, 'audit.log', lines, opts.torn);
      if (opts.checkpoint) await writeFile(p + '.checkpoint', opts.checkpoint + '\n');
      const r = await verifyFiles([p], pub);
      assert.equal(r.ok, false, `${label}: expected failure`);
      assert.equal(r.error!.reason, reason, `${label}: ${JSON.stringify(r.error)}`);
      if (sequence !== undefined) assert.equal(r.error!.sequence, sequence, label);
      const cli = io();
      assert.equal(await run(['verify', '--public-key', pubFile, p], cli), 1, label);
      assert.match(cli.outs.join('\n'), new RegExp(`FAILED: ${reason}`), label);
      assert.equal(independentVerify([...lines, ...(opts.torn && !opts.torn.endsWith('}') ? [] : [])], pub.export({ type: 'spki', format: 'pem' }).toString(), opts.checkpoint).ok, false, `${label}: independent verifier`);
      return cli;
    };

    // intact: ok, and the CLI says so
    {
      const p = await writeLog(join(dir, 'intact'), 'audit.log', a.lines);
      await writeFile(p + '.checkpoint', a.checkpoint + '\n');
      const cli = io();
      assert.equal(await run(['verify', '--public-key', pubFile, p], cli), 0, cli.outs.join('\n') + cli.errs.join('\n'));
      assert.match(cli.outs[0]!, /^OK: chain .*: 10 events, sequences 1\.\.10/);
    }
    // one byte flipped inside an event
    await expectFailure('byte flip', a.lines.map((l, i) => (i === 2 ? l.replace('kms:Sign', 'kms:Sigm') : l)), 'hash_mismatch', 3);
    // a byte flipped in the signature
    await expectFailure('signature flip', a.lines.map((l, i) => (i === 3 ? l.replace(/"signature":"(.)/, (_m, c: string) => `"signature":"${c === 'A' ? 'B' : 'A'}`) : l)), 'bad_signature', 4);
    // a line that is no longer JSON
    await expectFailure('broken json', a.lines.map((l, i) => (i === 4 ? l.slice(0, 40) : l)), 'malformed', undefined);
    // deleted event
    await expectFailure('delete', a.lines.filter((_, i) => i !== 3), 'gap', 5);
    // inserted forgery (attacker key, real key id)
    const forged = forge({ ...ev(a.lines[3]!), metadata: { forged: true } }, attacker);
    const { hash: _h, signature: _s, ...unsigned4 } = forged;
    void unsigned4;
    await expectFailure('insert forged', [...a.lines.slice(0, 3), canonicalize(forged)!, ...a.lines.slice(3)], 'bad_signature', 4);
    // inserted replay of an earlier genuine event
    await expectFailure('insert replay', [...a.lines.slice(0, 5), a.lines[1]!, ...a.lines.slice(5)], 'duplicate', 2);
    // reordered
    const swapped = [...a.lines];
    [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
    await expectFailure('reorder', swapped, 'reordered', 5);
    // truncated tail, detectable against the signed checkpoint sidecar
    await expectFailure('truncate', a.lines.slice(0, 7), 'truncated', 7, { checkpoint: a.checkpoint });
    // deleted head
    await expectFailure('delete head', a.lines.slice(1), 'missing_start', 2);
    // whole chain re-signed with another key (new key id, hashes recomputed)
    const attackerRaw = rawPublicKey(generateKeyPairSync('ed25519').publicKey);
    void attackerRaw;
    const attackerKeyId = createHash('sha256').update(rawPublicKey((await import('node:crypto')).createPublicKey(attacker))).digest('hex').slice(0, 32);
    let prev = '0'.repeat(64);
    const resigned = a.lines.map((l) => {
      const { hash: _x, signature: _y, ...u } = ev(l);
      const f = forge({ ...u, key_id: attackerKeyId, prev_hash: prev }, attacker);
      prev = f.hash;
      return canonicalize(f)!;
    });
    await expectFailure('swapped signing key', resigned, 'wrong_key', 1);
    // re-signed keeping the genuine key id
    await expectFailure('re-signed with real key id', a.lines.map((l) => canonicalize(forge((({ hash: _x, signature: _y, ...u }) => u)(ev(l)), attacker))!), 'bad_signature', 1);
    // two chains spliced: a's head, b's tail
    await expectFailure('splice', [...a.lines.slice(0, 5), ...b.lines.slice(5)], 'chain_mismatch', 6);
    // checkpoint of another chain
    await expectFailure('foreign checkpoint', a.lines, 'checkpoint_mismatch', undefined, { checkpoint: b.checkpoint });
    // torn final line is tolerated (warning) ...
    {
      const p = await writeLog(join(dir, 'torn'), 'audit.log', a.lines.slice(0, 9), a.lines[9]!.slice(0, 50));
      const r = await verifyFiles([p], pub);
      assert.equal(r.ok, true);
      assert.equal(r.warnings[0]!.reason, 'torn_final_line');
      const cli = io();
      assert.equal(await run(['verify', '--key', key, p], cli), 0);
      assert.match(cli.errs.join('\n'), /torn_final_line/);
    }
    // ... but not when the signed checkpoint vouches for the torn event
    await expectFailure('torn under checkpoint', a.lines.slice(0, 9), 'truncated', 9, { checkpoint: a.checkpoint, torn: a.lines[9]!.slice(0, 50) });
    // and never in the middle of the log
    {
      const d = join(dir, 'torn-mid');
      await writeLog(d, 'audit.log.000000000001-000000000005', a.lines.slice(0, 4), a.lines[4]!.slice(0, 30));
      await writeLog(d, 'audit.log', a.lines.slice(5));
      const r = await verifyFiles([d], pub);
      assert.equal(r.error?.reason, 'torn_line');
    }
  } finally {
    await cleanup();
  }
});

test('CLI: keygen (0600, no overwrite), public-key, usage errors', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const p = join(dir, 'k.pem');
    const c = io();
    assert.equal(await run(['keygen', '--out', p], c), 0);
    assert.equal((await stat(p)).mode & 0o777, 0o600);
    assert.match(c.outs.join('\n'), /key_id: [0-9a-f]{32}[\s\S]*BEGIN PUBLIC KEY/);
    assert.ok(!c.outs.join('\n').includes('PRIVATE'));
    const before = await readFile(p, 'utf8');
    const c2 = io();
    assert.notEqual(await run(['keygen', '--out', p], c2), 0);
    assert.match(c2.errs.join('\n'), /audit\.key_exists/);
    assert.equal(await readFile(p, 'utf8'), before);
    const c3 = io();
    assert.equal(await run(['public-key', '--key', p], c3), 0);
    assert.deepEqual(c3.outs, c.outs);
    assert.equal(await run(['verify', dir], io()), 2);
    assert.equal(await run(['bogus'], io()), 2);
    const c4 = io();
    await appendFile(join(dir, 'empty.log'), '');
    assert.equal(await run(['verify', '--key', p, join(dir, 'empty.log')], c4), 1);
    assert.match(c4.outs.join('\n'), /FAILED: empty/);
  } finally {
    await cleanup();
  }
});

test('a line with a duplicated member name is not I-JSON: verify refuses it, whichever copy a reader would keep', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const pub = publicKeyFromPem(await readFile(key));
    const path = join(dir, 'src', 'audit.log');
    const { trail } = await makeTrail({ config: config({ signing_key_path: key, sinks: [{ type: 'file', path }] }) });
    for (let i = 0; i < 5; i++) await trail.record(sampleEvent(i));
    await trail.checkpoint();
    await trail.close();
    const lines = await readLines(path);
    const checkpoint = (await readFile(path + '.checkpoint', 'utf8')).trim();
    // JSON.parse keeps the last member, which carries the signed value, so hash and signature still check out;
    // a reader keeping the first one sees a denial.
    const variants = [
      '{"outcome":"denied",' + lines[3]!.slice(1),
      '{"\\u006futcome":"denied",' + lines[3]!.slice(1),
      lines[3]!.replace('"metadata":{', '"metadata":{"n":99,'),
    ];
    let n = 0;
    for (const bad of variants) {
      assert.equal((JSON.parse(bad) as AuditEvent).hash, (JSON.parse(lines[3]!) as AuditEvent).hash);
      const d = join(dir, `dup-${n++}`);
      const p = await writeLog(d, 'audit.log', lines.map((l, i) => (i === 3 ? bad : l)));
      await writeFile(p + '.checkpoint', checkpoint + '\n');
      const r = await verifyFiles([p], pub);
      assert.equal(r.ok, false, bad);
      assert.equal(r.error!.reason, 'malformed');
      assert.equal(r.error!.location, `${p}:4`);
      assert.match(r.error!.message, /appears twice/);
      const cli = io();
      assert.equal(await run(['verify', '--key', key, p], cli), 1);
      assert.match(cli.outs.join('\n'), /FAILED: malformed .*audit\.log:4.*appears twice/);
      const pem = pub.export({ type: 'spki', format: 'pem' }).toString();
      assert.equal(independentVerify(lines.map((l, i) => (i === 3 ? bad : l)), pem, checkpoint).ok, false, 'independent verifier');
    }
    // A lone surrogate cannot be canonicalised (RFC 8785 needs I-JSON) either.
    const p = await writeLog(join(dir, 'surrogate'), 'audit.log', lines.map((l, i) => (i === 2 ? l.replace('"test/1.0"', '"test/\\ud800"') : l)));
    assert.match((await verifyFiles([p], pub)).error?.message ?? '', /lone surrogate/);
    // The unchanged log verifies.
    const ok = await writeLog(join(dir, 'ok'), 'audit.log', lines);
    await writeFile(ok + '.checkpoint', checkpoint + '\n');
    assert.equal((await verifyFiles([ok], pub)).ok, true);
  } finally {
    await cleanup();
  }
});

test('a cut tail with its checkpoint sidecar deleted: an error for production trails or on request, a loud warning otherwise', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const cut = async (name: string, production: boolean) => {
      const path = join(dir, name, 'audit.log');
      const { trail } = await makeTrail({ production, config: config({ signing_key_path: key, sinks: [{ type: 'file', path }] }) });
      for (let i = 0; i < 6; i++) await trail.record(sampleEvent(i));
      await trail.checkpoint(); // event 8, also in the sidecar
      await trail.close();
      const lines = await readLines(path);
      await writeFile(path, lines.slice(0, 5).map((l) => l + '\n').join(''));
      await rm(path + '.checkpoint');
      return path;
    };
    const prod = await cut('prod', true);
    const dev = await cut('dev', false);
    const verify = async (args: string[]) => {
      const c = io();
      const code = await run(['verify', '--key', key, ...args], c);
      return { code, out: c.outs.join('\n'), err: c.errs.join('\n') };
    };
    // Production trail: refused by default, and the reason says why.
    let r = await verify([join(dir, 'prod')]);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out, /FAILED: checkpoint_missing at sequence 5: chain .* not vouched for by a signed checkpoint/);
    r = await verify(['--no-require-checkpoints', prod]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.err, /WARNING: no_checkpoint: chain .*--require-checkpoints makes this an error/);
    // Dev trail: a warning by default, an error on request.
    r = await verify([dev]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.err, /WARNING: no_checkpoint/);
    r = await verify(['--require-checkpoints', dev]);
    assert.equal(r.code, 1);
    assert.match(r.out, /FAILED: checkpoint_missing/);
    assert.equal((await verify(['--require-checkpoints', '--no-require-checkpoints', dev])).code, 2);
    // With the sidecar present, the production trail verifies and the cut is found.
    const path = join(dir, 'prod2', 'audit.log');
    const { trail } = await makeTrail({ production: true, config: config({ signing_key_path: key, sinks: [{ type: 'file', path }] }) });
    for (let i = 0; i < 3; i++) await trail.record(sampleEvent(i));
    await trail.checkpoint();
    await trail.close();
    r = await verify([join(dir, 'prod2')]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.doesNotMatch(r.err, /no_checkpoint/);
  } finally {
    await cleanup();
  }
});

test('a file of more than a hundred thousand lines is verified, not lost to a stack overflow', () => {
  const { publicKey } = generateKeyPairSync('ed25519');
  const lines = Array.from({ length: 200_000 }, (_, i) => ({ text: '{}', location: `big.log:${i + 1}` }));
  const result = verifyAuditLog([{ name: 'big.log', lines }], { publicKey });
  assert.equal(result.ok, false);
  assert.doesNotMatch(JSON.stringify(result).slice(0, 2000), /call stack/);
});
