// privacyIDEA as the MFA authority (KeyCape §6.4, §14.3 Path 3): a client of privacyIDEA's validation API, written
// from the API documentation of privacyIDEA 3.13 (the docstrings of privacyidea/api/validate.py and auth.py that
// the published REST docs are built from; doc/tokens/authentication_modes.rst for the challenge flows):
//   POST /validate/check              user + realm + pass, or serial; transaction_id answers a challenge
//   POST /validate/triggerchallenge   admin JWT in PI-Authorization; result.value = number of challenges
//   GET  /validate/polltransaction    transaction_id → value true once an out-of-band challenge is answered;
//                                     then /validate/check with pass "" finalises (privacyIDEA's policies apply)
//   POST /auth                        username + password → result.value.token (JWT, role admin)
// Every reply is {jsonrpc "2.0", result {status, value, authentication?} | {status false, error {code, message}},
// detail, id, version, time}. `status: false` is a server-side error, `value: false` is a refusal: the two are
// never mixed up here. Fail closed: anything but a well-formed, self-consistent answer throws
// MfaAuthorityUnavailableError. The OTP, PIN, passwords, JWTs and transaction ids are never logged or put in errors.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import {
  type MfaAuthority,
  MfaAuthorityUnavailableError,
  type MfaChallengeOption,
  type MfaOperation,
  type MfaPollResult,
  type MfaResult,
  type MfaUnavailableReason,
  type MfaUser,
  privacyIdeaSerials,
} from './authority.ts';
import type { PrivacyIdeaConfig } from './config.ts';

const MAX_REPLY = 1 << 20;
/** Longest `pass` Keyward forwards (PIN + OTP); anything longer is refused locally. */
const MAX_PASS = 256;
/** The admin JWT is renewed this long before it expires. */
const TOKEN_RENEW_MS = 60_000;
/** privacyIDEA error codes that only check_auth_token raises (missing, undecodable, expired token; wrong role). */
const ADMIN_TOKEN_ERRORS = new Set([403, 4033, 4304, 4305]);

export interface MfaLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

// ---- privacyIDEA's response document -------------------------------------------------------------------------
// Unknown fields are allowed (privacyIDEA adds some in every release); the ones read here are checked.
const text = z.string().nullish();
const challengeSchema = z.object({
  transaction_id: z.string().min(1),
  serial: text,
  type: text,
  message: text,
  client_mode: text,
});
const detailSchema = z
  .object({
    message: text,
    serial: text,
    type: text,
    transaction_id: text,
    multi_challenge: z.array(challengeSchema).nullish(),
    challenge_status: text,
  })
  .nullish();
const envelopeSchema = z.object({
  jsonrpc: z.literal('2.0'),
  result: z.discriminatedUnion('status', [
    z.object({ status: z.literal(true), value: z.unknown(), authentication: z.enum(['ACCEPT', 'REJECT', 'CHALLENGE', 'DECLINED']).optional() }),
    z.object({ status: z.literal(false), error: z.object({ code: z.number().int(), message: z.string() }) }),
  ]),
  detail: detailSchema,
});
type Envelope = z.infer<typeof envelopeSchema>;
type OkEnvelope = Envelope & { result: { status: true } };
type Detail = NonNullable<z.infer<typeof detailSchema>>;

interface Reply {
  http: number;
  env: Envelope;
  ms: number;
}

interface FailExtra {
  http?: number | undefined;
  code?: number | undefined;
  ms?: number | undefined;
}

class ConnectTimeout extends Error {}
class ReplyTooLarge extends Error {}

/** Node's TLS and certificate verification error codes. */
const TLS_ERROR = /^(ERR_SSL_|ERR_TLS_|ERR_OSSL_|UNABLE_TO_|CERT_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE)/;

function readOrThrow(file: string, field: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`mfa.privacyidea.${field}: cannot read ${file}: ${(err as Error).message}`);
  }
}

function envOrThrow(env: NodeJS.ProcessEnv, name: string, field: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new Error(`mfa.privacyidea.${field}: environment variable ${name} is not set`);
  return v;
}

