// Liveness, readiness and metrics: unauthenticated by design (probes and scrapers carry no credentials).
import type { FastifyInstance } from 'fastify';
import type { AuditRecorder } from '../audit/types.ts';
import type { SystemService } from '../keys/system.ts';
import type { Store } from '../store/types.ts';
import type { Metrics } from './metrics.ts';
import { ProblemError } from '../core/problem.ts';
import { sendProblem } from '../http/errors.ts';

export async function healthRoutes(app: FastifyInstance, opts: { store: Store; system: SystemService; audit: AuditRecorder; metrics: Metrics }) {
  const pub = { security: { public: true } };

  app.get('/healthz', { config: pub, schema: { tags: ['health'], summary: 'Liveness: the process serves requests' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config: pub, schema: { tags: ['health'], summary: 'Readiness: storage reachable, unsealed, audit ready' } }, async (req, reply) => {
    let storage = true;
    try {
      await opts.store.ping();
    } catch {
      storage = false;
    }
    const checks = { storage, unsealed: !opts.system.sealed, audit: opts.audit.ready() };
    if (checks.storage && checks.unsealed && checks.audit) return { status: 'ready', checks };
    const failing = Object.entries(checks).filter(([, ok]) => !ok).map(([k]) => k);
    return sendProblem(reply, req, new ProblemError({ code: 'system.not_ready', detail: `not ready: ${failing.join(', ')}`, extra: { checks } }));
  });

  app.get('/metrics', { config: pub, schema: { tags: ['health'], summary: 'Prometheus metrics', hide: true } }, async (_req, reply) => {
    const body = await opts.metrics.registry.metrics();
    return reply.type(opts.metrics.registry.contentType).send(body);
  });
}
