// keyward conformance run | list: the replacement suite of KeyCape §15 against any issuer (Keyward or Keycloak).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isProblem } from '../../core/problem.ts';
import { launchBrowser, DEFAULT_CHROMIUM, type BrowserDriver } from '../../conformance/browser.ts';
import { CATALOGUE, SCENARIOS, scenarioTests, type Scenario } from '../../conformance/catalogue.ts';
import { junitXml, printRun, textTable } from '../../conformance/output.ts';
import { assertIssuerAnswers, type ClientTarget } from '../../conformance/rp.ts';
import { runConformance } from '../../conformance/runner.ts';
import type { ConformanceTarget } from '../../conformance/suite.ts';
import { parseIdentityText } from '../../identity/validate.ts';
import { isHelp, parseCommand, UsageError, usageError } from '../args.ts';
import { EXIT, type CliIo } from '../io.ts';

const USAGE = [
  'usage: keyward conformance run --issuer URL --client ID --redirect-uri URI --user NAME --password-env VAR',
  '         [--client-secret-env VAR] [--client-auth client_secret_basic|client_secret_post|none] [--post-logout-redirect-uri URI]',
  '         [--mfa-client ID --mfa-redirect-uri URI [--mfa-client-secret-env VAR] [--mfa-user NAME --mfa-password-env VAR] [--mfa-totp-secret-env VAR]]',
  '         [--scope "openid profile email groups"] [--document CANONICAL.json] [--scenario A|B|C|D (A)]',
  '         [--keyward | --not-keyward] [--metrics URL] [--chromium PATH] [--report junit.xml] [--results results.json] [--json]',
  '       keyward conformance list [--scenario A|B|C|D] [--json]',
  'Signs in through the issuer\'s own pages in headless Chromium (playwright-core) and checks what an application relies',
  'on: discovery, login, token claims, redirect validation, client configuration, logout, MFA policy, refusals, and',
  'on Keyward its telemetry. Redirects to the client\'s URIs are answered inside the browser: nothing needs to listen',
  'there. Secrets come from environment variables only. --results writes the document `keyward migrate report',
  '--contract-results` attaches. Exit: 0 all passed, 1 a test failed, 2 usage, 4 issuer or browser unavailable.',
].join('\n');

const OPTIONS = {
  issuer: { type: 'string' },
  client: { type: 'string' },
  'client-secret-env': { type: 'string' },
  'client-auth': { type: 'string' },
  'redirect-uri': { type: 'string' },
  'post-logout-redirect-uri': { type: 'string' },
  user: { type: 'string' },
  'password-env': { type: 'string' },
  'mfa-client': { type: 'string' },
  'mfa-client-secret-env': { type: 'string' },
  'mfa-redirect-uri': { type: 'string' },
  'mfa-user': { type: 'string' },
  'mfa-password-env': { type: 'string' },
  'mfa-totp-secret-env': { type: 'string' },
  scope: { type: 'string' },
  document: { type: 'string' },
  scenario: { type: 'string' },
  keyward: { type: 'boolean' },
  'not-keyward': { type: 'boolean' },
  metrics: { type: 'string' },
  chromium: { type: 'string' },
  report: { type: 'string' },
  results: { type: 'string' },
  json: { type: 'boolean' },
} as const;

