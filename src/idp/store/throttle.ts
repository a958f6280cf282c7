// The failed-login counters (idp_throttle).
import type { Kysely } from 'kysely';

/**
 * Failed-login counting and temporary lockout, kept in the store so every instance sees the same counts (an
 * attacker gets no extra attempts per instance). Times are epoch milliseconds.
 */
export class Throttle {
  readonly #db: Kysely<any>;
  constructor(db: Kysely<any>) {
    this.#db = db;
  }
  async isLocked(key: string, now = Date.now()): Promise<boolean> {
    return (await this.lockedUntil(key, now)) > 0;
  }
  /** When the lock on `key` ends (epoch ms), or 0 when it is not locked. */
  async lockedUntil(key: string, now = Date.now()): Promise<number> {
    const r = await this.#db.selectFrom('idp_throttle').select('locked_until').where('key', '=', key).executeTakeFirst();
    return r && Number(r.locked_until) > now ? Number(r.locked_until) : 0;
  }
  async fail(key: string, max: number, windowS: number, lockS: number, now = Date.now()): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      const r = await trx.selectFrom('idp_throttle').selectAll().where('key', '=', key).executeTakeFirst();
      const fresh = !r || now - Number(r.window_start) > windowS * 1000;
      const failures = (fresh ? 0 : Number(r.failures)) + 1;
      const values = {
        failures,
        window_start: fresh ? now : Number(r.window_start),
        locked_until: failures >= max ? now + lockS * 1000 : fresh ? 0 : Number(r.locked_until),
      };
      await trx.insertInto('idp_throttle').values({ key, ...values }).onConflict((oc) => oc.column('key').doUpdateSet(values)).execute();
    });
  }
  async reset(key: string): Promise<void> {
    await this.#db.deleteFrom('idp_throttle').where('key', '=', key).execute();
  }
  /** Drops entries whose window and lock have both passed. */
  async sweep(olderThanMs: number, now = Date.now()): Promise<void> {
    await this.#db.deleteFrom('idp_throttle').where('window_start', '<', now - olderThanMs).where('locked_until', '<', now).execute();
  }
}
