// The identity provider's token signing keys, held by Keyward's own key service: the provider gets public keys
// and a sign() callback; private material never leaves the key service. Every signature is a key.sign audit event.
import type { OperationContext } from '../authn/context.ts';
import { jwsSignOptions, jwtKid, publicKeyJwk } from '../keys/families/index.ts';
import type { KeyService, KeyView } from '../keys/service.ts';
import type { KeyType } from '../keys/types.ts';
import type { Clock } from '../core/clock.ts';
import { isProblem } from '../core/problem.ts';
import type { KeyVersionRecord } from '../store/types.ts';
import type { TokenSigner, TokenSigningAlg, TokenSigningKey } from './signing.ts';
import type { SecretBox } from './store/directory.ts';

const KEY_TYPES: Record<TokenSigningAlg, KeyType> = { ES256: 'EC-P256', RS256: 'RSA-2048' };

const ALGS = Object.keys(KEY_TYPES) as TokenSigningAlg[];

/** Each realm signs with its own keys, so realms stay isolated and rotate independently. */
export const idpSigningKeyId = (realm: string, alg: TokenSigningAlg) => `keyward-idp-${realm}-${alg.toLowerCase()}`;
export const isIdpSigningKey = (id: string) => id.startsWith('keyward-idp-') && ALGS.some((a) => id.endsWith(`-${a.toLowerCase()}`));

/** The identity provider acting as a Keyward component: the one caller its own keys answer to. */
export const IDP_COMPONENT = 'identity-provider';

const idpContext = (): OperationContext => ({
  principal: { id: 'keyward-idp', type: 'service', authMethod: 'internal', permissions: [], attributes: {} },
  requestId: crypto.randomUUID(),
  component: IDP_COMPONENT,
});

/** AES key that seals the directory's readable secrets (TOTP seeds). */
export const IDP_SECRETS_KEY = 'keyward-idp-secrets';
const SEALED_PREFIX = 'kw1:';

