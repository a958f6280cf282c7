// Token signing keys live in Keyward's key service; the provider only ever sees public keys and a sign()
// callback (oidc-provider's ExternalSigningKey), so private material never enters this process' provider.
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { ExternalSigningKey } from 'oidc-provider';

export type TokenSigningAlg = 'ES256' | 'RS256';

export interface TokenSigningKey {
  kid: string;
  alg: TokenSigningAlg;
  publicJwk: JsonWebKey;
  /**
   * Whether this version signs now (one per algorithm). The others are only published: the next version ahead of
   * its turn, so relying parties that cache the JWKS know it before it signs, and earlier ones until the tokens they
   * signed have expired.
   */
  signs: boolean;
  /** JWS signature bytes in JOSE form (raw r||s for ES256). */
  sign(data: Buffer): Promise<Buffer>;
}

export interface TokenSigner {
  /** A realm's published key versions: the one signing per algorithm, the next ones, and those still verifying. */
  keys(realm: string): Promise<TokenSigningKey[]>;
}

class KeywardSigningKey extends ExternalSigningKey {
  readonly #key: TokenSigningKey;
  readonly #public: KeyObject;
  constructor(key: TokenSigningKey) {
    super();
    this.#key = key;
    this.#public = createPublicKey({ key: key.publicJwk as any, format: 'jwk' });
    this.kid = key.kid;
    this.alg = key.alg;
  }
  override keyObject(): KeyObject {
    return this.#public;
  }
  override sign(data: Buffer): Promise<Buffer> {
    return this.#key.sign(data);
  }
}

/** oidc-provider `jwks.keys` entries for the signer's keys (public half plus a remote sign callback), and the public set. */
export async function externalSigningKeys(signer: TokenSigner, realm: string): Promise<{ keys: ExternalSigningKey[]; publicJwks: { keys: JsonWebKey[] } }> {
  // oidc-provider signs with the first key of an algorithm it finds: the signing ones go first.
  const keys = (await signer.keys(realm)).toSorted((a, b) => Number(b.signs) - Number(a.signs));
  return {
    keys: keys.map((k) => new KeywardSigningKey(k)),
    publicJwks: { keys: keys.map((k) => ({ ...k.publicJwk, kid: k.kid, alg: k.alg, use: 'sig' })) },
  };
}
