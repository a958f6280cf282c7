// The app factory: takes its infrastructure, returns a Fastify instance ready for inject() or listen().
// Wiring of real infrastructure (store, seal, audit, authenticators) happens in compose.ts, not here.
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { RequestListener, Server } from 'node:http';
import type { Logger } from 'pino';
import type { Authenticator } from '../authn/types.ts';
import type { Pdp } from '../authz/types.ts';
import type { KeywardConfig } from '../config/index.ts';
import { sysRoutes } from '../keys/routes/sys.ts';
import type { SystemService } from '../keys/system.ts';
import { spirlRoutes } from '../keys/routes/spirl.ts';
import { v1KeyRoutes } from '../keys/routes/v1.ts';
import type { KeyService } from '../keys/service.ts';
import type { Store } from '../store/types.ts';
import type { Clock } from '../core/clock.ts';
import { baseHeaders, clientErrorHandler, errorHandler, sendProblem, toProblem } from '../http/errors.ts';
import { healthRoutes } from './health.ts';
import { requestForLog } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { registerOpenApi } from '../http/openapi.ts';
import { registerAuthentication } from '../authn/hook.ts';
import { type AuthorizationDeps, registerAuthorization } from '../authz/hook.ts';
import { authzRoutes } from '../authz/routes.ts';
import { ProblemError } from '../core/problem.ts';
import { auditRefusal, type RefusalLedger } from '../audit/refusals.ts';
import { ijsonViolation } from '../audit/strict-json.ts';
import { requestIdFor } from '../http/request-id.ts';
import { acceptAbsentBody } from '../http/optional-body.ts';

/** The methods a route may have, in the order Allow lists them. */
const ROUTED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export interface AppDeps {
  config: KeywardConfig;
  logger: Logger;
  clock: Clock;
  store: Store;
  system: SystemService;
  keys: KeyService;
  /** The audit trail as everything recording for a request sees it (so unaudited refusals can be told apart). */
  audit: RefusalLedger;
  authenticator: Authenticator;
  pdp: Pdp;
  metrics: Metrics;
  /** Extra surfaces mounted on the same server (audit routes, identity provider). */
  plugins?: Array<(app: FastifyInstance) => Promise<void>>;
  /** TLS options for listen(); absent means plain HTTP. */
  https?: { key: Buffer; cert: Buffer; ca?: Buffer | undefined; requestCert: boolean; rejectUnauthorized: boolean } | undefined;
  /** A server bound before the app was built (keyward serve binds first); Fastify then never listens itself. */
  serverFactory?: ((handler: RequestListener) => Server) | undefined;
}

