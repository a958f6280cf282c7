// The identity provider as a Fastify plugin: every configured realm under /realms/{realm} (Keycloak layout),
// its interaction pages, {issuer}/profile, and the refusal of Keycloak's admin REST paths.
import { PrivacyIdeaAuthority } from './mfa/privacyidea.ts';
import { createHash, randomBytes } from 'node:crypto';
import { errors as oidcErrors } from 'oidc-provider';
import { Type } from '@sinclair/typebox';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { AuditRecorder } from '../audit/types.ts';
import type { IdpConfig } from './config.ts';
import { guard, THIRD_PARTY_COOKIE_CHECK } from './guard.ts';
import { namedClientId } from './named-client.ts';
import { directoryUnavailable, showInteraction, showRecovery, showTotp, submitContinue, submitLogin, submitRecovery, submitTotp, type InteractionContext } from './interactions.ts';
import { createUserDirectory, isDirectoryUnavailable } from './directories/index.ts';
import { isSealedProblem } from '../keys/errors.ts';
import { profileDocument, profileErrorBody, SEALED_RETRY_AFTER, sealedBody, UNSUPPORTED, type UnsupportedFeature } from './profile.ts';
import { createRealmRuntime, errorPageHtml, OIDC_PREFIX, type RealmRuntime } from './provider.ts';
import type { TokenSigner } from './signing.ts';
import type { SecretBox } from './store/directory.ts';
import type { IdpRepositories } from './store/repositories.ts';
import { IdpTelemetry, type IdpLogger } from './telemetry.ts';
import { readThemeAsset, type ThemeAsset } from './theme.ts';
import { replayingBody } from './replay-body.ts';
import { messagePage, PAGE_HEADERS } from './views.ts';
import { sendProblem } from '../http/errors.ts';
import type { TypeBoxTypeProvider } from '../http/typebox.ts';
import { interactionParams, PAGE_PROBLEMS, PAGES, PROVIDER_ENDPOINTS, realmParams } from './endpoints.ts';
import { ProblemError } from '../core/problem.ts';

export { idpConfigSchema, type IdpConfig, type IdpRealmConfig } from './config.ts';
export type { TokenSigner, TokenSigningKey } from './signing.ts';

export interface IdpDeps {
  config: IdpConfig;
  /** The identity provider's tables (src/idp/store/repositories.ts). */
  repos: IdpRepositories;
  signer: TokenSigner;
  audit: AuditRecorder;
  logger?: IdpLogger | undefined;
  /** Prometheus registry to add the idp counters to (a private one otherwise). */
  metrics?: Registry | undefined;
  /** Seals TOTP seeds at rest; Keyward's server passes one backed by the key service. */
  secretBox?: SecretBox | undefined;
  /** Subscribes to changes of the signing keys (e.g. a rotation in the key service) so they apply at once. */
  signingKeyChanges?: ((listener: () => void) => () => void) | undefined;
  /** For KEYWARD_IDP_COOKIE_KEYS; process.env by default. */
  env?: NodeJS.ProcessEnv | undefined;
  /** Runs before the providers are built (e.g. creating the signing keys, which needs Keyward unsealed). */
  prepare?: (() => Promise<void>) | undefined;
  /** Where events go; built from the configuration when absent. */
  telemetry?: IdpTelemetry | undefined;
  /**
   * Subscribes to realm changes made elsewhere (another instance, `keyward idp apply`); the realm's name, or
   * undefined for any realm. What a realm caches is dropped at once.
   */
  realmChanges?: ((listener: (realm: string | undefined) => void) => () => void) | undefined;
  /** Whether this instance runs the once-only background work (the grant sweep); always, by default. */
  leader?: (() => boolean) | undefined;
  /** Subscribes to the seal: a provider that could not start while sealed starts on unseal. */
  sealChanges?: ((listener: (sealed: boolean) => void) => () => void) | undefined;
}

export interface Idp {
  realms: Map<string, RealmRuntime>;
  telemetry: IdpTelemetry;
  sweep(): Promise<number>;
  /** Re-reads the signing keys now; true when they changed and the providers were rebuilt. */
  refreshSigningKeys(): Promise<boolean>;
  close(): Promise<void>;
}

