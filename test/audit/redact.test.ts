// The redaction guard on its own: what it refuses, and that its errors name the exact path.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuditRedactionError, assertNoSecrets } from '../../src/audit/redact.ts';

const refuses = (value: unknown, path: string, why: RegExp) =>
  assert.throws(() => assertNoSecrets(value), (e: unknown) => e instanceof AuditRedactionError && e.message.startsWith(`audit metadata at ${path} `) && why.test(e.message), path);

test('errors name the path of the offending field, at any depth and in arrays', () => {
  refuses({ list: [{ ok: 1 }, { Authorization: 'Bearer x' }] }, 'metadata.list[1].Authorization', /looks secret/);
  refuses({ note: '-----BEGIN PRIVATE KEY-----\nMC4' }, 'metadata.note', /PEM private key/);
  refuses({ a: { b: [1, 2, Buffer.from('x')] } }, 'metadata.a.b[2]', /raw bytes/);
  refuses({ n: 10n }, 'metadata.n', /bigint/);
  refuses({ f: () => 1 }, 'metadata.f', /function/);
  refuses(Buffer.from('x'), 'metadata', /raw bytes/);
  let deep: Record<string, unknown> = { x: 1 };
  for (let i = 0; i < 10; i++) deep = { d: deep };
  refuses(deep, 'metadata.d.d.d.d.d.d.d.d.d', /nested too deeply/);
});

test('a secret-looking name is fine with a recognised hash, every time the name is seen', () => {
  const hash = `blake3:${'ab'.repeat(32)}`;
  for (let i = 0; i < 3; i++) {
    assertNoSecrets({ digest: hash, token_type: 'jwt', share_count: 3, when: new Date(), key_id: 'k1' });
    refuses({ digest: 'abcd' }, 'metadata.digest', /looks secret/);
  }
});