type Values = { -readonly [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

export interface ConformanceDeps {
  /** The browser to sign in with; default headless Chromium through playwright-core. */
  browser?: () => Promise<BrowserDriver>;
}

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

function secretFrom(io: CliIo, option: string, name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  if (!ENV_NAME.test(name)) throw new UsageError(`${option} is an environment variable name (A-Z, 0-9, _)`);
  const v = io.env[name];
  if (!v) throw new UsageError(`${option}: ${name} is not set`);
  return v;
}

function url(option: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  try {
    const u = new URL(v);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error();
    return v;
  } catch {
    throw new UsageError(`${option} is an http(s) URL`);
  }
}

function scenarioOf(v: string | undefined): Scenario {
  const s = v ?? 'A';
  if (!(s in SCENARIOS)) throw new UsageError('--scenario is A, B, C or D');
  return s as Scenario;
}

function client(io: CliIo, id: string, redirect: string | undefined, secretEnv: string | undefined, auth: string | undefined, prefix: string, postLogout?: string): ClientTarget {
  const redirectUri = url(`--${prefix}redirect-uri`, redirect);
  if (!redirectUri) throw new UsageError(`--${prefix}redirect-uri is required`);
  const secret = secretFrom(io, `--${prefix}client-secret-env`, secretEnv);
  const method = auth ?? (secret === undefined ? 'none' : 'client_secret_basic');
  if (method !== 'client_secret_basic' && method !== 'client_secret_post' && method !== 'none') throw new UsageError('--client-auth is client_secret_basic, client_secret_post or none');
  if ((method === 'none') !== (secret === undefined)) throw new UsageError(method === 'none' ? '--client-auth none takes no secret' : `--${prefix}client-secret-env is required for ${method}`);
  return { id, secret, auth: method, redirectUri, postLogoutRedirectUri: url('--post-logout-redirect-uri', postLogout) };
}

async function target(io: CliIo, v: Values): Promise<ConformanceTarget> {
  const issuer = url('--issuer', v.issuer);
  if (!issuer) throw new UsageError('--issuer is required');
  if (!v.client) throw new UsageError('--client is required');
  if (!v.user) throw new UsageError('--user is required');
  if (!v['password-env']) throw new UsageError('--password-env is required (the variable holding the user\'s password)');
  const password = secretFrom(io, '--password-env', v['password-env'])!;
  const main = client(io, v.client, v['redirect-uri'], v['client-secret-env'], v['client-auth'], '', v['post-logout-redirect-uri']);
  let mfaClient: ClientTarget | undefined;
  if (v['mfa-client'] !== undefined) mfaClient = client(io, v['mfa-client'], v['mfa-redirect-uri'], v['mfa-client-secret-env'], undefined, 'mfa-');
  else if (v['mfa-redirect-uri'] ?? v['mfa-client-secret-env'] ?? v['mfa-user'] ?? v['mfa-totp-secret-env']) throw new UsageError('the --mfa-… options need --mfa-client');
  if ((v['mfa-user'] === undefined) !== (v['mfa-password-env'] === undefined)) throw new UsageError('--mfa-user and --mfa-password-env go together');
  let document: ConformanceTarget['document'];
  if (v.document !== undefined) {
    const text = await readFile(v.document, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new UsageError(`--document ${v.document}: ${e.code ?? e.message}`);
    });
    const parsed = parseIdentityText(text, v.document);
    // An unreadable document is DATA-1's finding, not a usage error: the run reports it.
    document = { data: 'data' in parsed ? parsed.data : undefined, source: v.document };
  }
  return {
    issuer,
    client: main,
    user: { username: v.user, password },
    scope: v.scope,
    mfaClient,
    mfaTotpSecret: secretFrom(io, '--mfa-totp-secret-env', v['mfa-totp-secret-env']),
    mfaUser: v['mfa-user'] ? { username: v['mfa-user'], password: secretFrom(io, '--mfa-password-env', v['mfa-password-env'])! } : undefined,
    document,
  };
}

async function writeOut(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}

export async function run(argv: string[], io: CliIo, deps: ConformanceDeps = {}): Promise<number> {
  const [sub, ...rest] = argv;
  if (isHelp(sub)) {
    io.out(USAGE);
    return EXIT.ok;
  }
  const args = parseCommand(rest, io, { usage: USAGE, options: OPTIONS, args: [] });
  if (typeof args === 'number') return args;
  const v = args.values as Values;
  try {
    if (sub === 'list') {
      const defs = v.scenario === undefined ? CATALOGUE : scenarioTests(scenarioOf(v.scenario));
      if (v.json) io.out(JSON.stringify(defs));
      else for (const l of textTable(['id', 'category', 'section', 'applies', 'asserts'], defs.map((d) => [d.id, d.category, d.section, d.applies, d.asserts]), 200)) io.out(l);
      return EXIT.ok;
    }
    if (sub !== 'run') return usageError(io, USAGE, sub ? `unknown conformance command: ${sub}` : 'missing conformance command');
    if (v.keyward && v['not-keyward']) throw new UsageError('--keyward and --not-keyward exclude each other');
    const scenario = scenarioOf(v.scenario);
    const t = await target(io, v);
    const metricsUrl = url('--metrics', v.metrics);
    let driver: Promise<BrowserDriver> | undefined;
    const browser = () => (driver ??= (deps.browser ?? (() => launchBrowser({ executablePath: v.chromium ?? DEFAULT_CHROMIUM })))());
    // A run that needs the browser fails up front, with one message, when there is none.
    if (scenarioTests(scenario).some((d) => d.needs.includes('browser'))) await browser();
    try {
      await assertIssuerAnswers(t.issuer);
    } catch (e) {
      if (driver) await (await driver).close();
      throw e;
    }
    let result;
    try {
      result = await runConformance(t, { scenario, keyward: v.keyward ? true : v['not-keyward'] ? false : 'auto', metricsUrl, browser });
    } finally {
      if (driver) await (await driver).close();
    }
    if (v.report) await writeOut(v.report, junitXml(result));
    if (v.results) await writeOut(v.results, `${JSON.stringify(result.results, null, 2)}\n`);
    if (v.json) io.out(JSON.stringify(result.results));
    else for (const l of printRun(result)) io.out(l);
    return result.results.status === 'passed' ? EXIT.ok : EXIT.failure;
  } catch (e) {
    if (e instanceof UsageError) return usageError(io, USAGE, e.message);
    if (isProblem(e)) {
      io.err(`error: ${e.code}: ${e.detail ?? e.title}`);
      return e.status === 503 ? EXIT.unavailable : EXIT.failure;
    }
    throw e;
  }
}
