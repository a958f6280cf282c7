// Development only: every caller is anonymous, with the configured permissions (default everything).
import type { Authenticator, Principal } from './types.ts';

export class InsecureAuthenticator implements Authenticator {
  readonly name = 'insecure';
  readonly #principal: Principal;

  constructor(permissions: string[]) {
    this.#principal = Object.freeze({ id: 'anonymous', type: 'anonymous', authMethod: 'insecure', permissions: Object.freeze([...permissions]) as string[], attributes: Object.freeze({}) });
  }

  async authenticate(): Promise<Principal> {
    return this.#principal;
  }
}
