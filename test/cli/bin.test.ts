// bin/keyward.js, the `keyward` command npm links: on a node too old for the TypeScript sources it says which node
// it needs and what to run instead (not "Unknown file extension .ts"), and `npx keyward` prints no engine warnings.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { STACK_LINE } from './helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'keyward.js');
const SYSTEM_NODE = '/usr/bin/node';

function majorOf(node: string): number | undefined {
  const r = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.split('.')[0]) : undefined;
}

const oldNode = existsSync(SYSTEM_NODE) && (majorOf(SYSTEM_NODE) ?? 99) < 24;

test('an older node prints the version it needs and the commands to run, exit 1, no stack trace', { skip: oldNode ? false : `no node older than 24 at ${SYSTEM_NODE}` }, () => {
  const r = spawnSync(SYSTEM_NODE, [BIN, 'keys', 'list'], { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^keyward: needs Node\.js 24; this is Node\.js \d+\.\d+\.\d+ \(\/usr\/bin\/node\)\./);
  assert.match(r.stderr, /npx keyward \.\.\./);
  assert.match(r.stderr, /node_modules\/\.bin\/node .*bin\/keyward\.js \.\.\./);
  assert.doesNotMatch(r.stderr, /ERR_UNKNOWN_FILE_EXTENSION|\.ts"/);
  assert.doesNotMatch(r.stderr, STACK_LINE);
});

test('Node 24 runs the command', () => {
  const r = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: keyward /);
});

// npx links the project into its cache on first use, checking `engines` against the node npm runs on (the system's,
// not the node 24 that runs keyward): an empty npm cache makes every run of this test a first use.
test('npx keyward prints the command\'s output and nothing from npm (no EBADENGINE)', { skip: existsSync('/usr/bin/npx') ? false : 'npx not installed' }, () => {
  const cache = mkdtempSync(join(tmpdir(), 'kw-npx-cache-'));
  try {
    const r = spawnSync('/usr/bin/npx', ['--offline', 'keyward', '--help'], { encoding: 'utf8', cwd: ROOT, timeout: 60_000, env: { ...process.env, npm_config_cache: cache } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^usage: keyward /);
    assert.equal(r.stderr, '');
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