async function cookieKeys(deps: IdpDeps): Promise<string[]> {
  const fromEnv = (deps.env ?? process.env).KEYWARD_IDP_COOKIE_KEYS;
  if (fromEnv) return fromEnv.split(',').map((s) => s.trim()).filter((s) => s.length >= 32);
  // Generated once and persisted, so sessions survive restarts and are shared by every process.
  const value = await deps.repos.ensureSetting('cookie_keys', JSON.stringify([randomBytes(32).toString('base64url')]));
  return JSON.parse(value) as string[];
}

/** Migrates the idp tables and builds one provider per realm. */
export async function createIdp(deps: IdpDeps): Promise<Idp> {
  await deps.repos.migrate();
  const keys = await cookieKeys(deps);
  if (keys.length === 0) throw new Error('KEYWARD_IDP_COOKIE_KEYS must hold keys of at least 32 characters');
  const telemetry = deps.telemetry ?? new IdpTelemetry({
    environment: deps.config.environment,
    deploymentMode: deps.config.deployment_mode,
    logger: deps.logger,
    registry: deps.metrics,
    audit: deps.audit,
    demand: deps.repos.demand,
  });
  const realms = new Map<string, RealmRuntime>();
  // One user directory per realm for the life of the provider (its connection pools outlive provider rebuilds).
  const users = new Map(
    await Promise.all(deps.config.realms.map(async (realm, i) => [
      realm.name,
      await createUserDirectory(realm, {
        store: deps.repos.directory(realm.name, deps.secretBox),
        argon2: deps.config.argon2,
        env: deps.env ?? process.env,
        field: `idp.realms.${i}.directory`,
        warn: (m) => deps.logger?.warn(m),
      }),
    ] as const)),
  );
  // A realm that delegates second factors gets its privacyIDEA client once (a missing secret or CA file stops the start).
  const mfaLogger = { warn: (o: Record<string, unknown>, m: string) => deps.logger?.warn(`${m} ${JSON.stringify(o)}`), error: (o: Record<string, unknown>, m: string) => deps.logger?.error(o, m) };
  const authorities = new Map(
    deps.config.realms.flatMap((realm) =>
      realm.mfa.authority === 'privacyidea' ? [[realm.name, new PrivacyIdeaAuthority(realm.mfa.privacyidea!, { env: deps.env ?? process.env, logger: mfaLogger })] as const] : [],
    ),
  );
  const build = async () => {
    for (const realm of deps.config.realms) {
      realms.set(realm.name, await createRealmRuntime({ config: deps.config, realm, repos: deps.repos, signer: deps.signer, audit: deps.audit, telemetry, cookieKeys: keys, secretBox: deps.secretBox, users: users.get(realm.name), mfa: authorities.get(realm.name) }));
    }
  };
  await build();
  const timer = setInterval(() => {
    // Instances sharing a database take turns by lease: one sweeps.
    if (deps.leader && !deps.leader()) return;
    void deps.repos.sweepExpired().catch(() => {});
    // Throttle entries outlive any configured window and lock by far after a day.
    void deps.repos.throttle.sweep(86_400_000).catch(() => {});
  }, deps.config.sweep_interval_seconds * 1000);
  timer.unref();
  // A rotation in the key service, or a published version's turn to sign coming, or an old one's retirement changes
  // the signing keys: the providers are rebuilt (state lives in the store, so nothing is lost).
  const allKids = async () => {
    const out: string[] = [];
    for (const realm of deps.config.realms) out.push(...(await deps.signer.keys(realm.name)).map((k) => `${realm.name}/${k.kid}${k.signs ? '/signs' : ''}`));
    return out.join(' ');
  };
  let kids = await allKids();
  const refresh = async () => {
    const now = await allKids();
    if (now === kids) return false;
    await build();
    kids = now;
    deps.logger?.info({ kids: now.split(' ') }, 'identity provider signing keys changed; providers rebuilt');
    return true;
  };
  const keyTimer = setInterval(() => void refresh().catch(() => {}), deps.config.signing_key_refresh_seconds * 1000);
  keyTimer.unref();
  const unsubscribe = deps.signingKeyChanges?.(() => void refresh().catch(() => {}));
  const unsubscribeRealms = deps.realmChanges?.((name) => {
    for (const rt of realms.values()) if (name === undefined || rt.name === name) rt.directory.forgetClients();
  });
  return {
    realms,
    telemetry,
    sweep: () => deps.repos.sweepExpired(),
    refreshSigningKeys: refresh,
    close: async () => {
      clearInterval(timer);
      clearInterval(keyTimer);
      unsubscribe?.();
      unsubscribeRealms?.();
      await Promise.all([...users.values()].map((u) => u.close()));
      await Promise.all([...authorities.values()].map((a) => a.close()));
    },
  };
}

