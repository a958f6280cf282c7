// Problems of the provider layer that are not one HSM's own: a provider that cannot do what was asked, a provider
// that is not configured, a key whose object the HSM no longer lets Keyward use, and an unreachable HSM for
// providers whose client has no ProblemError of its own (KMIP). Details name providers, key ids and reasons, never
// PINs or key material.
import { ProblemError } from '../../core/problem.ts';

/** The provider cannot do this with this key type; never done in software instead. */
export const providerUnsupported = (provider: string, detail: string) =>
  new ProblemError({ code: 'key.provider_unsupported', detail: `${provider} provider: ${detail}`, extra: { provider } });

/** A key names a provider this instance has no configuration for. */
export const providerNotConfigured = (provider: string) =>
  new ProblemError({
    code: 'key.provider_not_configured',
    detail: `the ${provider} provider is not configured (keys.providers.${provider})`,
    extra: { provider },
  });

/** A stored key of a provider this instance does not run (another instance's configuration): fail closed. */
export const providerMissing = (provider: string) =>
  hsmUnavailable(provider, 'not_configured', 'the key is held by this provider, which this instance has not configured');

export type UnusableReason = 'revoked' | 'missing' | 'replaced' | 'access_denied';

/**
 * The HSM holds the key's object no more, or no longer lets Keyward use it (revoked, deactivated, deleted, access
 * withdrawn). For an external (hold-your-own-key) key the service turns this into key.external_revoked.
 */
export class ProviderKeyUnusable extends ProblemError {
  readonly reason: UnusableReason;
  constructor(provider: string, reason: UnusableReason, detail: string) {
    super({ code: 'hsm.key_unusable', detail: `${provider} provider: ${detail}`, extra: { provider, reason } });
    this.name = 'ProviderKeyUnusable';
    this.reason = reason;
  }
}

/** Hold-your-own-key: the key's owner revoked, deleted or replaced it, or withdrew Keyward's access. */
export const externalRevoked = (keyId: string, provider: string, reason: UnusableReason, detail: string) =>
  new ProblemError({
    code: 'key.external_revoked',
    detail: `key ${keyId} references an external ${provider} key its owner no longer lets Keyward use (${reason}): ${detail}`,
    extra: { provider, reason },
  });

/** The HSM cannot be reached or did not answer: nothing is wrong with the request; retry later. */
export const hsmUnavailable = (provider: string, reason: string, detail: string) =>
  new ProblemError({
    code: 'hsm.unavailable',
    detail: `${provider} provider: ${detail}`,
    extra: { provider, reason },
  });
