// A worker process for the scale tests and bench: runs startWorker from the compiled lib (argv[2],
// see test/scale/build.ts) and reports every WorkerEvent to the parent over IPC. With `stopAt`
// (an event type) it reports {stopped} at the first such event and hangs there, so the parent can
// SIGKILL it at a known point of a shard; with `pauseAt` it reports {paused} there and waits
// `pauseMs` before going on (a shard in progress to send SIGTERM to). SIGTERM closes the worker
// cleanly (exit 0).
//   argv: <compiled lib dir> <options JSON: { redis, concurrency?, threads?, lockDurationMs?, stalledIntervalMs?, stopAt?, pauseAt?, pauseMs? }>
const [dir, json] = process.argv.slice(2);
const options = JSON.parse(json);
const { startWorker } = await import(`${dir}/scale/index.js`);
let stopped = false;
const handle = await startWorker({
  ...options,
  onEvent: async (event) => {
    process.send?.({ event });
    if (options.pauseAt === event.type) {
      process.send?.({ paused: event });
      await new Promise((r) => setTimeout(r, options.pauseMs ?? 1000));
    }
    if (options.stopAt === event.type && !stopped) {
      stopped = true;
      process.send?.({ stopped: event });
      await new Promise(() => {});
    }
  },
});
process.once('SIGTERM', async () => {
  await handle.close();
  process.send?.({ closed: true });
  process.exit(0);
});
process.send?.({ ready: true });
