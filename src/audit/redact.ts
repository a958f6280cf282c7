// The redaction guard. Metadata is free-form, so it is the place a secret could slip into the permanent,
// replicated audit log. A hit is a programming error: it throws instead of silently scrubbing.

export class AuditRedactionError extends Error {
  constructor(path: string, why: string) {
    super(`audit metadata at ${path} ${why}; put only non-secret facts and hashForAudit() digests in audit events`);
    this.name = 'AuditRedactionError';
  }
}

// Key names (lower-cased, separators removed) that look like secrets or raw sensitive data.
const SECRET_KEY = /(plaintext|cleartext|keymaterial|privatekey|secretkey|secret|password|passwd|passphrase|token|apikey|share|datakey|seed|mnemonic|credential|authorization|cookie|ciphertext|digest|rawkey|unsealkey|rootkey|^key$|^pin$|^otp$)/;
// Suffixes that name a non-secret fact about such a thing.
const SAFE_SUFFIX = /(_|-)?(hash|hashes|fingerprint|id|ids|count|type|kid|index|length|threshold|progress|algorithm|required|present)$/;
const HASHED = /^(blake3|sha256):[0-9a-f]{64}$/;
const PEM_PRIVATE = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

export function assertNoSecrets(value: unknown, path = 'metadata', depth = 0): void {
  if (depth > 8) throw new AuditRedactionError(path, 'is nested too deeply');
  if (value === null || typeof value === 'number' || typeof value === 'boolean' || value === undefined) return;
  if (typeof value === 'string') {
    if (PEM_PRIVATE.test(value)) throw new AuditRedactionError(path, 'contains a PEM private key');
    return;
  }
  if (typeof value === 'bigint' || typeof value === 'function' || typeof value === 'symbol') {
    throw new AuditRedactionError(path, `is a ${typeof value}`);
  }
  if (value instanceof Uint8Array || value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    throw new AuditRedactionError(path, 'contains raw bytes');
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => assertNoSecrets(v, `${path}[${i}]`, depth + 1));
    return;
  }
  if (value instanceof Date) return;
  if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const norm = k.toLowerCase();
      const squashed = norm.replace(/[^a-z0-9]/g, '');
      if (SECRET_KEY.test(squashed) && !SAFE_SUFFIX.test(norm) && !(typeof v === 'string' && HASHED.test(v))) {
        throw new AuditRedactionError(`${path}.${k}`, 'has a name that looks secret');
      }
      assertNoSecrets(v, `${path}.${k}`, depth + 1);
    }
  }
}
