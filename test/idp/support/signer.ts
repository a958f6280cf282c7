// In-memory TokenSigner for tests: private keys stay in this closure, the provider only gets sign(). One key set
// serves every realm (realm isolation of signing keys is tested with the key service's signer).
import { createPrivateKey, generateKeyPairSync, sign as cryptoSign, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { TokenSigner, TokenSigningKey } from '../../../src/idp/signing.ts';

export function memorySigner(): TokenSigner & { rotate(alg: 'ES256' | 'RS256'): void; publicKeys(): TokenSigningKey[] } {
  const held: Array<{ kid: string; alg: 'ES256' | 'RS256'; priv: KeyObject; pub: JsonWebKey }> = [];
  let n = 0;
  const add = (alg: 'ES256' | 'RS256') => {
    const { privateKey, publicKey } =
      alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
    // Newest first: it signs, older versions stay published.
    held.unshift({ kid: `test-${alg.toLowerCase()}-${++n}`, alg, priv: createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })), pub: publicKey.export({ format: 'jwk' }) as JsonWebKey });
  };
  add('RS256');
  add('ES256');
  // No lead time here: the newest key of an algorithm signs (the key service's signer schedules versions).
  const view = (): TokenSigningKey[] =>
    held.map((h) => ({
      kid: h.kid,
      alg: h.alg,
      signs: held.find((x) => x.alg === h.alg) === h,
      publicJwk: h.pub,
      sign: async (data: Buffer) =>
        h.alg === 'ES256' ? cryptoSign('sha256', data, { key: h.priv, dsaEncoding: 'ieee-p1363' }) : cryptoSign('sha256', data, h.priv),
    }));
  return { keys: async () => view(), rotate: add, publicKeys: view };
}
