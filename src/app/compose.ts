// The composition root: turns a validated configuration into running infrastructure and the app.
// Everything here is wiring; behaviour lives in the modules it wires.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createAuditTrail, type AuditTrail } from '../audit/trail.ts';
import { auditRoutes } from '../audit/routes.ts';
import type { AuditConfig } from '../audit/config.ts';
import { generateSigningKeyFile } from '../audit/keys.ts';
import { createAuthenticator, generateBootstrapToken } from '../authn/index.ts';
import { authnConfigSchema, type LeafAuthnConfig } from '../authn/config.ts';
import { idpSettings } from '../idp/config.ts';
import { DEV_REALM, DEV_RESOURCE, devIdpConfig } from '../idp/dev.ts';
import type { MountedIdp } from '../idp/mount.ts';
import type { Authenticator } from '../authn/types.ts';
import { createPdp } from '../authz/index.ts';
import type { KeywardConfig } from '../config/index.ts';
import { productionProblems } from '../config/production.ts';
import type { OperationContext } from '../authn/context.ts';
import { SealManager } from '../keys/seal/index.ts';
import { KeyService } from '../keys/service.ts';
import { ProviderSet, providersPreflight } from '../keys/providers/index.ts';
import { SystemService } from '../keys/system.ts';
import { openStore } from '../store/open.ts';
import { LeaderLease, soleLeader, type Leadership } from '../store/leader.ts';
import type { AuditChainHead, AuditChainRepository, Store } from '../store/types.ts';
import { authorizationDeps, buildApp } from './app.ts';
import type { GrpcServer } from '../grpc/server.ts';
import { RefusalLedger } from '../audit/refusals.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { createLogger } from './logger.ts';
import { Metrics } from './metrics.ts';
import { httpsOptions, type Listener } from './listener.ts';
import { acquireWriterLocks } from './writer-locks.ts';

export interface Keyward {
  app: FastifyInstance;
  config: KeywardConfig;
  logger: Logger;
  store: Store;
  seal: SealManager;
  keys: KeyService;
  audit: AuditTrail;
  /** The gRPC transport, when server.grpc is configured. */
  grpc?: GrpcServer | undefined;
  /** Dev mode only: the bootstrap admin token printed at start. */
  devToken?: string | undefined;
  /** Dev mode only: the identity provider's quickstart client. */
  devClient?: MountedIdp['devClient'];
  reload(): Promise<string[]>;
  close(): Promise<void>;
}

export interface ComposeOptions {
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  logger?: Logger;
  /** Where the stdout audit sink writes (tests capture it). */
  auditStdout?: NodeJS.WritableStream;
  /** The socket `keyward serve` bound before anything else (absent: the app is only inject()ed or listen()ed later). */
  listener?: Listener;
}

const DEV_TOKEN_ENV = 'KEYWARD_DEV_BOOTSTRAP_TOKEN_HASH';

/** Internal operations (the release sweeper) act as this principal. */
const systemContext = (): OperationContext => ({
  principal: { id: 'keyward', type: 'service', authMethod: 'internal', permissions: [], attributes: {} },
  requestId: randomUUID(),
  component: 'release-sweeper',
});

