// Keycloak's directory export layout (`kc.sh export --dir DIR --users different_files`): `<realm>-realm.json` holds
// the realm without users, `<realm>-users-N.json` (N from 0) hold {realm, users} with at most `usersPerFile` users
// each; `kc.sh import --dir DIR` (or --import-realm on a mounted directory) reads them back.
//
// The users files carry password hashes and TOTP seeds: they are written owner-only (0600, the directory 0700 when
// created here), each through a temporary name and a rename, and an earlier export in the same directory is never
// silently mixed with this one.
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProblemError } from '../../core/problem.ts';
import type { KcRealm, KcUser, KcUsersFile } from './types.ts';

/** Keycloak's own default for --users-per-file. */
export const DEFAULT_USERS_PER_FILE = 50;

export interface ExportFile {
  name: string;
  /** The bytes written. */
  text: string;
  /** sha256 of the text, hex (for reports). */
  sha256: string;
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex');
const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

/** The files of a directory export, in memory. */
export function keycloakExportFiles(realm: KcRealm, users: KcUser[], usersPerFile = DEFAULT_USERS_PER_FILE): ExportFile[] {
  if (!Number.isInteger(usersPerFile) || usersPerFile < 1) throw new RangeError('usersPerFile must be a positive integer');
  const files: ExportFile[] = [];
  const realmText = json(realm);
  files.push({ name: `${realm.realm}-realm.json`, text: realmText, sha256: digest(realmText) });
  for (let i = 0, n = 0; i < users.length; i += usersPerFile, n++) {
    const file: KcUsersFile = { realm: realm.realm, users: users.slice(i, i + usersPerFile) };
    const text = json(file);
    files.push({ name: `${realm.realm}-users-${n}.json`, text, sha256: digest(text) });
  }
  return files;
}

const exportFilePattern = (realm: string) => new RegExp(`^${realm.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(realm|users-\\d+|federated-users-\\d+)\\.json$`);

/**
 * Writes the files into `dir`. Refuses (409 migrate.output_exists) when `dir` already holds an export of this realm,
 * unless `overwrite`, in which case files of the earlier export that this one does not replace are removed, so
 * Keycloak's import cannot pick up stale users.
 */
export async function writeExportFiles(dir: string, realmName: string, files: ExportFile[], opts: { overwrite: boolean }): Promise<string[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pattern = exportFilePattern(realmName);
  const existing = (await readdir(dir)).filter((f) => pattern.test(f));
  if (existing.length && !opts.overwrite)
    throw new ProblemError({
      code: 'migrate.output_exists',
      detail: `${dir} already holds an export of realm ${realmName} (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}); choose another directory or pass --overwrite`,
    });
  const tmp = files.map((f) => join(dir, `.${f.name}.${process.pid}.tmp`));
  try {
    for (const [i, f] of files.entries()) await writeFile(tmp[i]!, f.text, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    await Promise.all(tmp.map((t) => rm(t, { force: true })));
    throw e;
  }
  for (const [i, f] of files.entries()) await rename(tmp[i]!, join(dir, f.name));
  const written = new Set(files.map((f) => f.name));
  for (const stale of existing.filter((f) => !written.has(f))) await rm(join(dir, stale), { force: true });
  return files.map((f) => join(dir, f.name));
}
