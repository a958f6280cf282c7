// One PKCS#11 token, found by its label, used through a pool of logged-in sessions.
//
// Keys are generated inside the token as token objects that are private, sensitive and not extractable, and are
// named by CKA_LABEL and CKA_ID (both on the private/secret and the public object). Operations find their key
// afresh each time (no cached object handles: a handle can outlive its object and, on some tokens, be reused for
// another one). Nothing here reads private material: only public attributes are ever asked for.
//
// Failures are sorted (binding.ts) into: a dead session (use another), a logged-out token (log in again), a lost
// device (re-initialize the library and find the token again), or a refusal of this request. After any of the
// first three an operation is retried, at most twice; key generation is not retried after a lost device, because
// the keys may already exist. While the token stays unreachable, calls fail fast with hsm.unavailable
// and a reconnect is attempted at most once per reconnectIntervalMs, so a token that comes back is used again
// without a restart.
import { createHash, randomBytes } from 'node:crypto';
import { endianness } from 'node:os';
import { p256, p384 } from '@noble/curves/nist.js';
import type { EcdsaFormat, HashAlgorithm, RsaPadding } from '../../types.ts';
import { DIGEST_LENGTH, HASH_ALGORITHMS } from '../../types.ts';
import {
  CKS_RO_USER_FUNCTIONS,
  CKS_RW_USER_FUNCTIONS,
  type GcmParams,
  type Handle,
  type Mechanism,
  type Pkcs11Library,
  type RsaPSS,
  type Template,
  ck,
  faultOf,
  returnValue,
} from './binding.ts';
import { HsmOperationError, type HsmOperationReason, HsmUnavailableError } from './errors.ts';
import { Pkcs11Module, StaleGenerationError } from './module.ts';
import {
  EC_CURVES,
  type Pkcs11EcType,
  type Pkcs11KeyType,
  type Pkcs11RsaType,
  RSA_MODULUS_BITS,
  ecPublicKeySpki,
  ecTypeOf,
  isPkcs11EcType,
  isPkcs11RsaType,
  rsaPublicKeySpki,
  rsaTypeOf,
} from './public-key.ts';
import { SessionPool } from './session-pool.ts';

export interface Pkcs11TokenOptions {
  /** Path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  modulePath: string;
  /** CKA_LABEL of the token (trailing blanks ignored). */
  tokenLabel: string;
  /** The user PIN. The caller reads it from a file or an environment variable, never from the configuration. */
  pin: string;
  /** Sessions kept open at most (default 4). */
  sessions?: number;
  /** How long an operation waits for a free session (default 10 s). */
  acquireTimeoutMs?: number;
  /** After a failed reconnect, calls fail fast for this long before the next attempt (default 1 s). */
  reconnectIntervalMs?: number;
}

/** A key object is named by its CKA_ID or its CKA_LABEL. */
export type KeyRef = { id: Buffer } | { label: string };

export interface GeneratedKey {
  label: string;
  id: Buffer;
  type: Pkcs11KeyType;
  /** SPKI DER of the public key (key pairs only). */
  spki?: Buffer;
}

export interface TokenObject {
  class: 'private_key' | 'public_key' | 'secret_key' | 'other';
  label: string;
  id: Buffer;
  /** The Keyward key type, or undefined for an object Keyward does not use (other curves, sizes, classes). */
  type: Pkcs11KeyType | undefined;
  token: boolean;
  private: boolean;
  /** Private and secret keys only. */
  sensitive?: boolean;
  extractable?: boolean;
  alwaysSensitive?: boolean;
  neverExtractable?: boolean;
}

export interface SignOptions {
  hash: HashAlgorithm;
  /** A message is hashed here with node:crypto; a digest must be `hash`'s length. */
  input: { message: Buffer } | { digest: Buffer };
  /** RSA keys only; default pkcs1 (RSASSA-PKCS1-v1_5). PSS uses MGF1 with `hash` and a salt as long as the hash. */
  rsaPadding?: RsaPadding;
  /** EC keys only; default der. */
  ecdsaFormat?: EcdsaFormat;
}

export interface VerifyOptions extends SignOptions {
  signature: Buffer;
}

export interface GcmSealed {
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export type TokenHealth =
  | { ok: true; label: string; manufacturer: string; model: string; serial: string; sessions: ReturnType<SessionPool<unknown>['stats']> }
  | { ok: false; label: string; reason: string; detail: string };

export const GCM_IV_BYTES = 12;
export const GCM_TAG_BYTES = 16;
const MAX_LABEL_CHARS = 128;
const MAX_ID_BYTES = 64;
const MAX_ATTEMPTS = 3;
const CKR_CURVE_NOT_SUPPORTED = 0x140; // PKCS#11 2.40; not among the binding's constants

/** DER DigestInfo prefixes from RFC 8017 §9.2, note 1 (CKM_RSA_PKCS signs DigestInfo || digest). */
const DIGEST_INFO_PREFIX: Record<HashAlgorithm, Buffer> = {
  'SHA-256': Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  'SHA-384': Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  'SHA-512': Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};
const NODE_HASH: Record<HashAlgorithm, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };
const PSS_PARAMS: Record<HashAlgorithm, () => { hashAlg: number; mgf: number }> = {
  'SHA-256': () => ({ hashAlg: ck.CKM_SHA256, mgf: ck.CKG_MGF1_SHA256 }),
  'SHA-384': () => ({ hashAlg: ck.CKM_SHA384, mgf: ck.CKG_MGF1_SHA384 }),
  'SHA-512': () => ({ hashAlg: ck.CKM_SHA512, mgf: ck.CKG_MGF1_SHA512 }),
};
/** ECDSA raw r||s ↔ DER with @noble/curves (audited), chosen by the raw length, which fixes the curve. */
const ECDSA_BY_RAW_LENGTH = new Map([
  [2 * EC_CURVES['EC-P256'].fieldBytes, p256],
  [2 * EC_CURVES['EC-P384'].fieldBytes, p384],
]);
const PIN_REFUSALS = new Set([ck.CKR_PIN_INCORRECT, ck.CKR_PIN_INVALID, ck.CKR_PIN_LEN_RANGE, ck.CKR_PIN_EXPIRED, ck.CKR_PIN_LOCKED]);

