// An ordered list of authenticators: the first that recognises the credential decides. A recognised but
// invalid credential throws, which ends the chain: it never falls through to a weaker method.
import type { Authenticator, AuthnRequest, Principal } from './types.ts';

export class ChainAuthenticator implements Authenticator {
  readonly name = 'chain';
  readonly members: readonly Authenticator[];

  constructor(members: Authenticator[]) {
    this.members = Object.freeze([...members]);
  }

  async authenticate(req: AuthnRequest): Promise<Principal | undefined> {
    for (const a of this.members) {
      const p = await a.authenticate(req);
      if (p !== undefined) return p;
    }
    return undefined;
  }

  async reload(): Promise<void> {
    for (const a of this.members) await a.reload?.();
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.members.map((a) => a.close?.()));
  }
}
