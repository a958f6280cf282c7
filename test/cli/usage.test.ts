// Every command answers --help on stdout with exit 0, and every argument mistake is a one-line usage error on
// stderr with exit 2, before anything is started or sent. No server runs here: KEYWARD_ADDR points at a closed
// port, so a command that wrongly went ahead would exit 4, not 2.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { before, test } from 'node:test';
import { closedPort, runCli, STACK_LINE } from './helpers.ts';

let env: NodeJS.ProcessEnv;
before(async () => {
  env = { KEYWARD_ADDR: `http://127.0.0.1:${await closedPort()}`, KEYWARD_TOKEN: 'x' };
});

const HELP: string[][] = [
  ['--help'],
  ['-h'],
  ['help'],
  ['serve', '--help'],
  ['dev', '--help'],
  ['dev', '-h'],
  ['config', '--help'],
  ['config', 'check', '--help'],
  ['doctor', '--help'],
  ['audit', 'export', '--help'],
  ['init', '--help'],
  ['unseal', '--help'],
  ['seal', '--help'],
  ['status', '--help'],
  ['status', '-h'],
  ['keys', '--help'],
  ['keys', 'sign', '--help'],
  ['keys', 'decrypt', '-h'],
  ['keys', 'list', '--help'],
  ['audit', '--help'],
  ['audit', 'verify', '--help'],
  ['apikey', '--help'],
  ['apikey', 'generate', '--help'],
  ['pdp', 'serve', '--help'],
  ['idp', '--help'],
  ['idp', 'users', '--help'],
  ['idp', 'break-glass', '--help'],
];

test('--help / -h prints the usage on stdout and exits 0, for every command', async () => {
  for (const argv of HELP) {
    const r = await runCli(argv, env);
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.out, /^usage: keyward/, argv.join(' '));
    assert.equal(r.err, '', argv.join(' '));
  }
  const top = await runCli(['--help'], env);
  assert.match(top.out, /exit codes: 0 ok, 1 .*2 usage, 3 configuration/s);
  assert.match((await runCli(['unseal', '--help'], env)).out, /--reset/);
  assert.match((await runCli(['keys', 'sign', '--help'], env)).out, /^usage: keyward keys sign ID/);
});

const USAGE_ERRORS: Array<[string[], RegExp]> = [
  [['serve', '--bogus'], /^error: unknown option --bogus$/],
  [['dev', '--bogus'], /^error: unknown option --bogus$/],
  [['status', '--bogus'], /^error: unknown option --bogus$/],
  [['init', '--reset'], /^error: unknown option --reset$/],
  [['keys', 'list', '-x'], /^error: unknown option -x$/],
  [['config', 'check', 'f.yaml', '--bogus'], /^error: unknown option --bogus$/],
  [['audit', 'verify', '--bogus'], /^error: unknown option --bogus$/],
  [['apikey', 'generate', '--id', 'x', '--bogus'], /^error: unknown option --bogus$/],
  [['pdp', 'serve', '--bogus'], /^error: unknown option --bogus$/],
  [['idp', 'users', 'list', '--bogus'], /^error: unknown option --bogus$/],
  [['idp', 'break-glass', '--bogus'], /^error: unknown option --bogus$/],
  [['--bogus'], /^error: unknown option "--bogus"$/],
  [['keys', 'sign', 'k', '--message'], /^error: Option '--message <value>' argument missing$/],
  [['status', 'extra'], /^error: unexpected argument "extra"$/],
  [['seal', 'extra'], /^error: unexpected argument "extra"$/],
  [['keys', 'list', 'extra'], /^error: unexpected argument "extra"$/],
  [['keys', 'rotate', 'k', 'extra'], /^error: unexpected argument "extra"$/],
  [['config', 'check', 'f.yaml', 'extra'], /^error: unexpected argument "extra"$/],
  [['idp', 'users', 'list', 'extra'], /^error: unexpected argument "extra"$/],
  [['keys', 'sign', 'k'], /^error: give the data/],
  [['keys', 'sign', 'k', '--message', 'a', '--message-file', 'f'], /cannot be combined/],
  [['keys', 'encrypt', 'k'], /^error: give the plaintext/],
  [['keys', 'create', 'k', '--type', 'EC-P256', '--label', 'noequals'], /^error: --label must be NAME=VALUE/],
  [['keys', 'sign', 'k', '--message-file', '/nonexistent/msg'], /^error: cannot read --message-file \/nonexistent\/msg \(ENOENT\)$/],
  [['keys', 'encrypt', 'k', '--plaintext-file', '/nonexistent/pt'], /^error: cannot read --plaintext-file \/nonexistent\/pt \(ENOENT\)$/],
  [['init', '--shares', 'abc'], /^error: --shares must be a whole number/],
  [['init', '--shares', '2', '--threshold', '1.5'], /^error: --threshold must be a whole number/],
  [['status', '--addr', 'not-a-url'], /^error: --addr is not a URL: "not-a-url"$/],
  [['keys'], /^error: missing keys command$/],
  [['config'], /^error: missing config command$/],
  [['doctor', '--config', 'f.yaml'], /^error: doctor needs --production/],
  [['doctor', '--production', '--bogus'], /^error: unknown option --bogus$/],
  [['doctor', '--production', '--config', 'f.yaml', '--hyok-lockout', 'soon'], /^error: --hyok-lockout must be a whole number/],
  [['audit', 'export', '--nats', 'nats://127.0.0.1:1', '--subject', 's'], /^error: export needs --nats URL --subject SUBJECT --out FILE/],
  [[], /^error: missing command$/],
];