export interface PrivacyIdeaAuthorityOptions {
  /** Where password_env and api_key_env are read, once, at construction (default process.env). */
  env?: NodeJS.ProcessEnv | undefined;
  logger?: MfaLogger | undefined;
}

export class PrivacyIdeaAuthority implements MfaAuthority {
  readonly kind = 'privacyidea';
  readonly #cfg: PrivacyIdeaConfig;
  readonly #base: URL;
  readonly #agent: https.Agent;
  readonly #logger: MfaLogger | undefined;
  readonly #apiKey: string | undefined;
  readonly #servicePassword: string | undefined;
  #adminToken: { token: string; renewAt: number } | undefined;
  #adminLogin: Promise<string> | undefined;

  constructor(cfg: PrivacyIdeaConfig, opts: PrivacyIdeaAuthorityOptions = {}) {
    this.#cfg = cfg;
    this.#base = new URL(cfg.url.endsWith('/') ? cfg.url : `${cfg.url}/`);
    this.#logger = opts.logger;
    const env = opts.env ?? process.env;
    this.#apiKey = cfg.api_key_env ? envOrThrow(env, cfg.api_key_env, 'api_key_env') : undefined;
    this.#servicePassword = cfg.service_account ? envOrThrow(env, cfg.service_account.password_env, 'service_account.password_env') : undefined;
    // No keep-alive: a pooled socket the server has already closed would fail a check that must not be retried;
    // a fresh connection per check also puts every check under the connect timeout.
    this.#agent = new https.Agent({
      keepAlive: false,
      ...(cfg.ca_file ? { ca: readOrThrow(cfg.ca_file, 'ca_file') } : {}),
      ...(cfg.cert_file ? { cert: readOrThrow(cfg.cert_file, 'cert_file') } : {}),
      ...(cfg.key_file ? { key: readOrThrow(cfg.key_file, 'key_file') } : {}),
    });
  }

  // ---- MfaAuthority --------------------------------------------------------------------------------------------

  async check(user: MfaUser, code: string): Promise<MfaResult> {
    // An empty pass would start challenges (or hit a passthru policy): that is startChallenge's job, not a check.
    if (code === '' || code.length > MAX_PASS) return reject('rejected', undefined);
    const pinned = this.#pinnedSerial(user);
    const reply = await this.#call('check', 'POST', 'validate/check', this.#userParams(user, pinned, { pass: code }), this.#apiKey, [code]);
    return this.#enrolledOnly(user, pinned, interpretCheck(this.#ok('check', reply, [code]), 'check', this.#failFor(reply)));
  }

  async startChallenge(user: MfaUser): Promise<MfaResult> {
    const pinned = this.#pinnedSerial(user);
    let result: MfaResult;
    if (this.#cfg.challenge_trigger === 'triggerchallenge') {
      result = await this.#triggerChallenge(user, pinned);
    } else {
      // privacyIDEA's documented alternative: /validate/check with the (empty) PIN of a challenge-response token.
      const reply = await this.#call('start_challenge', 'POST', 'validate/check', this.#userParams(user, pinned, { pass: '' }), this.#apiKey, []);
      result = interpretCheck(this.#ok('start_challenge', reply, []), 'start_challenge', this.#failFor(reply));
      if (result.outcome === 'reject') result = { ...result, reason: 'no_challenge' };
    }
    return this.#enrolledOnly(user, pinned, result);
  }

  async answerChallenge(user: MfaUser, transactionId: string, code: string): Promise<MfaResult> {
    if (transactionId === '' || code.length > MAX_PASS) return reject('rejected', undefined);
    const pinned = this.#pinnedSerial(user);
    const params = this.#userParams(user, pinned, { pass: code, transaction_id: transactionId });
    const reply = await this.#call('answer_challenge', 'POST', 'validate/check', params, this.#apiKey, [code, transactionId]);
    return this.#enrolledOnly(user, pinned, interpretCheck(this.#ok('answer_challenge', reply, [code, transactionId]), 'answer_challenge', this.#failFor(reply)));
  }

  async poll(user: MfaUser, transactionId: string): Promise<MfaPollResult> {
    if (transactionId === '') return reject('rejected', undefined);
    const query = new URLSearchParams({ transaction_id: transactionId });
    const reply = await this.#call('poll', 'GET', `validate/polltransaction?${query}`, undefined, this.#apiKey, [transactionId]);
    const env = this.#ok('poll', reply, [transactionId]);
    const fail = this.#failFor(reply);
    const value = env.result.value;
    const status = env.detail?.challenge_status ?? undefined;
    if (typeof value !== 'boolean') throw fail('poll', 'malformed', 'result.value of polltransaction is not a boolean');
    if (value) {
      if ((status !== undefined && status !== 'accept') || (env.result.authentication !== undefined && env.result.authentication !== 'ACCEPT')) {
        throw fail('poll', 'malformed', 'polltransaction answered true with a non-accepting status');
      }
      // Answered on the phone. privacyIDEA says the plugin *must* finalise with /validate/check so that its
      // authentication and authorization policies are applied; only that answer counts.
      const pinned = this.#pinnedSerial(user);
      const params = this.#userParams(user, pinned, { pass: '', transaction_id: transactionId });
      const fin = await this.#call('poll', 'POST', 'validate/check', params, this.#apiKey, [transactionId]);
      const result = this.#enrolledOnly(user, pinned, interpretCheck(this.#ok('poll', fin, [transactionId]), 'poll', this.#failFor(fin)));
      if (result.outcome === 'challenge') {
        this.#logger?.warn({ authority: 'privacyidea', operation: 'poll' }, 'privacyIDEA asked for a further challenge after a push: refused');
        return { outcome: 'reject', reason: 'rejected', serial: undefined, tokenType: undefined, authorityMessage: 'further challenge after poll' };
      }
      return result;
    }
    if (status === undefined || status === 'pending') {
      if (env.result.authentication === 'DECLINED') return reject('declined', env.detail);
      return { outcome: 'pending' };
    }
    // "declined" (3.13), "cancelled" and whatever refusal later versions add: the challenge will not be answered.
    return reject(status === 'declined' ? 'declined' : 'rejected', env.detail);
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }

  // ---- privacyIDEA calls ---------------------------------------------------------------------------------------

  async #triggerChallenge(user: MfaUser, pinned: string | undefined): Promise<MfaResult> {
    const params = this.#userParams(user, pinned, {});
    let token = await this.#serviceToken(false);
    let reply = await this.#call('start_challenge', 'POST', 'validate/triggerchallenge', params, token, []);
    // An expired or revoked admin JWT is refused by check_auth_token before any challenge is created, so one
    // fresh login and one repeat cannot send a second SMS.
    if (reply.env.result.status === false && ADMIN_TOKEN_ERRORS.has(reply.env.result.error.code)) {
      token = await this.#serviceToken(true);
      reply = await this.#call('start_challenge', 'POST', 'validate/triggerchallenge', params, token, []);
    }
    const env = this.#ok('start_challenge', reply, []);
    const fail = this.#failFor(reply);
    const count = env.result.value;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
      throw fail('start_challenge', 'malformed', 'result.value of triggerchallenge is not a count');
    }
    if (count === 0) return { ...reject('no_challenge', env.detail) };
    const challenge = challengeFrom(env.detail, 'start_challenge', fail);
    if (challenge.challenges.length !== count) throw fail('start_challenge', 'malformed', 'triggerchallenge count does not match its challenges');
    return challenge;
  }

  /** An admin JWT for the service account, cached until shortly before it expires; one login at a time. */
  #serviceToken(renew: boolean): Promise<string> {
    if (renew) this.#adminToken = undefined;
    const cached = this.#adminToken;
    if (cached && cached.renewAt > Date.now()) return Promise.resolve(cached.token);
    this.#adminLogin ??= this.#login().finally(() => (this.#adminLogin = undefined));
    return this.#adminLogin;
  }

  async #login(): Promise<string> {
    const sa = this.#cfg.service_account;
    const password = this.#servicePassword;
    if (!sa || password === undefined) throw this.#fail('service_auth', 'service_auth_failed', 'no service account is configured');
    const params = new URLSearchParams({ username: sa.username, password });
    if (sa.realm) params.set('realm', sa.realm);
    const reply = await this.#call('service_auth', 'POST', 'auth', params, undefined, [password]);
    if (reply.env.result.status === false) {
      const { code } = reply.env.result.error;
      // 401 / 403x: the credentials (or the account's rights) were refused, not a server fault.
      if (reply.http === 401 || String(code).startsWith('403')) {
        throw this.#fail('service_auth', 'service_auth_failed', `POST /auth refused the service account (error ${code})`, { http: reply.http, code, ms: reply.ms });
      }
    }
    const env = this.#ok('service_auth', reply, [password]);
    const fail = this.#failFor(reply);
    const value = z.object({ token: z.string().min(1), role: z.string() }).safeParse(env.result.value);
    if (!value.success) {
      // e.g. value false with multi_challenge: the service account itself has a second factor.
      throw fail('service_auth', 'service_auth_failed', 'POST /auth gave no token (does the service account need a second factor?)');
    }
    if (value.data.role !== 'admin') throw fail('service_auth', 'service_auth_failed', `the service account has role ${value.data.role}, not admin`);
    let renewAt = Date.now() + 5 * 60_000;
    try {
      const { exp } = decodeJwt(value.data.token);
      // Read, not verified: privacyIDEA verifies its own token; Keyward only needs to know when to renew it.
      if (typeof exp === 'number') renewAt = exp * 1000 - TOKEN_RENEW_MS;
    } catch {
      // Not a JWT we can read: renew after five minutes.
    }
    this.#adminToken = { token: value.data.token, renewAt };
    return value.data.token;
  }

  // ---- helpers -------------------------------------------------------------------------------------------------

  #pinnedSerial(user: MfaUser): string | undefined {
    const serials = privacyIdeaSerials(user);
    return serials.length === 1 ? serials[0] : undefined;
  }

  #userParams(user: MfaUser, serial: string | undefined, extra: Record<string, string>): URLSearchParams {
    const p = new URLSearchParams({ user: user.username });
    if (this.#cfg.realm) p.set('realm', this.#cfg.realm);
    // With user and serial, privacyIDEA checks that the token belongs to the user ("Given serial does not belong").
    if (serial) p.set('serial', serial);
    for (const [k, v] of Object.entries(extra)) p.set(k, v);
    return p;
  }

  /** Serial numbers are the canonical enrolment references: with any on record, no other token satisfies a check. */
  #enrolledOnly(user: MfaUser, pinned: string | undefined, result: MfaResult): MfaResult {
    const serials = privacyIdeaSerials(user);
    if (serials.length === 0) return result;
    if (result.outcome === 'accept') {
      // privacyIDEA enforced a pinned serial itself; otherwise the accepting serial must be reported and on record.
      const ok = result.serial !== undefined ? serials.includes(result.serial) : pinned !== undefined;
      if (ok) return result;
      this.#logger?.warn({ authority: 'privacyidea', serial: result.serial, user: user.id }, 'privacyIDEA accepted a token that is not an enrolment reference of the user');
      return { outcome: 'reject', reason: 'not_enrolled', serial: result.serial, tokenType: result.tokenType, authorityMessage: undefined };
    }
    if (result.outcome === 'challenge') {
      const challenges = result.challenges.filter((c) => c.serial !== undefined && serials.includes(c.serial));
      if (challenges.length === 0) return { outcome: 'reject', reason: 'not_enrolled', serial: undefined, tokenType: undefined, authorityMessage: undefined };
      return { ...result, challenges, interactive: challenges.some((c) => c.clientMode === 'interactive'), poll: challenges.some((c) => c.clientMode === 'poll') };
    }
    return result;
  }

  readonly #fail = (operation: MfaOperation, reason: MfaUnavailableReason, detail: string, extra: FailExtra = {}) => {
    const { http, code, ms = 0 } = extra;
    const err = new MfaAuthorityUnavailableError({ authority: 'privacyidea', operation, reason, detail, httpStatus: http, authorityErrorCode: code, durationMs: ms });
    this.#logger?.error({ authority: 'privacyidea', operation, reason, http_status: http, authority_error_code: code, duration_ms: ms }, 'MFA authority unavailable');
    return err;
  };

  /** #fail with the HTTP status and duration of one reply. */
  #failFor(reply: Reply): Fail {
    return (operation, reason, detail) => this.#fail(operation, reason, detail, { http: reply.http, ms: reply.ms });
  }

  /** A successful document, or MfaAuthorityUnavailableError: `status: false` is privacyIDEA's error, never a "no". */
  #ok(operation: MfaOperation, reply: Reply, secrets: readonly string[]): OkEnvelope {
    const { env, http, ms } = reply;
    if (env.result.status === false) {
      const { code, message } = env.result.error;
      throw this.#fail(operation, 'error_response', `privacyIDEA error ${code}: ${scrub(message, secrets)}`, { http, code, ms });
    }
    if (http < 200 || http > 299) throw this.#fail(operation, 'http_status', `HTTP ${http} with a successful document`, { http, ms });
    return env as OkEnvelope;
  }

  /**
   * One HTTP exchange; parses privacyIDEA's document. Never retried: a /validate/check that timed out may have
   * been counted (fail counter, used OTP, SMS sent).
   */
  async #call(operation: MfaOperation, method: 'GET' | 'POST', path: string, params: URLSearchParams | undefined, authorization: string | undefined, secrets: readonly string[]): Promise<Reply> {
    const startedAt = Date.now();
    let raw: { status: number; body: string };
    try {
      raw = await this.#exchange(method, new URL(path, this.#base), params?.toString(), authorization);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const reason: MfaUnavailableReason =
        err instanceof ConnectTimeout
          ? 'connect_timeout'
          : err instanceof ReplyTooLarge
            ? 'malformed'
            : e.name === 'AbortError' || e.name === 'TimeoutError'
              ? 'timeout'
              : TLS_ERROR.test(e.code ?? '')
                ? 'tls'
                : 'unreachable';
      throw this.#fail(operation, reason, `${e.code ?? e.name}: ${scrub(e.message, secrets)}`, { ms: Date.now() - startedAt });
    }
    const ms = Date.now() - startedAt;
    let parsed: Envelope | undefined;
    try {
      const r = envelopeSchema.safeParse(JSON.parse(raw.body));
      if (r.success) parsed = r.data;
    } catch {
      // not JSON
    }
    if (!parsed) {
      if (raw.status < 200 || raw.status > 299) throw this.#fail(operation, 'http_status', `HTTP ${raw.status} without a privacyIDEA document`, { http: raw.status, ms });
      throw this.#fail(operation, 'malformed', 'the reply is not a privacyIDEA response document', { http: raw.status, ms });
    }
    return { http: raw.status, env: parsed, ms };
  }

  #exchange(method: 'GET' | 'POST', url: URL, body: string | undefined, authorization: string | undefined): Promise<{ status: number; body: string }> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'Keyward' };
    if (body !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    if (authorization) headers['pi-authorization'] = authorization;
    return new Promise((resolve, reject) => {
      let connectTimer: NodeJS.Timeout | undefined;
      const req = https.request(url, { method, agent: this.#agent, headers, signal: AbortSignal.timeout(this.#cfg.timeout_ms) }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_REPLY) req.destroy(new ReplyTooLarge('reply too large'));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('socket', (socket) => {
        const tls = socket as TLSSocket;
        connectTimer = setTimeout(() => req.destroy(new ConnectTimeout('connect and TLS handshake took too long')), this.#cfg.connect_timeout_ms);
        tls.once('secureConnect', () => clearTimeout(connectTimer));
      });
      req.on('error', (err) => {
        clearTimeout(connectTimer);
        reject(err);
      });
      req.on('close', () => clearTimeout(connectTimer));
      req.end(body);
    });
  }
}

