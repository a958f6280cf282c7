// System routes: init, unseal, seal, status, reload (TKeeper-compatible shapes where it has them).
import type { FastifyInstance } from 'fastify';
import { operationContext } from '../../authn/hook.ts';
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

export async function sysRoutes(app: FastifyInstance, opts: { system: SystemService }) {
  const { system } = opts;
  const sys = (action: 'sys:Init' | 'sys:Unseal' | 'sys:Seal' | 'sys:Status' | 'sys:Reload') => ({ security: { authz: () => [{ action }] } });

  app.post('/init', {
    schema: {
      tags,
      summary: 'Initialise: split the unseal key into shares (HSM seals: recovery shares), returned once',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['shares', 'threshold'],
        properties: { shares: { type: 'integer', minimum: 1, maximum: 16 }, threshold: { type: 'integer', minimum: 1, maximum: 16 } },
      },
    },
    // Out-of-range counts get the seal's own code, like the combinations only the seal can judge.
    config: { ...sys('sys:Init'), fieldCodes: { shares: 'seal.invalid_parameters', threshold: 'seal.invalid_parameters' } },
  }, async (req, reply) => {
    const b = req.body as { shares: number; threshold: number };
    const r = await system.init(operationContext(req), b);
    return reply.status(201).send({ ...statusJson(r.status), shares: r.shares });
  });

  app.post('/unseal', {
    schema: {
      tags,
      summary: 'Submit an unseal share (or several; HSM seals: recovery shares, which also re-wrap the root key for the configured seal); with an HSM seal and no share, unseal through the HSM',
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          share: { type: 'string', maxLength: 128 },
          shares: { type: 'array', items: { type: 'string', maxLength: 128 }, maxItems: 16 },
          // TKeeper names
          payload64: { type: 'string', maxLength: 128 },
          payloads64: { type: 'array', items: { type: 'string', maxLength: 128 }, maxItems: 16 },
          reset: { type: 'boolean' },
        },
      },
    },
    // An over-long or non-string share is as malformed as a short one; too many shares stays request.invalid.
    config: { ...sys('sys:Unseal'), fieldCodes: { share: 'seal.share_malformed', payload64: 'seal.share_malformed', 'shares/*': 'seal.share_malformed', 'payloads64/*': 'seal.share_malformed' } },
  }, async (req) => {
    const b = (req.body ?? {}) as { share?: string; shares?: string[]; payload64?: string; payloads64?: string[]; reset?: boolean };
    const shares = [...(b.share ? [b.share] : []), ...(b.payload64 ? [b.payload64] : []), ...(b.shares ?? []), ...(b.payloads64 ?? [])];
    return statusJson(await system.unseal(operationContext(req), { shares, reset: b.reset === true }));
  });

  app.post('/seal', { schema: { tags, summary: 'Seal: drop all key material from memory' }, config: sys('sys:Seal') }, async (req) =>
    statusJson(await system.seal(operationContext(req))),
  );

  app.get('/status', { schema: { tags, summary: 'Seal status, key providers and their health' }, config: sys('sys:Status') }, async () => {
    const providers = await system.providers();
    return { ...statusJson(await system.currentStatus()), providers: { default: providers.default, configured: providers.configured, health: providers.health } };
  });

  app.post('/reload', { schema: { tags, summary: 'Reload credentials and policies without dropping requests' }, config: sys('sys:Reload') }, async (req) =>
    system.reload(operationContext(req)),
  );
}
