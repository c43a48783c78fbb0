// Runs the compiled CLI (argv[2]: the compiled lib, see test/scale/build.ts) with the remaining
// arguments, as bin/pathwise.js runs dist/cli: used for `pathwise worker`, which runs until SIGTERM.
const [dir, ...args] = process.argv.slice(2);
const { main } = await import(`${dir}/cli/main.js`);
process.exitCode = await main(args);
