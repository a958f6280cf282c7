// oidc-provider persistence over Kysely (SQLite or PostgreSQL): one table for every model, keyed by realm.
// Clients come from the directory, so `keyward idp apply` changes take effect without a restart.
import type { Kysely } from 'kysely';
import { errors as oidcErrors } from 'oidc-provider';
import type { Directory, IdpClient } from './directory.ts';

const epoch = () => Math.floor(Date.now() / 1000);

/** Client metadata as oidc-provider expects it. The secret is the argon2id hash (see provider.ts). */
export function clientMetadata(c: IdpClient): Record<string, unknown> {
  const code = c.grantTypes.includes('authorization_code');
  return {
    client_id: c.clientId,
    client_name: c.name,
    ...(c.secretHash && c.authMethod !== 'none' && c.authMethod !== 'private_key_jwt' ? { client_secret: c.secretHash } : {}),
    redirect_uris: code ? c.redirectUris : [],
    post_logout_redirect_uris: code ? c.postLogoutRedirectUris : [],
    grant_types: c.grantTypes,
    response_types: code ? ['code'] : [],
    scope: c.scopes.join(' '),
    token_endpoint_auth_method: c.authMethod,
    ...(c.jwks ? { jwks: c.jwks } : {}),
    id_token_signed_response_alg: c.signingAlg,
  };
}

export interface AdapterPayload {
  [k: string]: unknown;
}

export function createAdapterFactory(db: Kysely<any>, realm: string, directory: Directory) {
  return class KeywardAdapter {
    readonly model: string;
    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number | undefined): Promise<void> {
      const values = {
        payload: JSON.stringify(payload),
        grant_id: (payload.grantId as string | undefined) ?? null,
        user_code: (payload.userCode as string | undefined) ?? null,
        uid: (payload.uid as string | undefined) ?? null,
        expires_at: expiresIn ? epoch() + expiresIn : null,
      };
      await db
        .insertInto('idp_oidc')
        .values({ realm, model: this.model, id, consumed_at: null, ...values })
        .onConflict((oc) => oc.columns(['realm', 'model', 'id']).doUpdateSet(values))
        .execute();
    }

    async #findWhere(column: 'id' | 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> {
      const r: any = await db
        .selectFrom('idp_oidc')
        .select(['payload', 'expires_at', 'consumed_at'])
        .where('realm', '=', realm)
        .where('model', '=', this.model)
        .where(column, '=', value)
        .executeTakeFirst();
      if (!r) return undefined;
      // Expired rows may linger until the next sweep; never hand them out.
      if (r.expires_at != null && Number(r.expires_at) <= epoch()) return undefined;
      const payload = JSON.parse(r.payload);
      if (r.consumed_at != null) payload.consumed = Number(r.consumed_at);
      return payload;
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') {
        const c = await directory.getClient(id);
        return c && c.enabled ? clientMetadata(c) : undefined;
      }
      return this.#findWhere('id', id);
    }
    async findByUid(uid: string) {
      return this.#findWhere('uid', uid);
    }
    async findByUserCode(userCode: string) {
      return this.#findWhere('user_code', userCode);
    }
    /**
     * Atomic: only one request can consume a code or refresh token. oidc-provider checks `consumed` on the copy it
     * loaded and then consumes, so two requests racing (say, both waiting on a slow client-secret check) would
     * both pass its check. The loser is treated as a reuse: the whole grant is revoked and it gets invalid_grant.
     */
    async consume(id: string): Promise<void> {
      const r = await db
        .updateTable('idp_oidc')
        .set({ consumed_at: epoch() })
        .where('realm', '=', realm)
        .where('model', '=', this.model)
        .where('id', '=', id)
        .where('consumed_at', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) > 0) return;
      const row: any = await db.selectFrom('idp_oidc').select('grant_id').where('realm', '=', realm).where('model', '=', this.model).where('id', '=', id).executeTakeFirst();
      if (row?.grant_id) await this.revokeByGrantId(row.grant_id);
      throw new oidcErrors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'grant'} already used`);
    }
    async destroy(id: string): Promise<void> {
      await db.deleteFrom('idp_oidc').where('realm', '=', realm).where('model', '=', this.model).where('id', '=', id).execute();
    }
    async revokeByGrantId(grantId: string): Promise<void> {
      await db.deleteFrom('idp_oidc').where('realm', '=', realm).where('grant_id', '=', grantId).execute();
    }
  };
}

/** Deletes expired provider artefacts of every realm; returns how many. */
export async function sweepExpired(db: Kysely<any>, at = epoch()): Promise<number> {
  const r = await db.deleteFrom('idp_oidc').where('expires_at', 'is not', null).where('expires_at', '<=', at).executeTakeFirst();
  return Number(r.numDeletedRows);
}