function refuse(reply: FastifyReply, idp: Idp, realm: string, u: UnsupportedFeature, opts: { browser: boolean; detail?: string | undefined; req: FastifyRequest; clientId?: string | undefined; redirectTo?: string | undefined; event?: 'unsupported_request' | 'admin_unsupported' | 'invalid_redirect_or_client' | 'invalid_request' }) {
  const correlationId = opts.req.id;
  const body = profileErrorBody(u, idp.realms.values().next().value?.config.profile_version ?? '0.2', correlationId, opts.detail);
  const event =
    opts.event ??
    (u.errorClass === 'invalid_profile_usage'
      ? u.feature === 'redirect_uri' || u.feature === 'client'
        ? 'invalid_redirect_or_client'
        : 'invalid_request'
      : 'unsupported_request');
  const path = opts.req.url.split('?')[0] ?? '';
  const p = params(opts.req);
  const rt = idp.realms.get(realm);
  void (async () => {
    const known = opts.clientId !== undefined && rt ? !!(await rt.directory.getClient(opts.clientId)) : undefined;
    await idp.telemetry.emit({
      event,
      realm,
      client_id: opts.clientId,
      client_known: opts.clientId === undefined ? undefined : known === true,
      endpoint: rt ? path.slice(`/realms/${rt.name}`.length) || '/' : path,
      feature_category: u.feature,
      result: 'rejected',
      error_class: u.errorClass,
      requested_scopes: p.scope,
      grant_type: requestedGrant(path, p),
      correlation_id: correlationId,
      source_ip: opts.req.ip,
    });
  })().catch(() => {});
  reply.header('x-correlation-id', correlationId).header('cache-control', 'no-store');
  if (opts.redirectTo) return reply.code(303).header('location', opts.redirectTo).send();
  // A challenge only answers a client that tried HTTP authentication (RFC 6749 §5.2): a browser sent to the
  // authorization endpoint with an unknown client_id would otherwise show its own password dialog, not the page.
  if (u.status === 401 && opts.req.headers.authorization !== undefined) reply.header('www-authenticate', 'Basic realm="keyward"');
  const theme = idp.realms.get(realm)?.theme;
  if (opts.browser && theme) return reply.code(u.status).headers(PAGE_HEADERS).send(errorPageHtml(body, theme));
  return reply.code(u.status).type('application/json').send(body);
}

/** The grant a refused request was after: which flows outside the profile are in demand. */
function requestedGrant(path: string, p: Record<string, string | undefined>): string | undefined {
  if (path.endsWith(`${OIDC_PREFIX}/token`)) return p.grant_type;
  if (path.endsWith(`${OIDC_PREFIX}/auth/device`)) return 'urn:ietf:params:oauth:grant-type:device_code';
  if (path.includes(`${OIDC_PREFIX}/ext/ciba`)) return 'urn:openid:params:grant-type:ciba';
  if (path.includes(`${OIDC_PREFIX}/ext/par`)) return 'authorization_code';
  if (path.endsWith(`${OIDC_PREFIX}/auth`) && p.response_type !== undefined) {
    const types = p.response_type.split(' ');
    if (types.length === 1 && types[0] === 'code') return 'authorization_code';
    return types.includes('code') ? 'hybrid' : 'implicit';
  }
  return undefined;
}

function params(req: FastifyRequest): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  const q = new URLSearchParams(req.url.split('?')[1] ?? '');
  q.forEach((v, k) => (out[k] = v));
  if (typeof req.body === 'string') new URLSearchParams(req.body).forEach((v, k) => (out[k] = v));
  return out;
}

/**
 * Starts the identity provider once, on first need: at boot, or, when Keyward boots sealed (its signing keys
 * cannot be created or used), on unseal or on the next request after it. Concurrent callers share one start.
 */
