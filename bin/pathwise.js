#!/usr/bin/env node
// The `pathwise` command: a shim into the compiled CLI (dist/cli/main.js, built by `npm install`).
let main;
try {
  ({ main } = await import('../dist/cli/main.js'));
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/cli/main.js')) {
    process.stderr.write('pathwise: the CLI is not built (dist/cli/main.js is missing); run `npm run build:ts` in the package folder\n');
    process.exit(1);
  }
  throw e;
}
process.exitCode = await main(process.argv.slice(2));
