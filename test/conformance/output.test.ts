// The suite's pieces that need no issuer: the acceptance rule, the JUnit report, the metrics reader, the command's
// refusals before any request (a missing browser, bad options).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { run as runCli } from '../../src/cli/commands/conformance.ts';
import { closedPort } from '../cli/helpers.ts';
import { CATALOGUE } from '../../src/conformance/catalogue.ts';
import { eventDelta, parseIdpEvents } from '../../src/conformance/metrics.ts';
import { junitXml } from '../../src/conformance/output.ts';
import { toResults, type TestOutcome } from '../../src/conformance/runner.ts';
import { contractResultsSchema } from '../../src/migrate/report.ts';

const def = (id: string) => CATALOGUE.find((d) => d.id === id)!;
const outcome = (id: string, status: TestOutcome['status'], message?: string): TestOutcome => ({ def: def(id), status, message, duration_ms: 5 });

describe('conformance output', () => {
  it('every catalogue test has an implementation, a unique id and a category of §15.3', async () => {
    const { IMPLEMENTATIONS } = await import('../../src/conformance/suite.ts');
    assert.deepEqual(CATALOGUE.map((d) => d.id).filter((id) => !IMPLEMENTATIONS[id]), []);
    assert.deepEqual(Object.keys(IMPLEMENTATIONS).sort(), CATALOGUE.map((d) => d.id).sort());
  });

  it('the acceptance rule: a failure in a category makes its rule not met; no test, not checked; the document validates', () => {
    const r = toResults('B', 'https://kc.example/realms/acme', [outcome('DISC-1', 'passed'), outcome('CLAIMS-1', 'failed', 'no assurance'), outcome('NEG-5', 'skipped', 'applies to Keyward issuers only')], false, new Date(0), new Date(1000));
    assert.ok(contractResultsSchema.safeParse(r).success);
    assert.equal(r.status, 'failed');
    assert.deepEqual(Object.fromEntries(r.acceptance.map((a) => [a.rule, a.status])), {
      'profile-conformant apps keep working': 'met',
      'required claims remain stable': 'not_met',
      'unsupported cases fail in expected ways': 'not_checked',
      'canonical identity data remains valid': 'not_checked',
      'telemetry remains available where expected': 'not_checked',
    });
    assert.equal(r.acceptance.at(-1)!.detail, 'telemetry is asserted on Keyward issuers only');
  });

  it('JUnit XML: one testsuite per category, failures and skips with their messages, XML escaped', () => {
    const outcomes = [outcome('DISC-1', 'passed'), outcome('CLAIMS-1', 'failed', 'claim <assurance> & "roles"'), outcome('NEG-5', 'skipped', "Keyward's only")];
    const xml = junitXml({ scenario: 'B', issuer: 'https://kc.example/realms/acme', keyward: false, outcomes, results: toResults('B', 'x', outcomes, false, new Date(0), new Date(0)) });
    assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="keyward conformance B" tests="3" failures="1" skipped="1"/);
    assert.equal(xml.match(/<testsuite /g)!.length, 3);
    assert.match(xml, /<failure message="claim &lt;assurance&gt; &amp; &quot;roles&quot;" type="IAM profile 0.2 claims">/);
    assert.match(xml, /<skipped message="Keyward&apos;s only"\/>/);
  });

  it('reads keyward_idp_events_total and the difference between two scrapes', () => {
    const before = parseIdpEvents('# HELP x\nkeyward_idp_events_total{realm="acme",event="token_issued",result="success",error_class="",feature="authorization_code",client_id="portal"} 2\n');
    const after = parseIdpEvents(
      'keyward_idp_events_total{realm="acme",event="token_issued",result="success",error_class="",feature="authorization_code",client_id="portal"} 3\n' +
        'keyward_idp_events_total{realm="acme",event="unsupported_request",result="rejected",error_class="rejected_for_profile_safety",feature="pkce_plain",client_id="portal"} 1\n',
    );
    assert.deepEqual(eventDelta(before, after).map((e) => [e.event, e.feature, e.value]), [
      ['token_issued', 'authorization_code', 1],
      ['unsupported_request', 'pkce_plain', 1],
    ]);
  });

  it('the command: no browser is exit 4 with conformance.browser_unavailable before any request; bad options are usage errors', async () => {
    const lines: string[] = [];
    const io = { out: (l: string) => void lines.push(l), err: (l: string) => void lines.push(l), env: { PW: 'x' } };
    const base = ['run', '--issuer', 'http://127.0.0.1:9/realms/acme', '--client', 'portal', '--redirect-uri', 'http://127.0.0.1:8400/cb', '--user', 'u', '--password-env', 'PW'];
    assert.equal(await runCli([...base, '--chromium', '/nonexistent/chromium'], io), 4);
    assert.match(lines.join('\n'), /error: conformance.browser_unavailable: Chromium not found at \/nonexistent\/chromium/);
    // An issuer that does not answer at all: exit 4 up front (the help's "issuer unavailable"), not 27 failed tests.
    lines.length = 0;
    const closed = await closedPort();
    const unreachable = base.map((a) => (a === 'http://127.0.0.1:9/realms/acme' ? `http://127.0.0.1:${closed}/realms/acme` : a));
    assert.equal(await runCli([...unreachable, '--scenario', 'D', '--json'], io), 4);
    assert.deepEqual(lines, [`error: conformance.issuer_unavailable: http://127.0.0.1:${closed} did not answer (ECONNREFUSED)`]);
    for (const [extra, message] of [
      [['--scenario', 'E'], '--scenario is A, B, C or D'],
      [['--client-auth', 'client_secret_basic'], '--client-secret-env is required for client_secret_basic'],
      [['--mfa-redirect-uri', 'http://x/cb'], 'the --mfa-… options need --mfa-client'],
      [['--keyward', '--not-keyward'], '--keyward and --not-keyward exclude each other'],
    ] as const) {
      lines.length = 0;
      assert.equal(await runCli([...base, ...extra], io), 2, extra.join(' '));
      assert.match(lines[0]!, new RegExp(`error: ${message.replace(/[-[\]{}()*+?.,\\^$|#]/g, '\\$&')}`));
    }
  });
});
