// Pure crypto for the key service: no I/O, no HTTP, no storage.
export { type GeneratedKey, generateKey } from './generate.ts';
export { type ImportInput, importKey } from './import.ts';
export { loadPrivateKey, loadPublicKey } from './load.ts';
export { fingerprint } from './fingerprint.ts';
export { type PublicJwk, defaultJwsAlgorithm, keyServiceJwk, publicKeyJwk, publicKeyPem } from './public.ts';
export { type SignInput, type VerifyInput, sign, verify } from './sign.ts';
export { DATA_KEY_SIZES, type DataKeySize, ciphertextVersion, decrypt, encrypt, generateDataKey } from './cipher.ts';
export { RANDOM_MAX_BYTES, hmac, randomBytes, verifyHmac } from './mac.ts';
export { jwks, jwsAlgorithm, jwtKid, signJwt } from './jwt.ts';
export { defaultHash } from './params.ts';