const OPERATION_REASONS = new Map<number, HsmOperationReason>([
  [ck.CKR_MECHANISM_INVALID, 'mechanism_unsupported'],
  [ck.CKR_MECHANISM_PARAM_INVALID, 'mechanism_unsupported'],
  [ck.CKR_KEY_SIZE_RANGE, 'mechanism_unsupported'],
  [ck.CKR_DOMAIN_PARAMS_INVALID, 'mechanism_unsupported'],
  [CKR_CURVE_NOT_SUPPORTED, 'mechanism_unsupported'],
  [ck.CKR_KEY_TYPE_INCONSISTENT, 'key_type_mismatch'],
  [ck.CKR_KEY_FUNCTION_NOT_PERMITTED, 'key_type_mismatch'],
  [ck.CKR_DATA_LEN_RANGE, 'input_invalid'],
  [ck.CKR_DATA_INVALID, 'input_invalid'],
  [ck.CKR_ARGUMENTS_BAD, 'input_invalid'],
  [ck.CKR_ENCRYPTED_DATA_INVALID, 'decrypt_failed'],
  [ck.CKR_ENCRYPTED_DATA_LEN_RANGE, 'decrypt_failed'],
]);

interface Connection {
  generation: number;
  slot: Handle;
  pool: SessionPool<Session>;
}

interface Session {
  handle: Handle;
  generation: number;
}

/** What an operation gets: its session, and the library checked against the session's generation. */
interface Op {
  readonly lib: Pkcs11Library;
  readonly slot: Handle;
  readonly session: Handle;
  /** An asynchronous (threadpool) call on this session. */
  async<T>(fn: (lib: Pkcs11Library, session: Handle) => Promise<T>): Promise<T>;
}

/** The key object an operation looked for is not visible: missing, or hidden by a logout or a vanished token. */
class ObjectMissing extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'ObjectMissing';
  }
}

/** A probe found the session logged out or the token gone; carries the fault for the retry loop. */
class ProbeFault extends Error {
  readonly fault: 'session' | 'login' | 'device';
  constructor(fault: 'session' | 'login' | 'device', why: string) {
    super(why);
    this.name = 'ProbeFault';
    this.fault = fault;
  }
}

export class Pkcs11Token {
  readonly label: string;
  readonly #pin: string;
  readonly #module: Pkcs11Module;
  readonly #poolSize: number;
  readonly #acquireTimeoutMs: number;
  readonly #reconnectIntervalMs: number;
  #conn: Connection | undefined;
  #connecting: Promise<Connection> | undefined;
  #lastFailure: { error: HsmUnavailableError; at: number; generation: number } | undefined;
  #pinRefused: HsmUnavailableError | undefined;
  #closed = false;
  #running = 0;
  #idle: (() => void) | undefined;

