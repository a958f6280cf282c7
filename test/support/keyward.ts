// Starts a real Keyward (real store, seal, audit trail, authenticators) in a temp directory for API tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { generateSigningKeyFile } from '../../src/audit/keys.ts';
import { randomBytes } from 'node:crypto';
import { fingerprint } from '../../src/authn/index.ts';
import type { KeywardConfigInput } from '../../src/config/index.ts';
import { parseConfig } from '../../src/config/load.ts';
import { createKeyward, type Keyward } from '../../src/app/compose.ts';
import type { Clock } from '../../src/core/clock.ts';
import { req, type Res } from './http.ts';

export interface TestKeyward {
  kw: Keyward;
  dir: string;
  /** An API key with every permission (keyward.*). */
  token: string;
  auth: { authorization: string };
  /** Everything the server logged, as lines. */
  logs: string[];
  /** Everything the stdout audit sink wrote. */
  auditLines: string[];
  /** The unseal share, when this harness initialised the seal (1 of 1). */
  share: string | undefined;
  /** POST through inject as the admin, with a JSON body unless `payload` is undefined. */
  post(url: string, payload?: unknown): Promise<Res>;
  /** GET through inject as the admin. */
  get(url: string): Promise<Res>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Extra or overriding configuration (deep-merged over the defaults below). */
  config?: Record<string, unknown>;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
  /** Initialise (1 share) and unseal before returning; default true. */
  unseal?: boolean;
  dir?: string;
}

function capture(lines: string[]) {
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      partial += chunk.toString('utf8');
      const parts = partial.split('\n');
      partial = parts.pop()!;
      lines.push(...parts.filter(Boolean));
      cb();
    },
  });
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    // A section with another `type` (authn: api_key → chain) replaces the default instead of merging into it.
    const sameKind = (x: object, y: object) => (x as { type?: unknown }).type === (y as { type?: unknown }).type;
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur) && sameKind(cur, v)
      ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

export async function startKeyward(opts: StartOptions = {}): Promise<TestKeyward> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'keyward-test-'));
  const signingKey = join(dir, 'audit-signing-key.pem');
  try {
    await generateSigningKeyFile(signingKey);
  } catch {
    // Reusing a directory: the key is already there.
  }
  const token = randomBytes(32).toString('base64url');
  const tokenHash = fingerprint(token);
  const base: KeywardConfigInput = {
    mode: 'production',
    storage: { type: 'sqlite', path: join(dir, 'keyward.db') },
    seal: { dev_unseal_file: join(dir, 'dev-unseal.json') },
    authn: { type: 'api_key', keys: [{ id: 'test-admin', hash_env: 'KEYWARD_TEST_ADMIN_KEY_HASH', scopes: ['keyward.*'] }] },
    audit: { signing_key_path: signingKey, checkpoint_interval: 3600, sinks: [{ type: 'file', path: join(dir, 'audit', 'audit.log') }, { type: 'stdout' }] },
    logging: { level: 'info' },
  } as KeywardConfigInput;
  // The caller's env object itself is used, so a test can change it and ask for a reload.
  const env = Object.assign(opts.env ?? {}, { KEYWARD_TEST_ADMIN_KEY_HASH: tokenHash });
  const config = parseConfig(merge(base as Record<string, unknown>, opts.config ?? {}), {});
  const logs: string[] = [];
  const auditLines: string[] = [];
  const logger = pino({ level: 'info' }, capture(logs));
  const kw = await createKeyward(config, { env, logger, ...(opts.clock ? { clock: opts.clock } : {}), auditStdout: capture(auditLines) });
  let share: string | undefined;
  if (opts.unseal !== false && !kw.seal.status().initialized) {
    const { shares } = await kw.seal.init({ shares: 1, threshold: 1 });
    share = shares[0]!;
    await kw.seal.submitShare(share);
  }
  const auth = { authorization: `Bearer ${token}` };
  return {
    kw,
    dir,
    token,
    auth,
    logs,
    auditLines,
    share,
    post: (url, payload) => req(kw.app, { method: 'POST', url, headers: auth, ...(payload !== undefined ? { payload: payload as object } : {}) }),
    get: (url) => req(kw.app, { method: 'GET', url, headers: auth }),
    async close() {
      await kw.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
