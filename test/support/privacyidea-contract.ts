// A contract test server for privacyIDEA's validation and authentication API.
//
// privacyIDEA itself cannot run on these machines (it is a Python application installed from PyPI, and PyPI is not
// reachable here), so this server implements the request and response shapes of privacyIDEA 3.13 (tag v3.13.3) as
// published in its API documentation, which privacyIDEA generates from the docstrings of its sources. The shapes
// come from:
//   privacyidea/api/validate.py        /validate/check, /validate/triggerchallenge, /validate/polltransaction
//                                      (parameters, example responses, challenge_status accept|declined|pending)
//   privacyidea/api/auth.py            POST /auth (result.value.token, role), PI-Authorization (Authorization as
//                                      fallback), check_auth_token errors
//   privacyidea/api/lib/utils.py       send_result / send_error (jsonrpc, result, detail, id, version, time),
//                                      map_error_to_code (PrivacyIDEAError 400, AuthError 401, PolicyError 403,
//                                      ResourceNotFoundError 404, anything else 500 with code -500)
//   privacyidea/lib/utils/__init__.py  prepare_result: result.authentication ACCEPT|REJECT|CHALLENGE|DECLINED when id>1
//   privacyidea/lib/error.py           error codes (303 policy, 401 validate, 403x authentication, 601 not found,
//                                      902 database, 903 server, 904 user, 905 parameter)
//   privacyidea/lib/token.py           check_token_list: messages ("matching 1 tokens", "wrong otp value",
//                                      "wrong otp pin", "Found matching challenge", "Response did not match …"),
//                                      create_challenges_from_tokens (multi_challenge, messages, transaction_ids)
//   privacyidea/api/lib/prepolicy.py   api_key_required ("No valid API key was passed.")
//   doc/tokens/authentication_modes.rst  authenticate / challenge / outofband flows; the final /validate/check
//                                      with pass "" after polltransaction answered true
// It is a model of the contract, not of privacyIDEA: no policies beyond api_key_required, no PIN policies (the
// token PIN is compared as is), no fail counter, TOTP tokens with 6 digits / 30 s / SHA1 and privacyIDEA's default
// 180 s time window, challenges valid for 120 s (DefaultChallengeValidityTime).
// Scripted users and tokens: TOTP (real codes via otpauth, a used time step is refused again), SMS and e-mail
// challenge-response tokens (the "sent" codes land in `outbox`), push tokens answered or declined after N polls.
// Fault injection: silent (never answers), reset, 500, a proxy's 502 page, malformed JSON, a foreign JSON shape, status:false, and
// self-contradicting answers. Listens on 127.0.0.1 with TLS from the test PKI (optionally requiring a client
// certificate). `startSilentServer` accepts TCP and never speaks TLS (connect timeout tests).
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { Secret, TOTP } from 'otpauth';
import type { TestPki } from './certs.ts';

export const CONTRACT_VERSION = '3.13.3';

export interface ContractToken {
  serial: string;
  type: 'totp' | 'sms' | 'email' | 'push';
  /** Token PIN (privacyIDEA's otppin "token"); default empty. */
  pin?: string;
  /** Base32 seed of a TOTP token. */
  secret?: string;
  active?: boolean;
  /** Push: the phone answers at the Nth poll of the transaction (declines instead with `decline`). */
  push?: { answerAfterPolls: number; decline?: boolean };
}

export interface ContractUser {
  username: string;
  realm?: string;
  tokens: ContractToken[];
}

export interface ContractAdmin {
  username: string;
  password: string;
  realm?: string;
  role?: 'admin' | 'user';
}

export type ContractFault =
  | { kind: 'none' }
  /** Reads the request and never answers, until the client hangs up. */
  | { kind: 'silent' }
  | { kind: 'reset' }
  | { kind: 'http500' }
  | { kind: 'proxy502' }
  | { kind: 'malformed' }
  | { kind: 'foreign_json' }
  | { kind: 'status_false'; code: number; message: string; http: number }
  | { kind: 'accept_with_challenge' }
  | { kind: 'reject_with_value_true' }
  | { kind: 'huge' };

export interface ContractOptions {
  pki: TestPki;
  users: ContractUser[];
  admins?: ContractAdmin[];
  defaultRealm?: string;
  /** privacyIDEA's api_key_required policy: /validate/* needs a JWT with role "validate". */
  apiKeyRequired?: boolean;
  /** Require a client certificate signed by the test CA `pi-client-ca`. */
  requireClientCert?: boolean;
  adminTokenSeconds?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  authorization: string | undefined;
  contentType: string | undefined;
}

