// The built-in directory: users in Keyward's own tables (idp_users), passwords as argon2id hashes.
import { verify as argonVerify } from '@node-rs/argon2';
import type { IdpConfig } from '../config.ts';
import { decoyHash } from '../passwords.ts';
import type { Directory, IdpUser } from '../store/directory.ts';
import type { DirectoryUser, UserDirectory } from './types.ts';

export function toDirectoryUser(u: IdpUser): DirectoryUser {
  return {
    id: u.id,
    username: u.username,
    displayName: u.displayName,
    givenName: u.givenName,
    familyName: u.familyName,
    email: u.email,
    emailVerified: u.emailVerified,
    enabled: u.enabled,
    principalType: u.principalType,
    tenant: u.tenant,
    groups: [...u.groups].sort(),
    roles: u.roles,
  };
}

export class BuiltinUserDirectory implements UserDirectory {
  readonly kind = 'builtin';
  readonly description = 'built-in directory';
  readonly #store: Directory;
  readonly #argon2: IdpConfig['argon2'];
  constructor(store: Directory, argon2: IdpConfig['argon2']) {
    this.#store = store;
    this.#argon2 = argon2;
  }
  async getUser(id: string): Promise<DirectoryUser | undefined> {
    const u = await this.#store.getUser(id);
    return u ? toDirectoryUser(u) : undefined;
  }
  async authenticate(username: string, password: string): Promise<DirectoryUser | undefined> {
    const u = await this.#store.findUserByUsername(username);
    // Unknown users (and users without a password) are checked against the decoy: the answer takes as long.
    const verified = await argonVerify(u?.passwordHash ?? (await decoyHash(this.#argon2)), password).catch(() => false);
    return u?.passwordHash && verified ? toDirectoryUser(u) : undefined;
  }
  async close(): Promise<void> {}
}
