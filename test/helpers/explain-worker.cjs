// A worker_threads body for test/reliability-concurrency.test.ts: loads the addon in the worker's
// own context (as lib/addon/binding.cts does) and puts its inputs through one async entry point, all in
// flight at once.
//   workerData: { root, inputShape, layers, inputs, options, mode: 'explain' | 'dispose' | 'hold',
//                 entry?: 'explain' | 'explainWatched' | 'attribute' | 'unwrap' | 'insertionDeletion' (default explain) }
// 'explainWatched' is explain with a JobControl and a progress callback (a thread-safe function).
// Modes 'explain' and 'dispose' use entry 'explain'; 'hold' queues calls of `entry` (with its
// native options in `options`) and replies at once, so the parent can terminate the worker with
// them queued or running.
const { parentPort, workerData } = require('node:worker_threads');
const { root, inputShape, layers, inputs, options, mode, entry = 'explain' } = workerData;
const addon = require('node-gyp-build')(root);
const net = new addon.NativeNetwork(inputShape, layers);
const start = {
  explain: (x) => net.explain(x, 1, options),
  explainWatched: (x) => net.explain(x, 1, options, new addon.JobControl(), () => {}),
  attribute: (x) => addon.attribute(net, x, 1, options, true),
  unwrap: (x) => addon.unwrap(net, x, 1, options, true),
  insertionDeletion: (x) => addon.insertionDeletion(net, x, x, 1, options, true),
}[entry];
const pending = inputs.map(start);
if (mode === 'dispose') net.dispose(); // in-flight calls keep their own reference to the network
if (mode === 'hold') {
  // The parent terminates this worker while the calls are queued or running.
  parentPort.postMessage({ queued: pending.length });
} else {
  Promise.all(pending).then(
    (results) => {
      let after = 'none';
      try {
        net.explainSync(inputs[0], 1, options);
        after = 'ok';
      } catch (e) {
        after = e.code || e.name;
      }
      parentPort.postMessage({ results, after }); // packed, as the addon returns them (lib unpackResults)
    },
    (e) => parentPort.postMessage({ error: String(e && e.stack) }),
  );
}
