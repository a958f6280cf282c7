// Configuration fragment: which authority checks a realm's second factor (KeyCape §6.4, §8.6, §17.1). The builtin
// authority is Keyward's own sealed TOTP store; `privacyidea` delegates every second-factor check to a privacyIDEA
// server over its validation API. The lead composes `mfaAuthorityFields` into the realm's `mfa` object (extend it
// and add `refineMfaAuthority` to its superRefine) or uses `mfaAuthorityConfigSchema` as a section of its own.
// Secrets never appear here: the service account password and the validate API key come from environment variables.
import { z } from 'zod';

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name (upper case, digits, _)');

export const privacyIdeaConfigSchema = z
  .object({
    /**
     * Base URL of privacyIDEA, e.g. https://pi.example/ or https://idp.example/privacyidea. HTTPS only: the OTP
     * travels in the request body and the answer decides a sign-in.
     */
    url: z.url({ protocol: /^https$/, error: 'mfa.privacyidea.url must be an https:// URL' }),
    /** privacyIDEA realm of the users; omitted: privacyIDEA's default realm. */
    realm: z.string().min(1).max(256).optional(),
    /** CA bundle (PEM) that privacyIDEA's server certificate must chain to; omitted: the system CAs. */
    ca_file: z.string().min(1).optional(),
    /** Client certificate and key (PEM) when privacyIDEA (or its proxy) requires mutual TLS. */
    cert_file: z.string().min(1).optional(),
    key_file: z.string().min(1).optional(),
    /** TCP connect plus TLS handshake, per request. */
    connect_timeout_ms: z.number().int().min(100).max(30_000).default(2000),
    /** Whole request, from connecting to the last byte of the answer. A slow privacyIDEA is an unavailable one. */
    timeout_ms: z.number().int().min(100).max(60_000).default(5000),
    /**
     * How a challenge (SMS, e-mail, push, …) is started. `validate_check`: POST /validate/check with an empty PIN,
     * needs no privacyIDEA credentials (privacyIDEA's tokens must then have an empty PIN, or an `otppin` policy that
     * does not ask for one, since Keyward has already checked the password). `triggerchallenge`: POST
     * /validate/triggerchallenge as the service account (privacyIDEA admin with the `triggerchallenge` policy).
     */
    challenge_trigger: z.enum(['validate_check', 'triggerchallenge']).default('validate_check'),
    /** Only for challenge_trigger: triggerchallenge. Authenticates with POST /auth; the JWT is cached until it expires. */
    service_account: z
      .object({
        username: z.string().min(1).max(256),
        /** privacyIDEA realm of the admin; omitted: a local (internal) admin. */
        realm: z.string().min(1).max(256).optional(),
        /** Environment variable holding the password; a missing variable stops the start. */
        password_env: envName,
      })
      .strict()
      .optional(),
    /**
     * Environment variable holding a validate API key (`pi-manage api createtoken -r validate`) for privacyIDEA's
     * `api_key_required` authorization policy; sent on /validate/check and /validate/polltransaction.
     */
    api_key_env: envName.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.cert_file === undefined) !== (c.key_file === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['cert_file'], message: 'cert_file and key_file go together' });
    }
    if (c.challenge_trigger === 'triggerchallenge' && !c.service_account) {
      ctx.addIssue({ code: 'custom', path: ['service_account'], message: 'challenge_trigger triggerchallenge needs a service_account' });
    }
    if (c.challenge_trigger !== 'triggerchallenge' && c.service_account) {
      ctx.addIssue({ code: 'custom', path: ['service_account'], message: 'service_account is only used with challenge_trigger: triggerchallenge' });
    }
  });

/** Fields to merge into the realm's `mfa` object. */
export const mfaAuthorityFields = {
  /** Who checks the second factor: Keyward's own TOTP store, or privacyIDEA. */
  authority: z.enum(['builtin', 'privacyidea']).default('builtin'),
  privacyidea: privacyIdeaConfigSchema.optional(),
};

/** The cross-field rule of `mfaAuthorityFields`, for the superRefine of whatever object they are merged into. */
export function refineMfaAuthority(c: { authority: 'builtin' | 'privacyidea'; privacyidea?: unknown }, ctx: z.RefinementCtx): void {
  if (c.authority === 'privacyidea' && c.privacyidea === undefined) {
    ctx.addIssue({ code: 'custom', path: ['privacyidea'], message: 'authority privacyidea needs a privacyidea section' });
  }
  if (c.authority === 'builtin' && c.privacyidea !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['privacyidea'], message: 'a privacyidea section is only used with authority: privacyidea' });
  }
}

export const mfaAuthorityConfigSchema = z.object(mfaAuthorityFields).strict().superRefine(refineMfaAuthority);

export type PrivacyIdeaConfig = z.output<typeof privacyIdeaConfigSchema>;
export type PrivacyIdeaConfigInput = z.input<typeof privacyIdeaConfigSchema>;
export type MfaAuthorityConfig = z.output<typeof mfaAuthorityConfigSchema>;