class IdpStarter {
  current: Idp | undefined;
  #starting: Promise<Idp> | undefined;
  readonly #deps: IdpDeps;
  constructor(deps: IdpDeps) {
    this.#deps = deps;
  }
  start(): Promise<Idp> {
    if (this.current) return Promise.resolve(this.current);
    this.#starting ??= (async () => {
      await this.#deps.prepare?.();
      return createIdp(this.#deps);
    })().then(
      (idp) => (this.current = idp),
      (e: unknown) => {
        this.#starting = undefined;
        throw e;
      },
    );
    return this.#starting;
  }
}

function unavailable(reply: FastifyReply) {
  return reply.code(503).header('retry-after', SEALED_RETRY_AFTER).header('cache-control', 'no-store').type('application/json').send(sealedBody());
}

/** The largest request body the identity provider reads: its forms and JSON are small. */
const BODY_LIMIT = 64 * 1024;

/** A request below /realms/{realm} (every route there validates its params). */
type RealmRequest = FastifyRequest & { params: { realm: string } };

/** Fastify plugin factory; register the returned function with the app (encapsulated). */
export function idpPlugin(deps: IdpDeps) {
  return async function idpRoutes(plain: FastifyInstance, _opts: unknown): Promise<void> {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const starter = new IdpStarter(deps);
    try {
      await starter.start();
    } catch (e) {
      if (!isSealedProblem(e)) throw e;
      deps.logger?.warn('identity provider: Keyward is sealed, so its signing keys cannot be used yet; it starts on unseal');
    }
    const unsubscribe = deps.sealChanges?.((sealed) => {
      if (!sealed) starter.start().catch((e: unknown) => deps.logger?.error({ err: String(e) }, 'identity provider failed to start after unseal'));
    });
    app.addHook('onClose', async () => {
      unsubscribe?.();
      await starter.current?.close();
    });
    // Every route below runs with a started provider; until then (sealed) the answer is 503, never a guess.
    app.addHook('preHandler', (_req, reply, done) => {
      if (starter.current) return done();
      starter.start().then(
        () => done(),
        (e: unknown) => (isSealedProblem(e) ? void unavailable(reply) : done(e as Error)),
      );
    });
    const started = () => starter.current!;
    const throttle = deps.repos.throttle;
    // Bodies are read as text here and handed to oidc-provider pre-read; no JSON parsing in this scope.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));
    // What Fastify refuses before a handler runs (an oversized body, a content-length that lies) is an OAuth error
    // on the protocol endpoints, whose clients read RFC 6749 §5.2 bodies; elsewhere the server's problem+json.
    app.setErrorHandler((err: FastifyError, req, reply) => {
      const status = err.statusCode ?? 500;
      if (!req.url.includes(`${OIDC_PREFIX}/`) || status < 400 || status >= 500) throw err;
      const detail = err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? `the request body exceeds ${BODY_LIMIT / 1024} KiB` : 'the request could not be read';
      const u: UnsupportedFeature = { feature: 'request', errorClass: 'invalid_profile_usage', oauthError: 'invalid_request', status, description: detail };
      return reply.code(status).header('cache-control', 'no-store').header('x-correlation-id', req.id).type('application/json').send(profileErrorBody(u, deps.config.profile_version, req.id));
    });

    // Keycloak's admin REST API is not offered: every path below /admin is refused (not documented, nothing to call).
    app.all('/admin/*', { schema: { hide: true } }, (req, reply) =>
      refuse(reply, started(), '-', UNSUPPORTED.admin_rest, { browser: false, req, event: 'admin_unsupported' }),
    );

    const realmOf = (req: RealmRequest, reply: FastifyReply): RealmRuntime | undefined => {
      const rt = started().realms.get(req.params.realm);
      if (rt) return rt;
      // OAuth clients read an OAuth error body (RFC 6749 §5.2) from the protocol endpoints; elsewhere problem+json.
      // The telemetry realm is '-': a name from the URL must not become a metric label.
      if (req.url.includes(`${OIDC_PREFIX}/`)) void refuse(reply, started(), '-', UNSUPPORTED.unknown_realm, { browser: false, req, clientId: namedClient(req) });
      else void sendProblem(reply, req, new ProblemError({ code: 'idp.realm_not_found', detail: 'no such realm' }));
      return undefined;
    };
    const ictx = (rt: RealmRuntime, req: FastifyRequest): InteractionContext => ({ rt, throttle, ip: req.ip, audit: deps.audit, requestId: req.id, userAgent: req.headers['user-agent'] });
    const form = (req: FastifyRequest) => new URLSearchParams(typeof req.body === 'string' ? req.body : '');

    // keycloak-js loads this before anything else and waits for its message (init fails after 10 s without one).
    // Keyward has no login-status iframe (Keycloak's needs third-party cookies, which browsers are removing), so the
    // page answers "unsupported": the adapter then takes its documented path for such browsers (no session-status
    // iframe; check-sso by a top-level redirect with prompt=none).
    app.get(`/realms/:realm${THIRD_PARTY_COOKIE_CHECK}`, { schema: { params: realmParams }, config: { documented: PAGES.thirdPartyCookieCheck, problems: PAGE_PROBLEMS } }, async (req, reply) => {
      const rt = realmOf(req, reply);
      if (!rt) return reply;
      return reply.code(200).headers(THIRD_PARTY_COOKIE_HEADERS).send(THIRD_PARTY_COOKIE_PAGE);
    });
    app.get('/realms/:realm/profile', { schema: { params: realmParams }, config: { documented: PAGES.profile, problems: PAGE_PROBLEMS } }, async (req, reply) => {
      const rt = realmOf(req, reply);
      if (!rt) return reply;
      return reply.header('cache-control', 'no-cache').send(profileDocument(rt.config, rt.realm));
    });
    // The interaction pages write the raw response themselves (oidc-provider's interaction API needs it).
    type Page = (c: InteractionContext, req: FastifyRequest['raw'], res: FastifyReply['raw'], uid: string, form: URLSearchParams) => Promise<void>;
    const page = (handler: Page) => async (req: RealmRequest & { params: { uid: string } }, reply: FastifyReply) => {
      const rt = realmOf(req, reply);
      if (!rt) return reply;
      reply.hijack();
      reply.raw.setHeader('x-request-id', req.id);
      const c = ictx(rt, req);
      await handler(c, req.raw, reply.raw, req.params.uid, form(req)).catch((e) =>
        // The page's path below the realm without the interaction id: /login, /login/totp, /login/recovery, /login/continue.
        isDirectoryUnavailable(e) ? directoryUnavailable(c, reply.raw, `/login${req.routeOptions.url?.split(':uid')[1] ?? ''}`) : interactionError(rt, req, reply, e, deps.logger),
      );
    };
    const uid = { params: interactionParams };
    app.get('/realms/:realm/login/:uid', { schema: uid, config: { documented: PAGES.login, problems: PAGE_PROBLEMS } }, page((c, req, res, id) => showInteraction(c, req, res, id)));
    app.post('/realms/:realm/login/:uid', { schema: uid, config: { documented: PAGES.loginSubmit, problems: PAGE_PROBLEMS } }, page(submitLogin));
    app.get('/realms/:realm/login/:uid/totp', { schema: uid, config: { documented: PAGES.totp, problems: PAGE_PROBLEMS } }, page((c, req, res, id) => showTotp(c, req, res, id)));
    app.post('/realms/:realm/login/:uid/totp', { schema: uid, config: { documented: PAGES.totpSubmit, problems: PAGE_PROBLEMS } }, page(submitTotp));
    app.get('/realms/:realm/login/:uid/recovery', { schema: uid, config: { documented: PAGES.recovery, problems: PAGE_PROBLEMS } }, page((c, req, res, id) => showRecovery(c, req, res, id)));
    app.post('/realms/:realm/login/:uid/recovery', { schema: uid, config: { documented: PAGES.recoverySubmit, problems: PAGE_PROBLEMS } }, page(submitRecovery));
    app.post('/realms/:realm/login/:uid/continue', { schema: uid, config: { documented: PAGES.continue, problems: PAGE_PROBLEMS } }, page(submitContinue));

    // The realm's theme: its stylesheet and the files of its theme directory (static, cacheable, no cookies read).
    app.get('/realms/:realm/theme/style.css', { schema: { params: realmParams }, config: { documented: PAGES.stylesheet, problems: PAGE_PROBLEMS } }, async (req, reply) => {
      const rt = realmOf(req, reply);
      if (!rt) return reply;
      return sendAsset(req, reply, rt.theme.stylesheet);
    });
    const assetParams = Type.Object({ realm: Type.String(), file: Type.String({ description: 'File name in the theme directory' }) });
    app.get('/realms/:realm/theme/assets/:file', { schema: { params: assetParams }, config: { documented: PAGES.asset, problems: PAGE_PROBLEMS } }, async (req, reply) => {
      const rt = realmOf(req, reply);
      if (!rt) return reply;
      const asset = await readThemeAsset(rt.theme, req.params.file);
      if (!asset) return reply.code(404).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send('not found');
      return sendAsset(req, reply, asset);
    });

    // Koa's callback() composes the middleware anew on every call: build it once per provider instance.
    const handlers = new WeakMap<RealmRuntime, ReturnType<RealmRuntime['provider']['callback']>>();
    const handlerOf = (rt: RealmRuntime) => {
      let h = handlers.get(rt);
      if (!h) {
        h = rt.provider.callback();
        handlers.set(rt, h);
      }
      return h;
    };
    const toProvider = async (req: RealmRequest, reply: FastifyReply) => {
      const rt = realmOf(req, reply);
      if (!rt) return reply;
      const prefix = `/realms/${rt.name}`;
      const path = (req.url.split('?')[0] ?? '').slice(prefix.length) || '/';
      const p = params(req);
      const refusal = await guard(rt, { method: req.method, path, params: p, authorization: req.headers.authorization });
      if (refusal) {
        const back = refusal.browser ? await errorRedirect(rt, path, p, refusal.feature, refusal.detail) : undefined;
        const browser = refusal.browser && req.method === 'GET' && !wantsJson(req);
        return refuse(reply, started(), rt.name, refusal.feature, { browser, detail: refusal.detail, req, clientId: refusal.clientId, redirectTo: back });
      }
      reply.hijack();
      const raw = req.raw as typeof req.raw & { originalUrl?: string; body?: unknown; keywardRequestId?: string };
      raw.keywardRequestId = req.id;
      // oidc-provider derives its mount path from originalUrl minus url.
      raw.originalUrl = req.url;
      raw.url = req.url.slice(prefix.length) || '/';
      if (typeof req.body === 'string') raw.body = req.body;
      handlerOf(rt)(replayingBody(raw), reply.raw);
    };
    // Each protocol endpoint is its own route (and its own OpenAPI entry); the provider validates and answers.
    for (const e of PROVIDER_ENDPOINTS) {
      app.route({ method: e.methods, url: `/realms/:realm${e.path}`, schema: { params: e.path.includes(':uid') ? interactionParams : realmParams }, config: { documented: e.documented, problems: [] }, handler: toProvider });
    }
    // Everything else below a realm goes to the guard and the provider too: Keycloak paths the profile refuses with
    // its own error (realm information, account console, device flow...), other methods on the endpoints above
    // (CORS preflight), the provider's unknown paths. Not documented: none is an endpoint to call.
    app.all('/realms/:realm', { schema: { params: realmParams, hide: true } }, toProvider);
    app.all('/realms/:realm/*', { schema: { params: Type.Object({ realm: Type.String(), '*': Type.String() }), hide: true } }, toProvider);
  };
}

