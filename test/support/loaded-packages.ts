// A `node --import` hook that records which npm packages a process loads: every module a thread loads from
// node_modules appends its package name (once per thread) to the file named by KEYWARD_LOADED_PACKAGES_FILE.
// Appending as they load needs no signal or timer, and worker threads (which inherit --import) report theirs too.
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const file = process.env.KEYWARD_LOADED_PACKAGES_FILE;
if (!file) throw new Error('loaded-packages hook: set KEYWARD_LOADED_PACKAGES_FILE');
const seen = new Set<string>();

/** `@scope/name` or `name` after the last node_modules in a file URL. */
function packageOf(url: string): string | undefined {
  const i = url.lastIndexOf('/node_modules/');
  if (i < 0) return undefined;
  const parts = url.slice(i + '/node_modules/'.length).split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

registerHooks({
  load(url, context, nextLoad) {
    const name = packageOf(url);
    if (name !== undefined && !seen.has(name)) {
      seen.add(name);
      appendFileSync(file, `${name}\n`);
    }
    return nextLoad(url, context);
  },
});
