// The KMIP transport against a scripted TLS server: framing, timeouts, broken replies, the pool, reconnects.
// The real server (PyKMIP) is in kmip-client.test.ts; this file makes the failures PyKMIP does not produce on demand.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type Server, type TLSSocket, createServer } from 'node:tls';
import { KmipClient } from '../../../src/keys/providers/kmip/client.ts';
import { KmipProtocolError, KmipUnavailableError } from '../../../src/keys/providers/kmip/errors.ts';
import { Operation, Tag } from '../../../src/keys/providers/kmip/tags.ts';
import { KmipTransport, type KmipTransportOptions } from '../../../src/keys/providers/kmip/transport.ts';
import { dateTime, encode, enumeration, integer, structure } from '../../../src/keys/providers/kmip/ttlv.ts';
import { TestPki } from '../../support/certs.ts';
import { freePort } from '../../../harness/net.ts';

type Behaviour = (socket: TLSSocket, request: Buffer) => void;

const response = (op: number = Operation.DiscoverVersions) =>
  encode(
    structure(Tag.ResponseMessage, [
      structure(Tag.ResponseHeader, [
        structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, 1), integer(Tag.ProtocolVersionMinor, 4)]),
        dateTime(Tag.TimeStamp, 1700000000n),
        integer(Tag.BatchCount, 1),
      ]),
      structure(Tag.BatchItem, [
        enumeration(Tag.Operation, op),
        enumeration(Tag.ResultStatus, 0),
        structure(Tag.ResponsePayload, [structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, 1), integer(Tag.ProtocolVersionMinor, 4)])]),
      ]),
    ]),
  );

const REQUEST = encode(structure(Tag.RequestMessage, [integer(Tag.BatchCount, 1)]));

const pki = new TestPki();
pki.ca('ca');
pki.leaf('server', 'ca', 'kmip-fake', 'IP:127.0.0.1');
pki.leaf('client', 'ca', 'keyward');
pki.ca('other-ca');
pki.leaf('stranger', 'other-ca', 'stranger');
const creds = (cert = 'client', ca = 'ca') => ({
  ca: readFileSync(pki.path(`${ca}.pem`)),
  cert: readFileSync(pki.path(`${cert}.pem`)),
  key: readFileSync(pki.path(`${cert}.key`)),
});

let server: Server;
let port: number;
let behaviour: Behaviour;
/** Connections that carried a request during the current test (a late connection of an earlier test's client does not count). */
let connections = 0;
const carried = new WeakSet<TLSSocket>();
let inFlight = 0;
let maxInFlight = 0;
const sockets = new Set<TLSSocket>();

