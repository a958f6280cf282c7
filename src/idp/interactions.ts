// Login, TOTP, enrolment and recovery-code steps of oidc-provider interactions. Forms work without JavaScript,
// carry a CSRF token bound to the interaction, and never tell whether an account exists: a lockout is per
// username (known or not) and per address, so saying so reveals nothing.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import type { AuditRecorder } from '../audit/types.ts';
import type { RealmRuntime } from './provider.ts';
import { generateRecoveryCodes } from './recovery-codes.ts';
import type { Throttle } from './store/throttle.ts';
import { DIRECTORY_RETRY_AFTER, DIRECTORY_UNAVAILABLE_CLASS, type DirectoryUser } from './directories/types.ts';
import {
  continuePage,
  loginPage,
  messagePage,
  mfaAuthorityPage,
  PAGE_HEADERS,
  recoveryCodesPage,
  recoveryEntryPage,
  totpEnrolPage,
  totpVerifyPage,
  type SignInContext,
} from './views.ts';
import { loginFailureEvent } from './telemetry.ts';
import { MfaAuthorityUnavailableError, mfaRefusalEvent, type MfaAuthority, type MfaOperation, type MfaResult, type MfaUser } from './mfa/authority.ts';

const NEUTRAL = 'The username or password is incorrect, or this account cannot sign in. Check both and try again.';
const BAD_CODE = 'That code is not valid. Enter the code your app shows now; each code works only once.';

const minutes = (untilMs: number, now = Date.now()) => {
  const m = Math.max(1, Math.ceil((untilMs - now) / 60_000));
  return `${m} minute${m === 1 ? '' : 's'}`;
};
const accountLockedMessage = (untilMs: number) =>
  `Too many failed attempts. For your security, signing in with this username is paused. Try again in ${minutes(untilMs)}.`;
const addressLockedMessage = (untilMs: number) => `Too many failed sign-in attempts from your network. Try again in ${minutes(untilMs)}.`;

export function csrfToken(rt: RealmRuntime, uid: string): string {
  return createHmac('sha256', rt.csrfKey).update(uid).digest('base64url');
}

function csrfOk(rt: RealmRuntime, uid: string, given: string | null): boolean {
  const want = Buffer.from(csrfToken(rt, uid));
  const got = Buffer.from(given ?? '');
  return got.length === want.length && timingSafeEqual(got, want);
}

function send(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, PAGE_HEADERS);
  res.end(html);
}

const refused = (rt: RealmRuntime) => messagePage(rt.theme, 'Request refused', 'This form was not sent from your sign-in page, or the sign-in changed since.');
const expired = (rt: RealmRuntime) => messagePage(rt.theme, 'Sign-in expired', 'Your sign-in took too long or was already finished.');
const unavailable = (rt: RealmRuntime) => messagePage(rt.theme, 'Temporarily unavailable', 'Sign-in cannot be completed right now because it cannot be recorded. Try again in a few minutes.');
const directoryDown = (rt: RealmRuntime) =>
  messagePage(rt.theme, 'Sign-in unavailable', 'Signing in is not possible right now because the user directory cannot be reached. Try again in a few minutes.');

/**
 * A sign-in step could not reach the realm's user directory: 503 and a page that says so (the person did nothing
 * wrong, and no other source of users is tried). An unsuccessful authentication for telemetry and the audit trail,
 * its reason directory_unavailable; it does not count towards any lockout.
 */
export async function directoryUnavailable(c: InteractionContext, res: ServerResponse, endpoint: string): Promise<void> {
  await c.rt.telemetry
    .emit({
      event: 'authentication_failed',
      realm: c.rt.name,
      endpoint,
      feature_category: 'directory',
      result: 'failure',
      error_class: DIRECTORY_UNAVAILABLE_CLASS,
      reason: DIRECTORY_UNAVAILABLE_CLASS,
      grant_type: 'authorization_code',
      correlation_id: c.requestId ?? '',
      source_ip: c.ip,
    })
    .catch(() => {});
  if (res.headersSent) return void res.end();
  res.writeHead(503, { ...PAGE_HEADERS, 'retry-after': DIRECTORY_RETRY_AFTER });
  res.end(directoryDown(c.rt));
}

