// The audit module's public surface.
export { auditConfigSchema, auditProductionProblems, type AuditConfig, type AuditSinkConfig } from './config.ts';
export { auditUnavailable } from './errors.ts';
export { createAuditTrail, type AuditTrail, type AuditTrailDeps, type CheckpointHealth, type WriterLock } from './trail.ts';
export { AckFile, ackStoreOn, type AuditAckState, type AuditAckStore, type RefusedRange } from './ack.ts';
export { hashForAudit, canonicalBytes, chainHash, signingInput, GENESIS_HASH, SCHEMA_VERSION, type AuditEvent } from './canonical.ts';
export { generateSigningKeyFile, loadSigningKey, publicKeyFromPem, publicKeyInfo, type AuditPublicKeyInfo } from './keys.ts';
export { verifyAuditLog, readAuditPaths, readAuditNats, parseLogText, type VerifyResult, type VerifyFinding, type VerifyOptions } from './verify.ts';
export { AuditRedactionError } from './redact.ts';
export type { AuditEventInput, AuditRecorder } from './types.ts';
