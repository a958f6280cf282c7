// The lock file behind "one writer per data directory and audit file": exclusive within a process and across
// processes, released when its holder dies (kill -9 included), and re-taken if the file is removed under it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileLock, LockHeldError } from '../../src/store/file-lock.ts';
import { createAuditTrail } from '../../src/audit/trail.ts';
import { captureLogger, config, MemoryChain, MemorySettings, newKey, sampleEvent } from '../audit/helpers.ts';
import { ManualClock } from '../support/clock.ts';

const FILE_LOCK = join(import.meta.dirname, '..', '..', 'src', 'store', 'file-lock.ts');

test('exclusive in this process and in another; gone with a killed holder; re-taken when removed; the trail stops writing when lost', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-lock-'));
  try {
    const path = join(dir, 'sub', 'x.lock');
    const a = FileLock.acquire(path, 'the thing');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.throws(() => FileLock.acquire(path, 'the thing'), (e: unknown) => e instanceof LockHeldError && /the thing is in use by another running Keyward/.test(e.message));
    // Another process cannot take it either; once it is released, that process can, and when that process is
    // killed -9 the lock is free again.
    const child = spawn(process.execPath, ['-e', `
      const { FileLock } = await import(${JSON.stringify(FILE_LOCK)});
      for (;;) { try { FileLock.acquire(${JSON.stringify(path)}, 'x'); break; } catch { process.stdout.write('busy\\n'); await new Promise((r) => setTimeout(r, 50)); } }
      process.stdout.write('locked\\n'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const saw = (s: string) => new Promise<void>((resolve) => {
      const check = () => out.includes(s) && resolve();
      child.stdout!.on('data', (c: Buffer) => ((out += c.toString()), check()));
      check();
    });
    await saw('busy');
    a.release();
    await saw('locked');
    assert.throws(() => FileLock.acquire(path, 'x'), LockHeldError);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const b = FileLock.acquire(path, 'x');
    assert.equal(b.lost(), undefined);
    // Removed while held: re-taken on the next check, so that nobody else can take the new file.
    unlinkSync(path);
    assert.equal(b.lost(), undefined);
    assert.throws(() => FileLock.acquire(path, 'x'), LockHeldError);
    // Removed and taken by someone else first: lost for good.
    unlinkSync(path);
    const c = FileLock.acquire(path, 'x');
    assert.match(b.lost() ?? '', /another process locked it/);
    assert.match(b.lost() ?? '', /another process locked it/);

    // A trail whose writer lock is lost writes nothing and refuses every event.
    const key = await newKey(dir);
    const logPath = join(dir, 'audit.log');
    const trail = await createAuditTrail({
      config: config({ signing_key_path: key, sinks: [{ type: 'file', path: logPath }] }),
      chain: new MemoryChain(), settings: new MemorySettings(), clock: new ManualClock(), logger: captureLogger().logger, production: false, writerLock: b,
    });
    await assert.rejects(trail.record(sampleEvent(1)), (e: { code?: string; detail?: string }) => e.code === 'audit.unavailable' && /writer lock/.test(e.detail ?? ''));
    assert.equal(trail.ready(), false);
    await trail.close();
    assert.equal(statSync(logPath).size, 0, 'nothing was written, not even the start event');
    b.release();
    c.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
