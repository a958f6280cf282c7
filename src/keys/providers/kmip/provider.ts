// The KMIP key provider: keys created, used and destroyed inside a KMIP 1.4 server through Keyward's own client
// (client.ts; TLS with a client certificate). A version's reference is the server's unique identifier(s).
//
// What it holds: RSA 2048-4096 signing keys (PKCS#1 v1.5 over messages, which the server hashes) and AES-256-GCM.
// Refused, never done in software: EC keys (the client creates RSA key pairs only, and PyKMIP 0.10 has neither EC
// key pairs nor ECDSA signing), signatures over precomputed digests (the server hashes the message itself), RSA-PSS
// (the server picks the salt length, PyKMIP the maximum, so its signatures are neither Keyward's PSS with a
// hash-length salt nor JWS PS256), Ed25519 and HMAC.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { duration } from '../../../core/duration.ts';
import { ProblemError, badRequest } from '../../../core/problem.ts';
import { type KeyType, spkiMatches } from '../../families/index.ts';
import type { SignaturePlan } from '../../families/index.ts';
import { ProviderKeyUnusable, hsmUnavailable, providerUnsupported } from '../errors.ts';
import type { ExternalStatus, GcmParts, HeldKey, KeyProvider, ProviderConfigProblem, ProviderContext, ProviderDescriptor, ProviderHealth, ProviderObject, ProviderOperation, SealKeyWrapper } from '../types.ts';
import type { KmipClient, KmipSignatureAlgorithm } from './client.ts';
import {
  KmipAuthenticationError,
  KmipCryptographicFailureError,
  KmipError,
  KmipItemNotFoundError,
  KmipNotSupportedError,
  KmipPermissionDeniedError,
  KmipProtocolError,
  KmipServerError,
  KmipUnavailableError,
  KmipWrongStateError,
} from './errors.ts';

export const kmipConfigSchema = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(5696),
  /** CA certificate(s) the server's certificate must chain to. */
  ca_file: z.string().min(1),
  /** Keyward's client certificate and key (KMIP servers authenticate clients by certificate). */
  cert_file: z.string().min(1),
  key_file: z.string().min(1),
  /** Name the server certificate must carry; defaults to host. */
  server_name: z.string().optional(),
  connect_timeout: duration().prefault('5s'),
  request_timeout: duration().prefault('10s'),
  pool_size: z.number().int().min(1).max(64).default(2),
});
export type KmipConfig = z.output<typeof kmipConfigSchema>;

const RSA_BITS: Partial<Record<KeyType, 2048 | 3072 | 4096>> = { 'RSA-2048': 2048, 'RSA-3072': 3072, 'RSA-4096': 4096 };
const HEALTH_TIMEOUT_MS = 3000;

interface KmipRef {
  /** The private or symmetric key. */
  uid: string;
  /** The public key of a pair, when Keyward knows it. */
  public_uid?: string;
}
const parseRef = (text: string): KmipRef => JSON.parse(text) as KmipRef;

class KmipProvider implements KeyProvider {
  readonly name = 'kmip' as const;
  readonly #client: KmipClient;
  readonly #endpoint: string;

  constructor(client: KmipClient, endpoint: string) {
    this.#client = client;
    this.#endpoint = endpoint;
  }

  refusal(type: KeyType, operation: ProviderOperation): string | undefined {
    if (type !== 'AES-256-GCM' && RSA_BITS[type] === undefined) {
      return `the KMIP server holds RSA 2048-4096 and AES-256-GCM keys, not ${type} (no EC key pairs or ECDSA signing in the KMIP provider; PyKMIP 0.10 has neither)`;
    }
    if (operation.op === 'mac') return 'HMAC keys are not held in the KMIP server';
    if (operation.op === 'sign') {
      if ('digest' in operation.plan.input) return 'the KMIP server hashes the message itself; it signs no precomputed digests (send the message)';
      if (operation.plan.rsaPadding === 'pss') {
        return 'the KMIP server chooses the RSA-PSS salt length (PyKMIP: the maximum), so its signatures are not PSS with a hash-length salt as Keyward and JWS PS256 use; sign with pkcs1';
      }
    }
    return undefined;
  }

