// Emergency access: a 10-minute access token with assurance level break_glass and the incident it was issued
// for, signed by the identity provider's key in the key service, and always audited (no audit, no token).
import { randomUUID } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AuditRecorder } from '../audit/types.ts';
import { operationContext } from '../authn/hook.ts';
import { isProblem, notFound } from '../core/problem.ts';
import { Strict, type TypeBoxTypeProvider } from '../http/typebox.ts';
import type { KeyService } from '../keys/service.ts';
import type { IdpConfig } from './config.ts';
import { IDP_COMPONENT, idpSigningKeyId } from './key-service-signer.ts';
import type { IdpTelemetry } from './telemetry.ts';

export const BREAK_GLASS_LIFETIME_SECONDS = 600;

/**
 * `amr` holds RFC 8176 values only, and none says "issued in an emergency" (acr and assurance.level say that:
 * break_glass). The one authentication behind the token is the caller's at Keyward, so amr names that: a secret
 * presented by value (API key, bootstrap token) is "pwd"; a TLS client certificate is "pop" (proof of possession of a
 * key, not saying whether hardware holds it; registered in the same IANA registry, and unlike "swk"/"hwk" not
 * counted as a second factor by the key API). Other callers (a bearer JWT, a forwarded identity) authenticated
 * somewhere Keyward cannot see: no amr rather than a guess.
 */
const BREAK_GLASS_AMR: Record<string, string[]> = { api_key: ['pwd'], bootstrap_token: ['pwd'], mtls: ['pop'] };
export const breakGlassAmr = (authMethod: string | undefined): string[] | undefined => (authMethod ? BREAK_GLASS_AMR[authMethod] : undefined);

export interface BreakGlassOptions {
  config: IdpConfig;
  keys: KeyService;
  audit: AuditRecorder;
  permissionPrefix: string;
  /** The version of a realm's signing key that signs now (a newer one may still be published ahead of its turn). */
  signingVersion: (realm: string, alg: 'ES256') => Promise<number>;
  telemetry: IdpTelemetry;
}

const breakGlassBody = Strict({
  realm: Type.Optional(Type.String({ maxLength: 63, description: 'Default: the first configured realm' })),
  subject: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Who will use the token (default: authorized_by)' })),
  incident_id: Type.String({ minLength: 1, maxLength: 128 }),
  authorized_by: Type.String({ minLength: 1, maxLength: 128 }),
  reason: Type.String({ minLength: 1, maxLength: 1024 }),
});
type BreakGlassBody = Static<typeof breakGlassBody>;
const emergency = Type.Object({ incident_id: Type.String(), authorized_by: Type.String(), reason: Type.String() });
const breakGlassResponse = Type.Object({
  access_token: Type.String({ description: 'A JWT (typ at+jwt) with acr and assurance.level break_glass' }),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  issued_token_type: Type.Literal('urn:ietf:params:oauth:token-type:access_token'),
  emergency,
});

const ENDPOINT = '/v1/idp/break-glass';
const CLIENT_ID = 'keyward-break-glass';

export async function breakGlassRoutes(plain: FastifyInstance, opts: BreakGlassOptions) {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  app.post('/break-glass', {
    schema: {
      tags: ['idp'],
      summary: 'Issue a 10-minute emergency access token (assurance.level break_glass); always audited',
      body: breakGlassBody,
      response: { 200: breakGlassResponse },
    },
    config: {
      security: { authz: () => [{ action: 'idp:BreakGlass' as const }] },
      problems: ['idp.realm_not_found', 'audit.unavailable', 'storage.unavailable', 'system.sealed', 'key.not_found', 'key.disabled', 'hsm.unavailable', 'hsm.operation_failed'],
    },
  }, async (req) => {
    const b = req.body;
    const realm = b.realm === undefined ? opts.config.realms[0]! : opts.config.realms.find((r) => r.name === b.realm);
    const ctx = operationContext(req);
    const event = (result: 'success' | 'failure', errorClass?: string) =>
      opts.telemetry.emit({
        event: 'break_glass',
        // A realm name from the request is no metric label unless it exists.
        realm: realm?.name ?? '-',
        client_id: CLIENT_ID,
        client_known: true,
        endpoint: ENDPOINT,
        feature_category: 'break_glass',
        result,
        ...(errorClass ? { error_class: errorClass } : {}),
        requested_scopes: 'openid',
        grant_type: 'break_glass',
        correlation_id: ctx.requestId,
        source_ip: ctx.sourceIp,
        principal: ctx.principal?.id,
      });
    try {
      const issued = await issue(opts, ctx, realm, b);
      await event('success');
      return issued;
    } catch (e) {
      await event('failure', isProblem(e) ? e.code : 'internal.error');
      throw e;
    }
  });
}

async function issue(
  opts: BreakGlassOptions,
  ctx: ReturnType<typeof operationContext>,
  realm: IdpConfig['realms'][number] | undefined,
  b: BreakGlassBody,
) {
  if (!realm) throw notFound('idp.realm_not_found', `no realm ${JSON.stringify(b.realm)}`);
  const issuer = `${opts.config.base_url}/realms/${realm.name}`;
  const now = Math.floor(Date.now() / 1000);
  const subject = b.subject ?? b.authorized_by;
  const amr = breakGlassAmr(ctx.principal?.authMethod);
  const emergency = { incident_id: b.incident_id, authorized_by: b.authorized_by, reason: b.reason };
  const payload = {
    iss: issuer,
    aud: realm.access_token_resource,
    sub: `break-glass:${subject}`,
    client_id: CLIENT_ID,
    jti: randomUUID(),
    iat: now,
    auth_time: now,
    exp: now + BREAK_GLASS_LIFETIME_SECONDS,
    preferred_username: subject,
    tenant: 'tenant:platform',
    principal_type: 'human',
    groups: [],
    roles: ['emergency', 'admin'],
    scope: 'openid',
    permissions: realm.role_permissions['emergency'] ?? [`${opts.permissionPrefix}.*`],
    acr: 'break_glass',
    ...(amr ? { amr } : {}),
    assurance: { level: 'break_glass', methods: ['break_glass'], mfa: false, source: 'keyward-break-glass', at: now },
    emergency,
  };
  // Recorded first: a break-glass token that the trail did not see must not exist.
  await opts.audit.record({
    event_type: 'idp.break_glass',
    action: 'idp:BreakGlass',
    principal: ctx.principal ? { id: ctx.principal.id, type: ctx.principal.type, auth_method: ctx.principal.authMethod } : null,
    resource: { type: 'Realm', id: realm.name },
    outcome: 'success',
    request_id: ctx.requestId,
    source_ip: ctx.sourceIp,
    user_agent: ctx.userAgent,
    metadata: { ...emergency, subject, jti: payload.jti, expires_at: new Date(payload.exp * 1000).toISOString() },
  });
  // The identity provider signs on the caller's behalf (the event names the caller); the caller never holds the key.
  const version = await opts.signingVersion(realm.name, 'ES256');
  const signed = await opts.keys.signJwt({ ...ctx, component: IDP_COMPONENT }, idpSigningKeyId(realm.name, 'ES256'), { payload, typ: 'at+jwt', version });
  return { access_token: signed.jwt, token_type: 'Bearer' as const, expires_in: BREAK_GLASS_LIFETIME_SECONDS, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' as const, emergency };
}
