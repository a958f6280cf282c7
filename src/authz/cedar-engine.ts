// The embedded Cedar engine (@cedar-policy/cedar-wasm). Policies are parsed and prepared once per load and
// reused for every decision; a reload swaps the prepared set only when the new files parse and validate.
import { readFileSync, readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { Logger } from 'pino';
import type { PdpRequestBody } from './contract.ts';

type CedarValue = cedar.CedarValueJson;
export type CedarView = Pick<PdpRequestBody, 'action' | 'principal' | 'resource' | 'context'>;

export interface CedarEvaluation {
  allowed: boolean;
  /** Ids of the policies that determined the decision (permits when allowed, forbids when forbidden). */
  policyIds: string[];
  errors: string[];
  policyVersion: string;
}

export interface CedarEngineOptions {
  policiesPath: string;
  schemaPath?: string | undefined;
  watch?: boolean | undefined;
  logger?: Logger | undefined;
}

let instances = 0;

const errText = (errors: cedar.DetailedError[]) => errors.map((e) => e.message).join('; ');

interface Loaded {
  policies: Record<string, string>;
  schema?: cedar.Schema;
  version: string;
}

function policyFiles(path: string): string[] {
  if (statSync(path).isDirectory()) {
    return readdirSync(path).filter((f) => f.endsWith('.cedar')).sort().map((f) => join(path, f));
  }
  return [path];
}

function loadFiles(policiesPath: string, schemaPath: string | undefined): Loaded {
  const policies: Record<string, string> = {};
  const hash = createHash('sha256');
  for (const file of policyFiles(policiesPath)) {
    const text = readFileSync(file, 'utf8');
    hash.update(basename(file)).update('\0').update(text).update('\0');
    const parts = cedar.policySetTextToParts(text);
    if (parts.type === 'failure') throw new Error(`${file}: ${errText(parts.errors)}`);
    if (parts.policy_templates.length > 0) throw new Error(`${file}: policy templates are not supported`);
    parts.policies.forEach((p, i) => {
      const json = cedar.policyToJson(p);
      const id = (json.type === 'success' ? json.json.annotations?.['id'] : undefined) ?? `${basename(file)}#${i}`;
      if (Object.hasOwn(policies, id)) throw new Error(`${file}: duplicate policy id ${id}`);
      policies[id] = p;
    });
  }
  if (Object.keys(policies).length === 0) throw new Error(`${policiesPath}: no Cedar policies found`);
  const loaded: Loaded = { policies, version: '' };
  if (schemaPath !== undefined) {
    const text = readFileSync(schemaPath, 'utf8');
    hash.update(text);
    loaded.schema = schemaPath.endsWith('.json') ? (JSON.parse(text) as cedar.SchemaJson<string>) : text;
    const v = cedar.validate({ schema: loaded.schema, policies: { staticPolicies: policies } });
    if (v.type === 'failure') throw new Error(`${schemaPath}: ${errText(v.errors)}`);
    if (v.validationErrors.length > 0) {
      throw new Error(`policies do not validate against ${schemaPath}: ` + v.validationErrors.map((e) => `${e.policyId}: ${e.error.message}`).join('; '));
    }
  }
  loaded.version = hash.digest('hex').slice(0, 16);
  return loaded;
}

function toCedar(v: unknown): CedarValue | undefined {
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (Array.isArray(v)) return v.map(toCedar).filter((x): x is CedarValue => x !== undefined);
  if (v && typeof v === 'object') {
    const out: Record<string, CedarValue> = {};
    for (const [k, x] of Object.entries(v)) {
      const c = toCedar(x);
      if (c !== undefined) out[k] = c;
    }
    return out;
  }
  return undefined;
}

function record(attrs: Record<string, unknown>): Record<string, CedarValue> {
  return toCedar(attrs) as Record<string, CedarValue>;
}

const RESOURCE_TYPES = new Set(['Key', 'Namespace', 'System', 'Audit']);

export function principalEntityType(type: string): string {
  return type === 'service' ? 'Service' : 'User';
}

export class CedarEngine {
  readonly #opts: CedarEngineOptions;
  readonly #psetId: string;
  #version = '';
  #timeDependent = true;
  #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;

  private constructor(opts: CedarEngineOptions) {
    this.#opts = opts;
    this.#psetId = `keyward-${process.pid}-${++instances}`;
  }

  static async load(opts: CedarEngineOptions): Promise<CedarEngine> {
    const engine = new CedarEngine(opts);
    engine.#apply(loadFiles(opts.policiesPath, opts.schemaPath));
    if (opts.watch) engine.#watch();
    return engine;
  }

  get policyVersion(): string {
    return this.#version;
  }

  /**
   * Whether any policy reads the request time. When none does, a decision is a pure function of the rest of the
   * request (policies, entities, action, context without the time), so it can be reused for an identical request.
   */
  get timeDependent(): boolean {
    return this.#timeDependent;
  }

  #apply(loaded: Loaded): void {
    const r = cedar.preparsePolicySet(this.#psetId, { staticPolicies: loaded.policies });
    if (r.type === 'failure') throw new Error(`${this.#opts.policiesPath}: ${errText(r.errors)}`);
    this.#version = loaded.version;
    this.#timeDependent = Object.values(loaded.policies).some((p) => p.includes('request_time'));
  }

  /** Re-reads the files; on any error the previous policies stay in force and the error is thrown. */
  async reload(): Promise<void> {
    this.#apply(loadFiles(this.#opts.policiesPath, this.#opts.schemaPath));
    this.#opts.logger?.info({ policy_version: this.#version }, 'cedar policies reloaded');
  }

  #watch(): void {
    const dirs = new Set<string>();
    dirs.add(statSync(this.#opts.policiesPath).isDirectory() ? this.#opts.policiesPath : dirname(this.#opts.policiesPath));
    if (this.#opts.schemaPath) dirs.add(dirname(this.#opts.schemaPath));
    for (const d of dirs) {
      const w = watch(d, { persistent: false }, () => this.#schedule());
      w.on('error', (err) => this.#opts.logger?.warn({ err: err.message, dir: d }, 'cedar policy watch failed'));
      this.#watchers.push(w);
    }
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    // Editors write files in several steps; wait for them to settle.
    this.#timer = setTimeout(() => {
      this.reload().catch((err: Error) =>
        this.#opts.logger?.error({ err: err.message }, 'cedar policy reload failed; previous policies stay in force'),
      );
    }, 100);
    this.#timer.unref();
  }

  evaluate(view: CedarView): CedarEvaluation {
    const principal = { type: principalEntityType(view.principal.type), id: view.principal.id };
    const resourceType = RESOURCE_TYPES.has(view.resource.type) ? view.resource.type : 'Key';
    const resource = { type: resourceType, id: view.resource.id };
    const pAttrs = { ...view.principal.attributes };
    const groups = Array.isArray(pAttrs['groups']) ? pAttrs['groups'].filter((g): g is string => typeof g === 'string') : [];
    const rAttrs = { ...view.resource.attributes };
    // Labels have arbitrary names, which Cedar records cannot express: they become the entity's tags.
    const labels = rAttrs['labels'];
    delete rAttrs['labels'];
    const tags: Record<string, CedarValue> = {};
    if (labels && typeof labels === 'object' && !Array.isArray(labels)) {
      for (const [k, v] of Object.entries(labels)) if (typeof v === 'string') tags[k] = v;
    }
    const entities: cedar.EntityJson[] = [
      { uid: principal, attrs: record(pAttrs), parents: groups.map((g) => ({ type: 'Group', id: g })) },
      ...groups.map((g) => ({ uid: { type: 'Group', id: g }, attrs: {}, parents: [] })),
    ];
    const ns = rAttrs['namespace'];
    if (resourceType === 'Key' && typeof ns === 'string') {
      entities.push({ uid: resource, attrs: record(rAttrs), parents: [{ type: 'Namespace', id: ns }], tags });
      entities.push({ uid: { type: 'Namespace', id: ns }, attrs: { name: ns }, parents: [] });
    } else {
      entities.push({ uid: resource, attrs: record(rAttrs), parents: [], ...(resourceType === 'Key' ? { tags } : {}) });
    }
    const answer = cedar.statefulIsAuthorized({
      principal,
      action: { type: 'Action', id: view.action },
      resource,
      context: record(view.context),
      preparsedPolicySetId: this.#psetId,
      entities,
    });
    if (answer.type === 'failure') throw new Error(`cedar evaluation failed: ${errText(answer.errors)}`);
    const d = answer.response;
    return {
      allowed: d.decision === 'allow',
      policyIds: d.diagnostics.reason,
      errors: d.diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`),
      policyVersion: this.#version,
    };
  }

  async close(): Promise<void> {
    clearTimeout(this.#timer);
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
  }
}