/** The page context: the application (client) that asked, by the name its realm file gives it. */
async function signInContext(c: InteractionContext, details: any, uid: string, user?: DirectoryUser): Promise<SignInContext> {
  const client = await c.rt.directory.getClient(String(details.params?.client_id ?? ''));
  return { realm: c.rt.name, uid, csrf: csrfToken(c.rt, uid), clientName: client?.name, username: user?.username };
}

function totpFor(rt: RealmRuntime, user: DirectoryUser, secret: string): TOTP {
  return new TOTP({ issuer: rt.realm.mfa.totp_issuer, label: user.username, algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) });
}

export interface InteractionContext {
  rt: RealmRuntime;
  throttle: Throttle;
  ip: string;
  audit: AuditRecorder;
  requestId?: string | undefined;
  userAgent?: string | undefined;
}

/** Grants the requested scopes (first-party clients: no consent screen) and finishes the interaction. */
async function finish(c: InteractionContext, req: IncomingMessage, res: ServerResponse, details: any, login?: Record<string, unknown>) {
  const { provider } = c.rt;
  const accountId = (login?.accountId as string | undefined) ?? details.session?.accountId;
  let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  grant ??= new provider.Grant({ accountId, clientId: details.params.client_id });
  const d = details.prompt?.details ?? {};
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(indicator, (scopes as string[]).join(' '));
  // Make sure the grant covers the requested scope even when login and consent come in one step.
  if (details.params.scope) grant.addOIDCScope(String(details.params.scope));
  const grantId = await grant.save();
  const result: Record<string, unknown> = { consent: { grantId } };
  if (login) result.login = login;
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

async function mfaNeeded(c: InteractionContext, user: DirectoryUser, details: any): Promise<{ required: boolean; enrolled: boolean }> {
  const { rt } = c;
  const client = await rt.directory.getClient(String(details.params.client_id));
  // With privacyIDEA, an active privacyIDEA enrolment reference (a token serial) is what "enrolled" means.
  const enrolled = rt.mfa
    ? (await rt.directory.mfaReferences(user.id)).some((e) => e.provider === 'privacyidea' && e.status === 'active')
    : !!(await rt.directory.getTotp(user.id))?.confirmed;
  const required =
    client?.mfa === 'required' ||
    rt.realm.mfa.required_clients.includes(String(details.params.client_id)) ||
    user.groups.some((g) => rt.realm.mfa.required_groups.includes(g)) ||
    String(details.params.acr_values ?? '').split(' ').includes('aal2');
  return { required, enrolled };
}

export async function showInteraction(c: InteractionContext, req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
  const details = await c.rt.provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, loginPage(c.rt.theme, await signInContext(c, details, details.uid)));
  if (details.prompt.name === 'login') return send(res, 200, loginPage(c.rt.theme, await signInContext(c, details, uid), { username: loginHint(details.params) }));
  return finish(c, req, res, details);
}

/** The username the client suggested (OIDC Core login_hint), pre-filled as Keycloak does; the user may change it. */
function loginHint(params: Record<string, unknown>): string | undefined {
  const hint = params.login_hint;
  return typeof hint === 'string' && hint.trim() !== '' ? hint.trim().slice(0, 256) : undefined;
}

