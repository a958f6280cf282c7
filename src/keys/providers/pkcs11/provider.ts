// The PKCS#11 key provider: keys generated inside one token (found by its label) as sensitive, non-extractable
// objects, used through the token layer (token.ts: session pool, recovery, typed errors). A version's reference is
// its objects' CKA_LABEL and CKA_ID; operations name the object by CKA_ID (random, 16 bytes) when it has one.
//
// What it holds: EC P-256/P-384, RSA 2048-4096 (PKCS#1 v1.5 and PSS, over messages or digests) and AES-256-GCM.
// Not Ed25519, EC P-521 or HMAC: the token layer does not drive those mechanisms, so such keys are refused
// (key.provider_unsupported) rather than made in software.
//
// The PIN comes from a file or an environment variable, never from the configuration itself. The binding (a native
// addon) is loaded only when a provider is created, so a configuration without PKCS#11 never loads it.
import { statSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { duration } from '../../../core/duration.ts';
import { badRequest, isProblem } from '../../../core/problem.ts';
import { type KeyType, spkiMatches } from '../../families/index.ts';
import type { SignaturePlan } from '../../families/index.ts';
import { ProviderKeyUnusable, providerUnsupported } from '../errors.ts';
import type { ExternalStatus, GcmParts, HeldKey, KeyProvider, ProviderConfigProblem, ProviderContext, ProviderDescriptor, ProviderHealth, ProviderObject, ProviderOperation, SealKeyWrapper } from '../types.ts';
import type { KeyRef, Pkcs11KeyType, Pkcs11Token } from './token.ts';

export const pkcs11ConfigSchema = z
  .strictObject({
    /** Path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so. */
    module: z.string().min(1),
    /** CKA_LABEL of the token. */
    token_label: z.string().min(1).max(32),
    /** A file holding the user PIN (trailing newline ignored); owner-only in production. */
    pin_file: z.string().min(1).optional(),
    /** An environment variable holding the user PIN. */
    pin_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
    /** Sessions kept open at most. */
    sessions: z.number().int().min(1).max(64).default(4),
    /** How long an operation waits for a free session before 503 hsm.unavailable. */
    acquire_timeout: duration().prefault('10s'),
    /** While the token is unreachable, how often a reconnect is tried (calls fail fast in between). */
    reconnect_interval: duration().prefault('1s'),
  })
  .superRefine((c, ctx) => {
    if ((c.pin_file === undefined) === (c.pin_env === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['pin_file'], message: 'give exactly one of pin_file and pin_env (the PIN itself never goes in the configuration)' });
    }
  });
export type Pkcs11Config = z.output<typeof pkcs11ConfigSchema>;

const SUPPORTED: ReadonlySet<KeyType> = new Set<KeyType>(['EC-P256', 'EC-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096', 'AES-256-GCM']);
const isEc = (t: KeyType) => t === 'EC-P256' || t === 'EC-P384';
const isRsa = (t: KeyType) => t === 'RSA-2048' || t === 'RSA-3072' || t === 'RSA-4096';

interface Pkcs11Ref {
  label: string;
  /** Hex CKA_ID; absent for an external object without one (then the label names it). */
  id?: string;
}

function parseRef(text: string): Pkcs11Ref {
  const r = JSON.parse(text) as Pkcs11Ref;
  if (typeof r.label !== 'string') throw new Error('malformed PKCS#11 reference');
  return r;
}
const keyRef = (r: Pkcs11Ref): KeyRef => (r.id ? { id: Buffer.from(r.id, 'hex') } : { label: r.label });

/** `id:<hex>` names an object by CKA_ID, anything else by CKA_LABEL. */
function externalRef(text: string): KeyRef {
  const m = /^id:([0-9a-fA-F]{2,128})$/.exec(text);
  if (m) {
    if (m[1]!.length % 2 !== 0) throw badRequest('key.external_invalid', 'a CKA_ID is an even number of hex digits');
    return { id: Buffer.from(m[1]!, 'hex') };
  }
  if (text.length === 0 || text.length > 128) throw badRequest('key.external_invalid', 'a PKCS#11 label is 1-128 characters (or id:<hex> for a CKA_ID)');
  return { label: text };
}

