// The audit sink registry: one line per sink kind, each a descriptor in its own file (configuration schema,
// factory, durability, preflight, production rules). The configuration, the trail, `config check` and the
// production rules ask the registry; nothing else names a sink type.
import type { ConfigProblem, PreflightContext } from '../../core/preflight.ts';
import { unionOfSchemas, type ConfigOf, type InputOf } from '../../core/registry.ts';
import { fileSinkDescriptor } from './file.ts';
import { natsSinkDescriptor } from './nats.ts';
import { stdoutSinkDescriptor } from './stdout.ts';
import type { AnySinkDescriptor, AuditSink, SinkDeps, SinkDescriptor } from './types.ts';

export type { SinkDeps, SinkDescriptor } from './types.ts';

/** The sink types, as written in `audit.sinks[].type`; each has its line in REGISTRY. */
export const SINK_TYPES = ['stdout', 'file', 'nats'] as const;
export type SinkType = (typeof SINK_TYPES)[number];

/** A type without its line, or a line naming another type's descriptor, does not compile. */
const REGISTRY = {
  stdout: stdoutSinkDescriptor,
  file: fileSinkDescriptor,
  nats: natsSinkDescriptor,
} as const satisfies { [K in SinkType]: SinkDescriptor<any, any> & { type: K } };

export const SINKS: readonly AnySinkDescriptor[] = Object.values(REGISTRY);

export type AuditSinkConfig = ConfigOf<typeof REGISTRY>;
export type AuditSinkConfigInput = InputOf<typeof REGISTRY>;

/** `audit.sinks[]`: any registered kind, by its `type`. */
export const auditSinkSchema = unionOfSchemas<AuditSinkConfig, AuditSinkConfigInput>(SINKS);

export function sinkDescriptor(type: SinkType): AnySinkDescriptor {
  return REGISTRY[type];
}

export function createSink(cfg: AuditSinkConfig, deps: SinkDeps): AuditSink {
  return sinkDescriptor(cfg.type).create(cfg, deps);
}

/** Each sink's checks that need no network, at its path (audit.sinks.<i>). */
export function sinksPreflight(sinks: AuditSinkConfig[], ctx: PreflightContext): ConfigProblem[] {
  return sinks.flatMap((s, i) => sinkDescriptor(s.type).preflight?.(s, ctx, `audit.sinks.${i}`) ?? []);
}