export async function submitLogin(c: InteractionContext, req: IncomingMessage, res: ServerResponse, uid: string, form: URLSearchParams): Promise<void> {
  const { rt, throttle } = c;
  const details = await rt.provider.interactionDetails(req, res);
  if (details.uid !== uid || !csrfOk(rt, uid, form.get('csrf'))) return send(res, 403, refused(rt));
  const username = (form.get('username') ?? '').trim();
  const password = form.get('password') ?? '';
  const { lockout } = rt.realm;
  const accountKey = `${rt.name}\0u\0${username.toLowerCase()}`;
  const ipKey = `${rt.name}\0ip\0${c.ip}`;
  const fail = async (reason: string) => {
    await throttle.fail(accountKey, lockout.max_failures, lockout.window_seconds, lockout.lock_seconds);
    await throttle.fail(ipKey, lockout.max_failures_per_ip, lockout.window_seconds, lockout.lock_seconds);
    await rt.telemetry.emit(loginFailureEvent({ realm: rt.name, params: details.params, endpoint: '/login', feature: 'password', reason, correlationId: c.requestId ?? '', ip: c.ip }));
    // A lock (this failure may have set it) is said as such: it applies to any username, known or not.
    const accountLock = await throttle.lockedUntil(accountKey);
    const ipLock = accountLock ? 0 : await throttle.lockedUntil(ipKey);
    const message = accountLock ? accountLockedMessage(accountLock) : ipLock ? addressLockedMessage(ipLock) : NEUTRAL;
    send(res, 401, loginPage(rt.theme, await signInContext(c, details, uid), { error: message, username }));
  };
  if ((await throttle.isLocked(accountKey)) || (await throttle.isLocked(ipKey))) return fail('locked');
  // The directory checks the password (argon2id in the built-in one, a bind as the user in LDAP) and never says
  // whether the username exists.
  const user = await rt.users.authenticate(username, password);
  if (!user) return fail('bad_credentials');
  if (!user.enabled) return fail('disabled');
  const mfa = await mfaNeeded(c, user, details);
  // The password and the second factor share the account's failure count, cleared only when the sign-in is complete:
  // cleared here, a password (what the second factor guards against) would buy fresh guesses at the code each time.
  if (mfa.required || mfa.enrolled) {
    await rt.provider.interactionResult(req, res, { keyward: { pendingUser: user.id, ts: Math.floor(Date.now() / 1000) } }, { mergeWithLastSubmission: false });
    res.writeHead(303, { location: `/realms/${rt.name}/login/${uid}/totp`, 'cache-control': 'no-store' });
    return void res.end();
  }
  await throttle.reset(accountKey);
  await finish(c, req, res, details, { accountId: user.id, acr: 'aal1', amr: ['pwd'], ts: Math.floor(Date.now() / 1000) });
}

/** The sign-in this interaction has reached: the user whose password was accepted, and whether the second step is done. */
interface Pending {
  user: DirectoryUser;
  /** Set once the second factor passed and a page (recovery codes, codes left) stands between it and the application. */
  done?: { acr: string; amr: string[]; ts: number } | undefined;
}

async function pending(c: InteractionContext, details: any): Promise<Pending | undefined> {
  const k = details.result?.keyward;
  if (typeof k?.pendingUser !== 'string') return undefined;
  const user = await c.rt.users.getUser(k.pendingUser);
  return user?.enabled ? { user, done: k.done } : undefined;
}

/** Records that the second step passed; the application gets the sign-in when the person continues. */
async function markDone(c: InteractionContext, req: IncomingMessage, res: ServerResponse, user: DirectoryUser, done: NonNullable<Pending['done']>) {
  await c.rt.provider.interactionResult(req, res, { keyward: { pendingUser: user.id, ts: done.ts, done } }, { mergeWithLastSubmission: false });
}

const secondFactor = () => ({ acr: 'aal2', amr: ['pwd', 'otp'], ts: Math.floor(Date.now() / 1000) });

const alreadyDone = (c: InteractionContext, ctx: SignInContext) =>
  continuePage(c.rt.theme, ctx, { heading: 'Two-step verification complete', message: 'Continue to finish signing in. Recovery codes are shown only once and are not shown again.' });

function auditRecovery(c: InteractionContext, details: any, user: DirectoryUser, e: { event_type: string; action: string; outcome: 'success' | 'denied'; error_code?: string; metadata: Record<string, unknown> }) {
  return c.audit.record({
    event_type: e.event_type,
    action: e.action,
    principal: { id: user.id, type: 'idp_user', auth_method: 'password' },
    resource: { type: 'idp_user', id: user.id },
    outcome: e.outcome,
    error_code: e.error_code,
    request_id: c.requestId,
    source_ip: c.ip,
    user_agent: c.userAgent,
    metadata: { realm: c.rt.name, client_id: String(details.params?.client_id ?? ''), username: user.username, ...e.metadata },
  });
}

