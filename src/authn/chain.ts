// An ordered list of authenticators: the first that recognises the credential decides. A recognised but
// invalid credential throws, which ends the chain: it never falls through to a weaker method.
// With several JWT issuers in one chain, a token goes to the authenticator of the issuer it names (the
// unverified `iss` only routes; that authenticator then verifies everything); a token naming none of them
// is refused with auth.issuer_mismatch.
import { decodeJwt } from 'jose';
import { bearer, isJwtShaped } from './credentials.ts';
import { authError } from './errors.ts';
import type { Authenticator, AuthnRequest, Principal } from './types.ts';

export class ChainAuthenticator implements Authenticator {
  readonly name = 'chain';
  readonly members: readonly Authenticator[];
  readonly #issuers: number;

  constructor(members: Authenticator[]) {
    this.members = Object.freeze([...members]);
    this.#issuers = members.filter((m) => m.issuer !== undefined).length;
  }

  async authenticate(req: AuthnRequest): Promise<Principal | undefined> {
    const skip = this.#issuers > 1 ? this.#otherIssuers(req) : undefined;
    for (const a of this.members) {
      if (skip?.has(a)) continue;
      const p = await a.authenticate(req);
      if (p !== undefined) return p;
    }
    return undefined;
  }

  #otherIssuers(req: AuthnRequest): Set<Authenticator> | undefined {
    const b = bearer(req.headers);
    if (b.kind !== 'bearer' || !isJwtShaped(b.token)) return undefined;
    let iss: unknown;
    try {
      iss = decodeJwt(b.token).iss;
    } catch {
      return undefined;
    }
    const jwtMembers = this.members.filter((m) => m.issuer !== undefined);
    if (!jwtMembers.some((m) => m.issuer === iss)) throw authError('auth.issuer_mismatch', 'the token was not issued by a trusted issuer');
    return new Set(jwtMembers.filter((m) => m.issuer !== iss));
  }

  async reload(): Promise<void> {
    for (const a of this.members) await a.reload?.();
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.members.map((a) => a.close?.()));
  }
}
