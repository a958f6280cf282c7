// Server-rendered pages: plain HTML forms that work without JavaScript. Every page names the realm (its display
// name, logo and colours from the theme) and, in a sign-in, the application that asked. No inline styles or
// scripts: one stylesheet from the realm's theme route, so the CSP needs no 'unsafe-inline'.
import type { RealmTheme } from './theme.ts';

export function escapeHtml(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Headers for every page (also set by the Fastify routes). */
export const PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'content-security-policy': "default-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

const e = escapeHtml;

export function renderPage(theme: RealmTheme, title: string, body: string): string {
  const logo = theme.logoUrl ? `<img src="${e(theme.logoUrl)}" alt="">` : '';
  const help = theme.helpText
    ? `<p id="realm-help">${theme.helpUrl ? `<a href="${e(theme.helpUrl)}">${e(theme.helpText)}</a>` : e(theme.helpText)}</p>`
    : '';
  const footer = theme.footerText ? `<p id="realm-footer">${e(theme.footerText)}</p>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)} · ${e(theme.displayName)}</title>
<link rel="stylesheet" href="${e(theme.stylesheetUrl)}">
</head>
<body>
<div class="shell">
<header class="brand">${logo}<p class="realm-name" id="realm-name">${e(theme.displayName)}</p></header>
<main class="card">
${body}
</main>
${help || footer ? `<footer class="foot">${help}${footer}</footer>` : ''}
</div>
</body>
</html>`;
}

/** Who is signing in, to what: the application (client) that started the sign-in, by its configured name. */
export interface SignInContext {
  realm: string;
  uid: string;
  csrf: string;
  clientName: string | undefined;
  username?: string | undefined;
}

const base = (c: SignInContext) => `/realms/${e(c.realm)}/login/${e(c.uid)}`;
const csrfInput = (c: SignInContext) => `<input type="hidden" name="csrf" value="${e(c.csrf)}">`;
const continueTo = (c: SignInContext) => (c.clientName ? ` to continue to <strong id="client-name">${e(c.clientName)}</strong>` : '');
const alertBox = (message: string | undefined) => (message ? `<p class="alert" id="form-error" role="alert">${e(message)}</p>\n` : '');
const describedBy = (message: string | undefined) => (message ? ' aria-describedby="form-error" aria-invalid="true"' : '');
/** Who is signing in, once the password was accepted. */
const signingInAs = (c: SignInContext) =>
  `<p class="context">Signing in as <strong id="signing-in-as">${e(c.username)}</strong>${continueTo(c)}.</p>`;

export function loginPage(theme: RealmTheme, c: SignInContext, opts: { error?: string | undefined; username?: string } = {}): string {
  const username = opts.username ?? '';
  // The first empty field takes the focus, so a keyboard user types at once (after an error: the password).
  const focusPassword = username !== '';
  return renderPage(
    theme,
    'Sign in',
    `<h1>Sign in</h1>
<p class="context">Use your ${e(theme.displayName)} account${continueTo(c)}.</p>
${alertBox(opts.error)}<form method="post" action="${base(c)}">
${csrfInput(c)}
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${e(username)}"${describedBy(opts.error)}${focusPassword ? '' : ' autofocus'}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${describedBy(opts.error)}${focusPassword ? ' autofocus' : ''}>
<button type="submit">Sign in</button>
</form>`,
  );
}

/** Groups of four for typing; base32 has no ambiguity in case, so it stays upper-case as apps show it. */
export const groupKey = (secret: string) => secret.replace(/(.{4})(?=.)/g, '$1 ');

export function totpEnrolPage(theme: RealmTheme, c: SignInContext, enrolment: { uri: string; secret: string; qrSvg: string }, error?: string): string {
  const qr = Buffer.from(enrolment.qrSvg).toString('base64');
  return renderPage(
    theme,
    'Set up two-step verification',
    `<h1>Set up two-step verification</h1>
${signingInAs(c)}
<p>Your account needs a second step at sign-in: a 6-digit code from an authenticator app on your phone. Setting it up takes a minute.</p>
${alertBox(error)}<ol class="steps">
<li>Open an authenticator app (any app for time-based one-time codes).</li>
<li>Add an account in the app by scanning this QR code:
<img class="qr" id="totp-qr" src="data:image/svg+xml;base64,${qr}" width="200" height="200" alt="QR code that adds ${e(theme.displayName)} to your authenticator app. If you cannot scan it, type the key shown below.">
If you cannot scan it, type this key into the app instead:<br><code class="key" id="totp-secret">${e(groupKey(enrolment.secret))}</code>
<details><summary>Other ways to add the account</summary>
<p>On this device: <a href="${e(enrolment.uri)}" id="otpauth-link">open the key in an authenticator app</a>. The same link, to copy into an app:</p>
<code class="uri" id="otpauth-uri">${e(enrolment.uri)}</code>
</details></li>
<li>Enter the code the app shows now:
<form method="post" action="${base(c)}/totp">
${csrfInput(c)}
<label for="code">6-digit code from your authenticator app</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required${describedBy(error)}>
<button type="submit">Verify and finish set-up</button>
</form></li>
</ol>`,
  );
}

export function totpVerifyPage(theme: RealmTheme, c: SignInContext, error?: string): string {
  return renderPage(
    theme,
    'Two-step verification',
    `<h1>Two-step verification</h1>
${signingInAs(c)}
${alertBox(error)}<form method="post" action="${base(c)}/totp">
${csrfInput(c)}
<label for="code">6-digit code from your authenticator app</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required autofocus${describedBy(error)}>
<button type="submit">Verify</button>
</form>
<p class="secondary"><a href="${base(c)}/recovery" id="use-recovery-code">Use a recovery code instead</a></p>`,
  );
}

/**
 * The second step when privacyIDEA checks it: a code from any of the user's tokens, or a challenge (SMS, e-mail,
 * push) started on request. `prompts` are privacyIDEA's own texts for the challenge; escaped like everything else.
 */
export function mfaAuthorityPage(
  theme: RealmTheme,
  c: SignInContext,
  opts: { prompts?: string[] | undefined; code: boolean; poll: boolean; challenged: boolean; error?: string | undefined; info?: string | undefined },
): string {
  const prompts = opts.prompts?.length ? `<ul class="prompts" id="mfa-prompts">${opts.prompts.map((p) => `<li>${e(p)}</li>`).join('')}</ul>\n` : '';
  const info = opts.info ? `<p class="context" id="mfa-info" role="status">${e(opts.info)}</p>\n` : '';
  const code = opts.code
    ? `<form method="post" action="${base(c)}/totp">
${csrfInput(c)}
<label for="code">${opts.challenged ? 'Code you received' : 'Code from your authenticator'}</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="32" required autofocus${describedBy(opts.error)}>
<button type="submit">Verify</button>
</form>\n`
    : '';
  const poll = opts.poll
    ? `<form method="post" action="${base(c)}/totp">
${csrfInput(c)}<input type="hidden" name="action" value="poll">
<button type="submit" id="mfa-poll"${opts.code ? ' class="secondary"' : ' autofocus'}>I have approved the request</button>
</form>\n`
    : '';
  const start = opts.challenged
    ? ''
    : `<form method="post" action="${base(c)}/totp">
${csrfInput(c)}<input type="hidden" name="action" value="challenge">
<button type="submit" class="secondary" id="mfa-challenge">Send me a code or a request instead</button>
</form>\n`;
  return renderPage(theme, 'Two-step verification', `<h1>Two-step verification</h1>\n${signingInAs(c)}\n${alertBox(opts.error)}${info}${prompts}${code}${poll}${start}`);
}

const remainingText = (n: number) => (n === 1 ? 'You have 1 unused recovery code.' : `You have ${n} unused recovery codes.`);

export function recoveryEntryPage(theme: RealmTheme, c: SignInContext, remaining: number, error?: string): string {
  const form =
    remaining > 0
      ? `<form method="post" action="${base(c)}/recovery">
${csrfInput(c)}
<label for="recovery-code">Recovery code</label>
<input id="recovery-code" name="recovery_code" autocomplete="off" autocapitalize="none" spellcheck="false" maxlength="40" required autofocus${describedBy(error)}>
<button type="submit">Sign in with recovery code</button>
</form>`
      : `<p>Ask your administrator to reset two-step verification for your account.</p>`;
  return renderPage(
    theme,
    'Use a recovery code',
    `<h1>Use a recovery code</h1>
${signingInAs(c)}
<p>Enter one of the recovery codes you saved when you set up two-step verification. Each code works once.</p>
<p id="recovery-remaining">${remainingText(remaining)}</p>
${alertBox(error)}${form}
<p class="secondary"><a href="${base(c)}/totp">Use a code from your authenticator app</a></p>`,
  );
}

/** Shown once, right after the codes were made; only their hashes are kept. */
export function recoveryCodesPage(theme: RealmTheme, c: SignInContext, codes: string[], opts: { enrolled: boolean }): string {
  return renderPage(
    theme,
    'Save your recovery codes',
    `<h1>Save your recovery codes</h1>
${signingInAs(c)}
<p>${opts.enrolled ? 'Two-step verification is set up. ' : 'You had no unused recovery codes left, so here is a new set. '}If you lose your phone, each of these codes lets you sign in once instead of a 6-digit code.</p>
<p><strong>They are shown only this once.</strong> Print them, write them down or keep them in a password manager.</p>
<ol class="codes" id="recovery-codes">
${codes.map((code) => `<li><code>${e(code)}</code></li>`).join('\n')}
</ol>
<form method="post" action="${base(c)}/continue">
${csrfInput(c)}
<label class="check" for="saved"><input type="checkbox" id="saved" name="saved" value="yes" required> I have saved my recovery codes</label>
<button type="submit">Continue</button>
</form>`,
  );
}

/** After a recovery code (or on a revisit after the codes were shown): what is left, then on to the application. */
export function continuePage(theme: RealmTheme, c: SignInContext, opts: { heading: string; message: string; remaining?: number | undefined }): string {
  const low =
    opts.remaining === undefined
      ? ''
      : `<p id="recovery-remaining">${remainingText(opts.remaining)}${opts.remaining <= 3 ? ' When they run out, you get a new set the next time you sign in with your authenticator app; without the app, ask your administrator.' : ''}</p>`;
  return renderPage(
    theme,
    opts.heading,
    `<h1>${e(opts.heading)}</h1>
${signingInAs(c)}
<p>${e(opts.message)}</p>
${low}<form method="post" action="${base(c)}/continue">
${csrfInput(c)}
<button type="submit" autofocus>Continue</button>
</form>`,
  );
}

/** A page that ends a sign-in attempt (expired, refused, unavailable), with a way back. */
export function messagePage(theme: RealmTheme, heading: string, message: string): string {
  return renderPage(theme, heading, `<h1>${e(heading)}</h1>\n<p>${e(message)}</p>\n<p>Go back to the application and start the sign-in again.</p>`);
}

/** oidc-provider's logout form (`form`, hidden fields only) with the realm and the application around it. */
export function logoutPage(theme: RealmTheme, form: string, clientName: string | undefined): string {
  const who = clientName ? `<strong id="client-name">${e(clientName)}</strong> asked to sign you out. ` : '';
  return renderPage(
    theme,
    'Sign out',
    `<h1>Sign out</h1>
<p class="context">${who}Signing out ends your ${e(theme.displayName)} session on this device, for every application that uses it.</p>
${form}<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Sign out</button>`,
  );
}

export function signedOutPage(theme: RealmTheme, clientName: string | undefined): string {
  return renderPage(
    theme,
    'Signed out',
    `<h1>Signed out</h1>
<p>You have been signed out of ${e(theme.displayName)}${clientName ? ` and <strong id="client-name">${e(clientName)}</strong>` : ''}. You can close this window.</p>`,
  );
}

export interface ErrorPageBody {
  error: string;
  error_description: string;
  profile_error_class: string;
  feature: string;
  profile_version: string;
  correlation_id: string;
}

/** A refused or failed request: what happened in words, and the facts an administrator needs. */
export function errorPage(theme: RealmTheme, body: ErrorPageBody): string {
  const heading = body.profile_error_class === 'invalid_profile_usage' ? 'This request cannot be completed' : 'Request not supported';
  return renderPage(
    theme,
    heading,
    `<h1>${heading}</h1>
<p id="error-description">${e(body.error_description)}</p>
<p>Go back to the application and try again. If it keeps happening, give your administrator the details below.</p>
<h2>Details</h2>
<dl class="details">
<dt>Error</dt><dd><code>${e(body.error)}</code></dd>
<dt>Class</dt><dd><code data-profile-error-class="${e(body.profile_error_class)}">${e(body.profile_error_class)}</code></dd>
<dt>Feature</dt><dd><code>${e(body.feature)}</code></dd>
<dt>Profile version</dt><dd>${e(body.profile_version)}</dd>
<dt>Correlation id</dt><dd><code>${e(body.correlation_id)}</code></dd>
</dl>`,
  );
}
