#!/usr/bin/env node
// Keyward runs its TypeScript sources directly through Node 24's type stripping. An older node (say the system's
// 20 when this file is run by path) cannot load them and would only say "Unknown file extension .ts", so the
// version is checked first, in syntax every node still in use parses.
const MIN_MAJOR = 24;
const major = Number(process.versions.node.split('.')[0]);
if (!(major >= MIN_MAJOR)) {
  process.stderr.write(
    [
      `keyward: needs Node.js ${MIN_MAJOR}; this is Node.js ${process.versions.node} (${process.execPath}).`,
      'The project installs Node.js 24 with its dependencies (npm install). From the project directory, run one of:',
      '  npx keyward ...                               (uses node_modules/.bin/node)',
      '  npm run keyward -- ...',
      `  node_modules/.bin/node ${process.argv[1] ?? 'bin/keyward.js'} ...`,
      '',
    ].join('\n'),
  );
  process.exit(1);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
