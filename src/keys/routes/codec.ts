// Wire encodings shared by the key routes: strict base64 in, domain records out as snake_case JSON.
import { badRequest } from '../../core/problem.ts';
import type { KeyView } from '../service.ts';
import type { KeyRecord, KeyVersionRecord } from '../records.ts';
import { jwtKid, keyServiceJwk, publicKeyPem } from '../families/index.ts';

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const B64URL = /^[A-Za-z0-9_-]*$/;

/** Strict base64 (standard or url-safe, padding optional for url-safe); a lenient decoder would hide client bugs. */
export function fromB64(field: string, value: string): Buffer {
  if (B64.test(value)) return Buffer.from(value, 'base64');
  if (B64URL.test(value) && value.length % 4 !== 1) return Buffer.from(value, 'base64url');
  throw badRequest('request.invalid_base64', `${field} must be base64`);
}

export function optionalB64(field: string, value: string | undefined): Buffer | undefined {
  return value === undefined ? undefined : fromB64(field, value);
}

export function keyJson(view: KeyView) {
  const { record, versions } = view;
  const current = versions.find((v) => v.version === record.currentVersion);
  return {
    key_id: record.id,
    key_type: record.type,
    state: record.state,
    origin: record.origin,
    provider: record.provider,
    labels: record.labels,
    description: record.description,
    current_version: record.currentVersion,
    fingerprint: current?.fingerprint ?? null,
    public_key: current?.publicKeySpki && current.destroyedAt === null ? publicKeyPem(current.publicKeySpki) : null,
    created_at: record.createdAt.toISOString(),
    updated_at: record.updatedAt.toISOString(),
    destroy_at: record.destroyAt?.toISOString() ?? null,
    versions: versions.map((v) => ({
      version: v.version,
      fingerprint: v.fingerprint,
      created_at: v.createdAt.toISOString(),
      destroyed_at: v.destroyedAt?.toISOString() ?? null,
      // Where an HSM holds this version (token object label and id, KMIP unique identifiers): names, not secrets.
      ...(v.providerRef !== null ? { provider_reference: JSON.parse(v.providerRef) as Record<string, string> } : {}),
    })),
  };
}

/** One version's public key as PEM and JWK (kid = fingerprint + version). */
export function publicKeyJson({ record, version }: { record: KeyRecord; version: KeyVersionRecord }) {
  return {
    key_id: record.id,
    key_type: record.type,
    version: version.version,
    fingerprint: version.fingerprint,
    public_key: publicKeyPem(version.publicKeySpki!),
    jwk: keyServiceJwk(record.type, version.publicKeySpki!, jwtKid(version.fingerprint, version.version)),
  };
}
