// Login, TOTP and enrolment pages for oidc-provider interactions. Forms work without JavaScript, carry a
// CSRF token bound to the interaction, and never tell whether an account exists.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hash as argonHash, verify as argonVerify } from '@node-rs/argon2';
import { argonOptions } from './realm-file.ts';
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import type { Kysely } from 'kysely';
import type { RealmRuntime } from './provider.ts';
import type { IdpUser } from './store/directory.ts';
import { escapeHtml, PAGE_HEADERS, renderPage } from './views.ts';

const NEUTRAL = 'The username or password is incorrect, or sign-in is temporarily unavailable for this account.';

/** Failure counters per account and per source address, in memory (per process). */
/**
 * Failed-login counting and temporary lockout, kept in the store so every instance sees the same counts (an
 * attacker gets no extra attempts per instance). Times are epoch milliseconds.
 */
export class Throttle {
  readonly #db: Kysely<any>;
  constructor(db: Kysely<any>) {
    this.#db = db;
  }
  async isLocked(key: string, now = Date.now()): Promise<boolean> {
    const r = await this.#db.selectFrom('idp_throttle').select('locked_until').where('key', '=', key).executeTakeFirst();
    return !!r && Number(r.locked_until) > now;
  }
  async fail(key: string, max: number, windowS: number, lockS: number, now = Date.now()): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      const r = await trx.selectFrom('idp_throttle').selectAll().where('key', '=', key).executeTakeFirst();
      const fresh = !r || now - Number(r.window_start) > windowS * 1000;
      const failures = (fresh ? 0 : Number(r.failures)) + 1;
      const values = {
        failures,
        window_start: fresh ? now : Number(r.window_start),
        locked_until: failures >= max ? now + lockS * 1000 : fresh ? 0 : Number(r.locked_until),
      };
      await trx.insertInto('idp_throttle').values({ key, ...values }).onConflict((oc) => oc.column('key').doUpdateSet(values)).execute();
    });
  }
  async reset(key: string): Promise<void> {
    await this.#db.deleteFrom('idp_throttle').where('key', '=', key).execute();
  }
  /** Drops entries whose window and lock have both passed. */
  async sweep(olderThanMs: number, now = Date.now()): Promise<void> {
    await this.#db.deleteFrom('idp_throttle').where('window_start', '<', now - olderThanMs).where('locked_until', '<', now).execute();
  }
}

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

function loginForm(rt: RealmRuntime, uid: string, error?: string, username = ''): string {
  return renderPage(
    'Sign in',
    `<h1>Sign in</h1>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/realms/${escapeHtml(rt.name)}/login/${escapeHtml(uid)}">
<input type="hidden" name="csrf" value="${escapeHtml(csrfToken(rt, uid))}">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required value="${escapeHtml(username)}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`,
  );
}

