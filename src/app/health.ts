// Liveness, readiness and metrics: unauthenticated by design (probes and scrapers carry no credentials).
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AuditRecorder } from '../audit/types.ts';
import type { SystemService } from '../keys/system.ts';
import type { Store } from '../store/types.ts';
import type { Metrics } from './metrics.ts';
import { ProblemError } from '../core/problem.ts';
import { sendProblem } from '../http/errors.ts';
import type { TypeBoxTypeProvider } from '../http/typebox.ts';

const checks = Type.Object({ storage: Type.Boolean(), unsealed: Type.Boolean(), audit: Type.Boolean() });

export async function healthRoutes(plain: FastifyInstance, opts: { store: Store; system: SystemService; audit: AuditRecorder; metrics: Metrics }) {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const pub = { security: { public: true } } as const;

  app.get('/healthz', {
    config: { ...pub, problems: [] },
    schema: { tags: ['health'], summary: 'Liveness: the process serves requests', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    config: { ...pub, problems: ['system.not_ready'] },
    // Not ready is 503 system.not_ready, with the same checks in the problem.
    schema: { tags: ['health'], summary: 'Readiness: storage reachable, unsealed, audit ready', response: { 200: Type.Object({ status: Type.Literal('ready'), checks }) } },
  }, async (req, reply) => {
    let storage = true;
    try {
      await opts.store.ping();
    } catch {
      storage = false;
    }
    const state = { storage, unsealed: !opts.system.sealed, audit: opts.audit.ready() };
    if (state.storage && state.unsealed && state.audit) return { status: 'ready' as const, checks: state };
    const failing = Object.entries(state).filter(([, ok]) => !ok).map(([k]) => k);
    return sendProblem(reply, req, new ProblemError({ code: 'system.not_ready', detail: `not ready: ${failing.join(', ')}`, extra: { checks: state } }));
  });

  app.get('/metrics', {
    config: { ...pub, problems: [] },
    schema: {
      tags: ['health'],
      summary: 'Prometheus metrics (text exposition format)',
      response: { 200: { description: 'Metrics in the Prometheus text format', content: { 'text/plain': { schema: Type.String() } } } },
    },
  }, async (_req, reply) => {
    const body = await opts.metrics.registry.metrics();
    return reply.type(opts.metrics.registry.contentType).send(body);
  });
}
