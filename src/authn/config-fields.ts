// Field types the authenticators' configuration fragments share.
import { z } from 'zod';
import { parseDurationMs } from '../core/duration.ts';

/** Seconds as a number, or "500ms", "60s", "10m", "1h" (the one duration syntax of src/core/duration.ts), in seconds. */
export const duration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  const ms = parseDurationMs(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: 'a duration like 60s, 10m or 1h' });
    return z.NEVER;
  }
  return ms / 1000;
});

export const ENV_NAME = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');
export const permissionList = z.array(z.string().min(1).max(512));

/** An http: URL to this very machine (loopback), which production allows without TLS. */
export const isLocalUrl = (u: string) => /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(u);
