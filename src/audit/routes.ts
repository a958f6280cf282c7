// Audit trail HTTP surface: the signing public key (public: verifiers need it without credentials) and the
// chain head (guarded by audit.read).
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '../http/typebox.ts';
import type { AuditTrail } from './trail.ts';

const publicKey = Type.Object({
  ed25519_public_key_pem: Type.String({ description: 'SPKI PEM' }),
  ed25519_public_key_b64: Type.String({ description: 'Raw 32-byte public key, base64' }),
  key_id: Type.String(),
});
const head = Type.Object({ chain_id: Type.String(), sequence: Type.Integer(), hash: Type.String() });

export async function auditRoutes(plain: FastifyInstance, opts: { audit: AuditTrail }) {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/public-key', {
    schema: { tags: ['audit'], summary: 'Ed25519 public key that signs the audit chain', response: { 200: publicKey } },
    config: { security: { public: true }, problems: ['audit.disabled'] },
  }, async () => opts.audit.publicKey());

  app.get('/head', {
    schema: { tags: ['audit'], summary: 'This instance\'s chain id, last sequence and hash', response: { 200: head } },
    config: { security: { authz: () => [{ action: 'audit:Read' as const }] }, problems: ['audit.disabled'] },
  }, async () => opts.audit.head());
}
