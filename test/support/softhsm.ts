// A private SoftHSM2 for tests: its own token directory and configuration file in a temp dir, tokens initialised
// with softhsm2-util. SoftHSM reads SOFTHSM2_CONF when the library is initialised (C_Initialize), so softHsm() sets it
// for this process: call it before anything in the process initialises the library, and use one per test file
// (node --test runs each file in its own process). When SoftHSM2 is not installed the test is skipped with a plain
// message, except when CI is set, where it fails.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SuiteContext, TestContext } from 'node:test';
import { promisify } from 'node:util';
import { skipMissing } from './missing.ts';

export const SOFTHSM_MODULE = process.env.KEYWARD_TEST_SOFTHSM_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
const UTIL = 'softhsm2-util';

export interface SoftHsmToken {
  label: string;
  pin: string;
  soPin: string;
  /** The token's own directory under the token directory. */
  dir: string;
  /** Moves the token's directory out of SoftHSM's sight, as if the token were pulled. */
  takeAway(): void;
  /** Puts it back. */
  bringBack(): void;
}

export interface SoftHsm {
  dir: string;
  conf: string;
  tokensDir: string;
  modulePath: string;
  initToken(label: string): Promise<SoftHsmToken>;
  /** Removes the directory and restores SOFTHSM2_CONF. */
  cleanup(): void;
}

const run = promisify(execFile);

async function missingReason(): Promise<string | null> {
  if (!existsSync(SOFTHSM_MODULE)) return `${SOFTHSM_MODULE} not found`;
  try {
    await run(UTIL, ['--version']);
    return null;
  } catch (e) {
    return `${UTIL} not runnable (${(e as { code?: string }).code ?? (e as Error).message})`;
  }
}


/**
 * A fresh private SoftHSM2 for this process, or undefined after skipping the test (throws under CI instead). From a
 * hook (no skip() there) the tests themselves must skip when it returns undefined.
 */
export async function softHsm(t: TestContext | SuiteContext, what = 'SoftHSM2 tests'): Promise<SoftHsm | undefined> {
  const reason = await missingReason();
  if (reason !== null) {
    skipMissing(t, what, `SoftHSM2 is not installed (${reason})`, 'apt-get install softhsm2 to run them');
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'keyward-softhsm-'));
  const tokensDir = join(dir, 'tokens');
  const asideDir = join(dir, 'aside');
  const conf = join(dir, 'softhsm2.conf');
  mkdirSync(tokensDir);
  mkdirSync(asideDir);
  writeFileSync(conf, `directories.tokendir = ${tokensDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const previousConf = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = conf;
  const env = { ...process.env, SOFTHSM2_CONF: conf };

  return {
    dir,
    conf,
    tokensDir,
    modulePath: SOFTHSM_MODULE,
    async initToken(label: string): Promise<SoftHsmToken> {
      const before = new Set(readdirSync(tokensDir));
      const pin = randomBytes(8).toString('hex');
      const soPin = randomBytes(8).toString('hex');
      await run(UTIL, ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], { env });
      const created = readdirSync(tokensDir).filter((d) => !before.has(d));
      if (created.length !== 1) throw new Error(`softhsm2-util created ${created.length} token directories for ${label}`);
      const name = created[0] as string;
      const tokenDir = join(tokensDir, name);
      return {
        label,
        pin,
        soPin,
        dir: tokenDir,
        takeAway: () => renameSync(tokenDir, join(asideDir, name)),
        bringBack: () => renameSync(join(asideDir, name), tokenDir),
      };
    },
    cleanup() {
      if (previousConf === undefined) delete process.env.SOFTHSM2_CONF;
      else process.env.SOFTHSM2_CONF = previousConf;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