before(async () => {
  server = createServer(
    { cert: readFileSync(pki.path('server.pem')), key: readFileSync(pki.path('server.key')), ca: readFileSync(pki.path('ca.pem')), requestCert: true, rejectUnauthorized: true },
    (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      let buf = Buffer.alloc(0);
      socket.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 8 && buf.length >= 8 + buf.readUInt32BE(4)) {
          const frame = buf.subarray(0, 8 + buf.readUInt32BE(4));
          buf = buf.subarray(frame.length);
          if (!carried.has(socket)) {
            carried.add(socket);
            connections++;
          }
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          behaviour(socket, frame);
        }
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(() => {
  for (const s of sockets) s.destroy();
  server.close();
  rmSync(pki.dir, { recursive: true, force: true });
});

function reset(b: Behaviour) {
  behaviour = b;
  connections = 0;
  // Sockets of earlier tests are gone; one that connects later never counts (the client closed before it opened).
  inFlight = 0;
  maxInFlight = 0;
  for (const s of sockets) s.destroy();
}

const answer: Behaviour = (socket) => {
  inFlight--;
  socket.write(response());
};

const transport = (opts: Partial<KmipTransportOptions> = {}) => new KmipTransport({ host: '127.0.0.1', port, ...creds(), requestTimeoutMs: 2000, ...opts });

const unavailable = (kind: KmipUnavailableError['kind']) => (e: unknown) => e instanceof KmipUnavailableError && e.code === 'kmip.unavailable' && e.kind === kind;

describe('KMIP transport', () => {
  test('reassembles a response that arrives one byte at a time', async () => {
    reset((socket) => {
      inFlight--;
      const r = response();
      for (let i = 0; i < r.length; i++) socket.write(r.subarray(i, i + 1));
    });
    const t = transport();
    try {
      assert.deepEqual(await t.send(REQUEST), response());
    } finally {
      t.close();
    }
  });

  test('a server that does not answer times out; the connection is dropped and the next request dials anew', async () => {
    let calls = 0;
    reset((socket) => {
      if (++calls > 1) answer(socket, REQUEST);
    });
    const t = transport({ requestTimeoutMs: 300 });
    try {
      await assert.rejects(t.send(REQUEST), unavailable('timeout'));
      assert.deepEqual(await t.send(REQUEST), response());
      assert.equal(connections, 2);
    } finally {
      t.close();
    }
  });

  test('replies that are not one Response Message are protocol errors, never returned', async () => {
    const cases: [string, Behaviour][] = [
      ['announced length over the limit', (s) => s.write(Buffer.from('42007b01ffffff00', 'hex'))],
      ['more bytes than announced', (s) => s.write(Buffer.concat([response(), Buffer.alloc(8)]))],
      ['not a Response Message', (s) => s.write(REQUEST)],
    ];
    for (const [name, b] of cases) {
      reset(b);
      const t = transport({ maxResponseBytes: 4096 });
      try {
        await assert.rejects(t.send(REQUEST), KmipProtocolError, name);
      } finally {
        t.close();
      }
    }
  });

  test('data with no request in flight poisons the connection; the next request uses a new one', async () => {
    let calls = 0;
    reset((socket) => {
      answer(socket, REQUEST);
      if (++calls === 1) setTimeout(() => socket.write(Buffer.alloc(8, 1)), 10);
    });
    const t = transport();
    try {
      await t.send(REQUEST);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(await t.send(REQUEST), response());
      assert.equal(connections, 2);
    } finally {
      t.close();
    }
  });

  test('one request in flight per connection: a pool of one serialises concurrent requests', async () => {
    reset((socket) => setTimeout(() => answer(socket, REQUEST), 20));
    const t = transport({ poolSize: 1 });
    try {
      const results = await Promise.all(Array.from({ length: 4 }, () => t.send(REQUEST)));
      assert.equal(results.length, 4);
      assert.equal(maxInFlight, 1);
      assert.equal(connections, 1);
    } finally {
      t.close();
    }
  });

  test('a pool of two runs two requests at once on two connections', async () => {
    reset((socket) => setTimeout(() => answer(socket, REQUEST), 50));
    const t = transport({ poolSize: 2 });
    try {
      await Promise.all(Array.from({ length: 4 }, () => t.send(REQUEST)));
      assert.equal(maxInFlight, 2);
      assert.equal(connections, 2);
    } finally {
      t.close();
    }
  });

  test('a request waiting for a busy pool times out too', async () => {
    reset(() => {});
    const t = transport({ poolSize: 1, requestTimeoutMs: 200 });
    try {
      const results = await Promise.allSettled([t.send(REQUEST), t.send(REQUEST)]);
      for (const r of results) assert.ok(r.status === 'rejected' && unavailable('timeout')(r.reason));
    } finally {
      t.close();
    }
  });

  test('a connection the server closed while idle is replaced on the next request', async () => {
    reset(answer);
    const t = transport();
    try {
      await t.send(REQUEST);
      for (const s of sockets) s.destroy();
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(await t.send(REQUEST), response());
      assert.equal(connections, 2);
    } finally {
      t.close();
    }
  });

  test('refused connections and failed handshakes are typed unavailable errors', async () => {
    reset(answer);
    const closedPort = await freePort();
    const refused = new KmipTransport({ host: '127.0.0.1', port: closedPort, ...creds() });
    await assert.rejects(refused.send(REQUEST), unavailable('connect'));
    refused.close();
    // The client does not trust the server's CA.
    const distrust = new KmipTransport({ host: '127.0.0.1', port, ...creds('client', 'other-ca') });
    await assert.rejects(distrust.send(REQUEST), unavailable('tls'));
    distrust.close();
    // The server does not trust the client's certificate (TLS 1.3 reports it after the handshake, as a closed connection).
    const stranger = new KmipTransport({ host: '127.0.0.1', port, ...creds('stranger') });
    await assert.rejects(stranger.send(REQUEST), (e: unknown) => e instanceof KmipUnavailableError && ['tls', 'closed'].includes(e.kind));
    stranger.close();
  });

  test('close() fails waiting and later requests', async () => {
    reset(() => {});
    const t = transport({ poolSize: 1, requestTimeoutMs: 5000 });
    const first = t.send(REQUEST);
    const waiting = t.send(REQUEST);
    await new Promise((r) => setTimeout(r, 50));
    t.close();
    await assert.rejects(first, KmipUnavailableError);
    await assert.rejects(waiting, unavailable('pool_closed'));
    await assert.rejects(t.send(REQUEST), unavailable('pool_closed'));
  });

  test('the client turns an undecodable reply into a protocol error', async () => {
    // A well-framed Response Message whose body has non-zero padding.
    const bad = Buffer.from(response());
    bad[bad.length - 1] = 1;
    reset((socket) => socket.write(bad));
    const client = new KmipClient({ host: '127.0.0.1', port, ...creds() });
    try {
      await assert.rejects(client.probe(), (e: unknown) => e instanceof KmipProtocolError && e.code === 'kmip.protocol_error');
    } finally {
      client.close();
    }
  });
});
