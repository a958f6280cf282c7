// The `keyward` client commands against a listening server: human output, --json, and meaningful exit codes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { KEY_TYPES } from '../../src/keys/families/index.ts';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { closedPort, listenInRange, runCli, STACK_LINE } from './helpers.ts';

describe('keyward CLI against a server', () => {
  let t: TestKeyward;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    t = await startKeyward();
    const port = await listenInRange((p) => t.kw.app.listen({ host: '127.0.0.1', port: p }));
    env = { KEYWARD_ADDR: `http://127.0.0.1:${port}`, KEYWARD_TOKEN: t.token };
  });
  after(() => t?.close());

  const run = (...argv: string[]) => runCli(argv, env);

  test('create, list, show, sign, verify, rotate, release', async () => {
    assert.match((await run('keys', 'create', 'cli-1', '--type', 'EC-P256', '--label', 'team=cli')).out, /^created cli-1 \(EC-P256\) sha256:[0-9a-f]{64}$/);
    assert.match((await run('keys', 'list', '--label', 'team=cli')).out, /^cli-1\tEC-P256\tenabled\tv1$/);
    assert.equal(JSON.parse((await run('keys', 'show', 'cli-1', '--json')).out).key_id, 'cli-1');
    const sig = (await run('keys', 'sign', 'cli-1', '--message', 'hello')).out;
    assert.equal((await run('keys', 'verify', 'cli-1', '--message', 'hello', '--signature', sig)).code, 0);
    const bad = await run('keys', 'verify', 'cli-1', '--message', 'other', '--signature', sig);
    assert.deepEqual([bad.code, bad.out], [1, 'INVALID']);
    assert.equal(JSON.parse((await run('keys', 'rotate', 'cli-1', '--json')).out).current_version, 2);
    // Providers: named on create, filtered on list; one that is not configured is refused by the server.
    assert.equal((await run('keys', 'create', 'cli-soft', '--type', 'EC-P256', '--provider', 'software', '--label', 'team=prov')).code, 0);
    assert.match((await run('keys', 'list', '--provider', 'software', '--label', 'team=prov')).out, /^cli-soft\tEC-P256\tenabled\tv1$/);
    assert.equal((await run('keys', 'list', '--provider', 'pkcs11')).out, 'no keys');
    const refused = await run('keys', 'create', 'cli-hsm', '--type', 'EC-P256', '--provider', 'pkcs11');
    assert.notEqual(refused.code, 0);
    assert.match(refused.err, /key\.provider_not_configured/);
  });

  test('create --help lists every key type; create over an existing id is refused with the --overwrite hint, and --overwrite replaces it', async () => {
    const help = await run('keys', 'create', '--help');
    assert.equal(help.code, 0);
    for (const type of KEY_TYPES) assert.match(help.out, new RegExp(`\\b${type}\\b`), type);
    assert.match(help.out, /--overwrite/);
    const first = JSON.parse((await run('keys', 'create', 'cli-over', '--type', 'EC-P256', '--json')).out);
    const again = await run('keys', 'create', 'cli-over', '--type', 'EC-P256');
    assert.equal(again.code, 1);
    assert.match(again.err, /^hint: keyward keys create cli-over --overwrite replaces it$/m);
    assert.match(again.err, /^error: key\.exists: /m);
    const replaced = await run('keys', 'create', 'cli-over', '--type', 'Ed25519', '--overwrite', '--json');
    assert.equal(replaced.code, 0, replaced.err);
    const body = JSON.parse(replaced.out);
    assert.equal(body.key_type, 'Ed25519');
    assert.notEqual(body.fingerprint, first.fingerprint);
  });

  test('show prints a readable summary with one line per version; --json keeps the API body', async () => {
    await run('keys', 'create', 'cli-show', '--type', 'EC-P256', '--label', 'team=cli', '--label', 'env=test');
    await run('keys', 'rotate', 'cli-show');
    const body = JSON.parse((await run('keys', 'show', 'cli-show', '--json')).out);
    const shown = await run('keys', 'show', 'cli-show');
    assert.equal(shown.code, 0);
    assert.throws(() => JSON.parse(shown.out));
    const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(shown.out)?.[1];
    assert.equal(field('key'), 'cli-show');
    assert.equal(field('type'), 'EC-P256');
    assert.equal(field('state'), 'enabled');
    assert.equal(field('origin'), body.origin);
    assert.equal(field('provider'), 'software');
    assert.equal(field('version'), '2 (current)');
    assert.equal(field('fingerprint'), body.fingerprint);
    assert.equal(field('labels'), 'team=cli, env=test');
    assert.equal(field('created'), body.created_at);
    assert.equal(field('updated'), body.updated_at);
    assert.equal(field('destroy at'), undefined);
    const versions = shown.out.split('\n').filter((l) => /^\s+v\d+\s/.test(l));
    assert.equal(versions.length, 2);
    assert.match(versions[0]!, new RegExp(`^\\s+v1\\s+${body.versions[0].fingerprint}\\s+created ${body.versions[0].created_at}`));
  });

  test('release says when the key will be destroyed and that the release can still be cancelled', async () => {
    await run('keys', 'create', 'cli-rel', '--type', 'EC-P256');
    const released = await run('keys', 'release', 'cli-rel');
    assert.equal(released.code, 0);
    const at = /will be destroyed at (\S+) unless the release is cancelled$/.exec(released.out)?.[1];
    assert.ok(at && Date.parse(at) > Date.now(), released.out);
    assert.match(released.out, /^released cli-rel; will be destroyed at /);
    assert.match((await run('keys', 'show', 'cli-rel')).out, /^destroy at:\s+\S+$/m);
  });

  test('encrypt and decrypt round-trip with associated data', async () => {
    await run('keys', 'create', 'cli-aes', '--type', 'AES-256-GCM');
    const ct = (await run('keys', 'encrypt', 'cli-aes', '--plaintext', 'secret text', '--aad', 'ctx')).out;
    const pt = await run('keys', 'decrypt', 'cli-aes', '--ciphertext', ct, '--aad', 'ctx');
    assert.equal(pt.bytes.toString('utf8'), 'secret text');
    assert.equal(pt.out, '');
    const wrong = await run('keys', 'decrypt', 'cli-aes', '--ciphertext', ct, '--aad', 'other');
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /^error: crypto\.decrypt_failed/);
    // An explicit empty plaintext is a plaintext.
    const empty = (await run('keys', 'encrypt', 'cli-aes', '--plaintext', '')).out;
    assert.equal((await run('keys', 'decrypt', 'cli-aes', '--ciphertext', empty)).bytes.length, 0);
  });

  test('binary plaintext round-trips byte-exactly: decrypt writes the bytes, no decoding, no added newline', async () => {
    await run('keys', 'create', 'cli-bin', '--type', 'AES-256-GCM');
    // Invalid UTF-8, NULs and a trailing newline: each would be changed by a text round trip.
    const plain = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]), randomBytes(200), Buffer.from([0x0a])]);
    const file = join(t.dir, 'plain.bin');
    writeFileSync(file, plain);
    const enc = await run('keys', 'encrypt', 'cli-bin', '--plaintext-file', file);
    assert.equal(enc.code, 0, enc.err);
    const dec = await run('keys', 'decrypt', 'cli-bin', '--ciphertext', enc.out);
    assert.equal(dec.code, 0, dec.err);
    assert.deepEqual(dec.bytes, plain);
    const json = await run('keys', 'decrypt', 'cli-bin', '--ciphertext', enc.out, '--json');
    assert.deepEqual(Buffer.from(JSON.parse(json.out).plaintext, 'base64'), plain);
    assert.equal(json.bytes.length, 0);
  });

  test('decrypt on an output that takes text lines only refuses rather than mangling the bytes', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['keys', 'decrypt', 'any-key', '--ciphertext', 'AAAA'], { out: (l) => out.push(l), err: (l) => err.push(l), env });
    assert.equal(code, 2);
    assert.deepEqual(out, []);
    assert.match(err[0]!, /--json/);
  });

  test('sign --raw and verify --raw: the raw r||s signature verifies only when verify is told it is raw', async () => {
    await run('keys', 'create', 'cli-raw', '--type', 'EC-P256');
    const sig = await run('keys', 'sign', 'cli-raw', '--message', 'hello', '--raw');
    assert.equal(Buffer.from(sig.out, 'base64').length, 64);
    const ok = await run('keys', 'verify', 'cli-raw', '--message', 'hello', '--signature', sig.out, '--raw');
    assert.deepEqual([ok.code, ok.out], [0, 'valid'], ok.err);
    assert.notEqual((await run('keys', 'verify', 'cli-raw', '--message', 'hello', '--signature', sig.out)).code, 0);
    // The message file is read as bytes too.
    const file = join(t.dir, 'msg.bin');
    writeFileSync(file, Buffer.from([0xff, 0x00, 0x0a]));
    const fsig = await run('keys', 'sign', 'cli-raw', '--message-file', file, '--raw');
    assert.equal((await run('keys', 'verify', 'cli-raw', '--message-file', file, '--signature', fsig.out, '--raw')).code, 0);
  });

  test('missing, contradictory or malformed input is a usage error (2), never a request', async () => {
    await run('keys', 'create', 'cli-in', '--type', 'EC-P256');
    const expectUsage = async (argv: string[], message: RegExp) => {
      const r = await run(...argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err.split('\n')[0]!, message);
      assert.match(r.err, /usage: keyward keys/);
      assert.equal(r.out, '');
    };
    await expectUsage(['keys', 'sign', 'cli-in'], /^error: give the data: --message/);
    await expectUsage(['keys', 'sign', 'cli-in', '--message', 'a', '--digest', 'AAAA'], /cannot be combined/);
    await expectUsage(['keys', 'verify', 'cli-in', '--signature', 'AAAA'], /^error: give the data/);
    await expectUsage(['keys', 'sign', 'cli-in', '--message', 'a', '--hash', 'SHA-384'], /--hash goes with --digest/);
    await expectUsage(['keys', 'encrypt', 'cli-in'], /^error: give the plaintext/);
    await expectUsage(['keys', 'encrypt', 'cli-in', '--plaintext', 'a', '--plaintext-file', 'x'], /cannot be combined/);
    const missing = join(t.dir, 'no-such-file');
    await expectUsage(['keys', 'sign', 'cli-in', '--message-file', missing], new RegExp(`--message-file ${missing}.*ENOENT`));
    await expectUsage(['keys', 'encrypt', 'cli-in', '--plaintext-file', missing], new RegExp(`--plaintext-file ${missing}.*ENOENT`));
    await expectUsage(['keys', 'list', 'extra'], /^error: unexpected argument "extra"$/);
    await expectUsage(['keys', 'show', 'cli-in', 'extra'], /^error: unexpected argument "extra"$/);
    await expectUsage(['keys', 'sign', 'cli-in', '--bogus'], /^error: unknown option --bogus$/);
    await expectUsage(['keys', 'list', '--type', 'EC-P256'], /^error: unknown option --type$/);
    await expectUsage(['keys', 'create', 'cli-lab', '--type', 'EC-P256', '--label', 'noequals'], /^error: --label must be NAME=VALUE, not "noequals"$/);
    await expectUsage(['keys', 'create', 'cli-lab', '--type', 'EC-P256', '--label', '=v'], /--label must be NAME=VALUE/);
    await expectUsage(['keys', 'list', '--label', 'noequals'], /--label must be NAME=VALUE/);
    await expectUsage(['keys', 'list', '--state', 'bogus'], /^error: --state must be one of enabled, disabled, released, destroyed, not "bogus"$/);
    await expectUsage(['keys', 'list', '--provider', 'vault'], /^error: --provider must be one of software, pkcs11, kmip/);
    await expectUsage(['keys', 'create', 'cli-lab', '--type', 'EC-P257'], /^error: --type must be one of EC-P256, .*HMAC-SHA256, not "EC-P257"$/);
    await expectUsage(['keys', 'create', 'cli-lab'], /^error: --type is required: one of EC-P256, /);
    // None of these reached the server: no key was created and nothing was signed.
    assert.equal((await run('keys', 'show', 'cli-lab')).code, 1);
  });

  test('exit codes: usage 2, refused 5, unreachable 4; status reports the seal', async () => {
    assert.equal((await run('keys', 'create')).code, 2);
    assert.equal((await run('keys', 'frobnicate', 'x')).code, 2);
    const denied = await main(['keys', 'list'], { out: () => {}, err: () => {}, env: { ...env, KEYWARD_TOKEN: 'wrong' } });
    assert.equal(denied, 5);
    const down = await main(['status'], { out: () => {}, err: () => {}, env: { KEYWARD_ADDR: `http://127.0.0.1:${await closedPort()}`, KEYWARD_TOKEN: 'x' } });
    assert.equal(down, 4);
    const status = await run('status', '--json');
    assert.equal(status.code, 0);
    assert.equal(JSON.parse(status.out).sealed, false);
    const extra = await run('status', 'extra');
    assert.equal(extra.code, 2);
    assert.doesNotMatch(extra.err, STACK_LINE);
    assert.equal((await run('nonsense')).code, 2);
  });
});