export async function showTotp(c: InteractionContext, req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
  const details = await c.rt.provider.interactionDetails(req, res);
  const p = details.uid === uid ? await pending(c, details) : undefined;
  if (!p) return send(res, 400, expired(c.rt));
  const ctx = await signInContext(c, details, uid, p.user);
  if (p.done) return send(res, 200, alreadyDone(c, ctx));
  if (c.rt.mfa) return send(res, 200, authorityPage(c, ctx, challengeOf(details)));
  const e = await c.rt.directory.getTotp(p.user.id);
  if (e?.confirmed) return send(res, 200, totpVerifyPage(c.rt.theme, ctx));
  // Until confirmed, the seed belongs to this sign-in session alone (a second session gets its own).
  const enrolment = await enrolmentView(c.rt, p.user, await c.rt.directory.pendingTotp(p.user.id, uid, ENROLMENT_SECONDS));
  send(res, 200, totpEnrolPage(c.rt.theme, ctx, enrolment));
}

/** How long a seed offered for enrolment stays valid when nobody confirms it. */
const ENROLMENT_SECONDS = 600;

async function enrolmentView(rt: RealmRuntime, user: DirectoryUser, secret: string) {
  const uri = totpFor(rt, user, secret).toString();
  // The QR code is an SVG data URI (the page's CSP allows img-src data:); the key is printed for people who cannot scan.
  const qrSvg = await QRCode.toString(uri, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' });
  return { uri, secret, qrSvg };
}

export async function submitTotp(c: InteractionContext, req: IncomingMessage, res: ServerResponse, uid: string, form: URLSearchParams): Promise<void> {
  const { rt, throttle } = c;
  const details = await rt.provider.interactionDetails(req, res);
  if (details.uid !== uid || !csrfOk(rt, uid, form.get('csrf'))) return send(res, 403, refused(rt));
  const p = await pending(c, details);
  if (!p) return send(res, 400, expired(rt));
  const { user } = p;
  const ctx = await signInContext(c, details, uid, user);
  // Sent again (reload, back): the codes were shown once; on to the application.
  if (p.done) return send(res, 200, alreadyDone(c, ctx));
  if (rt.mfa) return submitToAuthority(c, rt.mfa, req, res, details, p, ctx, form);
  const e = await rt.directory.getTotp(user.id);
  const enrolled = e?.confirmed === true;
  // Not yet enrolled: the code must come from the seed this session was shown.
  const secret = enrolled ? e.secret : await rt.directory.pendingTotp(user.id, uid, ENROLMENT_SECONDS);
  const accountKey = `${rt.name}\0u\0${user.username.toLowerCase()}`;
  const code = (form.get('code') ?? '').replace(/\s+/g, '');
  const totp = totpFor(rt, user, secret);
  const lockedUntil = await throttle.lockedUntil(accountKey);
  const delta = /^[0-9]{6}$/.test(code) && !lockedUntil ? totp.validate({ token: code, window: 1 }) : null;
  const step = delta === null || delta === undefined ? null : Math.floor(Date.now() / 1000 / 30) + delta;
  // Enrolment hands out recovery codes with the confirmed seed; an enrolled user who has none left gets a new set.
  const codes = generateRecoveryCodes();
  // A code is good once: the last used time step is stored (on enrolment, with the confirmed seed).
  const accepted = step !== null && (enrolled ? await rt.directory.useTotpStep(user.id, step) : await rt.directory.confirmTotp(user.id, uid, step, codes));
  if (!accepted) {
    if (!lockedUntil) await throttle.fail(accountKey, rt.realm.lockout.max_failures, rt.realm.lockout.window_seconds, rt.realm.lockout.lock_seconds);
    await rt.telemetry.emit(loginFailureEvent({ realm: rt.name, params: details.params, endpoint: '/login/totp', feature: 'totp', reason: lockedUntil ? 'locked' : 'invalid_code', correlationId: c.requestId ?? '', ip: c.ip }));
    const lock = await throttle.lockedUntil(accountKey);
    const message = lock ? accountLockedMessage(lock) : BAD_CODE;
    return send(res, 401, enrolled ? totpVerifyPage(rt.theme, ctx, message) : totpEnrolPage(rt.theme, ctx, await enrolmentView(rt, user, secret), message));
  }
  await throttle.reset(accountKey);
  const done = secondFactor();
  const issue = !enrolled || (await rt.directory.unusedRecoveryCodes(user.id)) === 0;
  if (!issue) return finish(c, req, res, details, { accountId: user.id, ...done });
  if (enrolled) await rt.directory.replaceRecoveryCodes(user.id, codes);
  try {
    await auditRecovery(c, details, user, {
      event_type: 'idp.recovery_codes_issued',
      action: 'idp:IssueRecoveryCodes',
      outcome: 'success',
      metadata: { count: codes.length, reason: enrolled ? 'none_left' : 'totp_enrolment' },
    });
  } catch {
    // Codes the audit trail did not see must not work; the next sign-in with the app offers a new set.
    await rt.directory.replaceRecoveryCodes(user.id, []);
    return send(res, 503, unavailable(rt));
  }
  await markDone(c, req, res, user, done);
  send(res, 200, recoveryCodesPage(rt.theme, ctx, codes, { enrolled: !enrolled }));
}

export async function showRecovery(c: InteractionContext, req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
  const details = await c.rt.provider.interactionDetails(req, res);
  const p = details.uid === uid ? await pending(c, details) : undefined;
  if (!p) return send(res, 400, expired(c.rt));
  const ctx = await signInContext(c, details, uid, p.user);
  if (p.done) return send(res, 200, alreadyDone(c, ctx));
  // Recovery codes stand in for an enrolled authenticator only.
  if (!(await c.rt.directory.getTotp(p.user.id))?.confirmed) return showTotp(c, req, res, uid);
  send(res, 200, recoveryEntryPage(c.rt.theme, ctx, await c.rt.directory.unusedRecoveryCodes(p.user.id)));
}

export async function submitRecovery(c: InteractionContext, req: IncomingMessage, res: ServerResponse, uid: string, form: URLSearchParams): Promise<void> {
  const { rt, throttle } = c;
  const details = await rt.provider.interactionDetails(req, res);
  if (details.uid !== uid || !csrfOk(rt, uid, form.get('csrf'))) return send(res, 403, refused(rt));
  const p = await pending(c, details);
  if (!p) return send(res, 400, expired(rt));
  const { user } = p;
  const ctx = await signInContext(c, details, uid, user);
  if (p.done) return send(res, 200, alreadyDone(c, ctx));
  if (!(await rt.directory.getTotp(user.id))?.confirmed) return send(res, 400, expired(rt));
  const accountKey = `${rt.name}\0u\0${user.username.toLowerCase()}`;
  const code = form.get('recovery_code') ?? '';
  const lockedUntil = await throttle.lockedUntil(accountKey);
  const outcome = lockedUntil ? 'locked' : await rt.directory.useRecoveryCode(user.id, code);
  if (outcome !== 'used') {
    if (!lockedUntil) await throttle.fail(accountKey, rt.realm.lockout.max_failures, rt.realm.lockout.window_seconds, rt.realm.lockout.lock_seconds);
    await rt.telemetry.emit(loginFailureEvent({ realm: rt.name, params: details.params, endpoint: '/login/recovery', feature: 'recovery_code', reason: outcome === 'locked' ? 'locked' : 'invalid_code', correlationId: c.requestId ?? '', ip: c.ip }));
    // Refusals are recorded too (a reused code may mean a leaked list); a refusal stands even if the trail is down.
    await auditRecovery(c, details, user, {
      event_type: 'idp.recovery_code_used',
      action: 'idp:UseRecoveryCode',
      outcome: 'denied',
      error_code: outcome === 'already_used' ? 'idp.recovery_code_already_used' : outcome === 'locked' ? 'idp.locked' : 'idp.recovery_code_invalid',
      metadata: {},
    }).catch(() => {});
    const lock = await throttle.lockedUntil(accountKey);
    const message = lock
      ? accountLockedMessage(lock)
      : outcome === 'already_used'
        ? 'That recovery code has already been used. Each code works once: enter another one.'
        : 'That recovery code is not valid. Check it and try again.';
    return send(res, 401, recoveryEntryPage(rt.theme, ctx, await rt.directory.unusedRecoveryCodes(user.id), message));
  }
  const remaining = await rt.directory.unusedRecoveryCodes(user.id);
  try {
    await auditRecovery(c, details, user, { event_type: 'idp.recovery_code_used', action: 'idp:UseRecoveryCode', outcome: 'success', metadata: { remaining } });
  } catch {
    // No record, no sign-in: the code is given back so the person can use it once the trail works again.
    await rt.directory.restoreRecoveryCode(user.id, code);
    return send(res, 503, unavailable(rt));
  }
  await throttle.reset(accountKey);
  // A recovery code is a one-time password from a printed list: with the password, a second factor (RFC 8176 "otp").
  const done = secondFactor();
  await markDone(c, req, res, user, done);
  send(
    res,
    200,
    continuePage(rt.theme, ctx, { heading: 'Recovery code accepted', message: 'That code is now used up and will not work again.', remaining }),
  );
}

export async function submitContinue(c: InteractionContext, req: IncomingMessage, res: ServerResponse, uid: string, form: URLSearchParams): Promise<void> {
  const { rt } = c;
  const details = await rt.provider.interactionDetails(req, res);
  if (details.uid !== uid || !csrfOk(rt, uid, form.get('csrf'))) return send(res, 403, refused(rt));
  const p = await pending(c, details);
  if (!p?.done) return send(res, 400, expired(rt));
  await finish(c, req, res, details, { accountId: p.user.id, ...p.done });
}

// ---- The second step when an MFA authority (privacyIDEA) checks it ------------------------------------------------
// The authority answers accept, reject, challenge or pending; it failing to answer is MfaAuthorityUnavailableError,
// and then nothing falls back (not the builtin TOTP, not password-only): 503, a page that says sign-in is not
// possible now, and an audited authentication_failed. The challenge's transaction id stays in the interaction
// (server-side), never in the page.

/** A challenge in progress, kept in the interaction's result. */
interface ChallengeState {
  tx: string;
  code: boolean;
  poll: boolean;
  prompts: string[];
  /** Token types of the challenge (privacyIDEA may leave the type out of the accepting answer). */
  types: string[];
}

const MFA_UNAVAILABLE = 'Two-step verification cannot be checked right now, so signing in is not possible. Try again in a few minutes.';
const MFA_DECLINED = 'The sign-in request was declined on your device.';
const MFA_NO_CHALLENGE = 'No other way of verifying is set up for your account. Enter a code from your authenticator.';

function challengeOf(details: any): ChallengeState | undefined {
  const s = details.result?.keyward?.challenge;
  return typeof s?.tx === 'string' ? (s as ChallengeState) : undefined;
}

function authorityPage(c: InteractionContext, ctx: SignInContext, ch: ChallengeState | undefined, opts: { error?: string; info?: string } = {}): string {
  return mfaAuthorityPage(c.rt.theme, ctx, { prompts: ch?.prompts, code: ch ? ch.code : true, poll: ch?.poll ?? false, challenged: ch !== undefined, ...opts });
}

async function saveChallenge(c: InteractionContext, req: IncomingMessage, res: ServerResponse, p: Pending, ch: ChallengeState | undefined) {
  await c.rt.provider.interactionResult(req, res, { keyward: { pendingUser: p.user.id, ts: Math.floor(Date.now() / 1000), ...(ch ? { challenge: ch } : {}) } }, { mergeWithLastSubmission: false });
}

/** RFC 8176 methods for what the authority accepted: an SMS code, a push on a phone (a software key), else a one-time code. */
const amrOf = (tokenType: string | undefined) => ['pwd', tokenType === 'sms' ? 'sms' : tokenType === 'push' ? 'swk' : 'otp'];

/** Telemetry and audit of a refused or unanswered check (KeyCape §13: authentication_failed, feature mfa_<authority>). */
function emitRefusal(c: InteractionContext, details: any, user: MfaUser, authority: MfaAuthority, op: MfaOperation, cause: Extract<MfaResult, { outcome: 'reject' }> | MfaAuthorityUnavailableError) {
  const ev = mfaRefusalEvent({ realm: c.rt.name, user, clientId: details.params?.client_id, sourceIp: c.ip, correlationId: c.requestId }, authority.kind, op, cause);
  return c.rt.telemetry.emit({
    event: 'authentication_failed',
    realm: c.rt.name,
    client_id: typeof details.params?.client_id === 'string' ? details.params.client_id : undefined,
    client_known: true,
    endpoint: '/login/totp',
    feature_category: ev.feature_category,
    result: 'failure',
    error_class: ev.error_class,
    reason: ev.mfa.reason,
    requested_scopes: typeof details.params?.scope === 'string' ? details.params.scope : '',
    grant_type: 'authorization_code',
    correlation_id: c.requestId ?? '',
    source_ip: c.ip,
    principal: user.id,
    mfa: ev.mfa,
  });
}

async function submitToAuthority(c: InteractionContext, authority: MfaAuthority, req: IncomingMessage, res: ServerResponse, details: any, p: Pending, ctx: SignInContext, form: URLSearchParams) {
  const { rt, throttle } = c;
  const user: MfaUser = { id: p.user.id, username: p.user.username, enrollments: await rt.directory.mfaReferences(p.user.id) };
  const accountKey = `${rt.name}\0u\0${p.user.username.toLowerCase()}`;
  const action = form.get('action') ?? 'code';
  const ch = challengeOf(details);
  const lockedUntil = await throttle.lockedUntil(accountKey);
  if (lockedUntil) {
    await rt.telemetry.emit(loginFailureEvent({ realm: rt.name, params: details.params, endpoint: '/login/totp', feature: 'totp', reason: 'locked', correlationId: c.requestId ?? '', ip: c.ip }));
    return send(res, 401, authorityPage(c, ctx, ch, { error: accountLockedMessage(lockedUntil) }));
  }
  let op: MfaOperation;
  let result: MfaResult | { outcome: 'pending' };
  try {
    if (action === 'challenge') {
      op = 'start_challenge';
      result = await authority.startChallenge(user);
    } else if (action === 'poll') {
      if (!ch?.poll) return send(res, 400, expired(rt));
      op = 'poll';
      result = await authority.poll(user, ch.tx);
    } else {
      const code = (form.get('code') ?? '').replace(/\s+/g, '');
      op = ch ? 'answer_challenge' : 'check';
      result = ch ? await authority.answerChallenge(user, ch.tx, code) : await authority.check(user, code);
    }
  } catch (e) {
    if (!(e instanceof MfaAuthorityUnavailableError)) throw e;
    // Refused either way; a trail that cannot record it does not turn the refusal into anything else.
    await emitRefusal(c, details, user, authority, e.operation, e).catch(() => {});
    res.setHeader('retry-after', '30');
    return send(res, 503, messagePage(rt.theme, 'Sign-in unavailable', MFA_UNAVAILABLE));
  }
  switch (result.outcome) {
    case 'accept':
      await throttle.reset(accountKey);
      return finish(c, req, res, details, { accountId: p.user.id, acr: 'aal2', amr: amrOf(result.tokenType ?? (ch?.types.length === 1 ? ch.types[0] : undefined)), ts: Math.floor(Date.now() / 1000) });
    case 'pending':
      return send(res, 200, authorityPage(c, ctx, ch, { info: 'Not approved yet. Approve the request on your device, then continue.' }));
    case 'challenge': {
      const next: ChallengeState = { tx: result.transactionId, code: result.interactive, poll: result.poll, prompts: result.challenges.map((o) => o.message), types: [...new Set(result.challenges.flatMap((o) => (o.type ? [o.type] : [])))] };
      await saveChallenge(c, req, res, p, next);
      return send(res, 200, authorityPage(c, ctx, next));
    }
    case 'reject': {
      if (op === 'start_challenge' && result.reason === 'no_challenge') return send(res, 200, authorityPage(c, ctx, undefined, { error: MFA_NO_CHALLENGE }));
      await throttle.fail(accountKey, rt.realm.lockout.max_failures, rt.realm.lockout.window_seconds, rt.realm.lockout.lock_seconds);
      await emitRefusal(c, details, user, authority, op, result);
      // A declined or finished challenge is over: back to the first step.
      const keep = result.reason === 'rejected' && op === 'answer_challenge' ? ch : undefined;
      if (!keep && ch) await saveChallenge(c, req, res, p, undefined);
      const lock = await throttle.lockedUntil(accountKey);
      const message = lock ? accountLockedMessage(lock) : result.reason === 'declined' ? MFA_DECLINED : BAD_CODE;
      return send(res, 401, authorityPage(c, ctx, keep, { error: message }));
    }
  }
}
