// What the rest of Keyward hands to the audit trail. The trail adds schema version, event id, time,
// chain id, sequence, hashes and signature. Never put key material, plaintexts, tokens, API keys,
// shares or passwords in here: digests and ciphertexts only as hashes (see hashForAudit).

export type AuditOutcome = 'success' | 'denied' | 'error';

export interface AuditPrincipal {
  id: string;
  type: string;
  auth_method: string;
}

export interface AuditResource {
  type: string;
  id?: string | undefined;
  version?: number | undefined;
}

export interface AuditEventInput {
  /** e.g. key.sign, key.create, system.unseal, auth.failure, authz.denied, config.reload */
  event_type: string;
  /** The same names the PDP sees, e.g. kms:Sign */
  action: string;
  principal: AuditPrincipal | null;
  resource: AuditResource | null;
  outcome: AuditOutcome;
  /** Problem code when outcome is not success. */
  error_code?: string | undefined;
  request_id?: string | undefined;
  source_ip?: string | undefined;
  user_agent?: string | undefined;
  /** Small, non-secret facts (algorithm, sha256 of the digest, progress...). */
  metadata?: Record<string, unknown> | undefined;
}

export interface AuditRecorder {
  /**
   * Resolves once the event is durably accepted by the sinks; rejects with a ProblemError
   * (503 audit.unavailable) when it cannot be, under the fail-closed policy.
   */
  record(event: AuditEventInput): Promise<void>;
  /** Whether the trail can currently accept events (for /readyz). */
  ready(): boolean;
  close(): Promise<void>;
}
