// Configuration fragment for authentication, composed from the authenticator registry: one line per kind, each a
// descriptor in its own file (configuration schema, factory, preflight, production rules). `chain` composes them.
// No secret has a default: secrets live in environment variables or files named here, as sha256:<hex> fingerprints.
import { z } from 'zod';
import type { ConfigProblem, PreflightContext } from '../core/preflight.ts';
import { unionOfSchemas, type ConfigOf, type InputOf } from '../core/registry.ts';
import { apiKeyDescriptor } from './api-key.ts';
import { bootstrapTokenDescriptor } from './bootstrap-token.ts';
import type { AnyAuthenticatorDescriptor, AuthenticatorDescriptor } from './descriptor.ts';
import { forwardedIdentityDescriptor } from './forwarded-identity.ts';
import { insecureDescriptor } from './insecure.ts';
import { jwtDescriptor } from './jwt.ts';
import { mtlsDescriptor } from './mtls.ts';

export { duration } from './config-fields.ts';
export type { AuthenticatorDescriptor } from './descriptor.ts';
export { JWT_ALGORITHMS, jwtConfigSchema, type JwtConfig } from './jwt.ts';
export { apiKeyConfigSchema, type ApiKeyConfig } from './api-key.ts';
export { mtlsConfigSchema, type MtlsConfig } from './mtls.ts';
export { bootstrapTokenConfigSchema, type BootstrapTokenConfig } from './bootstrap-token.ts';
export { forwardedIdentityConfigSchema, type ForwardedIdentityConfig } from './forwarded-identity.ts';
export { insecureConfigSchema, type InsecureConfig } from './insecure.ts';

/** The authenticator types, as written in `authn.type` (`chain` composes them); each has its line in REGISTRY. */
export const AUTHENTICATOR_TYPES = ['jwt', 'api_key', 'mtls', 'bootstrap_token', 'forwarded_identity', 'insecure'] as const;
export type AuthenticatorType = (typeof AUTHENTICATOR_TYPES)[number];

/** The authenticator registry. A type without its line, or a line naming another type's descriptor, does not compile. */
const REGISTRY = {
  jwt: jwtDescriptor,
  api_key: apiKeyDescriptor,
  mtls: mtlsDescriptor,
  bootstrap_token: bootstrapTokenDescriptor,
  forwarded_identity: forwardedIdentityDescriptor,
  insecure: insecureDescriptor,
} as const satisfies { [K in AuthenticatorType]: AuthenticatorDescriptor<any, any> & { type: K } };

export const AUTHENTICATORS: readonly AnyAuthenticatorDescriptor[] = Object.values(REGISTRY);

export type LeafAuthnConfig = ConfigOf<typeof REGISTRY>;
type LeafAuthnConfigInput = InputOf<typeof REGISTRY>;

/** The descriptor of a member's kind. */
export function authenticatorDescriptor(type: AuthenticatorType): AnyAuthenticatorDescriptor {
  return REGISTRY[type];
}

export const leafAuthnConfigSchema = unionOfSchemas<LeafAuthnConfig, LeafAuthnConfigInput>(AUTHENTICATORS);

export const chainConfigSchema = z.object({ type: z.literal('chain'), authenticators: z.array(leafAuthnConfigSchema).min(1) }).strict();

export const authnConfigSchema = unionOfSchemas<LeafAuthnConfig | z.output<typeof chainConfigSchema>, LeafAuthnConfigInput | z.input<typeof chainConfigSchema>>(AUTHENTICATORS, [chainConfigSchema]);

export type AuthnConfig = z.infer<typeof authnConfigSchema>;
export type AuthnConfigInput = z.input<typeof authnConfigSchema>;

/** One configured authenticator and where it sits: `authn`, or `authn.authenticators.<i>` inside a chain. */
export interface AuthnMember {
  config: LeafAuthnConfig;
  at: string;
}

export function authnMembers(cfg: AuthnConfig): AuthnMember[] {
  return cfg.type === 'chain' ? cfg.authenticators.map((config, i) => ({ config, at: `authn.authenticators.${i}` })) : [{ config: cfg, at: 'authn' }];
}

/** Every member's start-up checks that need no network (secrets present, files readable, addresses valid). */
export function authnPreflight(members: AuthnMember[], ctx: PreflightContext): ConfigProblem[] {
  return members.flatMap((m) => authenticatorDescriptor(m.config.type).preflight?.(m.config, ctx, m.at) ?? []);
}

/** What production mode refuses; empty when the configuration is fit for production. */
export function authnProductionProblems(cfg: AuthnConfig): string[] {
  const members = authnMembers(cfg);
  const problems: string[] = [];
  for (const { config, at } of members) {
    const d = authenticatorDescriptor(config.type);
    if (d.devOnly) problems.push(`${at}: ${config.type} authentication is for development only`);
    problems.push(...(d.production?.(config, at) ?? []));
  }
  if (members.every((m) => !authenticatorDescriptor(m.config.type).alone)) {
    const present = [...new Set(members.map((m) => m.config.type))].join(' and ');
    const alternatives = AUTHENTICATORS.filter((d) => d.alone && !d.devOnly).map((d) => d.type);
    problems.push(`authn: ${present} is the only method; configure ${alternatives.slice(0, -1).join(', ')} or ${alternatives.at(-1)}`);
  }
  return problems;
}

/** What the REST listener must do for this configuration (mTLS needs client certificates against these CAs). */
export function authnTlsRequirements(cfg: AuthnConfig): { requestClientCert: boolean; caFiles: string[] } {
  const needs = authnMembers(cfg).flatMap((m) => authenticatorDescriptor(m.config.type).tls?.(m.config) ?? []);
  return { requestClientCert: needs.some((n) => n.requestClientCert), caFiles: needs.flatMap((n) => n.caFiles) };
}
