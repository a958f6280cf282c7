// Plug-in registries (authenticators, PDPs, audit sinks): a record of descriptors by type, each with a zod schema
// whose `type` is its literal. These turn a registry into its configuration union, at the type and value level.
import { z } from 'zod';

interface HasSchema {
  readonly configSchema: z.ZodType;
}

/** The configuration of any kind in registry R (parsed), and as written. */
export type ConfigOf<R extends Record<string, HasSchema>> = { [K in keyof R]: z.output<R[K]['configSchema']> }[keyof R];
export type InputOf<R extends Record<string, HasSchema>> = { [K in keyof R]: z.input<R[K]['configSchema']> }[keyof R];

/**
 * The descriptors' schemas (and `extra` ones, like authn's chain) as one union discriminated by `type`; an unknown
 * type is an error at `<place>.type`, a bad field one at its own path. Typed by the caller from its registry.
 */
export function unionOfSchemas<O, I>(descriptors: readonly HasSchema[], extra: readonly z.ZodType[] = []): z.ZodType<O, I> {
  const options = [...descriptors.map((d) => d.configSchema), ...extra] as unknown as [z.ZodObject, ...z.ZodObject[]];
  return z.discriminatedUnion('type', options) as unknown as z.ZodType<O, I>;
}