async function totpForm(rt: RealmRuntime, uid: string, error?: string, enrolment?: { uri: string; secret: string }): Promise<string> {
  // The QR code is an SVG data URI (the page's CSP allows img-src data: and nothing else); the key stays printed
  // for people who cannot scan.
  const qr = enrolment ? Buffer.from(await QRCode.toString(enrolment.uri, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' })).toString('base64') : '';
  const enrol = enrolment
    ? `<p>Set up an authenticator app: scan the QR code or enter the key by hand.</p>
<p><img id="totp-qr" src="data:image/svg+xml;base64,${qr}" width="200" height="200" alt="QR code for your authenticator app; the same key is written below"></p>
<p><code id="otpauth-uri">${escapeHtml(enrolment.uri)}</code></p><p>Key: <code id="totp-secret">${escapeHtml(enrolment.secret)}</code></p>`
    : '';
  return renderPage(
    'Verification code',
    `<h1>Verification code</h1>${enrol}
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/realms/${escapeHtml(rt.name)}/login/${escapeHtml(uid)}/totp">
<input type="hidden" name="csrf" value="${escapeHtml(csrfToken(rt, uid))}">
<label for="code">6-digit code from your authenticator app</label><input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required>
<button type="submit">Verify</button>
</form>`,
  );
}

function totpFor(rt: RealmRuntime, user: IdpUser, secret: string): TOTP {
  return new TOTP({ issuer: rt.realm.mfa.totp_issuer, label: user.username, algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) });
}

export interface InteractionContext {
  rt: RealmRuntime;
  throttle: Throttle;
  ip: string;
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

async function mfaNeeded(c: InteractionContext, user: IdpUser, details: any): Promise<{ required: boolean; enrolled: boolean }> {
  const { rt } = c;
  const client = await rt.directory.getClient(String(details.params.client_id));
  const enrolment = await rt.directory.getTotp(user.id);
  const enrolled = !!enrolment?.confirmed;
  const required =
    client?.mfa === 'required' ||
    rt.realm.mfa.required_clients.includes(String(details.params.client_id)) ||
    user.groups.some((g) => rt.realm.mfa.required_groups.includes(g)) ||
    String(details.params.acr_values ?? '').split(' ').includes('aal2');
  return { required, enrolled };
}

export async function showInteraction(c: InteractionContext, req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
  const details = await c.rt.provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, loginForm(c.rt, details.uid));
  if (details.prompt.name === 'login') return send(res, 200, loginForm(c.rt, uid));
  return finish(c, req, res, details);
}

export async function submitLogin(c: InteractionContext, req: IncomingMessage, res: ServerResponse, uid: string, form: URLSearchParams): Promise<void> {
  const { rt, throttle } = c;
  const details = await rt.provider.interactionDetails(req, res);
  if (details.uid !== uid || !csrfOk(rt, uid, form.get('csrf'))) return send(res, 403, renderPage('Forbidden', '<h1>Request refused</h1><p>Start the sign-in again.</p>'));
  const username = (form.get('username') ?? '').trim();
  const password = form.get('password') ?? '';
  const { lockout } = rt.realm;
  const accountKey = `${rt.name}\0u\0${username.toLowerCase()}`;
  const ipKey = `${rt.name}\0ip\0${c.ip}`;
  const fail = async (reason: string) => {
    await throttle.fail(accountKey, lockout.max_failures, lockout.window_seconds, lockout.lock_seconds);
    await throttle.fail(ipKey, lockout.max_failures_per_ip, lockout.window_seconds, lockout.lock_seconds);
    await rt.telemetry.emit({
      event: 'authentication_failed',
      realm: rt.name,
      client_id: String(details.params.client_id),
      endpoint: 'login',
      result: 'failure',
      feature_category: reason,
      source_ip: c.ip,
    });
    send(res, 401, loginForm(rt, uid, NEUTRAL, username));
  };
  if ((await throttle.isLocked(accountKey)) || (await throttle.isLocked(ipKey))) return fail('locked');
  const user = await rt.directory.findUserByUsername(username);
  // Unknown users (and users without a password) are checked against a decoy hash with the same parameters, so
  // the answer takes as long as for a real account: no enumeration by timing either.
  const hashToCheck = user?.passwordHash ?? (await decoyHash(rt));
  const verified = await argonVerify(hashToCheck, password).catch(() => false);
  const ok = !!user?.passwordHash && verified;
  if (!user || !ok) return fail('bad_credentials');
  if (!user.enabled) return fail('disabled');
  await throttle.reset(accountKey);
  const mfa = await mfaNeeded(c, user, details);
  if (mfa.required || mfa.enrolled) {
    await rt.provider.interactionResult(req, res, { keyward: { pendingUser: user.id, ts: Math.floor(Date.now() / 1000) } }, { mergeWithLastSubmission: false });
    res.writeHead(303, { location: `/realms/${rt.name}/login/${uid}/totp`, 'cache-control': 'no-store' });
    return void res.end();
  }
  await finish(c, req, res, details, { accountId: user.id, acr: 'aal1', amr: ['pwd'], ts: Math.floor(Date.now() / 1000) });
}

const decoys = new Map<string, Promise<string>>();
function decoyHash(rt: RealmRuntime): Promise<string> {
  const a = rt.config.argon2;
  const k = `${a.memory_kib}:${a.iterations}:${a.parallelism}`;
  let h = decoys.get(k);
  if (!h) {
    h = argonHash(randomBytes(32).toString('base64'), argonOptions(a));
    decoys.set(k, h);
  }
  return h;
}

async function pendingUser(c: InteractionContext, details: any): Promise<IdpUser | undefined> {
  const id = details.result?.keyward?.pendingUser;
  if (typeof id !== 'string') return undefined;
  const user = await c.rt.directory.getUser(id);
  return user?.enabled ? user : undefined;
}

export async function showTotp(c: InteractionContext, req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
  const details = await c.rt.provider.interactionDetails(req, res);
  const user = details.uid === uid ? await pendingUser(c, details) : undefined;
  if (!user) return send(res, 400, renderPage('Sign in', '<h1>Sign-in expired</h1><p>Start the sign-in again.</p>'));
  const e = await c.rt.directory.getTotp(user.id);
  // Until confirmed, the seed belongs to this sign-in session alone (a second session gets its own).
  const enrolment = e?.confirmed ? undefined : enrolmentView(c.rt, user, await c.rt.directory.pendingTotp(user.id, uid, ENROLMENT_SECONDS));
  send(res, 200, await totpForm(c.rt, uid, undefined, enrolment));
}

/** How long a seed offered for enrolment stays valid when nobody confirms it. */
const ENROLMENT_SECONDS = 600;

const enrolmentView = (rt: RealmRuntime, user: IdpUser, secret: string) => ({ uri: totpFor(rt, user, secret).toString(), secret });

export async function submitTotp(c: InteractionContext, req: IncomingMessage, res: ServerResponse, uid: string, form: URLSearchParams): Promise<void> {
  const { rt, throttle } = c;
  const details = await rt.provider.interactionDetails(req, res);
  if (details.uid !== uid || !csrfOk(rt, uid, form.get('csrf'))) return send(res, 403, renderPage('Forbidden', '<h1>Request refused</h1><p>Start the sign-in again.</p>'));
  const user = await pendingUser(c, details);
  if (!user) return send(res, 400, renderPage('Sign in', '<h1>Sign-in expired</h1><p>Start the sign-in again.</p>'));
  const e = await rt.directory.getTotp(user.id);
  const enrolled = e?.confirmed === true;
  // Not yet enrolled: the code must come from the seed this session was shown.
  const secret = enrolled ? e.secret : await rt.directory.pendingTotp(user.id, uid, ENROLMENT_SECONDS);
  const accountKey = `${rt.name}\0u\0${user.username.toLowerCase()}`;
  const code = (form.get('code') ?? '').trim();
  const totp = totpFor(rt, user, secret);
  const delta = /^[0-9]{6}$/.test(code) && !(await throttle.isLocked(accountKey)) ? totp.validate({ token: code, window: 1 }) : null;
  const step = delta === null || delta === undefined ? null : Math.floor(Date.now() / 1000 / 30) + delta;
  // A code is good once: the last used time step is stored (on enrolment, with the confirmed seed).
  const accepted = step !== null && (enrolled ? await rt.directory.useTotpStep(user.id, step) : await rt.directory.confirmTotp(user.id, uid, step));
  if (!accepted) {
    await throttle.fail(accountKey, rt.realm.lockout.max_failures, rt.realm.lockout.window_seconds, rt.realm.lockout.lock_seconds);
    await rt.telemetry.emit({ event: 'authentication_failed', realm: rt.name, client_id: String(details.params.client_id), endpoint: 'login_totp', result: 'failure', feature_category: 'totp', source_ip: c.ip });
    return send(res, 401, await totpForm(rt, uid, 'The code is not valid. Try the current code from your app.', enrolled ? undefined : enrolmentView(rt, user, secret)));
  }
  await throttle.reset(accountKey);
  await finish(c, req, res, details, { accountId: user.id, acr: 'aal2', amr: ['pwd', 'otp'], ts: Math.floor(Date.now() / 1000) });
}
