// POST /v1/authz/explain: why a principal may or may not do an action, with the matching grants or policy ids.
// Without a `principal` in the body it explains the caller's own access; with one, it is a what-if for that
// identity (its permissions as given), which is why the route itself needs authz.explain.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Principal, PrincipalType } from '../authn/types.ts';
import { callInfo } from '../http/security.ts';
import { AnyObject, Strict, StringEnum, type TypeBoxTypeProvider } from '../http/typebox.ts';
import { type AuthorizationDeps, authzRequest } from './hook.ts';
import { ACTION_PERMISSIONS, ACTIONS } from '../core/actions.ts';
import { badRequest } from '../core/problem.ts';
import { explain } from './index.ts';

const PRINCIPAL_TYPES = ['user', 'service', 'anonymous'] as const satisfies readonly PrincipalType[];

const explainBody = Strict({
  action: StringEnum(ACTIONS),
  key_id: Type.Optional(Type.String({ maxLength: 256 })),
  overwrite: Type.Optional(Type.Boolean()),
  principal: Type.Optional(
    Strict({
      id: Type.String({ maxLength: 256 }),
      type: Type.Optional(StringEnum(PRINCIPAL_TYPES)),
      permissions: Type.Optional(Type.Array(Type.String({ maxLength: 512 }), { maxItems: 1000 })),
      attributes: Type.Optional(AnyObject()),
    }, { description: 'A what-if identity; the caller when absent' }),
  ),
});

const explanation = Type.Object({
  allowed: Type.Boolean(),
  pdp: Type.String(),
  action: Type.String(),
  permission: Type.String(),
  principal: Type.Object({ id: Type.String(), type: Type.String(), auth_method: Type.String() }),
  resource: Type.Object({ type: Type.String(), id: Type.String() }),
  matched: Type.Array(Type.String(), { description: 'builtin: the allow grants that match (even when a deny wins); policy PDPs: the determining policy ids or reasons' }),
  denied_by: Type.Optional(Type.String({ description: 'builtin: the negative grant that won' })),
  missing_permission: Type.Optional(Type.String({ description: 'builtin: the permission nothing granted' })),
  policy_version: Type.Optional(Type.String()),
});

export async function authzRoutes(plain: FastifyInstance, opts: { authorization: AuthorizationDeps }) {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  app.post('/explain', {
    schema: { tags: ['authz'], summary: 'Explain an authorization decision', body: explainBody, response: { 200: explanation } },
    // A malformed key id is key.invalid_id whether the schema or the authorization stage catches it.
    config: { security: { authz: () => [{ action: 'authz:Explain' as const }] }, fieldCodes: { key_id: 'key.invalid_id' }, problems: ['authz.pdp_unavailable', 'storage.unavailable'] },
  }, async (req) => {
    const b = req.body;
    // A key action's permission names the key: without one there is nothing to decide.
    if (ACTION_PERMISSIONS[b.action].scope === 'key' && b.key_id === undefined) throw badRequest('request.invalid', `${b.action} is an action on a key: give its key_id`);
    const principal: Principal = b.principal
      ? { id: b.principal.id, type: b.principal.type ?? 'user', authMethod: 'explain', permissions: b.principal.permissions ?? [], attributes: b.principal.attributes ?? {} }
      : req.principal!;
    return explain(opts.authorization.pdp, await authzRequest(opts.authorization, callInfo(req), principal, { action: b.action, keyId: b.key_id, overwrite: b.overwrite }));
  });
}