/** A SecretBox over the key service: encrypt/decrypt with IDP_SECRETS_KEY, the context as associated data. */
export function keyServiceSecretBox(keys: KeyService): SecretBox {
  return {
    async seal(context, plaintext) {
      const r = await keys.encrypt(idpContext(), IDP_SECRETS_KEY, { plaintext: Buffer.from(plaintext, 'utf8'), aad: Buffer.from(context, 'utf8') });
      return SEALED_PREFIX + r.ciphertext.toString('base64');
    },
    async open(context, sealed) {
      // Seeds written before sealing existed are read as they are and sealed on their next write.
      if (!sealed.startsWith(SEALED_PREFIX)) return sealed;
      const r = await keys.decrypt(idpContext(), IDP_SECRETS_KEY, { ciphertext: Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64'), aad: Buffer.from(context, 'utf8') });
      return r.plaintext.toString('utf8');
    },
  };
}

/** When versions of a signing key sign and how long they stay published. */
export interface RotationPolicy {
  /** A new version is published this long before it signs (relying parties refresh their cached JWKS meanwhile). */
  publishAheadMs: number;
  /** A version stays published this long after it stopped signing: the longest lifetime of what it signed. */
  retainMs(realm: string): number;
}

export interface VersionSchedule {
  signing: KeyVersionRecord;
  /** Every version to publish, the signing one included, newest first. */
  published: KeyVersionRecord[];
}

/**
 * The schedule of a key's versions at `nowMs`: the newest version whose lead time has passed signs (a key's first
 * version signs at once: nothing was published before it); newer ones are published ahead of their turn; older ones
 * stay published until retainMs after the next version took over from them. Every instance computes the same
 * schedule from the stored creation times, so no coordination is needed.
 */
export function versionSchedule(versions: KeyVersionRecord[], nowMs: number, publishAheadMs: number, retainMs: number): VersionSchedule | undefined {
  const live = versions.filter((v) => v.destroyedAt === null && (v.sealedMaterial !== null || v.providerRef !== null) && v.publicKeySpki !== null).sort((a, b) => a.version - b.version);
  if (live.length === 0) return undefined;
  const turn = (v: KeyVersionRecord) => v.createdAt.getTime() + publishAheadMs;
  const signing = live.findLast((v) => turn(v) <= nowMs) ?? live[0]!;
  const published = live.filter((v, i) => {
    if (v.version >= signing.version) return true;
    // It stopped signing when the version after it took its turn.
    const next = live[i + 1]!;
    return turn(next) + retainMs > nowMs;
  });
  return { signing, published: published.reverse() };
}

export class KeyServiceTokenSigner implements TokenSigner {
  readonly #keys: KeyService;
  readonly #clock: Clock;
  readonly #policy: RotationPolicy;

  constructor(keys: KeyService, clock: Clock, policy: RotationPolicy) {
    this.#keys = keys;
    this.#clock = clock;
    this.#policy = policy;
  }

  /** Creates each realm's signing keys and the secrets key on first start (needs the key service unsealed). */
  async ensureKeys(realms: string[]): Promise<void> {
    for (const realm of realms) {
      for (const alg of ALGS) {
        const id = idpSigningKeyId(realm, alg);
        await this.#ensure(id, { type: KEY_TYPES[alg], labels: { 'keyward.dev/owner': 'idp', 'keyward.dev/realm': realm }, description: `identity provider realm ${realm}: ${alg} token signing key` });
      }
    }
    await this.#ensure(IDP_SECRETS_KEY, { type: 'AES-256-GCM', labels: { 'keyward.dev/owner': 'idp' }, description: 'identity provider secrets at rest (TOTP seeds)' });
  }

  async #ensure(id: string, key: { type: KeyType; labels: Record<string, string>; description: string }): Promise<void> {
    if (await this.#keys.peek(id)) return;
    try {
      await this.#keys.create(idpContext(), { id, ...key });
    } catch (e) {
      // Instances sharing a database start together: another one created it first.
      if (!isProblem(e) || e.code !== 'key.exists') throw e;
    }
  }

  async keys(realm: string): Promise<TokenSigningKey[]> {
    const out: TokenSigningKey[] = [];
    for (const alg of ALGS) out.push(...(await this.#published(realm, alg)));
    return out;
  }

  /** The version that signs the realm's tokens of this algorithm now (break-glass tokens sign with it too). */
  async signingVersion(realm: string, alg: TokenSigningAlg): Promise<number> {
    const schedule = await this.#schedule(realm, alg);
    if (!schedule) throw new Error(`signing key ${idpSigningKeyId(realm, alg)} has no usable version`);
    return schedule.signing.version;
  }

  async #schedule(realm: string, alg: TokenSigningAlg): Promise<VersionSchedule | undefined> {
    const view = await this.#keys.describe(idpSigningKeyId(realm, alg));
    return versionSchedule(view.versions, this.#clock.now().getTime(), this.#policy.publishAheadMs, this.#policy.retainMs(realm));
  }

  async #published(realm: string, alg: TokenSigningAlg): Promise<TokenSigningKey[]> {
    const id = idpSigningKeyId(realm, alg);
    const view: KeyView = await this.#keys.describe(id);
    const schedule = await this.#schedule(realm, alg);
    if (!schedule) return [];
    return schedule.published.map((v) => {
      const kid = jwtKid(v.fingerprint, v.version);
      const signs = v.version === schedule.signing.version;
      // What the key's family signs a JWS with for this alg (ES256: raw r||s over SHA-256; RS256: PKCS#1 v1.5).
      const options = jwsSignOptions(view.record.type, alg);
      return {
        kid,
        alg,
        signs,
        publicJwk: publicKeyJwk(view.record.type, v.publicKeySpki!, kid),
        sign: async (data: Buffer) => {
          // Only the scheduled version signs; the provider is rebuilt when the schedule changes.
          if (!signs) throw new Error(`signing key ${kid} is published only; reload the identity provider`);
          if (!options) throw new Error(`signing key ${id} is ${view.record.type}, which cannot sign ${alg}`);
          // The version is named: the newest may not sign yet.
          const r = await this.#keys.sign(idpContext(), id, { message: data, hashAlgorithm: options.hashAlgorithm, rsaPadding: options.rsaPadding, signatureFormat: options.ecdsaFormat, version: v.version });
          return r.signature;
        },
      };
    });
  }
}