  async generate(type: KeyType, label: string): Promise<ProviderObject> {
    const name = label.slice(0, 250);
    if (type === 'AES-256-GCM') {
      const uid = await this.#mapped(() => this.#client.create({ name, length: 256, sensitive: true }));
      await this.#cleanupOnFailure([uid], () => this.#mapped(() => this.#client.activate(uid)));
      return { ref: JSON.stringify({ uid } satisfies KmipRef), publicKeySpki: null };
    }
    const length = RSA_BITS[type];
    if (length === undefined) throw providerUnsupported('kmip', `cannot create ${type} keys`);
    const pair = await this.#mapped(() => this.#client.createKeyPair({ length, name, publicKeyName: `${name}.pub`, sensitive: true }));
    const spki = await this.#cleanupOnFailure([pair.privateKeyId, pair.publicKeyId], async () => {
      await this.#mapped(() => this.#client.activate(pair.privateKeyId));
      await this.#mapped(() => this.#client.activate(pair.publicKeyId));
      return this.#publicSpki(type, pair.publicKeyId);
    });
    return { ref: JSON.stringify({ uid: pair.privateKeyId, public_uid: pair.publicKeyId } satisfies KmipRef), publicKeySpki: spki };
  }

  async adopt(type: KeyType, external: { id: string; publicId?: string | undefined }): Promise<ProviderObject> {
    if (external.id.length === 0 || external.id.length > 255) throw badRequest('key.external_invalid', 'a KMIP unique identifier is 1-255 characters');
    const attrs = await this.#adopting(() => this.#client.getAttributes(external.id), external.id);
    if (attrs.state !== 'active') throw badRequest('key.external_invalid', `KMIP object ${external.id} is ${attrs.state ?? 'in an unknown state'}, not active`);
    if (type === 'AES-256-GCM') {
      if (external.publicId !== undefined) throw badRequest('key.external_invalid', 'external_public_id applies to key pairs only');
      if (attrs.objectType !== 'symmetric-key' || attrs.algorithm !== 'AES' || attrs.length !== 256) {
        throw badRequest('key.external_invalid', `KMIP object ${external.id} is not an AES-256 key`);
      }
      return { ref: JSON.stringify({ uid: external.id } satisfies KmipRef), publicKeySpki: null };
    }
    if (RSA_BITS[type] === undefined) throw providerUnsupported('kmip', `cannot use ${type} keys`);
    if (attrs.objectType !== 'private-key' || attrs.algorithm !== 'RSA' || attrs.length !== RSA_BITS[type]) {
      throw badRequest('key.external_invalid', `KMIP object ${external.id} is not an RSA-${RSA_BITS[type]} private key`);
    }
    if (external.publicId === undefined) {
      throw badRequest('key.external_invalid', 'name the key pair\'s public key with external_public_id (KMIP servers such as PyKMIP keep no link from a private key to its public key)');
    }
    const publicId = external.publicId;
    const spki = await this.#adopting(() => this.#publicSpki(type, publicId), publicId);
    return { ref: JSON.stringify({ uid: external.id, public_uid: external.publicId } satisfies KmipRef), publicKeySpki: spki };
  }

  async sign(key: HeldKey, plan: SignaturePlan): Promise<Buffer> {
    const why = this.refusal(key.type, { op: 'sign', plan });
    if (why) throw providerUnsupported('kmip', why);
    if (!('message' in plan.input) || plan.hash === null) throw providerUnsupported('kmip', 'the KMIP server signs messages only');
    const algorithm = `RSA_PKCS1_V15_${plan.hash.replace('-', '')}` as KmipSignatureAlgorithm;
    const message = plan.input.message;
    return this.#mapped(() => this.#client.sign(parseRef(key.ref).uid, message, algorithm));
  }

  async encrypt(key: HeldKey, plaintext: Buffer, aad: Buffer): Promise<GcmParts> {
    return this.#mapped(() => this.#client.encrypt(parseRef(key.ref).uid, plaintext, { aad }));
  }

  async decrypt(key: HeldKey, parts: GcmParts, aad: Buffer): Promise<Buffer> {
    try {
      return await this.#mapped(() => this.#client.decrypt(parseRef(key.ref).uid, { ...parts, aad }));
    } catch (e) {
      // PyKMIP answers a wrong tag, IV or AAD with General Failure. Neutral on purpose, like the software provider.
      if (e instanceof ProblemError && e.code === 'hsm.operation_failed') throw badRequest('crypto.decrypt_failed', 'the ciphertext could not be decrypted');
      throw e;
    }
  }

  async destroy(key: HeldKey): Promise<void> {
    const ref = parseRef(key.ref);
    for (const uid of [ref.uid, ref.public_uid]) if (uid !== undefined) await this.#destroyObject(uid);
  }

  async externalStatus(key: HeldKey): Promise<ExternalStatus> {
    const ref = parseRef(key.ref);
    try {
      const attrs = await this.#mapped(() => this.#client.getAttributes(ref.uid));
      if (attrs.state !== 'active') return { usable: false, reason: 'revoked', detail: `the KMIP object is ${attrs.state ?? 'in an unknown state'}` };
      return { usable: true };
    } catch (e) {
      if (e instanceof ProviderKeyUnusable) return { usable: false, reason: e.reason, detail: e.detail ?? 'the KMIP object cannot be used' };
      throw e;
    }
  }

  sealWrapper(label: string): SealKeyWrapper {
    const client = this.#client;
    const mapped = <T>(fn: () => Promise<T>) => this.#mapped(fn);
    const uidOf = (ref: string) => (JSON.parse(ref) as { uid: string }).uid;
    return {
      kind: 'kmip',
      label,
      async ensureKey() {
        // Locate answers newest first; the first active AES-256 key of the name is the seal key.
        for (const uid of await mapped(() => client.locate({ name: label }))) {
          const a = await mapped(() => client.getAttributes(uid));
          if (a.objectType === 'symmetric-key' && a.algorithm === 'AES' && a.length === 256 && a.state === 'active') return JSON.stringify({ name: label, uid });
        }
        const uid = await mapped(() => client.create({ name: label, length: 256, sensitive: true }));
        await mapped(() => client.activate(uid));
        return JSON.stringify({ name: label, uid });
      },
      matches: (ref) => (JSON.parse(ref) as { name?: string }).name === label,
      async wrap(ref, aad, plaintext) {
        const s = await mapped(() => client.encrypt(uidOf(ref), plaintext, { aad }));
        return Buffer.concat([s.iv, s.tag, s.ciphertext]);
      },
      async unwrap(ref, aad, blob) {
        if (blob.length < 28) throw badRequest('crypto.decrypt_failed', 'the HSM-wrapped root key is truncated');
        return mapped(() => client.decrypt(uidOf(ref), { iv: blob.subarray(0, 12), tag: blob.subarray(12, 28), ciphertext: blob.subarray(28), aad }));
      },
    };
  }

  async health(): Promise<ProviderHealth> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const probe = this.#client.probe();
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new KmipUnavailableError('timeout', `no answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS);
      });
      const { version } = await Promise.race([probe, timeout]);
      return { ok: true, detail: { server: this.#endpoint, protocol: `${version.major}.${version.minor}` } };
    } catch (e) {
      const kind = e instanceof KmipUnavailableError ? e.kind : e instanceof KmipError ? e.code : 'error';
      return { ok: false, reason: kind, detail: `${this.#endpoint}: ${(e as Error).message}` };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.#client.close();
  }

  async #publicSpki(type: KeyType, publicId: string): Promise<Buffer> {
    const pub = await this.#mapped(() => this.#client.getPublicKey(publicId));
    const spki = pub.export({ type: 'spki', format: 'der' });
    if (!spkiMatches(type, spki)) throw new ProblemError({ code: 'hsm.operation_failed', detail: `KMIP public key ${publicId} is not a ${type} key` });
    return spki;
  }

  /** Revoke (KMIP destroys no active key), then destroy; objects already gone or already revoked are fine. */
  async #destroyObject(uid: string): Promise<void> {
    try {
      await this.#mapped(() => this.#client.revoke(uid, 'cessation-of-operation'));
    } catch (e) {
      if (!(e instanceof ProviderKeyUnusable)) throw e;
      if (e.reason === 'missing') return;
    }
    try {
      await this.#mapped(() => this.#client.destroy(uid));
    } catch (e) {
      if (!(e instanceof ProviderKeyUnusable && e.reason === 'missing')) throw e;
    }
  }

  /** A half-made key is not left behind in the server: created objects are destroyed if a later step fails. */
  async #cleanupOnFailure<T>(uids: string[], fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      for (const uid of uids) await this.#destroyObject(uid).catch(() => undefined);
      throw e;
    }
  }

  /** While adopting, an object the server will not show is the caller's mistake, not an unusable stored key. */
  async #adopting<T>(fn: () => Promise<T>, id: string): Promise<T> {
    try {
      return await this.#mapped(fn);
    } catch (e) {
      if (e instanceof ProviderKeyUnusable) throw badRequest('key.external_invalid', `KMIP object ${id}: ${e.detail ?? e.reason}`);
      throw e;
    }
  }

  /** The client's errors as the key service reads them. */
  async #mapped<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw mapKmipError(e, this.#endpoint);
    }
  }
}

