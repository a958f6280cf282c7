// PostgreSQL for tests: a throwaway schema per test in the shared test database. When PostgreSQL is not
// reachable the test is skipped with a plain message, except under CI, where it fails.
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { redactedUrl } from '../../src/store/open.ts';
import { skipMissing } from './missing.ts';

export const TEST_PG_URL = process.env.KEYWARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface PgTestSchema {
  url: string;
  /** Fresh, unique, not yet created (openStore creates it). */
  schema: string;
  /** Drops the schema and everything in it. */
  cleanup(): Promise<void>;
}

/** The test database's URL without its password, for messages. */
export function redactedPgUrl(url = TEST_PG_URL): string {
  return redactedUrl(url);
}

let probe: Promise<string | null> | undefined;

/** null when reachable, otherwise why not. Probed once per process. */
function unreachableReason(): Promise<string | null> {
  probe ??= (async () => {
    const client = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 3000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      return null;
    } catch (e) {
      const err = e as { code?: unknown; message?: unknown };
      return String(err.code ?? err.message ?? e);
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return probe;
}

async function withClient<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A fresh schema name for this test, or undefined after skipping the test because PostgreSQL is not reachable
 * (under CI this throws instead). `what` names the tests in the skip message.
 */
export async function pgTestSchema(t: TestContext, what = 'PostgreSQL storage tests'): Promise<PgTestSchema | undefined> {
  const reason = await unreachableReason();
  if (reason !== null) {
    skipMissing(t, what, `PostgreSQL not reachable at ${redactedPgUrl()} (${reason})`, 'Start PostgreSQL or set KEYWARD_TEST_PG_URL to run them');
    return undefined;
  }
  const schema = `kw_test_${process.pid}_${randomBytes(5).toString('hex')}`;
  return {
    url: TEST_PG_URL,
    schema,
    cleanup: () => withClient(async (c) => void (await c.query(`drop schema if exists "${schema}" cascade`))),
  };
}
