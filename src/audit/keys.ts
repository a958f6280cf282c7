// The audit signing key: an Ed25519 key in a PKCS#8 PEM file, readable by the service user only.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, open, readFile, stat } from 'node:fs/promises';
import { ProblemError, type ProblemCode } from '../core/problem.ts';
import { keyIdFor } from './canonical.ts';

export interface AuditPublicKeyInfo {
  ed25519_public_key_pem: string;
  /** Raw 32-byte public key, base64. */
  ed25519_public_key_b64: string;
  key_id: string;
}

export interface AuditSigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  info: AuditPublicKeyInfo;
}

type AuditKeyCode = Extract<ProblemCode, `audit.key_${string}`>;
const keyError = (code: AuditKeyCode, detail: string) => new ProblemError({ code, detail });

export function publicKeyInfo(publicKey: KeyObject): AuditPublicKeyInfo {
  if (publicKey.asymmetricKeyType !== 'ed25519') throw keyError('audit.key_invalid', 'the audit key must be Ed25519');
  const raw = rawPublicKey(publicKey);
  return {
    ed25519_public_key_pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    ed25519_public_key_b64: raw.toString('base64'),
    key_id: keyIdFor(raw),
  };
}

export function rawPublicKey(publicKey: KeyObject): Buffer {
  // The SPKI of an Ed25519 key is a fixed 12-byte prefix followed by the 32-byte key.
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 32);
}

export function signingKeyFromPem(pem: string | Buffer): AuditSigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw keyError('audit.key_invalid', 'the audit signing key file is not a PEM private key');
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw keyError('audit.key_invalid', 'the audit signing key must be Ed25519');
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, info: publicKeyInfo(publicKey) };
}

/** Loads the key; `strict` (production) refuses a file readable by group or others. */
export async function loadSigningKey(path: string, opts: { strict: boolean; warn?: (msg: string) => void }): Promise<AuditSigningKey> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw keyError('audit.key_missing', `cannot read the audit signing key at ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if ((st.mode & 0o077) !== 0) {
    const msg = `audit signing key ${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); expected 0600`;
    if (opts.strict) throw keyError('audit.key_permissions', msg);
    opts.warn?.(msg);
  }
  return signingKeyFromPem(await readFile(path));
}

/** Creates a new key file with mode 0600; refuses to overwrite. */
export async function generateSigningKeyFile(path: string): Promise<AuditSigningKey> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  let fh;
  try {
    fh = await open(path, 'wx', 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw keyError('audit.key_exists', `${path} already exists; refusing to overwrite an audit signing key`);
    throw keyError('audit.key_write_failed', `cannot create ${path}: ${code ?? 'error'}`);
  }
  try {
    await fh.writeFile(pem);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(path, 0o600); // the umask may have been stricter, never looser, but make it exact
  return signingKeyFromPem(pem);
}

/** A verifier accepts a SPKI public key PEM or the signing key itself (its public half is derived). */
export function publicKeyFromPem(pem: string | Buffer): KeyObject {
  const text = pem.toString();
  const key = text.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(text)) : createPublicKey(text);
  if (key.asymmetricKeyType !== 'ed25519') throw keyError('audit.key_invalid', 'the audit public key must be Ed25519');
  return key;
}