export function mapKmipError(e: unknown, endpoint: string): unknown {
  if (e instanceof ProblemError) return e;
  if (e instanceof KmipUnavailableError) return hsmUnavailable('kmip', e.kind, `${endpoint} unreachable (${e.message})`);
  if (e instanceof KmipProtocolError) return hsmUnavailable('kmip', 'protocol_error', `${endpoint} answered with a malformed response`);
  if (e instanceof KmipAuthenticationError) return hsmUnavailable('kmip', 'authentication_failed', `${endpoint} refused Keyward's client certificate`);
  if (e instanceof KmipItemNotFoundError) return new ProviderKeyUnusable('kmip', 'missing', 'the KMIP object does not exist');
  if (e instanceof KmipWrongStateError) return new ProviderKeyUnusable('kmip', 'revoked', `the KMIP object is ${e.state ?? 'not active'}`);
  if (e instanceof KmipPermissionDeniedError) return new ProviderKeyUnusable('kmip', 'access_denied', 'the KMIP server denies Keyward access to the object');
  if (e instanceof KmipNotSupportedError) return providerUnsupported('kmip', `the KMIP server does not support this (${e.code})`);
  if (e instanceof KmipServerError || e instanceof KmipCryptographicFailureError || e instanceof KmipError) {
    return new ProblemError({ code: 'hsm.operation_failed', detail: `KMIP operation failed (${e.code})` });
  }
  if (e instanceof RangeError) return badRequest('crypto.input_invalid', e.message);
  return e;
}