// ---- interpreting answers --------------------------------------------------------------------------------------

type Fail = (operation: MfaOperation, reason: MfaUnavailableReason, detail: string, extra?: FailExtra) => MfaAuthorityUnavailableError;

function reject(reason: Extract<MfaResult, { outcome: 'reject' }>['reason'], detail: Detail | null | undefined): Extract<MfaResult, { outcome: 'reject' }> {
  return { outcome: 'reject', reason, serial: detail?.serial ?? undefined, tokenType: detail?.type ?? undefined, authorityMessage: detail?.message ?? undefined };
}

function challengeFrom(detail: Detail | null | undefined, operation: MfaOperation, fail: Fail): Extract<MfaResult, { outcome: 'challenge' }> {
  const list = detail?.multi_challenge ?? [];
  const transactionId = list[0]?.transaction_id ?? detail?.transaction_id ?? undefined;
  if (list.length === 0 || !transactionId) throw fail(operation, 'malformed', 'a challenge without multi_challenge / transaction_id');
  // privacyIDEA gives all challenges of one request the same transaction id; anything else is not its answer.
  if (list.some((c) => c.transaction_id !== transactionId)) throw fail(operation, 'malformed', 'challenges with different transaction ids');
  const challenges: MfaChallengeOption[] = list.map((c) => ({
    serial: c.serial ?? undefined,
    type: c.type ?? undefined,
    message: c.message ?? '',
    // Releases before client_mode existed: push (and tiqr) are polled, everything else is typed in.
    clientMode: c.client_mode ?? (c.type === 'push' || c.type === 'tiqr' ? 'poll' : 'interactive'),
  }));
  return {
    outcome: 'challenge',
    transactionId,
    challenges,
    interactive: challenges.some((c) => c.clientMode === 'interactive'),
    poll: challenges.some((c) => c.clientMode === 'poll'),
  };
}

