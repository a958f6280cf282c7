// The one rule for a test whose service (a server, a binary, a browser) is missing: locally it skips with a plain
// message (and one warning per reason on stderr, since a skip is easy to overlook); when CI is set it fails, since a
// CI run that skipped them proves nothing about them.
import type { SuiteContext, TestContext } from 'node:test';

const warned = new Set<string>();

/**
 * The skip message; under CI, throws instead. `what` names the tests, `reason` what is missing, `hint` how to get it.
 * Called directly where there is nothing to skip: a hook whose tests skip themselves, or the part of a test that
 * needs the service.
 */
export function whenMissing(what: string, reason: string, hint?: string): string {
  if (process.env.CI) throw new Error(`${reason}; CI is set, so ${what} fail instead of skipping`);
  const message = `${reason}: ${what} skipped`;
  if (!warned.has(reason)) {
    warned.add(reason);
    console.warn(`WARNING: ${message}${hint ? `. ${hint}` : ''}`);
  }
  return message;
}

/**
 * Inside a test (or a hook, which cannot skip: its tests then skip themselves): skips `t` because the service is
 * missing, or throws under CI.
 */
export function skipMissing(t: TestContext | SuiteContext, what: string, reason: string, hint?: string): void {
  const message = whenMissing(what, reason, hint);
  if ('skip' in t) t.skip(message);
}

/**
 * For the `skip` option of a describe or test: false when the service is there; otherwise the skip message, or
 * (under CI) an error at load time that fails the file.
 */
export function skipUnless(available: boolean, what: string, reason: string, hint?: string): string | false {
  return available ? false : whenMissing(what, reason, hint);
}