export async function createKeyward(config: KeywardConfig, opts: ComposeOptions = {}): Promise<Keyward> {
  const env = opts.env ?? process.env;
  const clock = opts.clock ?? systemClock;
  // With a stdout audit sink, stdout is the audit stream: logs go to stderr so the two never mix.
  const stdoutAudit = config.audit?.sinks.some((k) => k.type === 'stdout') === true;
  const logger = opts.logger ?? createLogger({ level: config.logging.level, ...(stdoutAudit ? { destination: pino.destination({ fd: 2, sync: false }) } : {}) });
  const dev = config.mode === 'dev';

  const { errors, warnings } = productionProblems(config);
  if (errors.length > 0) throw new Error(`refusing to start in production mode:\n  ${errors.join('\n  ')}`);
  for (const w of warnings) logger.warn(w);

  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch((e: unknown) => logger.error({ err: String(e) }, 'error while closing'));
  };
  try {
    const instanceId = config.server.instance_id ?? hostname();
    const auditCfg = auditConfig(config);
    // Before anything is written: a second instance with this configuration stops here.
    const locks = await acquireWriterLocks(config, auditCfg, instanceId, logger);
    closers.push(() => locks.release());

    const store = await openStore(config.storage, { logger });
    closers.push(() => store.close());
    // Instances sharing a PostgreSQL database: one runs the once-only background jobs (leader.ts), and each hears
    // of the others' changes to drop what it cached (changes.ts). SQLite has one process.
    const leadership: Leadership = config.storage.type === 'postgres'
      ? await LeaderLease.start({ url: config.storage.url, schema: config.storage.schema }, 'background-jobs', logger)
      : soleLeader;
    closers.push(() => leadership.close());
    await store.changes?.start(logger);

    // HSM providers connect on first use: one whose HSM is down at start answers 503 until it is back. What needs no
    // HSM (the PIN present, files readable, a PIN file owner-only in production) stops the start here.
    const preflight = providersPreflight(config.keys.providers, { env, production: !dev });
    if (preflight.length > 0) throw new Error(`key providers:\n  ${preflight.map((p) => `${p.path}: ${p.message}`).join('\n  ')}`);
    const providers = await ProviderSet.create(config.keys.providers, { env, production: !dev });
    closers.push(() => providers.close());

    const hsmSeal = config.seal.type === 'shamir' ? undefined : providers.require(config.seal.type).sealWrapper(config.seal.key_label);
    const seal = new SealManager({ repo: store.seal, clock, hsm: hsmSeal });
    await seal.load();
    if (dev) {
      // Only `keyward dev` gets here with mode dev; production never reads the dev unseal file (production.ts refuses it).
      await seal.autoInitAndUnsealFromFile(config.seal.dev_unseal_file);
    } else if (hsmSeal) {
      // Also when not initialised yet: another instance sharing the store may initialise it later.
      const retry = autoUnsealing(seal, config.seal.retry_interval, logger);
      closers.push(async () => retry.stop());
      await retry.first;
    }

    if (dev && auditCfg.signing_key_path && !existsSync(auditCfg.signing_key_path)) {
      mkdirSync(dirname(auditCfg.signing_key_path), { recursive: true, mode: 0o700 });
      await generateSigningKeyFile(auditCfg.signing_key_path);
      logger.warn({ path: auditCfg.signing_key_path }, 'dev mode: generated an audit signing key');
    }
    const headWriter = new DeferredHeadWriter(store.auditChain, logger);
    closers.push(() => headWriter.close());
    const audit = await createAuditTrail({
      config: auditCfg,
      chain: headWriter,
      settings: store.settings,
      clock,
      logger,
      production: !dev,
      instanceId,
      ack: locks.ack,
      writerLock: locks,
      ...(opts.auditStdout ? { stdout: opts.auditStdout } : {}),
    });
    closers.push(() => audit.close());
    // What records on behalf of requests records through this, so the error handler knows which refusals have an event.
    const recorder = new RefusalLedger(audit);

    const baseUrl = config.server.base_url ?? `${config.server.tls ? 'https' : 'http'}://${config.server.host}:${config.server.port}`;
    // Dev mode runs an identity provider unless the configuration has an idp section (`enabled: false` alone: none).
    const idpConfig = config.idp === undefined ? (dev ? devIdpConfig(baseUrl, config.authz.permission_prefix) : undefined) : idpSettings(config.idp);

    let devToken: string | undefined;
    let authnEnv = env;
    // Dev mode trusts the bootstrap token and, out of the box, the local identity provider's access tokens, in
    // front of the configured authenticators (which keep their own configuration paths in errors).
    const devMembers: LeafAuthnConfig[] = [];
    if (dev) {
      const t = generateBootstrapToken();
      devToken = t.token;
      authnEnv = { ...env, [DEV_TOKEN_ENV]: t.tokenHash };
      devMembers.push(authnConfigSchema.parse({ type: 'bootstrap_token', token_hash_env: DEV_TOKEN_ENV, max_age: 12 * 3600 }) as LeafAuthnConfig);
      if (idpConfig?.enabled && config.idp === undefined) {
        const issuer = `${idpConfig.base_url}/realms/${DEV_REALM}`;
        devMembers.push(authnConfigSchema.parse({
          type: 'jwt', issuer, audience: DEV_RESOURCE, jwks_url: `${issuer}/protocol/openid-connect/certs`,
          algorithms: ['ES256', 'RS256'], jwks_min_refresh_interval: 1,
          // The issuer is this server, which is not listening yet: the first token fetches the keys.
          jwks_fetch_at_start: false,
        }) as LeafAuthnConfig);
      }
    }
    const authenticator: Authenticator = await createAuthenticator(config.authn, {
      env: authnEnv,
      logger,
      clock,
      mode: config.mode,
      audit: recorder,
      permissionPrefix: config.authz.permission_prefix,
    }, devMembers);
    closers.push(async () => authenticator.close?.());
    const pdp = await createPdp(config.authz, { logger, env, production: !dev });
    closers.push(async () => pdp.close?.());

    const feed = store.changes;
    const metrics = new Metrics({
      sealed: () => seal.sealed,
      auditCheckpoints: () => audit.checkpoints(),
      ...(feed ? { leader: () => leadership.leader, invalidationListening: () => feed.listening } : {}),
    });
    const keys = new KeyService({
      keys: store.keys,
      seal,
      audit: recorder,
      clock,
      metrics,
      providers,
      config: {
        releaseGraceMs: config.keys.release_grace_period,
        cacheTtlMs: config.keys.cache_ttl,
        allowOverwrite: config.keys.allow_overwrite,
        maxPayloadBytes: config.keys.max_payload_bytes,
        defaultProvider: config.keys.default_provider,
      },
    });

    feed?.subscribe((change) => {
      metrics.invalidationReceived(change?.kind ?? 'all');
      if (change === undefined || change.kind === 'key') keys.changedElsewhere(change?.id);
    });
    const realmChanges = feed
      ? (listener: (realm: string | undefined) => void) => feed.subscribe((c) => (c === undefined || c.kind === 'realm') && listener(c?.id))
      : undefined;

    const reload = async (): Promise<string[]> => {
      const done: string[] = [];
      if (authenticator.reload) {
        await authenticator.reload();
        done.push('authn');
      }
      const p = pdp as { reload?: () => Promise<void> };
      if (p.reload) {
        await p.reload();
        done.push('authz');
      }
      return done;
    };
    const system = new SystemService({ seal, audit: recorder, reload, providers: () => keys.providerStatus() });

    // The provider (oidc-provider, koa, its pages) and its tables are loaded only when one is configured.
    let idp: MountedIdp | undefined;
    if (idpConfig?.enabled) {
      const [{ mountIdp }, { storeIdpRepositories }] = await Promise.all([import('../idp/mount.ts'), import('../idp/store/repositories.ts')]);
      idp = await mountIdp({
        config: idpConfig, repos: storeIdpRepositories(store), keys, audit: recorder, metrics: metrics.registry, logger, env, dev,
        permissionPrefix: config.authz.permission_prefix, sealChanges: (l) => seal.onSealChange(l), clock, realmChanges, leader: () => leadership.leader,
      });
    }

    const app = await buildApp({
      config,
      logger,
      clock,
      store,
      system,
      keys,
      audit: recorder,
      authenticator,
      pdp,
      metrics,
      ...(opts.listener ? { serverFactory: opts.listener.factory } : { https: httpsOptions(config) }),
      plugins: [async (a) => a.register(auditRoutes, { prefix: '/v1/audit', audit }), ...(idp ? [idp.plugin] : [])],
    });
    const listener = opts.listener;
    closers.push(async () => {
      // Fastify closes only servers it listened on itself: stop accepting here while it finishes what is in flight.
      const stopped = listener?.close();
      await app.close();
      await stopped;
    });

    // The key API over gRPC, through the same stages as REST. A port that cannot be bound fails the start.
    let grpc: GrpcServer | undefined;
    if (config.server.grpc) {
      const tls = httpsOptions(config);
      // @grpc/grpc-js and the proto loader only for a configured gRPC port.
      const { startGrpcServer } = await import('../grpc/server.ts');
      grpc = await startGrpcServer({
        logger,
        keys,
        audit: recorder,
        authentication: { authenticator, audit: recorder },
        authorization: authorizationDeps({ pdp, audit: recorder, config, clock, keys }),
        host: config.server.grpc.host ?? config.server.host,
        port: config.server.grpc.port,
        tls: tls && { key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: tls.requestCert },
        maxMessageBytes: config.server.body_limit,
        observe: (method, code, seconds) => metrics.grpcRequest(method, code, seconds),
      });
      closers.push(() => grpc!.close());
      logger.info({ port: grpc.port, tls: tls !== undefined }, 'gRPC key API listening');
    }

    const sweeper = setInterval(() => {
      if (seal.sealed || !leadership.leader) return;
      keys.sweepReleased(systemContext()).then(
        (ids) => ids.length > 0 && logger.info({ keys: ids }, 'released keys destroyed after their grace period'),
        (e: unknown) => logger.error({ err: String(e) }, 'release sweep failed'),
      );
    }, config.keys.sweep_interval);
    sweeper.unref();
    closers.push(async () => clearInterval(sweeper));

    return { app, config, logger, store, seal, keys, audit, grpc, devToken, devClient: idp?.devClient, reload, close: closeAll };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/**
 * HSM seal: unseal through the HSM now and, while the HSM cannot be reached or the seal is not initialised yet,
 * again every `intervalMs` until it can. Only until the first success: after that a `sys/seal` stays sealed until
 * someone unseals (an empty sys/unseal asks the HSM again). A root key wrapped for another seal, or an HSM key that no longer opens it, needs the
 * (recovery) shares: logged, not retried.
 */
function autoUnsealing(seal: SealManager, intervalMs: number, logger: Logger): { first: Promise<void>; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let waitingLogged = false;
  const again = () => {
    if (stopped) return;
    timer = setTimeout(() => void attempt(), intervalMs);
    timer.unref();
  };
  const attempt = async () => {
    timer = undefined;
    try {
      // currentStatus() reads the store for a seal initialised elsewhere and never races an init in this process.
      if (!(await seal.currentStatus()).initialized) {
        if (!waitingLogged) logger.info(`seal not initialised: it unseals through the HSM once sys/init has run (here or on another instance sharing the store); checking every ${intervalMs} ms`);
        waitingLogged = true;
        return again();
      }
      if (!seal.sealed) return;
      await seal.autoUnseal();
      logger.info('unsealed through the HSM seal');
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'hsm.unavailable' || code === 'storage.unavailable') {
        logger.warn({ err: String(e) }, `${code === 'hsm.unavailable' ? 'HSM seal' : 'storage'} unreachable; retrying in ${intervalMs} ms`);
        again();
      } else {
        logger.error({ code, err: String(e) }, 'HSM seal cannot unseal; unseal once with the (recovery) shares');
      }
    }
  };
  return {
    first: attempt(),
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/**
 * Dev mode without an audit section gets a signed file trail beside its SQLite file (./data by default), with a
 * key generated on first start.
 */
function auditConfig(config: KeywardConfig): AuditConfig {
  if (config.audit) return config.audit;
  if (config.mode !== 'dev') throw new Error('audit: production mode requires an audit section');
  const dir = config.storage.type === 'sqlite' ? dirname(config.storage.path) : './data';
  return {
    enabled: true,
    seal_in_worker: true,
    signing_key_path: join(dir, 'audit-signing-key.pem'),
    on_failure: 'deny',
    checkpoint_interval: 60,
    max_missed_checkpoints: 3,
    sinks: [{ type: 'file', path: join(dir, 'audit', 'audit.log'), max_bytes: 100 * 1024 * 1024, max_age_seconds: 86_400, fsync: true }],
  };
}

/**
 * Persists the audit chain head outside the key writes' transactions: the trail records events inside a commit
 * guard, where the store must not be called. The newest head is written from a timer started here (outside any
 * guard); on restart the trail reconciles a lagging head with the sinks' authentic tail. What every sink
 * acknowledged is not taken from this lagging head but from the acknowledgement state the trail's pump persists
 * before answering its callers (writer-locks.ts: beside the SQLite file, or on the chain lock's connection).
 */
class DeferredHeadWriter implements AuditChainRepository {
  readonly #repo: AuditChainRepository;
  readonly #logger: Logger;
  #pending: AuditChainHead | undefined;
  readonly #timer: NodeJS.Timeout;

  constructor(repo: AuditChainRepository, logger: Logger) {
    this.#repo = repo;
    this.#logger = logger;
    this.#timer = setInterval(() => void this.#flush(), 250);
    this.#timer.unref();
  }

  get(chainId: string) {
    return this.#repo.get(chainId);
  }

  async put(head: AuditChainHead): Promise<void> {
    this.#pending = head;
  }

  async #flush(): Promise<void> {
    const head = this.#pending;
    if (!head) return;
    this.#pending = undefined;
    try {
      await this.#repo.put(head);
    } catch (e) {
      this.#logger.warn({ err: String(e) }, 'audit chain head could not be persisted; will retry');
      this.#pending ??= head;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#flush();
  }
}
