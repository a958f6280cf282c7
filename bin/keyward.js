#!/usr/bin/env node
// Keyward runs its TypeScript sources directly through Node 24's type stripping.
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