  constructor(o: Pkcs11TokenOptions) {
    if (typeof o.pin !== 'string' || o.pin.length === 0) throw new TypeError('a PKCS#11 user PIN is required');
    this.label = o.tokenLabel;
    this.#pin = o.pin;
    this.#poolSize = o.sessions ?? 4;
    this.#acquireTimeoutMs = o.acquireTimeoutMs ?? 10_000;
    this.#reconnectIntervalMs = o.reconnectIntervalMs ?? 1_000;
    this.#module = Pkcs11Module.acquire(o.modulePath);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Key generation

  /** Generates a key inside the token. `id` defaults to 16 random bytes. */
  async generate(type: Pkcs11KeyType, name: { label: string; id?: Buffer }): Promise<GeneratedKey> {
    const label = checkLabel(name.label);
    const id = name.id === undefined ? randomBytes(16) : checkId(name.id);
    return this.#run(
      `generate ${type}`,
      async (op) => {
        // Logged out, private objects are invisible to the name check below.
        probe(op, this.label);
        // PKCS#11 does not keep names unique; Keyward relies on them, so refuse to create a second key so named.
        if (findObjects(op.lib, op.session, [{ type: ck.CKA_ID, value: id }]).length > 0) {
          throw new HsmOperationError('key_exists', `the token already holds an object with id ${id.toString('hex')}`);
        }
        if (findObjects(op.lib, op.session, [{ type: ck.CKA_LABEL, value: label }]).length > 0) {
          throw new HsmOperationError('key_exists', `the token already holds an object labelled ${JSON.stringify(label)}`);
        }
        const naming: Template = [
          { type: ck.CKA_TOKEN, value: true },
          { type: ck.CKA_LABEL, value: label },
          { type: ck.CKA_ID, value: id },
        ];
        const secret: Template = [
          ...naming,
          { type: ck.CKA_PRIVATE, value: true },
          { type: ck.CKA_SENSITIVE, value: true },
          { type: ck.CKA_EXTRACTABLE, value: false },
        ];
        if (type === 'AES-256-GCM') {
          await op.async((lib, s) =>
            lib.C_GenerateKeyAsync(s, { mechanism: ck.CKM_AES_KEY_GEN }, [
              ...secret,
              { type: ck.CKA_CLASS, value: ck.CKO_SECRET_KEY },
              { type: ck.CKA_KEY_TYPE, value: ck.CKK_AES },
              { type: ck.CKA_VALUE_LEN, value: 32 },
              { type: ck.CKA_ENCRYPT, value: true },
              { type: ck.CKA_DECRYPT, value: true },
              { type: ck.CKA_WRAP, value: false },
              { type: ck.CKA_UNWRAP, value: false },
              { type: ck.CKA_SIGN, value: false },
              { type: ck.CKA_DERIVE, value: false },
            ]),
          );
          return { label, id, type };
        }
        let mechanism: Mechanism;
        let publicTemplate: Template;
        if (isPkcs11EcType(type)) {
          mechanism = { mechanism: ck.CKM_EC_KEY_PAIR_GEN };
          publicTemplate = [{ type: ck.CKA_KEY_TYPE, value: ck.CKK_EC }, { type: ck.CKA_EC_PARAMS, value: EC_CURVES[type].ecParams }];
        } else if (isPkcs11RsaType(type)) {
          mechanism = { mechanism: ck.CKM_RSA_PKCS_KEY_PAIR_GEN };
          publicTemplate = [
            { type: ck.CKA_KEY_TYPE, value: ck.CKK_RSA },
            { type: ck.CKA_MODULUS_BITS, value: RSA_MODULUS_BITS[type] },
            { type: ck.CKA_PUBLIC_EXPONENT, value: Buffer.from([0x01, 0x00, 0x01]) },
          ];
        } else {
          throw new HsmOperationError('mechanism_unsupported', `the PKCS#11 provider does not generate ${String(type)} keys`);
        }
        const pair = await op.async((lib, s) =>
          lib.C_GenerateKeyPairAsync(
            s,
            mechanism,
            [
              ...naming,
              ...publicTemplate,
              { type: ck.CKA_CLASS, value: ck.CKO_PUBLIC_KEY },
              { type: ck.CKA_PRIVATE, value: false },
              { type: ck.CKA_VERIFY, value: true },
              { type: ck.CKA_ENCRYPT, value: false },
              { type: ck.CKA_WRAP, value: false },
            ],
            [
              ...secret,
              { type: ck.CKA_CLASS, value: ck.CKO_PRIVATE_KEY },
              { type: ck.CKA_SIGN, value: true },
              { type: ck.CKA_DECRYPT, value: false },
              { type: ck.CKA_UNWRAP, value: false },
              { type: ck.CKA_DERIVE, value: false },
            ],
          ),
        );
        return { label, id, type, spki: publicKeySpki(op.lib, op.session, pair.publicKey) };
      },
      { retryAfterDeviceLoss: false },
    );
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Reading

  /** The objects named by `ref` (a key pair is two), described by their public attributes. */
  async find(ref: KeyRef): Promise<TokenObject[]> {
    checkRef(ref);
    return this.#run('find', async (op) => {
      probe(op, this.label);
      return findObjects(op.lib, op.session, refTemplate(ref)).map((h) => describe(op.lib, op.session, h));
    });
  }

  /** Every object the logged-in user can see. */
  async list(): Promise<TokenObject[]> {
    return this.#run('list', async (op) => {
      probe(op, this.label);
      return findObjects(op.lib, op.session, []).map((h) => describe(op.lib, op.session, h));
    });
  }

  /** SPKI DER of the public key named by `ref`. */
  async publicKey(ref: KeyRef): Promise<Buffer> {
    checkRef(ref);
    return this.#run('read public key', async (op) => publicKeySpki(op.lib, op.session, findKey(op, ref, ck.CKO_PUBLIC_KEY)));
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Signing

  /** Signs a message (hashed here) or a digest with the private key named by `ref`. */
  async sign(ref: KeyRef, o: SignOptions): Promise<Buffer> {
    checkRef(ref);
    const digest = digestOf(o);
    return this.#run('sign', async (op) => {
      const key = findKey(op, ref, ck.CKO_PRIVATE_KEY);
      const keyType = ulongAttribute(op.lib, op.session, key, ck.CKA_KEY_TYPE);
      if (keyType === ck.CKK_EC) {
        if (o.rsaPadding !== undefined) throw new HsmOperationError('input_invalid', 'rsa padding applies to RSA keys, not EC keys');
        // CKM_ECDSA over a digest computed here: SoftHSM 2.6.1 has no CKM_ECDSA_SHA256/384.
        op.lib.C_SignInit(op.session, { mechanism: ck.CKM_ECDSA }, key);
        const raw = await op.async((lib, s) => lib.C_SignAsync(s, digest, Buffer.alloc(2 * 66)));
        return o.ecdsaFormat === 'raw' ? Buffer.from(raw) : ecdsaRawToDer(raw);
      }
      if (keyType === ck.CKK_RSA) {
        if (o.ecdsaFormat !== undefined) throw new HsmOperationError('input_invalid', 'signature format applies to EC keys, not RSA keys');
        const { mechanism, data } = rsaSignature(o.rsaPadding ?? 'pkcs1', o.hash, digest);
        op.lib.C_SignInit(op.session, mechanism, key);
        return Buffer.from(await op.async((lib, s) => lib.C_SignAsync(s, data, Buffer.alloc(512))));
      }
      throw new HsmOperationError('key_type_mismatch', 'the key is not an EC or RSA signing key');
    });
  }

  /** Verifies with the public key named by `ref`, in the token. A malformed signature is simply not valid. */
  async verify(ref: KeyRef, o: VerifyOptions): Promise<boolean> {
    checkRef(ref);
    const digest = digestOf(o);
    return this.#run('verify', async (op) => {
      const key = findKey(op, ref, ck.CKO_PUBLIC_KEY);
      const keyType = ulongAttribute(op.lib, op.session, key, ck.CKA_KEY_TYPE);
      let mechanism: Mechanism;
      let data = digest;
      let signature = o.signature;
      if (keyType === ck.CKK_EC) {
        if (o.rsaPadding !== undefined) throw new HsmOperationError('input_invalid', 'rsa padding applies to RSA keys, not EC keys');
        const [params] = op.lib.C_GetAttributeValue(op.session, key, [{ type: ck.CKA_EC_PARAMS }]);
        const type = params?.value ? ecTypeOf(params.value) : undefined;
        if (type === undefined) throw new HsmOperationError('key_type_mismatch', 'the key is on a curve Keyward does not use');
        const raw = o.ecdsaFormat === 'raw' ? signature : ecdsaDerToRaw(type, signature);
        if (raw === undefined || raw.length !== 2 * EC_CURVES[type].fieldBytes) return false;
        signature = raw;
        mechanism = { mechanism: ck.CKM_ECDSA };
      } else if (keyType === ck.CKK_RSA) {
        if (o.ecdsaFormat !== undefined) throw new HsmOperationError('input_invalid', 'signature format applies to EC keys, not RSA keys');
        ({ mechanism, data } = rsaSignature(o.rsaPadding ?? 'pkcs1', o.hash, digest));
      } else {
        throw new HsmOperationError('key_type_mismatch', 'the key is not an EC or RSA signing key');
      }
      op.lib.C_VerifyInit(op.session, mechanism, key);
      try {
        return await op.async((lib, s) => lib.C_VerifyAsync(s, data, signature));
      } catch (e) {
        const rv = returnValue(e)?.code;
        if (rv === ck.CKR_SIGNATURE_INVALID || rv === ck.CKR_SIGNATURE_LEN_RANGE) return false;
        throw e;
      }
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // AES-GCM

  /** AES-GCM with a 96-bit IV (random unless given) and a 128-bit tag. */
  async encrypt(ref: KeyRef, o: { plaintext: Buffer; aad?: Buffer; iv?: Buffer }): Promise<GcmSealed> {
    checkRef(ref);
    if (!Buffer.isBuffer(o.plaintext)) throw new HsmOperationError('input_invalid', 'plaintext must be bytes');
    const iv = o.iv ?? randomBytes(GCM_IV_BYTES);
    const mechanism = gcmMechanism(iv, o.aad);
    return this.#run('encrypt', async (op) => {
      const key = findSecretAesKey(op, ref);
      op.lib.C_EncryptInit(op.session, mechanism, key);
      // An empty input buffer reaches the library as NULL (CKR_ARGUMENTS_BAD); GCM of nothing is just the tag.
      const out = o.plaintext.length === 0
        ? Buffer.from(op.lib.C_EncryptFinal(op.session, Buffer.alloc(GCM_TAG_BYTES)))
        : Buffer.from(await op.async((lib, s) => lib.C_EncryptAsync(s, o.plaintext, Buffer.alloc(o.plaintext.length + GCM_TAG_BYTES))));
      if (out.length !== o.plaintext.length + GCM_TAG_BYTES) throw new HsmOperationError('operation_failed', 'the token returned a GCM ciphertext of the wrong length');
      return { iv, ciphertext: out.subarray(0, o.plaintext.length), tag: out.subarray(o.plaintext.length) };
    });
  }

  async decrypt(ref: KeyRef, o: GcmSealed & { aad?: Buffer }): Promise<Buffer> {
    checkRef(ref);
    if (!Buffer.isBuffer(o.ciphertext) || !Buffer.isBuffer(o.tag) || o.tag.length !== GCM_TAG_BYTES) {
      throw new HsmOperationError('input_invalid', `ciphertext must be bytes and the tag ${GCM_TAG_BYTES} bytes`);
    }
    const mechanism = gcmMechanism(o.iv, o.aad);
    const input = Buffer.concat([o.ciphertext, o.tag]);
    return this.#run(
      'decrypt',
      async (op) => {
        const key = findSecretAesKey(op, ref);
        op.lib.C_DecryptInit(op.session, mechanism, key);
        return Buffer.from(await op.async((lib, s) => lib.C_DecryptAsync(s, input, Buffer.alloc(input.length))));
      },
      // SoftHSM 2.6.1 reports a tag mismatch as CKR_GENERAL_ERROR; once a probe shows the token is fine, that
      // is what it was. Neutral on purpose: do not say whether the key, the AAD or the bytes were wrong.
      { refusal: () => new HsmOperationError('decrypt_failed', 'the ciphertext could not be decrypted') },
    );
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Lifecycle

  /** Destroys every object named by `ref` (both halves of a pair); returns how many. Missing objects are not an error. */
  async destroy(ref: KeyRef): Promise<number> {
    checkRef(ref);
    return this.#run('destroy', async (op) => {
      // Logged out, a private key is invisible: make sure the login holds before deciding what exists.
      probe(op, this.label);
      const handles = findObjects(op.lib, op.session, refTemplate(ref));
      for (const h of handles) op.lib.C_DestroyObject(op.session, h);
      return handles.length;
    });
  }

  /** Whether the token answers and the login holds; never throws. */
  async health(): Promise<TokenHealth> {
    try {
      return await this.#run('health probe', async (op) => {
        probe(op, this.label);
        const info = op.lib.C_GetTokenInfo(op.slot);
        return {
          ok: true as const,
          label: this.label,
          manufacturer: info.manufacturerID.trimEnd(),
          model: info.model.trimEnd(),
          serial: info.serialNumber.trimEnd(),
          sessions: this.#conn?.pool.stats() ?? { size: this.#poolSize, open: 0, idle: 0, waiting: 0 },
        };
      });
    } catch (e) {
      const p = e as { reason?: string; detail?: string; message?: string };
      return { ok: false, label: this.label, reason: p.reason ?? 'device_error', detail: p.detail ?? p.message ?? String(e) };
    }
  }

  /** Closes the sessions once running operations finish and releases the library. Later calls fail with hsm.unavailable. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#running > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn) conn.pool.shutdown(closedError, conn.generation === this.#module.generation);
    this.#module.release();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Connection, sessions and the retry loop

  async #run<T>(what: string, fn: (op: Op) => Promise<T>, o: { retryAfterDeviceLoss?: boolean; refusal?: () => HsmOperationError } = {}): Promise<T> {
    if (this.#closed) throw closedError();
    this.#running++;
    try {
      for (let attempt = 1; ; attempt++) {
        const conn = await this.#connection();
        let session: Session;
        try {
          session = await conn.pool.acquire();
        } catch (e) {
          if (e instanceof HsmUnavailableError) throw e;
          // Opening a session failed: the token or the library is not what it was.
          this.#lost(conn);
          if (attempt >= MAX_ATTEMPTS) throw unavailableFrom(e, `${what}: no session could be opened`);
          continue;
        }
        try {
          const result = await fn(this.#op(conn, session));
          conn.pool.release(session);
          return result;
        } catch (e) {
          const fault = this.#diagnose(e, this.#op(conn, session));
          if (fault === 'operation') {
            // After a refusal the session may still hold a half-finished operation; a fresh one costs little.
            conn.pool.discard(session, true);
            throw refusalFrom(e, what, o.refusal);
          }
          if (fault === 'session') {
            conn.pool.discard(session, false);
            // C_CloseAllSessions drops every session at once: sort out the idle ones now, not one retry each.
            this.#dropDeadIdleSessions(conn);
          } else if (fault === 'login') {
            try {
              this.#login(session);
              conn.pool.release(session);
            } catch (le) {
              conn.pool.discard(session, true);
              if (le instanceof HsmUnavailableError) throw le;
              this.#lost(conn);
            }
          } else {
            this.#lost(conn);
            if (o.retryAfterDeviceLoss === false) throw unavailableFrom(e, `${what}: the token stopped answering`);
          }
          if (attempt >= MAX_ATTEMPTS) throw unavailableFrom(e, `${what} failed ${attempt} times`);
        }
      }
    } finally {
      if (--this.#running === 0) this.#idle?.();
    }
  }

  #op(conn: Connection, session: Session): Op {
    const module = this.#module;
    return {
      get lib() {
        return module.current(session.generation);
      },
      slot: conn.slot,
      session: session.handle,
      async: (fn) => module.call(session.generation, (lib) => fn(lib, session.handle)),
    };
  }

  /** Sorts a failure; ambiguous ones are settled by probing the token. */
  #diagnose(e: unknown, op: Op): 'session' | 'login' | 'device' | 'operation' {
    if (e instanceof StaleGenerationError) return 'session';
    if (e instanceof ProbeFault) return e.fault;
    if (e instanceof HsmOperationError || e instanceof HsmUnavailableError) return 'operation';
    const fault = e instanceof ObjectMissing ? 'ambiguous' : faultOf(e);
    if (fault !== 'ambiguous') return fault;
    try {
      probe(op, this.label);
      return 'operation';
    } catch (pe) {
      return pe instanceof ProbeFault ? pe.fault : pe instanceof StaleGenerationError ? 'session' : 'device';
    }
  }

  async #connection(): Promise<Connection> {
    if (this.#closed) throw closedError();
    if (this.#pinRefused) throw this.#pinRefused;
    await this.#module.settled();
    const conn = this.#conn;
    if (conn && conn.generation === this.#module.generation) return conn;
    // The library was re-initialized (by us or by another token on it): every handle of the old connection is stale.
    if (conn) this.#lost(conn);
    this.#connecting ??= this.#connect().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async #connect(): Promise<Connection> {
    const failed = this.#lastFailure;
    if (failed && Date.now() - failed.at < this.#reconnectIntervalMs) throw failed.error;
    try {
      // After a loss, re-initialize: it drops dead handles and makes the library look for its tokens again
      // (SoftHSM only rescans its token directory in C_Initialize).
      if (failed) await this.#module.reset(failed.generation);
      const lib = this.#module.library();
      const generation = this.#module.generation;
      const slot = findSlot(lib, this.label);
      const conn: Connection = {
        generation,
        slot,
        pool: new SessionPool<Session>({
          size: this.#poolSize,
          acquireTimeoutMs: this.#acquireTimeoutMs,
          open: () => this.#openSession(conn),
          close: (s) => this.#module.current(s.generation).C_CloseSession(s.handle),
        }),
      };
      // Open and log in one session now, so that a wrong PIN or a dead token shows here.
      conn.pool.release(await conn.pool.acquire());
      this.#conn = conn;
      this.#lastFailure = undefined;
      return conn;
    } catch (e) {
      const error = e instanceof HsmUnavailableError ? e : unavailableFrom(e, `token ${JSON.stringify(this.label)} could not be reached`);
      this.#lastFailure = { error, at: Date.now(), generation: this.#module.generation };
      throw error;
    }
  }

  /** Forgets a connection whose handles can no longer be trusted; the next call reconnects right away. */
  #lost(conn: Connection): void {
    conn.pool.shutdown(() => new StaleGenerationError(), false);
    if (this.#conn === conn) {
      this.#conn = undefined;
      const error = new HsmUnavailableError('device_error', `token ${JSON.stringify(this.label)} stopped answering`);
      this.#lastFailure = { error, at: 0, generation: conn.generation };
    }
  }

  #openSession(conn: Connection): Session {
    const lib = this.#module.current(conn.generation);
    const handle = lib.C_OpenSession(conn.slot, ck.CKF_SERIAL_SESSION | ck.CKF_RW_SESSION);
    const session = { handle, generation: conn.generation };
    try {
      this.#login(session);
    } catch (e) {
      try {
        lib.C_CloseSession(handle);
      } catch {
        // Closing is best effort.
      }
      throw e;
    }
    return session;
  }

  /** Logs the user in through `session` unless the token already is (the login is per token, not per session). */
  #login(session: Session): void {
    if (this.#pinRefused) throw this.#pinRefused;
    const lib = this.#module.current(session.generation);
    const { state } = lib.C_GetSessionInfo(session.handle);
    if (state === CKS_RW_USER_FUNCTIONS || state === CKS_RO_USER_FUNCTIONS) return;
    try {
      lib.C_Login(session.handle, ck.CKU_USER, this.#pin);
    } catch (e) {
      const rv = returnValue(e);
      if (rv?.code === ck.CKR_USER_ALREADY_LOGGED_IN) return;
      if (rv && PIN_REFUSALS.has(rv.code)) {
        // Never retried: a retry loop with a wrong PIN would lock the token.
        this.#pinRefused = new HsmUnavailableError('pin_rejected', `token ${JSON.stringify(this.label)} refused the PIN`, rv.name);
        throw this.#pinRefused;
      }
      if (faultOf(e) === 'operation') throw new HsmUnavailableError('login_failed', `login to token ${JSON.stringify(this.label)} failed`, rv?.name);
      throw e;
    }
  }

  #dropDeadIdleSessions(conn: Connection): void {
    let lib: Pkcs11Library;
    try {
      lib = this.#module.current(conn.generation);
    } catch {
      return; // stale already: the next attempt reconnects
    }
    const alive: Session[] = [];
    // Borrow every idle session without opening new ones, keep those the token still knows.
    for (let n = conn.pool.stats().idle; n > 0; n--) {
      const s = conn.pool.takeIdle();
      if (!s) break;
      try {
        lib.C_GetSessionInfo(s.handle);
        alive.push(s);
      } catch {
        conn.pool.discard(s, false);
      }
    }
    for (const s of alive) conn.pool.release(s);
  }
}