/**
 * A theme file: immutable for a year when the URL names its current version (?v=, as the pages do), otherwise
 * revalidated by ETag. Served as inert content: no sniffing, and a sandbox should an SVG be opened directly.
 */
function sendAsset(req: FastifyRequest, reply: FastifyReply, asset: ThemeAsset) {
  const etag = `"${asset.version}"`;
  const versioned = new URLSearchParams(req.url.split('?')[1] ?? '').get('v') === asset.version;
  reply
    .header('etag', etag)
    .header('cache-control', versioned ? 'public, max-age=31536000, immutable' : 'public, no-cache')
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; sandbox")
    .header('cross-origin-resource-policy', 'same-origin');
  if (req.headers['if-none-match'] === etag) return reply.code(304).send();
  return reply.type(asset.contentType).send(asset.body);
}

/**
 * RFC 6749 §4.1.2.1: once the client and its redirect_uri are known to be good, an authorization error goes back to
 * the client (error, error_description, state, iss, and the profile's profile_error_class and feature as extension
 * parameters) instead of ending on our page. Errors about the client or the redirect URI themselves never redirect.
 * The parameters travel in the fragment when the client asked for it (response_mode=fragment, or implicit and
 * hybrid response types, whose default it is), so the client finds the error where it looks for its answer.
 */
