// The shapes Keycloak applications expect of tokens, over what oidc-provider issues:
// - access tokens are at+jwt for every flow; oidc-provider does not store JWT access tokens and refuses
//   audience-bound ones at userinfo, so each user access token gets an opaque, audience-less "userinfo twin" kept
//   in the store. A request presenting the JWT at userinfo, introspection or revocation is answered for its twin.
//   The twin's id is an HMAC of the JWT's jti, so neither the jti nor anything else in the JWT is itself a credential.
// - refresh tokens are JWS-shaped (keycloak-js decodes every token it is given), wrapping oidc-provider's opaque
//   value; they are signed with a key derived from the cookie keys and unwrapped before the library sees them.
import { createHmac } from 'node:crypto';
import { compactVerify, createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';

const REFRESH_TYP = 'Refresh';

export interface TokenShapes {
  /** The store id of the userinfo twin of an access token with this jti. */
  twinId(jti: string): string;
  /** The jti and audience of a JWT access token this realm issued (signature, issuer and type checked), else undefined. */
  accessToken(value: string): Promise<{ jti: string; aud: string | string[] | undefined } | undefined>;
  /** A JWS-shaped refresh token carrying oidc-provider's opaque value. */
  wrapRefresh(opaque: string, claims: { exp: number; iat: number; sub?: string | undefined; azp: string; scope?: string | undefined; sid?: string | undefined }): Promise<string>;
  /** The opaque value inside a refresh token this realm wrapped; any other value is returned as it is. */
  unwrapRefresh(value: string): Promise<string>;
}

const looksLikeJws = (v: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(v);

export function tokenShapes(opts: { issuer: string; realm: string; cookieKeys: string[]; publicJwks: JSONWebKeySet }): TokenShapes {
  const derive = (key: string, purpose: string) => createHmac('sha256', key).update(`${purpose}:${opts.realm}`).digest();
  const twinKey = derive(opts.cookieKeys[0]!, 'userinfo-twin');
  // The first cookie key signs; every configured key verifies, so rotating the cookie keys keeps refresh tokens working.
  const refreshKeys = opts.cookieKeys.map((k) => derive(k, 'refresh-token'));
  const jwks = createLocalJWKSet(opts.publicJwks);
  return {
    twinId: (jti) => createHmac('sha256', twinKey).update(jti).digest('base64url'),
    async accessToken(value) {
      if (!looksLikeJws(value)) return undefined;
      try {
        const { payload } = await jwtVerify(value, jwks, { issuer: opts.issuer, typ: 'at+jwt', algorithms: ['ES256', 'RS256'] });
        return typeof payload.jti === 'string' ? { jti: payload.jti, aud: payload.aud } : undefined;
      } catch {
        return undefined;
      }
    },
    async wrapRefresh(opaque, c) {
      return new SignJWT({ typ: REFRESH_TYP, azp: c.azp, ...(c.sid ? { sid: c.sid } : {}), ...(c.scope ? { scope: c.scope } : {}), rt: opaque })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(opts.issuer)
        .setAudience(opts.issuer)
        .setIssuedAt(c.iat)
        .setExpirationTime(c.exp)
        .setJti(crypto.randomUUID())
        .setSubject(c.sub ?? c.azp)
        .sign(refreshKeys[0]!);
    },
    async unwrapRefresh(value) {
      if (!looksLikeJws(value)) return value;
      for (const key of refreshKeys) {
        try {
          // Only the wrapping is checked here; expiry and revocation are the library's to judge (invalid_grant).
          const { payload: raw } = await compactVerify(value, key, { algorithms: ['HS256'] });
          const payload = JSON.parse(new TextDecoder().decode(raw));
          if (payload.iss === opts.issuer && payload.typ === REFRESH_TYP && typeof payload.rt === 'string') return payload.rt;
        } catch {
          // not signed with this key
        }
      }
      return value;
    },
  };
}
