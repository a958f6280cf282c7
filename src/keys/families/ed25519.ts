// Ed25519: pure EdDSA (RFC 8032). The message itself is signed, so there is no hash to choose and no digest to sign.
import { generateKeyPair } from 'node:crypto';
import { PKCS8_SPKI_DER, derPair, importPrivateKey, loadPrivateKey, spkiFingerprint } from './asymmetric.ts';
import { signMessage, verifyMessage } from './signing.ts';
import type { SigningFamily } from './types.ts';

export type Ed25519KeyType = 'Ed25519';

/** Pure EdDSA never sees a digest: planSignature refuses one, so reaching here with one is a programming error. */
function messageOf(input: { message: Buffer } | { digest: Buffer }): Buffer {
  if ('digest' in input) throw new Error('Ed25519 signs messages only');
  return input.message;
}

export const ed25519Family: SigningFamily<Ed25519KeyType> = {
  name: 'Ed25519',
  types: ['Ed25519'],
  usage: 'sign_verify',

  options: [],
  defaultHash: () => null,
  keyRackAlgorithm: () => 'ED25519_PURE',
  jwsAlgorithm: () => 'EdDSA',
  singleJwsAlgorithm: true,
  jwsSignOptions: (_type, alg) => (alg === 'EdDSA' ? {} : undefined),
  jwkAlgorithms: () => ['EdDSA', 'Ed25519'],
  matches: (_type, key) => key.asymmetricKeyType === 'ed25519',

  generate: () => derPair((cb) => generateKeyPair('ed25519', PKCS8_SPKI_DER, cb)),
  import: (type, input) => importPrivateKey(ed25519Family, type, input),
  load: (type, material) => loadPrivateKey(ed25519Family, type, material),
  fingerprint: (type, spki) => spkiFingerprint(type, spki),

  sign: async (_type, key, plan) => signMessage(null, messageOf(plan.input), key),
  verify: async (_type, publicKey, plan, signature) => verifyMessage(null, messageOf(plan.input), publicKey, signature),
};
