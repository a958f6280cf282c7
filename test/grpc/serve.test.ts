// `keyward serve` with server.grpc: the gRPC port taken is the same prompt exit 4 as REST's, with the port named.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { listenServer } from '../cli/helpers.ts';
import { freePort } from '../../harness/net.ts';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

test('gRPC port in use: one line naming server.grpc and the address, exit 4, nothing left running', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-grpc-busy-'));
  const blocker = createServer();
  blocker.unref();
  const grpcPort = await listenServer(blocker);
  const cfg = join(dir, 'keyward.yaml');
  writeFileSync(cfg, `mode: dev
server: { port: ${await freePort()}, grpc: { port: ${grpcPort} } }
storage: { type: sqlite, path: ${join(dir, 'kw.db')} }
seal: { dev_unseal_file: ${join(dir, 'unseal.json')} }
logging: { level: error }
audit: { enabled: false }
`);
  const proc = spawn(process.execPath, [MAIN, 'serve', '--config', cfg], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const deadline = new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000).unref());
  try {
    assert.equal(await Promise.race([exited, deadline]), 4, stderr);
    assert.equal(stderr.trim(), `keyward: server.grpc: cannot listen on 127.0.0.1:${grpcPort}: EADDRINUSE`);
  } finally {
    proc.kill('SIGKILL');
    blocker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