function readable(path: string, field: string, problems: ProviderConfigProblem[]): void {
  try {
    readFileSync(path);
  } catch (e) {
    problems.push({ path: `keys.providers.kmip.${field}`, message: `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})` });
  }
}

export const kmipDescriptor: ProviderDescriptor<KmipConfig, 'kmip'> = {
  name: 'kmip',
  title: 'KMIP server',
  configSchema: kmipConfigSchema,
  async create(config) {
    // The KMIP client (TTLV codec, TLS transport) is loaded only when the provider is configured.
    const { KmipClient } = await import('./client.ts');
    const client = new KmipClient({
      host: config.host,
      port: config.port,
      ca: readFileSync(config.ca_file),
      cert: readFileSync(config.cert_file),
      key: readFileSync(config.key_file),
      ...(config.server_name ? { servername: config.server_name } : {}),
      connectTimeoutMs: config.connect_timeout,
      requestTimeoutMs: config.request_timeout,
      poolSize: config.pool_size,
    });
    return new KmipProvider(client, `${config.host}:${config.port}`);
  },
  preflight(config) {
    const problems: ProviderConfigProblem[] = [];
    readable(config.ca_file, 'ca_file', problems);
    readable(config.cert_file, 'cert_file', problems);
    readable(config.key_file, 'key_file', problems);
    return problems;
  },
};
