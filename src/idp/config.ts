// Configuration fragment of the identity provider. Secrets never have defaults here: cookie keys come from
// the store (generated and persisted on first start) or from KEYWARD_IDP_COOKIE_KEYS.
import { z } from 'zod';
import { directoryConfigSchema } from './directories/config.ts';
import { mfaAuthorityFields, refineMfaAuthority } from './mfa/config.ts';
import { themeColors, themeContrastProblems } from './theme.ts';

/** The key API's audience as Keyward's dev mode and quickstart configure it (RFC 8707: an absolute URI). */
export const KEY_API_AUDIENCE = 'urn:keyward:key-api';

const scopeName = z.string().regex(/^[a-z][a-z0-9_.:-]{0,63}$/, 'scope names are lower-case tokens');

const hexColor = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'colours are written #rrggbb');
/** A file directly inside the theme directory: no path separators, no dot files. */
const themeFile = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9]+)+$/, 'a file name inside the theme directory, e.g. logo.svg');

/**
 * How the realm's sign-in pages look, set by operators without code: colours and texts here, a logo and an extra
 * stylesheet from a directory of static files (served at /realms/{realm}/theme/assets/{file}).
 */
export const idpThemeSchema = z
  .object({
    directory: z.string().min(1).optional(),
    logo: themeFile.optional(),
    stylesheet: themeFile.optional(),
    colors: z
      .object({ primary: hexColor, on_primary: hexColor, background: hexColor, surface: hexColor, text: hexColor, error: hexColor })
      .partial()
      .strict()
      .default({}),
    help_text: z.string().min(1).max(500).optional(),
    help_url: z.url({ protocol: /^https?$/ }).optional(),
    footer_text: z.string().min(1).max(500).optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    for (const k of ['logo', 'stylesheet'] as const) {
      if (t[k] && !t.directory) ctx.addIssue({ code: 'custom', path: [k], message: `${k} names a file in the theme directory: set directory too` });
    }
    // Pages people cannot read are not a matter of taste: WCAG AA contrast for every text colour.
    for (const m of themeContrastProblems(themeColors(t.colors))) ctx.addIssue({ code: 'custom', path: ['colors'], message: m });
  });

export const idpRealmConfigSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/),
    /** Shown on the sign-in pages (Keycloak's realm displayName); the realm name when unset. */
    display_name: z.string().min(1).max(100).optional(),
    theme: idpThemeSchema.default({ colors: {} }),
    /** Where the realm's users come from: Keyward's own tables, or an LDAP server (LLDAP's layout). */
    directory: directoryConfigSchema.default({ type: 'builtin' }),
    /**
     * The audience of every access token of the realm, whatever the flow (clients need not send `resource`); the key
     * API's by default. The key API's jwt authenticator must name the same audience.
     */
    access_token_resource: z.string().min(1).default(KEY_API_AUDIENCE),
    /** Custom scopes declared for this profile version; they are access-token scopes only. */
    custom_scopes: z.array(z.object({ name: scopeName, description: z.string().default('') }).strict()).default([]),
    /** Public clients (token_endpoint_auth_method none) stay off unless the profile version allows them. */
    public_clients_allowed: z.boolean().default(false),
    /** role → permissions understood by the key API, e.g. { signer: ['keyward.key.app-*.sign'] }. */
    role_permissions: z.record(z.string(), z.array(z.string())).default({}),
    mfa: z
      .object({
        /** Groups whose members must pass a second factor. */
        required_groups: z.array(z.string()).default([]),
        /** Clients for which every login needs a second factor. */
        required_clients: z.array(z.string()).default([]),
        totp_issuer: z.string().default('Keyward'),
        /** Who checks the second factor: Keyward's own TOTP, or privacyIDEA (docs/privacyidea.md). */
        ...mfaAuthorityFields,
      })
      .strict()
      .superRefine(refineMfaAuthority)
      .default({ required_groups: [], required_clients: [], totp_issuer: 'Keyward', authority: 'builtin' }),
    lockout: z
      .object({
        max_failures: z.number().int().min(1).default(5),
        window_seconds: z.number().int().min(1).default(900),
        lock_seconds: z.number().int().min(1).default(900),
        max_failures_per_ip: z.number().int().min(1).default(50),
      })
      .strict()
      .default({ max_failures: 5, window_seconds: 900, lock_seconds: 900, max_failures_per_ip: 50 }),
    ttl: z
      .object({
        access_token: z.number().int().min(30).max(86400).default(300),
        id_token: z.number().int().min(30).max(86400).default(300),
        authorization_code: z.number().int().min(10).max(600).default(60),
        refresh_token: z.number().int().min(60).default(8 * 3600),
        session: z.number().int().min(60).default(8 * 3600),
        interaction: z.number().int().min(60).default(600),
        grant: z.number().int().min(60).default(8 * 3600),
      })
      .strict()
      .default({
        access_token: 300,
        id_token: 300,
        authorization_code: 60,
        refresh_token: 8 * 3600,
        session: 8 * 3600,
        interaction: 600,
        grant: 8 * 3600,
      }),
  })
  .strict();