// -----------------------------------------------------------------------------------------------------------------
// Helpers (pure, or over one session)

const closedError = () => new HsmUnavailableError('closed', 'the PKCS#11 token was closed');

function unavailableFrom(e: unknown, detail: string): HsmUnavailableError {
  if (e instanceof HsmUnavailableError) return e;
  return new HsmUnavailableError('device_error', detail, returnValue(e)?.name);
}

function refusalFrom(e: unknown, what: string, refusal?: () => HsmOperationError): HsmOperationError | HsmUnavailableError {
  if (e instanceof HsmOperationError || e instanceof HsmUnavailableError) return e;
  if (e instanceof ObjectMissing) return new HsmOperationError('key_not_found', `${what}: ${e.message}`);
  const rv = returnValue(e);
  const reason = rv ? OPERATION_REASONS.get(rv.code) : undefined;
  if (refusal && (reason === undefined || reason === 'decrypt_failed' || reason === 'input_invalid')) return refusal();
  return new HsmOperationError(reason ?? 'operation_failed', `${what} was refused by the token`, rv?.name ?? (e as Error).message);
}

/**
 * Throws ProbeFault when the token is gone or the session is not logged in. Costs two calls; used where an
 * empty search result would otherwise be taken at its word.
 */
function probe(op: Op, label: string): void {
  const lib = op.lib;
  let tokenLabel: string;
  try {
    tokenLabel = lib.C_GetTokenInfo(op.slot).label.trimEnd();
  } catch (e) {
    throw new ProbeFault('device', `token info: ${returnValue(e)?.name ?? (e as Error).message}`);
  }
  if (tokenLabel !== label) throw new ProbeFault('device', 'another token is in the slot');
  let state: number;
  try {
    state = lib.C_GetSessionInfo(op.session).state;
  } catch (e) {
    const f = faultOf(e);
    throw new ProbeFault(f === 'session' ? 'session' : 'device', `session info: ${returnValue(e)?.name ?? (e as Error).message}`);
  }
  if (state !== CKS_RW_USER_FUNCTIONS && state !== CKS_RO_USER_FUNCTIONS) throw new ProbeFault('login', 'the token is logged out');
}