async function errorRedirect(rt: RealmRuntime, path: string, q: Record<string, string | undefined>, u: UnsupportedFeature, detail?: string): Promise<string | undefined> {
  if (path.replace(/\/+$/, '') !== `${OIDC_PREFIX}/auth` || !q.client_id || !q.redirect_uri) return undefined;
  if (['redirect_uri', 'wildcard_redirect_uri', 'client', 'public_client'].includes(u.feature)) return undefined;
  const client = await rt.directory.getClient(q.client_id);
  if (!client?.enabled || !client.redirectUris.includes(q.redirect_uri)) return undefined;
  const params = new URLSearchParams({ error: u.oauthError, error_description: detail ?? u.description });
  if (q.state !== undefined) params.set('state', q.state);
  params.set('iss', rt.issuer);
  params.set('profile_error_class', u.errorClass);
  params.set('feature', u.feature);
  const url = new URL(q.redirect_uri);
  const fragment = q.response_mode === 'fragment' || (q.response_mode === undefined && /\b(token|id_token)\b/.test(q.response_type ?? ''));
  if (fragment) url.hash = params.toString();
  else for (const [k, v] of params) url.searchParams.set(k, v);
  return url.href;
}

/** An explicit ask for JSON (API clients, curl) gets JSON even from the pages meant for browsers. */
function wantsJson(req: FastifyRequest): boolean {
  const accept = String(req.headers.accept ?? '').toLowerCase();
  return /\bapplication\/([a-z.+-]*\+)?json\b/.test(accept) && !accept.includes('text/html');
}

