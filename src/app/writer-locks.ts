// One writer per data directory, per audit file and per audit chain, taken before anything is written at start:
// a second `keyward serve` with the same configuration stops here, having changed nothing on disk or in the
// database. The locks are held for the life of the process and tell the audit trail when one is lost.
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { AckFile, ackStoreOn, type AuditAckStore } from '../audit/ack.ts';
import type { AuditConfig } from '../audit/config.ts';
import { sinkDescriptor } from '../audit/sinks/index.ts';
import { settingsNameForChainId, type WriterLock } from '../audit/trail.ts';
import type { KeywardConfig } from '../config/index.ts';
import { WriterLockHeldError, WriterSession } from '../store/writer-session.ts';
import { FileLock, LockHeldError } from '../store/file-lock.ts';

export interface WriterLocks extends WriterLock {
  /** Where the audit trail records what its sinks acknowledged (beside the SQLite file, or on the lock's connection). */
  ack: AuditAckStore | undefined;
  release(): Promise<void>;
}

/** A lock another running Keyward holds: the start is refused. */
export const isLockHeld = (e: unknown) => e instanceof LockHeldError || e instanceof WriterLockHeldError;

/** The lock file beside an audit file: a dot-file, so verifying the directory does not read it. */
export const auditFileLockPath = (path: string) => join(dirname(path), `.${basename(path)}.lock`);

export async function acquireWriterLocks(config: KeywardConfig, audit: AuditConfig, instanceId: string, logger: Logger): Promise<WriterLocks> {
  const files: FileLock[] = [];
  let session: WriterSession | undefined;
  let ack: AuditAckStore | undefined;
  const release = async () => {
    await ack?.close().catch(() => {});
    for (const f of files.splice(0).reverse()) f.release();
    await session?.close();
  };
  try {
    const storage = config.storage;
    if (storage.type === 'sqlite' && storage.path !== ':memory:') {
      files.push(FileLock.acquire(`${storage.path}.lock`, `the database ${storage.path}`));
    } else if (storage.type === 'postgres') {
      // Instances sharing a database each keep their own chain, named by instance id: two processes with the same
      // instance id would write one chain.
      session = await WriterSession.open({ url: storage.url, schema: storage.schema }, settingsNameForChainId(instanceId), logger);
    }
    if (audit.enabled) {
      // Each sink's own file (its claim): a second instance with this configuration would interleave two chains there.
      for (const sink of audit.sinks) {
        const path = sinkDescriptor(sink.type).claim?.(sink);
        if (path !== undefined) files.push(FileLock.acquire(auditFileLockPath(path), `the audit file ${path}`));
      }
      if (storage.type === 'sqlite' && storage.path !== ':memory:') ack = AckFile.open(`${storage.path}.audit-ack`);
      else if (session) ack = ackStoreOn(session);
    }
  } catch (e) {
    await release();
    throw e;
  }
  return {
    ack,
    lost() {
      for (const f of files) {
        const why = f.lost();
        if (why !== undefined) return why;
      }
      return session?.lost();
    },
    release,
  };
}
