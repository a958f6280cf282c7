// The `keyward` client commands against a listening server: human output, --json, and meaningful exit codes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer } from 'node:net';
import { main } from '../../src/cli/main.ts';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';

describe('keyward CLI against a server', () => {
  let t: TestKeyward;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    t = await startKeyward();
    await t.kw.app.listen({ host: '127.0.0.1', port: 0 });
    env = { KEYWARD_ADDR: `http://127.0.0.1:${(t.kw.app.server.address() as { port: number }).port}`, KEYWARD_TOKEN: t.token };
  });
  after(() => t?.close());

  async function run(...argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), env });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  test('create, list, show, sign, verify, rotate, release', async () => {
    assert.match((await run('keys', 'create', 'cli-1', '--type', 'EC-P256', '--label', 'team=cli')).out, /^created cli-1 \(EC-P256\) sha256:[0-9a-f]{64}$/);
    assert.match((await run('keys', 'list', '--label', 'team=cli')).out, /^cli-1\tEC-P256\tenabled\tv1$/);
    const shown = JSON.parse((await run('keys', 'show', 'cli-1')).out);
    assert.equal(shown.key_id, 'cli-1');
    const sig = (await run('keys', 'sign', 'cli-1', '--message', 'hello')).out;
    assert.equal((await run('keys', 'verify', 'cli-1', '--message', 'hello', '--signature', sig)).code, 0);
    const bad = await run('keys', 'verify', 'cli-1', '--message', 'other', '--signature', sig);
    assert.deepEqual([bad.code, bad.out], [1, 'INVALID']);
    assert.equal(JSON.parse((await run('keys', 'rotate', 'cli-1', '--json')).out).current_version, 2);
    assert.match((await run('keys', 'release', 'cli-1')).out, /state released/);
  });

  test('encrypt and decrypt round-trip with associated data', async () => {
    await run('keys', 'create', 'cli-aes', '--type', 'AES-256-GCM');
    const ct = (await run('keys', 'encrypt', 'cli-aes', '--plaintext', 'secret text', '--aad', 'ctx')).out;
    assert.equal((await run('keys', 'decrypt', 'cli-aes', '--ciphertext', ct, '--aad', 'ctx')).out, 'secret text');
    const wrong = await run('keys', 'decrypt', 'cli-aes', '--ciphertext', ct, '--aad', 'other');
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /^error: crypto\.decrypt_failed/);
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
    assert.equal((await run('nonsense')).code, 2);
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