function namedClient(req: FastifyRequest): string | undefined {
  return namedClientId(req.headers.authorization, params(req));
}

const THIRD_PARTY_COOKIE_SCRIPT = 'window.parent.postMessage("unsupported", "*");';
const THIRD_PARTY_COOKIE_PAGE = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Third-party cookie check</title></head>
<body><script>${THIRD_PARTY_COOKIE_SCRIPT}</script></body></html>`;
/** Framed by any application (keycloak-js embeds it); it holds nothing and does nothing but post one word. */
const THIRD_PARTY_COOKIE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-cache',
  'content-security-policy': `default-src 'none'; script-src 'sha256-${createHash('sha256').update(THIRD_PARTY_COOKIE_SCRIPT).digest('base64')}'; frame-ancestors *; base-uri 'none'`,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * The library's refusals (an unknown or expired interaction, a request it will not take) are the user's to start
 * again. Anything else is a fault: logged under the request id and answered as one, never passed off as an expired
 * sign-in. The page's correlation id is the response's x-request-id, the id the logs carry.
 */
function interactionError(rt: RealmRuntime, req: FastifyRequest, reply: FastifyReply, e: unknown, logger: IdpDeps['logger']) {
  if (reply.raw.headersSent) return;
  if (e instanceof oidcErrors.OIDCProviderError && (e as { statusCode: number }).statusCode < 500) {
    const u = { ...UNSUPPORTED.unknown_endpoint, feature: 'interaction', status: 400, oauthError: 'invalid_request', description: 'the sign-in session expired or is invalid; start again' };
    reply.raw.writeHead(400, PAGE_HEADERS);
    reply.raw.end(errorPageHtml(profileErrorBody(u, rt.config.profile_version, req.id), rt.theme));
    return;
  }
  const sealed = isSealedProblem(e);
  if (!sealed) logger?.error({ err: String(e), realm: rt.name, request_id: req.id }, 'identity provider: a sign-in page failed');
  reply.raw.writeHead(sealed ? 503 : 500, { ...PAGE_HEADERS, ...(sealed ? { 'retry-after': SEALED_RETRY_AFTER } : {}) });
  reply.raw.end(
    messagePage(
      rt.theme,
      sealed ? 'Temporarily unavailable' : 'Sign-in failed',
      sealed ? 'Signing in is not possible right now. Try again in a few minutes.' : `Something went wrong on our side. If it keeps happening, give your administrator this reference: ${req.id}.`,
    ),
  );
}