/**
 * Maps a /validate/check answer. `result.authentication` (privacyIDEA ≥ 3.x) decides, and must agree with
 * `result.value` and the challenges; without it, the rule privacyIDEA uses to compute it (prepare_result) is applied.
 */
function interpretCheck(env: OkEnvelope, operation: MfaOperation, fail: Fail): MfaResult {
  const value = env.result.value;
  if (typeof value !== 'boolean') throw fail(operation, 'malformed', 'result.value of validate/check is not a boolean');
  const challenges = env.detail?.multi_challenge ?? [];
  const authentication = env.result.authentication ?? (value && challenges.length === 0 ? 'ACCEPT' : challenges.length > 0 ? 'CHALLENGE' : 'REJECT');
  switch (authentication) {
    case 'ACCEPT':
      if (!value || challenges.length > 0) throw fail(operation, 'malformed', 'ACCEPT contradicts result.value or the challenges');
      return { outcome: 'accept', serial: env.detail?.serial ?? undefined, tokenType: env.detail?.type ?? undefined };
    case 'CHALLENGE':
      if (value) throw fail(operation, 'malformed', 'CHALLENGE with result.value true');
      return challengeFrom(env.detail, operation, fail);
    case 'REJECT':
      // value true with REJECT happens only with privacyIDEA's autoassign policy; ambiguous, so not a pass.
      if (value) throw fail(operation, 'malformed', 'REJECT with result.value true');
      return reject('rejected', env.detail);
    case 'DECLINED':
      if (value) throw fail(operation, 'malformed', 'DECLINED with result.value true');
      return reject('declined', env.detail);
  }
}

/** Removes values that must never reach a log or an error (the OTP, a password, a transaction id) from a text. */
function scrub(s: string, secrets: readonly string[]): string {
  let out = s;
  for (const v of secrets) if (v.length > 0) out = out.split(v).join('[redacted]');
  return out.slice(0, 300);
}
