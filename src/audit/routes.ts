// Audit trail HTTP surface: the signing public key (public: verifiers need it without credentials) and the
// chain head (guarded by audit.read).
import type { FastifyInstance } from 'fastify';
import type { AuditTrail } from './trail.ts';

export async function auditRoutes(app: FastifyInstance, opts: { audit: AuditTrail }) {
  app.get('/public-key', {
    schema: { tags: ['audit'], summary: 'Ed25519 public key that signs the audit chain' },
    config: { security: { public: true } },
  }, async () => opts.audit.publicKey());

  app.get('/head', {
    schema: { tags: ['audit'], summary: 'This instance\'s chain id, last sequence and hash' },
    config: { security: { authz: () => [{ action: 'audit:Read' as const }] } },
  }, async () => opts.audit.head());
}