/** The authorization stage's inputs, shared by REST and gRPC. */
export function authorizationDeps(deps: Pick<AppDeps, 'pdp' | 'audit' | 'config' | 'clock' | 'keys'>): AuthorizationDeps {
  return {
    pdp: deps.pdp,
    audit: deps.audit,
    permissionPrefix: deps.config.authz.permission_prefix,
    clock: deps.clock,
    keyAttributes: async (id) => {
      const r = await deps.keys.peek(id);
      return r ? { key_type: r.type, state: r.state, labels: r.labels } : undefined;
    },
  };
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    // The request serializer logs the path and query names only (query values can be credentials).
    loggerInstance: deps.logger.child({}, { serializers: { req: requestForLog } }),
    logController: new LogController({ disableRequestLogging: !config.server.access_log }),
    bodyLimit: config.server.body_limit,
    genReqId: requestIdFor,
    requestIdHeader: false,
    trustProxy: false,
    return503OnClosing: true,
    // Longer than any request line Node accepts, so an over-long key id always reaches validation (key.invalid_id)
    // instead of the router's 414 for some lengths.
    routerOptions: { maxParamLength: 16 * 1024 },
    // The framework answers these before any hook runs, so they set the common headers themselves.
    frameworkErrors: (err: Error, req: FastifyRequest, reply: FastifyReply) => (baseHeaders(reply, req), sendProblem(reply, req, toProblem(err))),
    clientErrorHandler,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false } },
    ...(deps.https ? { https: deps.https } : {}),
    ...(deps.serverFactory ? { serverFactory: deps.serverFactory } : {}),
  } as FastifyServerOptions) as unknown as FastifyInstance;

  // Callback-style hooks: these run on every request, and an async hook costs a promise each time.
  app.addHook('onRequest', (req, _reply, done) => {
    deps.audit.begin(req.id);
    done();
  });
  app.addHook('onSend', (req, reply, payload, done) => {
    baseHeaders(reply, req);
    done(null, payload);
  });
  app.addHook('onResponse', (req, reply, done) => {
    deps.metrics.httpRequest(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    deps.audit.end(req.id);
    done();
  });
  app.addHook('onRequestAbort', (req, done) => {
    deps.audit.end(req.id);
    done();
  });

  // JSON only: a text/plain body is refused as unsupported (415), not parsed and then found to be no object.
  app.removeContentTypeParser('text/plain');
  // An empty body on a JSON POST (SPIRL's release sends none) is "no body", not a parse error.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, raw, done) => {
    // No content coding is decoded: a compressed body is refused, not read as if it were plain (RFC 9110 §8.4.1).
    const coding = req.headers['content-encoding'];
    if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') {
      return done(new ProblemError({ code: 'request.unsupported_media_type', detail: 'content-encoding is not supported: send the body uncompressed' }));
    }
    // JSON is UTF-8 (RFC 8259 §8.1). Read any other way, a byte that is not UTF-8 became U+FFFD, silently: a JWT
    // signed claims the caller never sent, a label was stored changed. Another declared charset is refused alike.
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      return done(new ProblemError({ code: 'request.unsupported_media_type', detail: 'send application/json in UTF-8' }));
    }
    let body: string;
    try {
      body = typeof raw === 'string' ? raw : UTF8.decode(raw);
    } catch {
      return done(new ProblemError({ code: 'request.malformed_json', detail: 'the body is not UTF-8' }));
    }
    if (body === '') return done(null, undefined);
    defaultJson(req, body, (err, value) => {
      if (err) {
        // Fastify reports secure-json-parse's refusal of __proto__ as invalid JSON; where the JSON is well formed,
        // say what was refused rather than send the client looking for a syntax error.
        if (parsesAsJson(body)) return done(new ProblemError({ code: 'request.malformed_json', detail: 'the body names a member __proto__ (or constructor.prototype), which is refused' }));
        return done(err);
      }
      // I-JSON (RFC 7493): no member named twice, no lone surrogate (see ijsonViolation).
      const violation = ijsonViolation(body, value);
      if (violation !== undefined) return done(new ProblemError({ code: 'request.malformed_json', detail: `the body is not I-JSON: ${violation}` }));
      done(null, value);
    });
  });

  acceptAbsentBody(app);

  app.setErrorHandler(errorHandler(deps.logger, (req, problem) => auditRefusal(deps.audit, req, problem)));
  // Audited when the caller could be identified (see src/authn/hook.ts); the answer is the same either way. A path
  // that has routes for other methods is 405 with Allow (RFC 9110 §15.5.6), whatever the method asked for.
  app.setNotFoundHandler(async (req, reply) => {
    const path = req.url.split('?')[0]!;
    const allow = ROUTED_METHODS.filter((method) => app.findRoute({ method, url: path }) !== null);
    const problem = allow.length > 0
      ? new ProblemError({ code: 'request.method_not_allowed', detail: `${req.method} is not allowed on ${path}`, headers: { allow: allow.join(', ') } })
      : new ProblemError({ code: 'route.not_found', detail: `no route ${req.method} ${path}` });
    return sendProblem(reply, req, await auditRefusal(deps.audit, req, problem));
  });

  // route → authenticate → authorize → handler (service) → store → audit.
  registerAuthentication(app, { authenticator: deps.authenticator, audit: deps.audit });
  const authorization = authorizationDeps(deps);
  registerAuthorization(app, authorization);

  await registerOpenApi(app);
  await app.register(healthRoutes, { store: deps.store, system: deps.system, audit: deps.audit, metrics: deps.metrics });
  await app.register(sysRoutes, { prefix: '/v1/sys', system: deps.system });
  await app.register(v1KeyRoutes, { prefix: '/v1', keys: deps.keys });
  await app.register(authzRoutes, { prefix: '/v1/authz', authorization });
  if (config.spirl.enabled) await app.register(spirlRoutes, { prefix: config.spirl.base_path, keys: deps.keys });
  for (const plugin of deps.plugins ?? []) await plugin(app);
  await app.ready();
  return app;
}

/** Strict: a byte sequence that is not UTF-8 throws rather than becoming U+FFFD. A leading BOM is dropped. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Whether `text` is well-formed JSON (only asked once the prototype-safe parser has refused it). */
function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
