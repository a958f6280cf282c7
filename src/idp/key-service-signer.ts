// The identity provider's token signing keys, held by Keyward's own key service: the provider gets public keys
// and a sign() callback; private material never leaves the key service. Every signature is a key.sign audit event.
import type { OperationContext } from '../authn/context.ts';
import { jwsSignOptions, jwtKid, publicKeyJwk } from '../keys/families/index.ts';
import type { KeyService, KeyView } from '../keys/service.ts';
import type { KeyType } from '../keys/types.ts';
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

export class KeyServiceTokenSigner implements TokenSigner {
  readonly #keys: KeyService;

  constructor(keys: KeyService) {
    this.#keys = keys;
  }

  /** Creates each realm's signing keys and the secrets key on first start (needs the key service unsealed). */
  async ensureKeys(realms: string[]): Promise<void> {
    for (const realm of realms) {
      for (const alg of ALGS) {
        const id = idpSigningKeyId(realm, alg);
        if (await this.#keys.peek(id)) continue;
        await this.#keys.create(idpContext(), { id, type: KEY_TYPES[alg], labels: { 'keyward.dev/owner': 'idp', 'keyward.dev/realm': realm }, description: `identity provider realm ${realm}: ${alg} token signing key` });
      }
    }
    if (!(await this.#keys.peek(IDP_SECRETS_KEY))) {
      await this.#keys.create(idpContext(), { id: IDP_SECRETS_KEY, type: 'AES-256-GCM', labels: { 'keyward.dev/owner': 'idp' }, description: 'identity provider secrets at rest (TOTP seeds)' });
    }
  }

  async keys(realm: string): Promise<TokenSigningKey[]> {
    const out: TokenSigningKey[] = [];
    for (const alg of ALGS) {
      const view = await this.#keys.describe(idpSigningKeyId(realm, alg));
      out.push(...this.#versions(view, alg));
    }
    return out;
  }

  /** Every version not destroyed, newest first: the newest signs, older ones stay published for verification. */
  #versions(view: KeyView, alg: TokenSigningAlg): TokenSigningKey[] {
    const id = view.record.id;
    return view.versions
      .filter((v) => v.destroyedAt === null && v.publicKeySpki !== null)
      .sort((a, b) => b.version - a.version)
      .map((v) => {
        const kid = jwtKid(v.fingerprint, v.version);
        const current = v.version === view.record.currentVersion;
        // What the key's family signs a JWS with for this alg (ES256: raw r||s over SHA-256; RS256: PKCS#1 v1.5).
        const options = jwsSignOptions(view.record.type, alg);
        return {
          kid,
          alg,
          publicJwk: publicKeyJwk(view.record.type, v.publicKeySpki!, kid),
          sign: async (data: Buffer) => {
            // The key service signs with its newest version; refusing here keeps a stale kid from labelling it.
            if (!current) throw new Error(`signing key ${kid} has been rotated; reload the identity provider`);
            if (!options) throw new Error(`signing key ${id} is ${view.record.type}, which cannot sign ${alg}`);
            const r = await this.#keys.sign(idpContext(), id, { message: data, hashAlgorithm: options.hashAlgorithm, rsaPadding: options.rsaPadding, signatureFormat: options.ecdsaFormat });
            if (r.version !== v.version) throw new Error(`signing key ${kid} has been rotated; reload the identity provider`);
            return r.signature;
          },
        };
      });
  }
}