test('argument mistakes: exit 2, one error line then the usage on stderr, nothing on stdout, no stack trace', async () => {
  for (const [argv, message] of USAGE_ERRORS) {
    const r = await runCli(argv, env);
    const what = `keyward ${argv.join(' ')}: ${r.err}`;
    assert.equal(r.code, 2, what);
    const [first, ...rest] = r.err.split('\n');
    assert.match(first!, message, what);
    assert.match(rest.join('\n'), /usage: keyward/, what);
    assert.equal(r.out, '', what);
    assert.doesNotMatch(r.err, STACK_LINE, what);
  }
});

test('unseal without shares on stdin or as arguments is a usage error', async () => {
  const r = await runCli(['unseal'], env, { stdin: Readable.from([]) });
  assert.equal(r.code, 2);
  assert.match(r.err, /^error: no unseal shares/);
  const blank = await runCli(['unseal'], env, { stdin: Readable.from(['\n  \n']) });
  assert.equal(blank.code, 2);
  // With shares it goes ahead (and finds no server here).
  assert.equal((await runCli(['unseal'], env, { stdin: Readable.from(['share-1\n']) })).code, 4);
  assert.equal((await runCli(['unseal', 'share-1'], env)).code, 4);
  // --reset alone is a request of its own: reset the progress.
  assert.equal((await runCli(['unseal', '--reset'], env, { stdin: Readable.from([]) })).code, 4);
});

test('audit verify of a missing file or key: one error line naming the file, the code said once', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kw-usage-'));
  try {
    const key = join(dir, 'audit.key');
    assert.equal((await runCli(['audit', 'keygen', '--out', key], env)).code, 0);
    const cases: Array<[string[], number, RegExp]> = [
      [['audit', 'verify', '--key', key, '/nonexistent'], 1, /^error: cannot read the audit log: ENOENT: no such file or directory, \w+ '\/nonexistent'$/],
      [['audit', 'verify', '--public-key', '/nonexistent', join(dir, 'log')], 3, /^error: cannot load the public key: ENOENT: no such file or directory, \w+ '\/nonexistent'$/],
    ];
    for (const [argv, code, line] of cases) {
      const r = await runCli(argv, env);
      assert.equal(r.code, code, r.err);
      assert.match(r.err, line);
      assert.equal(r.out, '');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
