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

// Metadata uses a small, fixed vocabulary of names: each is judged once (bounded, so odd callers cannot grow it).
const nameVerdicts = new Map<string, boolean>();

function nameLooksSecret(name: string): boolean {
  let verdict = nameVerdicts.get(name);
  if (verdict === undefined) {
    const norm = name.toLowerCase();
    verdict = SECRET_KEY.test(norm.replace(/[^a-z0-9]/g, '')) && !SAFE_SUFFIX.test(norm);
    if (nameVerdicts.size < 4096) nameVerdicts.set(name, verdict);
  }
  return verdict;
}

/** Why a value cannot go into an event as it stands; 'container' for objects and arrays to look inside. */
function valueProblem(value: unknown): string | 'container' | undefined {
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') return undefined;
  if (typeof value === 'string') return PEM_PRIVATE.test(value) ? 'contains a PEM private key' : undefined;
  if (typeof value === 'bigint' || typeof value === 'function' || typeof value === 'symbol') return `is a ${typeof value}`;
  if (value instanceof Uint8Array || value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return 'contains raw bytes';
  if (value instanceof Date) return undefined;
  return 'container';
}

export function assertNoSecrets(value: unknown, path = 'metadata', depth = 0): void {
  if (depth > 8) throw new AuditRedactionError(path, 'is nested too deeply');
  const problem = valueProblem(value);
  if (problem === undefined) return;
  if (problem !== 'container') throw new AuditRedactionError(path, problem);
  // Child paths are built only when needed (a container to enter, or an error to report): this runs per event.
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = valueProblem(value[i]);
      if (p === 'container') assertNoSecrets(value[i], `${path}[${i}]`, depth + 1);
      else if (p !== undefined) throw new AuditRedactionError(`${path}[${i}]`, p);
    }
    return;
  }
  const obj = value as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    if (nameLooksSecret(k) && !(typeof v === 'string' && HASHED.test(v))) {
      throw new AuditRedactionError(`${path}.${k}`, 'has a name that looks secret');
    }
    const p = valueProblem(v);
    if (p === 'container') assertNoSecrets(v, `${path}.${k}`, depth + 1);
    else if (p !== undefined) throw new AuditRedactionError(`${path}.${k}`, p);
  }
}