export function readPin(config: Pkcs11Config, env: NodeJS.ProcessEnv): string {
  if (config.pin_env !== undefined) {
    const v = env[config.pin_env];
    if (v === undefined || v === '') throw new Error(`keys.providers.pkcs11.pin_env: environment variable ${config.pin_env} is not set`);
    return v;
  }
  let text: string;
  try {
    text = readFileSync(config.pin_file!, 'utf8');
  } catch (e) {
    throw new Error(`keys.providers.pkcs11.pin_file: cannot read ${config.pin_file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const pin = text.replace(/\r?\n$/, '');
  if (pin.length === 0) throw new Error(`keys.providers.pkcs11.pin_file: ${config.pin_file} is empty`);
  return pin;
}

class Pkcs11Provider implements KeyProvider {
  readonly name = 'pkcs11' as const;
  readonly #token: Pkcs11Token;

  constructor(token: Pkcs11Token) {
    this.#token = token;
  }

  refusal(type: KeyType, operation: ProviderOperation): string | undefined {
    if (!SUPPORTED.has(type)) return `the token holds EC P-256/P-384, RSA 2048-4096 and AES-256-GCM keys, not ${type}`;
    if (operation.op === 'mac') return 'HMAC keys are not held in the token';
    if (operation.op === 'sign' && operation.plan.hash === null) return 'the token signs hashed input only';
    return undefined;
  }

  async generate(type: KeyType, label: string): Promise<ProviderObject> {
    const made = await this.#token.generate(type as Pkcs11KeyType, { label });
    return { ref: JSON.stringify({ label: made.label, id: made.id.toString('hex') } satisfies Pkcs11Ref), publicKeySpki: made.spki ?? null };
  }

  async adopt(type: KeyType, external: { id: string; publicId?: string | undefined }): Promise<ProviderObject> {
    if (external.publicId !== undefined) throw badRequest('key.external_invalid', 'PKCS#11 key pairs are found by one label or CKA_ID; external_public_id does not apply');
    const ref = externalRef(external.id);
    const objects = await this.#token.find(ref);
    const wanted = type === 'AES-256-GCM' ? 'secret_key' : 'private_key';
    const keys = objects.filter((o) => o.class === wanted);
    if (keys.length === 0) throw badRequest('key.external_invalid', `the token holds no ${wanted.replace('_', ' ')} named ${external.id}`);
    if (keys.length > 1) throw badRequest('key.external_invalid', `the token holds several keys named ${external.id}; name one by id:<hex>`);
    const key = keys[0]!;
    if (key.type !== type) throw badRequest('key.external_invalid', `the object named ${external.id} is ${key.type ?? 'of a type Keyward does not use'}, not ${type}`);
    const stored: Pkcs11Ref = key.id.length > 0 ? { label: key.label, id: key.id.toString('hex') } : { label: key.label };
    let spki: Buffer | null = null;
    if (type !== 'AES-256-GCM') {
      spki = await this.#mapped(() => this.#token.publicKey(keyRef(stored)));
      if (!spkiMatches(type, spki)) throw badRequest('key.external_invalid', `the public key named ${external.id} is not a ${type} key`);
    }
    return { ref: JSON.stringify(stored), publicKeySpki: spki };
  }

  async sign(key: HeldKey, plan: SignaturePlan): Promise<Buffer> {
    if (plan.hash === null) throw providerUnsupported('pkcs11', 'the token signs hashed input only');
    const hash = plan.hash;
    return this.#mapped(() =>
      this.#token.sign(keyRef(parseRef(key.ref)), {
        hash,
        input: plan.input,
        ...(isRsa(key.type) ? { rsaPadding: plan.rsaPadding } : {}),
        ...(isEc(key.type) ? { ecdsaFormat: plan.ecdsaFormat } : {}),
      }),
    );
  }

  async encrypt(key: HeldKey, plaintext: Buffer, aad: Buffer): Promise<GcmParts> {
    return this.#mapped(() => this.#token.encrypt(keyRef(parseRef(key.ref)), { plaintext, aad }));
  }

  async decrypt(key: HeldKey, parts: GcmParts, aad: Buffer): Promise<Buffer> {
    return this.#mapped(() => this.#token.decrypt(keyRef(parseRef(key.ref)), { ...parts, aad }));
  }

  async destroy(key: HeldKey): Promise<void> {
    await this.#mapped(() => this.#token.destroy(keyRef(parseRef(key.ref))));
  }

  async externalStatus(key: HeldKey): Promise<ExternalStatus> {
    const ref = keyRef(parseRef(key.ref));
    const objects = await this.#mapped(() => this.#token.find(ref));
    const wanted = key.type === 'AES-256-GCM' ? 'secret_key' : 'private_key';
    const keys = objects.filter((o) => o.class === wanted);
    if (keys.length === 0) return { usable: false, reason: 'missing', detail: 'the object is no longer in the token' };
    if (keys.length > 1 || keys[0]!.type !== key.type) return { usable: false, reason: 'replaced', detail: 'the token holds another object under this name' };
    if (key.publicKeySpki) {
      // Another key pair under the same id or label would sign happily, with a key nobody ever published.
      let spki: Buffer;
      try {
        spki = await this.#mapped(() => this.#token.publicKey(ref));
      } catch (e) {
        if (e instanceof ProviderKeyUnusable) return { usable: false, reason: 'missing', detail: 'the public key is no longer in the token' };
        throw e;
      }
      if (!spki.equals(key.publicKeySpki)) return { usable: false, reason: 'replaced', detail: 'the token holds a different key pair under this name' };
    }
    return { usable: true };
  }

  sealWrapper(label: string): SealKeyWrapper {
    const token = this.#token;
    const mapped = <T>(fn: () => Promise<T>) => this.#mapped(fn);
    const byRef = (ref: string) => keyRef(parseRef(ref));
    return {
      kind: 'pkcs11',
      label,
      async ensureKey() {
        const found = await mapped(() => token.find({ label }));
        const keys = found.filter((o) => o.class === 'secret_key' && o.type === 'AES-256-GCM');
        if (keys.length > 1) throw new ProviderKeyUnusable('pkcs11', 'replaced', `the token holds several AES keys labelled ${JSON.stringify(label)}`);
        if (keys.length === 1) return JSON.stringify({ label, id: keys[0]!.id.toString('hex') } satisfies Pkcs11Ref);
        if (found.length > 0) throw new ProviderKeyUnusable('pkcs11', 'replaced', `the token holds an object labelled ${JSON.stringify(label)} that is not an AES-256 key`);
        const made = await mapped(() => token.generate('AES-256-GCM', { label }));
        return JSON.stringify({ label, id: made.id.toString('hex') } satisfies Pkcs11Ref);
      },
      matches: (ref) => parseRef(ref).label === label,
      async wrap(ref, aad, plaintext) {
        const s = await mapped(() => token.encrypt(byRef(ref), { plaintext, aad }));
        return Buffer.concat([s.iv, s.tag, s.ciphertext]);
      },
      async unwrap(ref, aad, blob) {
        if (blob.length < 28) throw badRequest('crypto.decrypt_failed', 'the HSM-wrapped root key is truncated');
        return mapped(() => token.decrypt(byRef(ref), { iv: blob.subarray(0, 12), tag: blob.subarray(12, 28), ciphertext: blob.subarray(28), aad }));
      },
    };
  }

  async health(): Promise<ProviderHealth> {
    const h = await this.#token.health();
    if (!h.ok) return { ok: false, reason: h.reason, detail: h.detail };
    return { ok: true, detail: { token_label: h.label, manufacturer: h.manufacturer, model: h.model, serial: h.serial, sessions: h.sessions } };
  }

  close(): Promise<void> {
    return this.#token.close();
  }

  /** The token layer's errors as the key service reads them: a missing object is unusable, a bad tag is neutral. */
  async #mapped<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (isProblem(e) && e.code === 'hsm.key_not_found') throw new ProviderKeyUnusable('pkcs11', 'missing', e.detail ?? 'the object is not in the token');
      if (isProblem(e) && e.code === 'hsm.decrypt_failed') throw badRequest('crypto.decrypt_failed', 'the ciphertext could not be decrypted');
      throw e;
    }
  }
}

function preflight(config: Pkcs11Config, ctx: ProviderContext): ProviderConfigProblem[] {
  const problems: ProviderConfigProblem[] = [];
  try {
    statSync(config.module);
  } catch (e) {
    problems.push({ path: 'keys.providers.pkcs11.module', message: `cannot find ${config.module} (${(e as NodeJS.ErrnoException).code ?? 'error'})` });
  }
  try {
    const pin = readPin(config, ctx.env);
    void pin;
  } catch (e) {
    const [path, message] = splitPath((e as Error).message);
    problems.push({ path, message });
  }
  if (ctx.production && config.pin_file !== undefined) {
    try {
      if ((statSync(config.pin_file).mode & 0o077) !== 0) {
        problems.push({ path: 'keys.providers.pkcs11.pin_file', message: `${config.pin_file} is readable by group or others; make it owner-only (chmod 600)` });
      }
    } catch {
      // reported above
    }
  }
  return problems;
}

function splitPath(message: string): [string, string] {
  const m = /^([\w.]+): (.*)$/s.exec(message);
  return m ? [m[1]!, m[2]!] : ['keys.providers.pkcs11', message];
}

export const pkcs11Descriptor: ProviderDescriptor<Pkcs11Config, 'pkcs11'> = {
  name: 'pkcs11',
  title: 'PKCS#11 token',
  configSchema: pkcs11ConfigSchema,
  async create(config, ctx) {
    const pin = readPin(config, ctx.env);
    // Loaded here, not at import: the native binding is needed only when PKCS#11 is configured.
    const { Pkcs11Token } = await import('./token.ts');
    const token = new Pkcs11Token({
      modulePath: config.module,
      tokenLabel: config.token_label,
      pin,
      sessions: config.sessions,
      acquireTimeoutMs: config.acquire_timeout,
      reconnectIntervalMs: config.reconnect_interval,
    });
    return new Pkcs11Provider(token);
  },
  preflight,
};
