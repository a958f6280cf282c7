// Several instances on one PostgreSQL database hear each other's changes at once (LISTEN/NOTIFY), not after their
// cache TTL: a key disabled on A is refused on B 50 ms later although B's cache would keep it for a minute; a
// client changed by a realm apply (as `keyward idp apply` does, from another process) is changed on B as quickly.
// A change missed while B's listener is cut off is made up for by dropping its caches on reconnect. How long
// propagation takes is measured over many rotations and reported, not asserted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pgClient from 'pg';
import { applyRealmFile, parseRealmFile } from '../../src/idp/realm-file.ts';
import { openStore } from '../../src/store/open.ts';
import { migrateIdp } from '../../src/idp/store/migrations.ts';
import { Directory } from '../../src/idp/store/directory.ts';
import { pgTestSchema } from '../support/pg.ts';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { req } from '../support/http.ts';
import { freePort, REALM_YAML, SECRETS } from '../idp/support/env.ts';
import { idpRepositories } from '../../src/idp/store/repositories.ts';
import { idpSettings } from '../../src/idp/config.ts';

const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64');

test('two instances: changes on one are seen by the other within milliseconds, not the cache TTL', { timeout: 120_000 }, async (t) => {
  const pg = await pgTestSchema(t, 'cache invalidation tests');
  if (!pg) return;
  const storage = { type: 'postgres', url: pg.url, schema: pg.schema };
  const instances: TestKeyward[] = [];
  const start = async (name: string, unseal: boolean) => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const inst = await startKeyward({
      unseal,
      config: {
        storage,
        server: { instance_id: name, port },
        // A minute: without announcements, B would go on using what it cached for that long.
        keys: { cache_ttl: '60s' },
        idp: {
          enabled: true,
          base_url: base,
          argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 },
          realms: [{ name: 'main', access_token_resource: 'https://keyward.test/api', custom_scopes: [{ name: 'keys.sign' }] }],
        },
      },
    });
    instances.push(inst);
    await inst.kw.app.listen({ host: '127.0.0.1', port });
    return { inst, base };
  };
  try {
    const { inst: a } = await start('kw-a', true);
    const { inst: b, base: baseB } = await start('kw-b', false);
    await b.kw.seal.submitShare(a.share!);

    // Keys: B caches the enabled key by signing with it; A disables it; 50 ms later B refuses.
    assert.equal((await req(a.kw.app, { method: 'POST', url: '/v1/keys', headers: a.auth, payload: { key_id: 'k', key_type: 'EC-P256' } })).status, 201);
    const signOnB = () => req(b.kw.app, { method: 'POST', url: '/v1/keys/k/sign', headers: b.auth, payload: { message: 'aGk=' } });
    assert.equal((await signOnB()).status, 200);
    assert.equal((await req(a.kw.app, { method: 'POST', url: '/v1/keys/k/disable', headers: a.auth })).status, 200);
    await sleep(50);
    const refused = await signOnB();
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'key.disabled');

    // B's listener is cut off: a change made meanwhile is missed, so on reconnecting B drops everything it cached.
    assert.equal((await req(a.kw.app, { method: 'POST', url: '/v1/keys', headers: a.auth, payload: { key_id: 'k2', key_type: 'EC-P256' } })).status, 201);
    const signK2OnB = () => req(b.kw.app, { method: 'POST', url: '/v1/keys/k2/sign', headers: b.auth, payload: { message: 'aGk=' } });
    assert.equal((await signK2OnB()).status, 200);
    const listening = () => b.kw.store.changes!.listening;
    const admin = new pgClient.Client({ connectionString: pg.url });
    await admin.connect();
    try {
      // A's listener has the same name and is cut off too; either way B's is.
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [`keyward changes ${pg.schema}`]);
    } finally {
      await admin.end();
    }
    for (let i = 0; i < 100 && listening(); i++) await sleep(10);
    assert.equal(listening(), false);
    assert.equal((await req(a.kw.app, { method: 'POST', url: '/v1/keys/k2/disable', headers: a.auth })).status, 200);
    for (let i = 0; i < 500 && !listening(); i++) await sleep(10);
    assert.equal(listening(), true, 'B listens again');
    assert.equal((await signK2OnB()).body.code, 'key.disabled');

    // The realm: B issues tokens to a client; a realm apply from another process changes its secret; 50 ms
    // later B refuses the old secret (its client cache would keep the old one for CLIENT_CACHE_MS otherwise).
    const cli = await openStore({ type: 'postgres', url: pg.url, schema: pg.schema });
    try {
      await migrateIdp(cli.kysely, 'postgres');
      const realm = idpSettings(a.kw.config.idp)!.realms[0]!;
      const apply = (secret: string) => applyRealmFile(idpRepositories(cli.kysely, 'postgres'), realm, parseRealmFile(REALM_YAML), { dryRun: false, env: { ...SECRETS, SVC_SECRET: secret }, argon2: idpSettings(a.kw.config.idp)!.argon2 });
      await apply(SECRETS.SVC_SECRET);
      await sleep(50);
      const token = (secret: string) =>
        fetch(`${baseB}/realms/main/protocol/openid-connect/token`, {
          method: 'POST',
          headers: { authorization: basic('svc', secret), 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'keys.sign' }),
        });
      assert.equal((await token(SECRETS.SVC_SECRET)).status, 200);
      await apply('a-new-secret-0123456789abcdef');
      await sleep(50);
      assert.equal((await token(SECRETS.SVC_SECRET)).status, 401);
      assert.equal((await token('a-new-secret-0123456789abcdef')).status, 200);
      // `keyward idp clients disable svc` writes through the directory outside a realm apply: announced as well.
      const dir = new Directory(cli.kysely, 'main');
      await dir.putClient({ ...(await dir.getClient('svc'))!, enabled: false });
      await sleep(50);
      assert.equal((await token('a-new-secret-0123456789abcdef')).status, 401);
    } finally {
      await cli.close();
    }

    // Writes stay correct under concurrency across instances: 20 rotations at once, half on each, all succeed (the
    // losers of a revision check retry) and make 20 contiguous versions.
    assert.equal((await req(a.kw.app, { method: 'POST', url: '/v1/keys', headers: a.auth, payload: { key_id: 'c', key_type: 'EC-P256' } })).status, 201);
    const rotations = await Promise.all(Array.from({ length: 20 }, (_, i) => {
      const on = i % 2 === 0 ? a : b;
      return req(on.kw.app, { method: 'POST', url: '/v1/keys/c/rotate', headers: on.auth });
    }));
    assert.deepEqual(rotations.map((r) => r.status), Array(20).fill(200));
    assert.deepEqual([...new Set(rotations.map((r) => r.body.current_version))].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 2));
    // B's view, read once the last rotation's announcement has had its 50 ms (a read B started before A's commit
    // and finished after the announcement must not have cached the older state).
    await sleep(50);
    const c = await req(b.kw.app, { method: 'GET', url: '/v1/keys/c', headers: b.auth });
    assert.deepEqual(c.body.versions.map((v: { version: number }) => v.version), Array.from({ length: 21 }, (_, i) => i + 1));

    // Propagation time: rotate on A, then watch B's (cached) view until it shows the new version.
    assert.equal((await req(a.kw.app, { method: 'POST', url: '/v1/keys', headers: a.auth, payload: { key_id: 'r', key_type: 'AES-256-GCM' } })).status, 201);
    await b.kw.keys.describe('r');
    const samples: number[] = [];
    for (let i = 0; i < 200; i++) {
      const rotated = await req(a.kw.app, { method: 'POST', url: '/v1/keys/r/rotate', headers: a.auth });
      assert.equal(rotated.status, 200);
      const acked = performance.now();
      const want = rotated.body.current_version as number;
      while ((await b.kw.keys.describe('r')).record.currentVersion !== want) {
        if (performance.now() - acked > 10_000) assert.fail(`rotation ${i} not seen on B within 10 s`);
        await new Promise((r) => setImmediate(r));
      }
      samples.push(performance.now() - acked);
    }
    samples.sort((x, y) => x - y);
    const pct = (p: number) => samples[Math.min(samples.length - 1, Math.ceil((p / 100) * samples.length) - 1)]!.toFixed(1);
    t.diagnostic(`propagation A→B after the write was acknowledged, ${samples.length} rotations: p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${pct(100)} ms`);

    // What the instances export: B counted what it heard; exactly one instance leads the background jobs.
    const metrics = async (i: TestKeyward) => (await i.kw.app.inject({ method: 'GET', url: '/metrics' })).body;
    const mb = await metrics(b);
    assert.match(mb, /keyward_cache_invalidations_received_total\{kind="key"\} ([2-9]\d\d|\d{4,})/);
    assert.match(mb, /keyward_cache_invalidations_received_total\{kind="realm"\} [3-9]/);
    assert.match(mb, /^keyward_cache_invalidation_listening 1$/m);
    assert.match(mb, /keyward_cache_invalidations_received_total\{kind="all"\} 1/);
    const leaders = (await Promise.all([a, b].map(metrics))).filter((m) => /^keyward_leader 1$/m.test(m));
    assert.equal(leaders.length, 1);
  } finally {
    for (const i of instances.reverse()) await i.close();
    await pg.cleanup();
  }
});