export const idpConfigSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** External base URL; each realm's issuer is {base_url}/realms/{name}. No trailing slash. */
    base_url: z.url().refine((u) => !u.endsWith('/'), 'base_url must not end with /'),
    /** Version of the NetKingdom IAM profile implemented; published at {issuer}/profile. */
    profile_version: z.literal('0.2').default('0.2'),
    environment: z.string().default('dev'),
    deployment_mode: z.enum(['lightweight']).default('lightweight'),
    /** Argon2id parameters for user passwords and client secrets (OWASP minimum by default). */
    argon2: z
      .object({
        memory_kib: z.number().int().min(8192).default(19456),
        iterations: z.number().int().min(1).default(2),
        parallelism: z.number().int().min(1).default(1),
      })
      .strict()
      .default({ memory_kib: 19456, iterations: 2, parallelism: 1 }),
    /** Trust X-Forwarded-* (behind a reverse proxy). */
    proxy: z.boolean().default(false),
    /** Expired provider artefacts are deleted this often. */
    sweep_interval_seconds: z.number().int().min(1).default(300),
    /** How often the signing keys are re-read from the key service, so a rotation there is picked up (with overlap). */
    signing_key_refresh_seconds: z.number().int().min(1).default(10),
    /**
     * A rotated signing key is published in certs this long before it signs, so relying parties that cache the JWKS
     * (openid-client re-fetches for an unknown kid at most once a minute, and keeps a JWKS up to 5 minutes) know it
     * first. The previous version signs meanwhile, and stays published until what it signed has expired.
     */
    signing_key_publish_ahead_seconds: z.number().int().min(0).max(7 * 86400).default(600),
    realms: z.array(idpRealmConfigSchema).min(1),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    for (const r of c.realms) {
      if (names.has(r.name)) ctx.addIssue({ code: 'custom', message: `duplicate realm ${r.name}` });
      names.add(r.name);
    }
  });

export type IdpConfig = z.output<typeof idpConfigSchema>;

/** `idp: { enabled: false }` on its own: no identity provider at all, not even the one dev mode runs by default. */
export interface IdpOff {
  readonly enabled: false;
}
/** The configuration's `idp` section: the identity provider's settings, or only the off switch. */
export type IdpSection = IdpConfig | IdpOff;

const isBareOffSwitch = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && (v as { enabled?: unknown }).enabled === false;

/**
 * `idp`: the bare off switch, or a full section parsed by idpConfigSchema. Not a zod union, which would report any
 * mistake in a real section as one "Invalid input": the section's own issues are passed on with their paths.
 */
export const idpSectionSchema = z.unknown().transform((v, ctx): IdpSection => {
  if (isBareOffSwitch(v)) return { enabled: false };
  const parsed = idpConfigSchema.safeParse(v, { reportInput: true });
  if (parsed.success) return parsed.data;
  // Finalised issues, each with the input it is about (reportInput): raw issues again, prefixed with `idp` above.
  for (const issue of parsed.error.issues) ctx.issues.push(issue as z.core.$ZodRawIssue);
  return z.NEVER;
}) as unknown as z.ZodType<IdpSection, z.input<typeof idpConfigSchema> | IdpOff>;

/** The identity provider's settings, or undefined when the section is absent or only the off switch. */
export function idpSettings(section: IdpSection | undefined): IdpConfig | undefined {
  return section !== undefined && 'realms' in section ? section : undefined;
}
export type IdpRealmConfig = z.output<typeof idpRealmConfigSchema>;
