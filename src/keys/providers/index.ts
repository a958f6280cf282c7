// The key provider registry: one line per HSM provider. 'software' is built in (the key families' node:crypto half
// under the seal) and needs no configuration. Adding a provider: one file exporting a ProviderDescriptor, one line
// here; its configuration appears under keys.providers.<name>, `config check` runs its preflight, sys/status shows
// its health, and keys may name it.
import { z } from 'zod';
import { kmipDescriptor } from './kmip/provider.ts';
import { pkcs11Descriptor } from './pkcs11/provider.ts';
import { providerNotConfigured } from './errors.ts';
import type { HsmProviderName, KeyProvider, ProviderConfigProblem, ProviderContext, ProviderDescriptor, ProviderHealth } from './types.ts';

export * from './types.ts';
export { ProviderKeyUnusable, externalRevoked, providerMissing, providerNotConfigured, providerUnsupported } from './errors.ts';

const REGISTRY = {
  pkcs11: pkcs11Descriptor,
  kmip: kmipDescriptor,
} as const satisfies { [K in HsmProviderName]: ProviderDescriptor<any> & { name: K } };

export const HSM_PROVIDERS: readonly ProviderDescriptor<any>[] = Object.values(REGISTRY);

type ConfigOf<K extends HsmProviderName> = (typeof REGISTRY)[K] extends ProviderDescriptor<infer C> ? C : never;
export type ProvidersConfig = { [K in HsmProviderName]?: ConfigOf<K> };

/** `keys.providers`: one optional section per HSM provider, each validated by its own schema. */
export const providersConfigSchema = z.strictObject(
  Object.fromEntries(HSM_PROVIDERS.map((d) => [d.name, (d.configSchema as z.ZodType).optional()])) as { [K in HsmProviderName]: z.ZodOptional<z.ZodType<ConfigOf<K>>> },
);

/** Start-up checks of every configured provider that need no HSM (PIN present, files readable). */
export function providersPreflight(config: ProvidersConfig, ctx: ProviderContext): ProviderConfigProblem[] {
  const problems: ProviderConfigProblem[] = [];
  for (const d of HSM_PROVIDERS) {
    const c = config[d.name];
    if (c !== undefined) problems.push(...d.preflight(c, ctx));
  }
  return problems;
}

/** The providers this instance runs. */
export class ProviderSet {
  readonly #providers: Map<HsmProviderName, KeyProvider>;

  private constructor(providers: Map<HsmProviderName, KeyProvider>) {
    this.#providers = providers;
  }

  /** Creates every configured provider (they connect on first use, so an HSM down at start does not stop it). */
  static async create(config: ProvidersConfig, ctx: ProviderContext): Promise<ProviderSet> {
    const made = new Map<HsmProviderName, KeyProvider>();
    try {
      for (const d of HSM_PROVIDERS) {
        const c = config[d.name];
        if (c !== undefined) made.set(d.name, await d.create(c, ctx));
      }
    } catch (e) {
      for (const p of made.values()) await p.close().catch(() => undefined);
      throw e;
    }
    return new ProviderSet(made);
  }

  static none(): ProviderSet {
    return new ProviderSet(new Map());
  }

  /** Only these providers, already made (tests and tools). */
  static of(providers: KeyProvider[]): ProviderSet {
    return new ProviderSet(new Map(providers.map((p) => [p.name, p])));
  }

  get configured(): HsmProviderName[] {
    return [...this.#providers.keys()];
  }

  get(name: HsmProviderName): KeyProvider | undefined {
    return this.#providers.get(name);
  }

  /** For a key to be created with: refused when not configured here. */
  require(name: HsmProviderName): KeyProvider {
    const p = this.#providers.get(name);
    if (!p) throw providerNotConfigured(name);
    return p;
  }

  /** Each configured provider's health, probed now (concurrently; each probe bounds its own time). */
  async health(): Promise<Record<string, ProviderHealth>> {
    const entries = await Promise.all([...this.#providers].map(async ([name, p]) => [name, await p.health().catch((e: unknown) => ({ ok: false as const, reason: 'error', detail: String(e) }))] as const));
    return Object.fromEntries(entries);
  }

  async close(): Promise<void> {
    for (const p of this.#providers.values()) await p.close().catch(() => undefined);
  }
}
