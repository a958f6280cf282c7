// POST /v1/authz/explain: why a principal may or may not do an action, with the matching grants or policy ids.
// Without a `principal` in the body it explains the caller's own access; with one, it is a what-if for that
// identity (its permissions as given), which is why the route itself needs authz.explain.
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../authn/types.ts';
import { callInfo } from '../http/security.ts';
import { type AuthorizationDeps, authzRequest } from './hook.ts';
import { ACTION_PERMISSIONS, ACTIONS, type Action } from '../core/actions.ts';
import { badRequest } from '../core/problem.ts';
import { explain } from './index.ts';

export async function authzRoutes(app: FastifyInstance, opts: { authorization: AuthorizationDeps }) {
  app.post('/explain', {
    schema: {
      tags: ['authz'],
      summary: 'Explain an authorization decision',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['action'],
        properties: {
          action: { type: 'string', enum: ACTIONS },
          key_id: { type: 'string', maxLength: 256 },
          overwrite: { type: 'boolean' },
          principal: {
            type: 'object',
            additionalProperties: false,
            required: ['id'],
            properties: {
              id: { type: 'string', maxLength: 256 },
              type: { type: 'string', enum: ['user', 'service', 'anonymous'] },
              permissions: { type: 'array', items: { type: 'string', maxLength: 512 }, maxItems: 1000 },
              attributes: { type: 'object' },
            },
          },
        },
      },
    },
    // A malformed key id is key.invalid_id whether the schema or the authorization stage catches it.
    config: { security: { authz: () => [{ action: 'authz:Explain' as const }] }, fieldCodes: { key_id: 'key.invalid_id' } },
  }, async (req) => {
    const b = req.body as { action: Action; key_id?: string; overwrite?: boolean; principal?: { id: string; type?: Principal['type']; permissions?: string[]; attributes?: Record<string, unknown> } };
    // A key action's permission names the key: without one there is nothing to decide.
    if (ACTION_PERMISSIONS[b.action].scope === 'key' && b.key_id === undefined) throw badRequest('request.invalid', `${b.action} is an action on a key: give its key_id`);
    const principal: Principal = b.principal
      ? { id: b.principal.id, type: b.principal.type ?? 'user', authMethod: 'explain', permissions: b.principal.permissions ?? [], attributes: b.principal.attributes ?? {} }
      : req.principal!;
    return explain(opts.authorization.pdp, await authzRequest(opts.authorization, callInfo(req), principal, { action: b.action, keyId: b.key_id, overwrite: b.overwrite }));
  });
}