interface Challenge {
  transactionId: string;
  serial: string;
  code?: string;
  answered: boolean;
  declined: boolean;
  polls: number;
  expires: number;
}

class PiError extends Error {
  readonly id: number;
  readonly http: number;
  /** AuthError and PolicyError handlers send error.message; the generic handler sends str(error) = "ERR<id>: …". */
  readonly prefixed: boolean;
  readonly kind: 'auth' | 'policy' | 'generic' | 'not_found';
  constructor(kind: 'auth' | 'policy' | 'generic' | 'not_found', id: number, message: string) {
    super(message);
    this.kind = kind;
    this.id = id;
    this.http = { auth: 401, policy: 403, generic: 400, not_found: 404 }[kind];
    this.prefixed = kind === 'generic';
  }
}

const DEFAULT_VALIDITY_S = 120;
const TOTP_WINDOW = 6; // privacyIDEA's default timeWindow 180 s / timeStep 30 s

export class PrivacyIdeaContractServer {
  readonly url: string;
  readonly caFile: string;
  /** Present with requireClientCert. */
  readonly clientCertFile: string | undefined;
  readonly clientKeyFile: string | undefined;
  /** Every request, in order (the test's own record; the server is a test double). */
  readonly requests: RecordedRequest[] = [];
  /** SMS and e-mail messages "sent" to users. */
  readonly outbox: { serial: string; type: string; code: string }[] = [];
  fault: ContractFault = { kind: 'none' };
  /** Only requests to this path get the fault (default: all). */
  faultPath: string | undefined;
  /** The paths of the requests whose client hung up while the 'silent' fault held them, in order. */
  readonly hungUp: string[] = [];
  readonly #hangUpWaiters: Array<() => void> = [];

  readonly #server: https.Server;
  readonly #opts: ContractOptions;
  readonly #challenges = new Map<string, Challenge[]>();
  readonly #lastStep = new Map<string, number>();
  #jwtKey = randomBytes(32);

  private constructor(server: https.Server, opts: ContractOptions, url: string, files: { ca: string; cert?: string; key?: string }) {
    this.#server = server;
    this.#opts = opts;
    this.url = url;
    this.caFile = files.ca;
    this.clientCertFile = files.cert;
    this.clientKeyFile = files.key;
  }

