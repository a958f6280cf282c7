// Fresh stores for the store tests: SQLite in a temp dir, PostgreSQL in a throwaway schema.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { openStore, type StoreConfig } from '../../src/store/open.ts';
import type { NewKey, NewKeyVersion, Store } from '../../src/store/types.ts';
import type { Labels } from '../../src/keys/types.ts';
import { pgTestSchema } from '../support/pg.ts';

export type DialectName = 'sqlite' | 'postgres';

export interface Env {
  cfg: StoreConfig;
  /** Opens the store; every store opened is closed after the test. */
  open(): Promise<Store>;
}

/** A fresh, empty database for this test, or undefined if the test was skipped (PostgreSQL unreachable). */
export async function freshEnv(t: TestContext, dialect: DialectName, opts: { poolMax?: number } = {}): Promise<Env | undefined> {
  let cfg: StoreConfig;
  let cleanup: () => Promise<void>;
  if (dialect === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'keyward-store-'));
    // A nested path, so openStore has to create the parent directory.
    cfg = { type: 'sqlite', path: join(dir, 'nested', 'keyward.db') };
    cleanup = () => rm(dir, { recursive: true, force: true });
  } else {
    const pg = await pgTestSchema(t);
    if (!pg) return undefined;
    cfg = { type: 'postgres', url: pg.url, schema: pg.schema, pool_max: opts.poolMax ?? 4 };
    cleanup = pg.cleanup;
  }
  const opened: Store[] = [];
  t.after(async () => {
    for (const s of opened) await s.close().catch(() => {});
    await cleanup();
  });
  return {
    cfg,
    async open() {
      const s = await openStore(cfg);
      opened.push(s);
      return s;
    },
  };
}

let seq = 0;
export function newKey(id: string, labels: Labels = {}, at = new Date('2025-01-01T00:00:00.000Z')): NewKey {
  return { id, type: 'EC-P256', labels, description: `key ${id}`, origin: 'generated', createdAt: at };
}

/** A version with recognizable fake material; `tag` shows up in the bytes and the fingerprint. */
export function newVersion(tag: string, at = new Date('2025-01-01T00:00:00.000Z')): NewKeyVersion {
  seq++;
  return {
    publicKeySpki: Buffer.from(`spki:${tag}:${seq}`),
    fingerprint: `sha256:${Buffer.from(`${tag}:${seq}`).toString('hex')}`,
    sealedMaterial: Buffer.concat([Buffer.from(`sealed:${tag}:`), Buffer.alloc(200, seq % 256)]),
    createdAt: at,
  };
}
