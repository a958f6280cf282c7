// System routes: init, unseal, seal, status, reload (TKeeper-compatible shapes where it has them).
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { operationContext } from '../../authn/hook.ts';
import type { ProblemCode } from '../../core/problem-codes.ts';
import { Nullable, Strict, StringEnum, type TypeBoxTypeProvider } from '../../http/typebox.ts';
import { PROVIDER_NAMES } from '../providers/types.ts';
import type { SealStatus } from '../seal/index.ts';
import type { SystemService } from '../system.ts';

const tags = ['system'];
const statusJson = (s: SealStatus) => ({
  state: s.state,
  initialized: s.initialized,
  sealed: s.sealed,
  progress: s.progress,
  threshold: s.threshold,
  total: s.shares,
  ready: !s.sealed,
  // shamir, pkcs11 or kmip: how the root key is wrapped (with an HSM seal, threshold/total describe the recovery shares).
  seal_type: s.type,
  // Differs from seal_type until the next unseal with the shares re-wraps the root key (a seal migration).
  configured_seal_type: s.configuredType,
});

const SEAL_KINDS = ['shamir', 'pkcs11', 'kmip'] as const;
const sealStatusProperties = {
  state: StringEnum(['UNINITIALIZED', 'SEALED', 'UNSEALED'] as const),
  initialized: Type.Boolean(),
  sealed: Type.Boolean(),
  progress: Type.Integer({ description: 'Valid shares held in the current unseal round (0 once unsealed)' }),
  threshold: Nullable(Type.Integer()),
  total: Nullable(Type.Integer()),
  ready: Type.Boolean(),
  seal_type: StringEnum(SEAL_KINDS, { description: 'How the root key is wrapped; with an HSM seal, threshold and total describe the recovery shares' }),
  configured_seal_type: StringEnum(SEAL_KINDS, { description: 'Differs from seal_type until the next unseal with the shares re-wraps the root key' }),
};
const sealStatus = Type.Object(sealStatusProperties);

const initBody = Strict({ shares: Type.Integer({ minimum: 1, maximum: 16 }), threshold: Type.Integer({ minimum: 1, maximum: 16 }) });
const share = Type.String({ maxLength: 128 });
const shareList = Type.Array(share, { maxItems: 16 });
const unsealBody = Strict({
  share: Type.Optional(share),
  shares: Type.Optional(shareList),
  // TKeeper names
  payload64: Type.Optional(share),
  payloads64: Type.Optional(shareList),
  reset: Type.Optional(Type.Boolean()),
});
const providerHealth = Type.Union([
  Type.Object({ ok: Type.Literal(true), detail: Type.Record(Type.String(), Type.Unknown()) }),
  Type.Object({ ok: Type.Literal(false), reason: Type.String(), detail: Type.Optional(Type.String()) }),
]);
const statusResponse = Type.Object({
  ...sealStatusProperties,
  providers: Type.Object({
    default: StringEnum(PROVIDER_NAMES),
    configured: Type.Array(StringEnum(PROVIDER_NAMES)),
    health: Type.Record(Type.String(), providerHealth),
  }),
});

const UNSEAL_PROBLEMS = [
  'seal.not_initialized', 'seal.share_malformed', 'seal.share_invalid', 'seal.share_duplicate', 'seal.unseal_failed', 'seal.material_corrupt', 'seal.not_hsm_seal',
  'seal.recovery_required', 'seal.migration_required', 'seal.concurrent_migration', 'hsm.unavailable', 'hsm.operation_failed', 'audit.unavailable', 'storage.unavailable',
] as const satisfies readonly ProblemCode[];

export async function sysRoutes(plain: FastifyInstance, opts: { system: SystemService }) {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const { system } = opts;
  const sys = (action: 'sys:Init' | 'sys:Unseal' | 'sys:Seal' | 'sys:Status' | 'sys:Reload', problems: readonly ProblemCode[]) => ({ security: { authz: () => [{ action }] }, problems });

  app.post('/init', {
    schema: {
      tags,
      summary: 'Initialise: split the unseal key into shares (HSM seals: recovery shares), returned once',
      body: initBody,
      response: { 201: Type.Object({ ...sealStatusProperties, shares: Type.Array(Type.String(), { description: 'Base64 shares; returned exactly once' }) }) },
    },
    // Out-of-range counts get the seal's own code, like the combinations only the seal can judge.
    config: { ...sys('sys:Init', ['seal.already_initialized', 'seal.invalid_parameters', 'audit.unavailable', 'storage.unavailable', 'hsm.unavailable', 'hsm.operation_failed']), fieldCodes: { shares: 'seal.invalid_parameters', threshold: 'seal.invalid_parameters' } },
  }, async (req, reply) => {
    const r = await system.init(operationContext(req), req.body);
    return reply.status(201).send({ ...statusJson(r.status), shares: r.shares });
  });

  app.post('/unseal', {
    schema: {
      tags,
      summary: 'Submit an unseal share (or several; HSM seals: recovery shares, which also re-wrap the root key for the configured seal); with an HSM seal and no share, unseal through the HSM',
      body: unsealBody,
      response: { 200: sealStatus },
    },
    // An over-long or non-string share is as malformed as a short one; too many shares stays request.invalid.
    config: { ...sys('sys:Unseal', UNSEAL_PROBLEMS), fieldCodes: { share: 'seal.share_malformed', payload64: 'seal.share_malformed', 'shares/*': 'seal.share_malformed', 'payloads64/*': 'seal.share_malformed' } },
  }, async (req) => {
    const b = req.body;
    const shares = [...(b.share ? [b.share] : []), ...(b.payload64 ? [b.payload64] : []), ...(b.shares ?? []), ...(b.payloads64 ?? [])];
    return statusJson(await system.unseal(operationContext(req), { shares, reset: b.reset === true }));
  });

  app.post('/seal', { schema: { tags, summary: 'Seal: drop all key material from memory', response: { 200: sealStatus } }, config: sys('sys:Seal', ['seal.not_initialized', 'audit.unavailable']) }, async (req) =>
    statusJson(await system.seal(operationContext(req))),
  );

  app.get('/status', { schema: { tags, summary: 'Seal status, key providers and their health', response: { 200: statusResponse } }, config: sys('sys:Status', []) }, async () => {
    const providers = await system.providers();
    return { ...statusJson(await system.currentStatus()), providers: { default: providers.default, configured: providers.configured, health: providers.health } };
  });

  app.post('/reload', {
    schema: { tags, summary: 'Reload credentials and policies without dropping requests', response: { 200: Type.Object({ reloaded: Type.Array(Type.String(), { description: 'What was reloaded' }) }) } },
    config: sys('sys:Reload', ['audit.unavailable']),
  }, async (req) => system.reload(operationContext(req)));
}