  static async start(opts: ContractOptions): Promise<PrivacyIdeaContractServer> {
    const { pki } = opts;
    pki.ca('pi-ca');
    pki.leaf('pi-server', 'pi-ca', 'privacyidea.test', 'IP:127.0.0.1');
    let client: { cert: string; key: string } | undefined;
    if (opts.requireClientCert) {
      pki.ca('pi-client-ca');
      pki.leaf('pi-client', 'pi-client-ca', 'keyward');
      client = { cert: pki.path('pi-client.pem'), key: pki.path('pi-client.key') };
    }
    let self: PrivacyIdeaContractServer | undefined;
    const server = https.createServer(
      {
        key: readFileSync(pki.path('pi-server.key')),
        cert: readFileSync(pki.path('pi-server.pem')),
        ...(opts.requireClientCert ? { ca: readFileSync(pki.path('pi-client-ca.pem')), requestCert: true, rejectUnauthorized: true } : {}),
      },
      (req, res) => void self?.handle(req, res),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    self = new PrivacyIdeaContractServer(server, opts, url, { ca: pki.path('pi-ca.pem'), ...client });
    return self;
  }

  /** Stops listening and drops every connection: privacyIDEA is down. */
  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  /** A validate API key, as `pi-manage api createtoken -r validate` makes one. */
  async apiKey(): Promise<string> {
    return new SignJWT({ username: '', realm: '', role: 'validate', authtype: 'API' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setExpirationTime('365d')
      .sign(this.#jwtKey);
  }

  /** privacyIDEA's secret key changed (e.g. a restart with a new pi.cfg): every issued JWT is invalid. */
  rotateJwtKey(): void {
    this.#jwtKey = randomBytes(32);
  }

  /** The code the user received for a challenge of this serial (SMS / e-mail). */
  lastCode(serial: string): string | undefined {
    return this.outbox.filter((m) => m.serial === serial).at(-1)?.code;
  }

  countRequests(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  /** Settles once `n` clients in all have hung up on the 'silent' fault. */
  async hangUps(n: number): Promise<void> {
    while (this.hungUp.length < n) await new Promise<void>((r) => this.#hangUpWaiters.push(r));
  }

  // ---- HTTP -----------------------------------------------------------------------------------------------------

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://privacyidea.test');
    const body = await readBody(req);
    const params = parseParams(url, body, req.headers['content-type']);
    const authorization = header(req, 'pi-authorization') ?? header(req, 'authorization');
    this.requests.push({ method: req.method ?? '', path: url.pathname, params, authorization, contentType: req.headers['content-type'] });

    const fault = this.faultPath === undefined || this.faultPath === url.pathname ? this.fault : { kind: 'none' as const };
    if (fault.kind === 'silent') {
      await new Promise((r) => res.once('close', r));
      this.hungUp.push(url.pathname);
      for (const wake of this.#hangUpWaiters.splice(0)) wake();
      return;
    }
    if (res.destroyed) return;
    switch (fault.kind) {
      case 'reset':
        return void req.socket.destroy();
      case 'http500':
        return send(res, 500, sendError("division by zero", -500, null));
      case 'proxy502':
        res.writeHead(502, { 'content-type': 'text/html' });
        return void res.end('<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>');
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end('{"jsonrpc": "2.0", "result": {"status": true, "value": tr');
      case 'foreign_json':
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ ok: true, authenticated: true }));
      case 'status_false':
        return send(res, fault.http, sendError(fault.message, fault.code, null));
      case 'huge':
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(`{"jsonrpc":"2.0","detail":{"message":"${'x'.repeat(2 << 20)}"},"result":{"status":true,"value":true}}`);
      default:
    }

    try {
      const doc = await this.#route(req.method ?? 'GET', url.pathname, params, authorization);
      if (fault.kind === 'accept_with_challenge') {
        Object.assign(doc.result as object, { value: true, authentication: 'ACCEPT' });
        doc.detail = { ...(doc.detail as object), multi_challenge: [{ transaction_id: '1', serial: 'X', type: 'sms', message: '', client_mode: 'interactive' }] };
      }
      if (fault.kind === 'reject_with_value_true') Object.assign(doc.result as object, { value: true, authentication: 'REJECT' });
      send(res, 200, doc);
    } catch (err) {
      if (err instanceof PiError) return send(res, err.http, sendError(err.prefixed ? `ERR${err.id}: ${err.message}` : err.message, err.id, err.kind === 'auth' ? {} : null));
      if (err instanceof NotFound) {
        res.writeHead(404, { 'content-type': 'text/html' });
        return void res.end('<!doctype html><title>404 Not Found</title><h1>Not Found</h1>');
      }
      send(res, 500, sendError(String((err as Error).message), -500, null));
    }
  }

  async #route(method: string, path: string, p: Record<string, string>, authorization: string | undefined): Promise<Record<string, unknown>> {
    if (path === '/auth' && method === 'POST') return this.#auth(p);
    if (path === '/validate/check' && (method === 'POST' || method === 'GET')) {
      await this.#apiKeyRequired(authorization);
      return this.#check(p);
    }
    if (path === '/validate/triggerchallenge' && (method === 'POST' || method === 'GET')) {
      await this.#adminRequired(authorization);
      return this.#triggerChallenge(p);
    }
    const poll = /^\/validate\/polltransaction(?:\/([^/]+))?$/.exec(path);
    if (poll && method === 'GET') {
      await this.#apiKeyRequired(authorization);
      const tid = poll[1] ?? p.transaction_id;
      if (!tid) throw new PiError('generic', 905, "Missing parameter: 'transaction_id'");
      return this.#pollTransaction(tid);
    }
    throw new NotFound();
  }

  // ---- /auth ----------------------------------------------------------------------------------------------------

  async #auth(p: Record<string, string>): Promise<Record<string, unknown>> {
    if (!p.username) throw new PiError('auth', 4032, 'Authentication failure. Missing Username');
    const admin = (this.#opts.admins ?? []).find((a) => a.username === p.username && (a.realm ?? '') === (p.realm ?? ''));
    if (!admin || admin.password !== p.password) throw new PiError('auth', 4031, 'Authentication failure. Wrong credentials');
    const role = admin.role ?? 'admin';
    const token = await new SignJWT({ username: admin.username, realm: admin.realm ?? '', nonce: randomBytes(10).toString('hex'), role, authtype: 'password', rights: ['triggerchallenge'] })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setExpirationTime(`${this.#opts.adminTokenSeconds ?? 3600}s`)
      .sign(this.#jwtKey);
    return sendResult({ token, role, username: admin.username, realm: admin.realm ?? '', log_level: 20, rights: ['triggerchallenge'], menus: ['tokens'], auth: true }, 1, {});
  }

  async #verifyJwt(authorization: string | undefined): Promise<Record<string, unknown>> {
    if (!authorization) throw new PiError('auth', 4033, 'Authentication failure. Missing Authorization header.');
    try {
      const { payload } = await jwtVerify(authorization, this.#jwtKey, { algorithms: ['HS256'] });
      return payload;
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new PiError('auth', 4305, 'Authentication failure. Your token has expired: Signature has expired');
      throw new PiError('auth', 4304, `Authentication failure. Error decoding the Authorization token: ${(err as Error).message}`);
    }
  }

  async #adminRequired(authorization: string | undefined): Promise<void> {
    const claims = await this.#verifyJwt(authorization);
    if (claims.role !== 'admin') throw new PiError('auth', 403, "Authentication failure. You do not have the necessary role (['admin']) to access this resource!");
  }

  async #apiKeyRequired(authorization: string | undefined): Promise<void> {
    if (!this.#opts.apiKeyRequired) return;
    let claims: Record<string, unknown>;
    try {
      claims = authorization ? (await jwtVerify(authorization, this.#jwtKey, { algorithms: ['HS256'] })).payload : {};
      if (!authorization) throw new Error('none');
    } catch {
      throw new PiError('policy', 303, 'No valid API key was passed.');
    }
    if (claims.role !== 'validate') throw new PiError('policy', 303, 'A correct JWT was passed, but it was no API key.');
  }

  // ---- /validate ------------------------------------------------------------------------------------------------

  #user(name: string, realm: string | undefined): ContractUser {
    const r = realm || this.#opts.defaultRealm || 'defrealm';
    const u = this.#opts.users.find((x) => x.username === name && (x.realm ?? this.#opts.defaultRealm ?? 'defrealm') === r);
    if (!u) throw new PiError('generic', 904, 'The user can not be found in any resolver in this realm!');
    return u;
  }

  #check(p: Record<string, string>): Record<string, unknown> {
    if (!p.user && !p.serial) throw new PiError('generic', 905, 'You need to specify a serial, user or credential_id.');
    const user = p.user ? this.#user(p.user, p.realm) : undefined;
    let tokens: ContractToken[];
    if (p.serial) {
      const owner = this.#opts.users.find((u) => u.tokens.some((t) => t.serial === p.serial));
      const token = owner?.tokens.find((t) => t.serial === p.serial);
      if (user && owner !== user) throw new PiError('generic', 905, 'Given serial does not belong to given user!');
      if (!token) throw new PiError('not_found', 601, `The requested token could not be found.`);
      tokens = [token];
    } else {
      tokens = user?.tokens ?? [];
      if (tokens.length === 0) return sendResult(false, 2, { message: 'The user has no tokens assigned' });
    }
    const [value, detail] = this.#checkTokenList(tokens, p.pass ?? '', p.transaction_id ?? p.state);
    return sendResult(value, 2, detail);
  }

  /** check_token_list, reduced to the categories the token types here can fall into. */
  #checkTokenList(all: ContractToken[], pass: string, tid: string | undefined): [boolean, Record<string, unknown>] {
    const tokens = all.filter((t) => t.active !== false);
    if (tokens.length === 0) return [false, { message: 'There is no active and assigned token in this realm' }];
    const valid: { t: ContractToken; step: number }[] = [];
    const response: ContractToken[] = [];
    const request: ContractToken[] = [];
    const pinMatching: { t: ContractToken; replay: boolean }[] = [];
    const invalid: ContractToken[] = [];
    for (const t of tokens) {
      if (tid && this.#open(tid, t.serial).length > 0) response.push(t);
      else if (t.type !== 'totp' && pass === (t.pin ?? '')) request.push(t);
      else {
        const pin = pass.slice(0, Math.max(0, pass.length - 6));
        const otp = pass.length >= 6 ? pass.slice(-6) : '';
        if (pin !== (t.pin ?? '')) invalid.push(t);
        else if (t.type === 'totp') {
          const step = totpStep(t, otp);
          if (step !== null && step > (this.#lastStep.get(t.serial) ?? -1)) valid.push({ t, step });
          else pinMatching.push({ t, replay: step !== null });
        } else pinMatching.push({ t, replay: false });
      }
    }
    if (valid.length > 0) {
      for (const v of valid) this.#lastStep.set(v.t.serial, v.step);
      const detail: Record<string, unknown> = { message: `matching ${valid.length} tokens` };
      if (valid.length === 1) Object.assign(detail, { serial: valid[0]!.t.serial, type: valid[0]!.t.type, otplen: 6 });
      else detail.type = 'undetermined';
      return [true, detail];
    }
    if (response.length > 0) {
      for (const t of response) {
        if (this.#answers(t, tid!, pass)) {
          this.#challenges.delete(tid!);
          return [true, { serial: t.serial, message: 'Found matching challenge' }];
        }
      }
      if (response.length === 1) return [false, { serial: response[0]!.serial, type: response[0]!.type, message: 'Response did not match the challenge.' }];
      return [false, { message: `Response did not match for ${response.length} tokens.` }];
    }
    if (request.length > 0) return [false, this.#createChallenges(request)];
    if (pinMatching.length > 0) {
      const detail: Record<string, unknown> = { message: 'wrong otp value' };
      if (pinMatching.length === 1) {
        const { t, replay } = pinMatching[0]!;
        if (replay) detail.message = 'wrong otp value. previous otp used again';
        Object.assign(detail, { serial: t.serial, type: t.type, otplen: 6 });
      }
      return [false, detail];
    }
    if (invalid.length > 0) return [false, { message: 'wrong otp pin' }];
    return [false, { message: 'No suitable token found for authentication.' }];
  }

  #answers(t: ContractToken, tid: string, pass: string): boolean {
    for (const c of this.#open(tid, t.serial)) {
      if (t.type === 'totp') {
        const step = totpStep(t, pass);
        if (step !== null && step > (this.#lastStep.get(t.serial) ?? -1)) {
          this.#lastStep.set(t.serial, step);
          return true;
        }
      } else if (t.type === 'push') {
        if (c.answered && !c.declined) return true;
      } else if (c.code !== undefined && pass === c.code) return true;
    }
    return false;
  }

  #open(tid: string, serial?: string): Challenge[] {
    const now = Date.now();
    return (this.#challenges.get(tid) ?? []).filter((c) => c.expires > now && (serial === undefined || c.serial === serial));
  }

  /** create_challenges_from_tokens: one transaction id for all, multi_challenge plus the deprecated flat fields. */
  #createChallenges(tokens: ContractToken[]): Record<string, unknown> {
    const tid = Array.from({ length: 20 }, () => randomInt(10)).join('');
    const detail: Record<string, unknown> = { multi_challenge: [] };
    const messages: string[] = [];
    const list: Challenge[] = [];
    for (const t of tokens) {
      const c: Challenge = { transactionId: tid, serial: t.serial, answered: false, declined: false, polls: 0, expires: Date.now() + DEFAULT_VALIDITY_S * 1000 };
      let message: string;
      let clientMode = 'interactive';
      const info: Record<string, unknown> = {};
      if (t.type === 'sms' || t.type === 'email') {
        c.code = String(randomInt(1_000_000)).padStart(6, '0');
        this.outbox.push({ serial: t.serial, type: t.type, code: c.code });
        message = t.type === 'sms' ? 'Enter the OTP from the SMS:' : 'Enter the OTP from the Email';
      } else if (t.type === 'push') {
        message = 'Please confirm the authentication on your mobile device!';
        clientMode = 'poll';
        info.attributes = { hideResponseInput: true };
      } else {
        message = 'please enter otp: ';
      }
      list.push(c);
      messages.push(message);
      const challengeInfo = { ...info, transaction_id: tid, serial: t.serial, type: t.type, client_mode: clientMode, message };
      (detail.multi_challenge as unknown[]).push(challengeInfo);
      Object.assign(detail, challengeInfo);
    }
    this.#challenges.set(tid, list);
    detail.message = [...new Set(messages)].join(', ');
    detail.messages = messages;
    detail.transaction_ids = (detail.multi_challenge as { transaction_id: string }[]).map((c) => c.transaction_id);
    return detail;
  }

  #triggerChallenge(p: Record<string, string>): Record<string, unknown> {
    if (!p.user && !p.serial) throw new PiError('generic', 905, 'You need to specify a serial, user or credential_id.');
    const user = p.user ? this.#user(p.user, p.realm) : undefined;
    let tokens = user ? user.tokens : this.#opts.users.flatMap((u) => u.tokens);
    if (p.serial) tokens = tokens.filter((t) => t.serial === p.serial);
    if (p.type) tokens = tokens.filter((t) => t.type === p.type);
    tokens = tokens.filter((t) => t.active !== false);
    if (tokens.length === 0) return sendResult(0, 2, { messages: [], transaction_ids: [], multi_challenge: [] });
    const detail = this.#createChallenges(tokens);
    return sendResult((detail.multi_challenge as unknown[]).length, 2, detail);
  }

  #pollTransaction(tid: string): Record<string, unknown> {
    const open = this.#open(tid);
    for (const c of open) {
      const t = this.#opts.users.flatMap((u) => u.tokens).find((x) => x.serial === c.serial);
      if (t?.type === 'push' && t.push && !c.answered && !c.declined) {
        c.polls += 1;
        if (c.polls >= t.push.answerAfterPolls) {
          if (t.push.decline) c.declined = true;
          else c.answered = true;
        }
      }
    }
    if (open.some((c) => c.answered)) return sendResult(true, 2, { challenge_status: 'accept' });
    if (open.some((c) => c.declined)) return sendResult(false, 2, { challenge_status: 'declined' });
    return sendResult(false, 2, { challenge_status: 'pending' });
  }
}

class NotFound extends Error {}

function totpStep(t: ContractToken, otp: string): number | null {
  if (!t.secret || !/^[0-9]{6}$/.test(otp)) return null;
  const totp = new TOTP({ secret: Secret.fromBase32(t.secret), digits: 6, period: 30, algorithm: 'SHA1' });
  const delta = totp.validate({ token: otp, window: TOTP_WINDOW });
  return delta === null ? null : Math.floor(Date.now() / 30_000) + delta;
}

/** send_result → prepare_result, including result.authentication for id > 1. */
function sendResult(value: unknown, rid: number, details: Record<string, unknown>): Record<string, unknown> {
  const res: Record<string, unknown> = {
    jsonrpc: '2.0',
    result: { status: true, value } as Record<string, unknown>,
    version: `privacyIDEA ${CONTRACT_VERSION}`,
    versionnumber: CONTRACT_VERSION,
    id: rid,
    time: Date.now() / 1000,
  };
  if (Object.keys(details).length > 0) res.detail = { ...details, threadid: 140000000000000 + process.pid };
  if (rid > 1) {
    const mc = (details.multi_challenge as unknown[] | undefined)?.length;
    let authentication: string;
    if (value && value !== 'CHALLENGE' && !mc) authentication = 'ACCEPT';
    else if (value && value === 'CHALLENGE') authentication = 'CHALLENGE';
    else if (mc) authentication = 'CHALLENGE';
    else if (!value && details.challenge_status === 'declined') authentication = 'DECLINED';
    else authentication = 'REJECT';
    (res.result as Record<string, unknown>).authentication = authentication;
  }
  return res;
}

/** send_error. */
function sendError(message: string, code: number, details: Record<string, unknown> | null): Record<string, unknown> {
  return {
    jsonrpc: '2.0',
    detail: details && Object.keys(details).length > 0 ? { ...details, threadid: 140000000000000 + process.pid } : details,
    result: { status: false, error: { code, message } },
    version: `privacyIDEA ${CONTRACT_VERSION}`,
    id: 1,
    time: Date.now() / 1000,
  };
}

function send(res: ServerResponse, status: number, doc: Record<string, unknown>): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
  res.end(JSON.stringify(doc));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (s += c));
    req.on('end', () => resolve(s));
    req.on('error', () => resolve(s));
  });
}

/** get_all_params: query string and form values, then a JSON body on top. */
function parseParams(url: URL, body: string, contentType: string | undefined): Record<string, string> {
  const out: Record<string, string> = Object.fromEntries(url.searchParams);
  if (contentType?.startsWith('application/x-www-form-urlencoded')) Object.assign(out, Object.fromEntries(new URLSearchParams(body)));
  else if (body) {
    try {
      for (const [k, v] of Object.entries(JSON.parse(body) as Record<string, unknown>)) out[k] = String(v);
    } catch {
      // not JSON: ignored, as privacyIDEA does
    }
  }
  return out;
}

/** Accepts TCP connections and never answers: a TLS handshake with it never completes. */
export async function startSilentServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A fresh base32 TOTP seed and a way to produce the current code. */
export function totpSeed(): { secret: string; now: (offsetSteps?: number) => string } {
  const secret = new Secret({ size: 20 }).base32;
  const totp = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' });
  return { secret, now: (offsetSteps = 0) => totp.generate({ timestamp: Date.now() + offsetSteps * 30_000 }) };
}