function findSlot(lib: Pkcs11Library, label: string): Handle {
  let slots: Handle[];
  try {
    slots = lib.C_GetSlotList(true);
  } catch (e) {
    throw new HsmUnavailableError('device_error', 'the slot list could not be read', returnValue(e)?.name);
  }
  const matching = slots.filter((slot) => {
    try {
      return lib.C_GetTokenInfo(slot).label.trimEnd() === label;
    } catch {
      return false; // a slot whose token cannot be read is not ours to use
    }
  });
  if (matching.length === 0) throw new HsmUnavailableError('token_absent', `no token labelled ${JSON.stringify(label)} is present`);
  if (matching.length > 1) throw new HsmUnavailableError('token_absent', `more than one token is labelled ${JSON.stringify(label)}`);
  return matching[0] as Handle;
}

function findObjects(lib: Pkcs11Library, session: Handle, template: Template): Handle[] {
  lib.C_FindObjectsInit(session, template);
  try {
    const found: Handle[] = [];
    for (;;) {
      const batch = lib.C_FindObjects(session, 64);
      if (batch.length === 0) return found;
      found.push(...batch);
    }
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

function refTemplate(ref: KeyRef): Template {
  return 'id' in ref ? [{ type: ck.CKA_ID, value: ref.id }] : [{ type: ck.CKA_LABEL, value: ref.label }];
}

const refText = (ref: KeyRef) => ('id' in ref ? `id ${ref.id.toString('hex')}` : `label ${JSON.stringify(ref.label)}`);

function findKey(op: Op, ref: KeyRef, cls: number): Handle {
  const found = findObjects(op.lib, op.session, [{ type: ck.CKA_CLASS, value: cls }, ...refTemplate(ref)]);
  if (found.length === 0) throw new ObjectMissing(`no ${className(cls)} with ${refText(ref)}`);
  // Two keys under one name: using either would be a guess.
  if (found.length > 1) throw new HsmOperationError('operation_failed', `more than one ${className(cls)} with ${refText(ref)}`);
  return found[0] as Handle;
}

function findSecretAesKey(op: Op, ref: KeyRef): Handle {
  const key = findKey(op, ref, ck.CKO_SECRET_KEY);
  if (ulongAttribute(op.lib, op.session, key, ck.CKA_KEY_TYPE) !== ck.CKK_AES) {
    throw new HsmOperationError('key_type_mismatch', `the secret key with ${refText(ref)} is not an AES key`);
  }
  return key;
}

function className(cls: number): string {
  if (cls === ck.CKO_PRIVATE_KEY) return 'private key';
  if (cls === ck.CKO_PUBLIC_KEY) return 'public key';
  if (cls === ck.CKO_SECRET_KEY) return 'secret key';
  return 'object';
}

/** CK_ULONG attributes come back as the C type's bytes, in this machine's byte order. */
function ulong(b: Buffer): number {
  if (b.length === 8) return Number(endianness() === 'LE' ? b.readBigUInt64LE() : b.readBigUInt64BE());
  if (b.length === 4) return endianness() === 'LE' ? b.readUInt32LE() : b.readUInt32BE();
  throw new TypeError(`a CK_ULONG of ${b.length} bytes`);
}

function ulongAttribute(lib: Pkcs11Library, session: Handle, h: Handle, type: number): number {
  const [a] = lib.C_GetAttributeValue(session, h, [{ type }]);
  if (!a?.value) throw new HsmOperationError('operation_failed', 'the token did not return an attribute');
  return ulong(a.value);
}

const bool = (b: Buffer | undefined) => b !== undefined && b.length > 0 && b[0] !== 0;

function describe(lib: Pkcs11Library, session: Handle, h: Handle): TokenObject {
  const cls = ulongAttribute(lib, session, h, ck.CKA_CLASS);
  const [label, id, token, priv] = lib
    .C_GetAttributeValue(session, h, [{ type: ck.CKA_LABEL }, { type: ck.CKA_ID }, { type: ck.CKA_TOKEN }, { type: ck.CKA_PRIVATE }])
    .map((a) => a.value);
  const base = {
    label: label?.toString('utf8') ?? '',
    id: Buffer.from(id ?? Buffer.alloc(0)),
    token: bool(token),
    private: bool(priv),
  };
  const klass = cls === ck.CKO_PRIVATE_KEY ? 'private_key' : cls === ck.CKO_PUBLIC_KEY ? 'public_key' : cls === ck.CKO_SECRET_KEY ? 'secret_key' : 'other';
  if (klass === 'other') return { class: klass, type: undefined, ...base };
  const keyType = ulongAttribute(lib, session, h, ck.CKA_KEY_TYPE);
  let type: Pkcs11KeyType | undefined;
  if (keyType === ck.CKK_EC) {
    const [p] = lib.C_GetAttributeValue(session, h, [{ type: ck.CKA_EC_PARAMS }]);
    type = p?.value ? ecTypeOf(p.value) : undefined;
  } else if (keyType === ck.CKK_RSA) {
    const [m] = lib.C_GetAttributeValue(session, h, [{ type: ck.CKA_MODULUS }]);
    type = m?.value ? rsaTypeOf(m.value) : undefined;
  } else if (keyType === ck.CKK_AES) {
    type = ulongAttribute(lib, session, h, ck.CKA_VALUE_LEN) === 32 ? 'AES-256-GCM' : undefined;
  }
  if (klass === 'public_key') return { class: klass, type, ...base };
  const [sensitive, extractable, alwaysSensitive, neverExtractable] = lib
    .C_GetAttributeValue(session, h, [
      { type: ck.CKA_SENSITIVE },
      { type: ck.CKA_EXTRACTABLE },
      { type: ck.CKA_ALWAYS_SENSITIVE },
      { type: ck.CKA_NEVER_EXTRACTABLE },
    ])
    .map((a) => bool(a.value));
  return { class: klass, type, ...base, sensitive, extractable, alwaysSensitive, neverExtractable };
}

function publicKeySpki(lib: Pkcs11Library, session: Handle, h: Handle): Buffer {
  const keyType = ulongAttribute(lib, session, h, ck.CKA_KEY_TYPE);
  if (keyType === ck.CKK_EC) {
    const [params, point] = lib.C_GetAttributeValue(session, h, [{ type: ck.CKA_EC_PARAMS }, { type: ck.CKA_EC_POINT }]).map((a) => a.value);
    const type = params ? ecTypeOf(params) : undefined;
    if (!type || !point) throw new HsmOperationError('key_type_mismatch', 'the public key is on a curve Keyward does not use');
    return ecPublicKeySpki(type, point);
  }
  if (keyType === ck.CKK_RSA) {
    const [n, e] = lib.C_GetAttributeValue(session, h, [{ type: ck.CKA_MODULUS }, { type: ck.CKA_PUBLIC_EXPONENT }]).map((a) => a.value);
    if (!n || !e) throw new HsmOperationError('operation_failed', 'the token did not return the RSA public key');
    return rsaPublicKeySpki(n, e);
  }
  throw new HsmOperationError('key_type_mismatch', 'the key is not an EC or RSA key');
}

function digestOf(o: SignOptions): Buffer {
  if (!(HASH_ALGORITHMS as readonly string[]).includes(o.hash)) {
    throw new HsmOperationError('input_invalid', `hash must be one of ${HASH_ALGORITHMS.join(', ')}`);
  }
  if (o.rsaPadding !== undefined && o.rsaPadding !== 'pkcs1' && o.rsaPadding !== 'pss') throw new HsmOperationError('input_invalid', 'rsa padding must be pkcs1 or pss');
  if (o.ecdsaFormat !== undefined && o.ecdsaFormat !== 'der' && o.ecdsaFormat !== 'raw') throw new HsmOperationError('input_invalid', 'signature format must be der or raw');
  if ('digest' in o.input) {
    if (!Buffer.isBuffer(o.input.digest) || o.input.digest.length !== DIGEST_LENGTH[o.hash]) {
      throw new HsmOperationError('input_invalid', `a ${o.hash} digest is ${DIGEST_LENGTH[o.hash]} bytes`);
    }
    return o.input.digest;
  }
  if (!Buffer.isBuffer(o.input.message)) throw new HsmOperationError('input_invalid', 'message must be bytes');
  return createHash(NODE_HASH[o.hash]).update(o.input.message).digest();
}

function rsaSignature(padding: RsaPadding, hash: HashAlgorithm, digest: Buffer): { mechanism: Mechanism; data: Buffer } {
  if (padding === 'pss') {
    const parameter: RsaPSS = { type: ck.CK_PARAMS_RSA_PSS, ...PSS_PARAMS[hash](), saltLen: DIGEST_LENGTH[hash] };
    return { mechanism: { mechanism: ck.CKM_RSA_PKCS_PSS, parameter }, data: digest };
  }
  return { mechanism: { mechanism: ck.CKM_RSA_PKCS }, data: Buffer.concat([DIGEST_INFO_PREFIX[hash], digest]) };
}

function gcmMechanism(iv: Buffer, aad: Buffer | undefined): Mechanism {
  // 96-bit IVs only: the length GCM is specified for without an extra GHASH pass, and what NIST SP 800-38D recommends.
  if (!Buffer.isBuffer(iv) || iv.length !== GCM_IV_BYTES) throw new HsmOperationError('input_invalid', `the IV must be ${GCM_IV_BYTES} bytes`);
  if (aad !== undefined && !Buffer.isBuffer(aad)) throw new HsmOperationError('input_invalid', 'aad must be bytes');
  const parameter: GcmParams = {
    type: ck.CK_PARAMS_GCM,
    iv,
    ivBits: GCM_IV_BYTES * 8,
    tagBits: GCM_TAG_BYTES * 8,
    ...(aad !== undefined && aad.length > 0 ? { aad } : {}),
  };
  return { mechanism: ck.CKM_AES_GCM, parameter };
}

function ecdsaRawToDer(raw: Buffer): Buffer {
  const curve = ECDSA_BY_RAW_LENGTH.get(raw.length);
  if (!curve) throw new HsmOperationError('operation_failed', `the token returned an ECDSA signature of ${raw.length} bytes`);
  return Buffer.from(curve.Signature.fromBytes(raw, 'compact').toBytes('der'));
}

function ecdsaDerToRaw(type: Pkcs11EcType, der: Buffer): Buffer | undefined {
  const curve = ECDSA_BY_RAW_LENGTH.get(2 * EC_CURVES[type].fieldBytes);
  try {
    return curve ? Buffer.from(curve.Signature.fromBytes(der, 'der').toBytes('compact')) : undefined;
  } catch {
    return undefined;
  }
}

// Names travel as CKA_LABEL/CKA_ID and show up in messages; keep them printable and bounded.
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

function checkLabel(label: unknown): string {
  if (typeof label !== 'string' || label.length === 0 || label.length > MAX_LABEL_CHARS || CONTROL_CHARS.test(label)) {
    throw new HsmOperationError('input_invalid', `labels are 1-${MAX_LABEL_CHARS} printable characters`);
  }
  return label;
}

function checkId(id: unknown): Buffer {
  if (!Buffer.isBuffer(id) || id.length === 0 || id.length > MAX_ID_BYTES) throw new HsmOperationError('input_invalid', `ids are 1-${MAX_ID_BYTES} bytes`);
  return id;
}

function checkRef(ref: KeyRef): void {
  if ('id' in ref) checkId(ref.id);
  else checkLabel(ref.label);
}

export type { Pkcs11EcType, Pkcs11KeyType, Pkcs11RsaType };
