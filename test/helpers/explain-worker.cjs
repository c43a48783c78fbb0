// A worker_threads body for test/reliability-concurrency.test.ts: loads the addon in the worker's
// own context (as lib/addon/binding.cts does) and explains its inputs, all in flight at once.
//   workerData: { root, inputShape, layers, inputs, options, mode: 'explain' | 'dispose' | 'hold' }
const { parentPort, workerData } = require('node:worker_threads');
const { root, inputShape, layers, inputs, options, mode } = workerData;
const addon = require('node-gyp-build')(root);
const net = new addon.NativeNetwork(inputShape, layers);
const pending = inputs.map((x) => net.explain(x, 1, options));
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
      parentPort.postMessage({ results: results.map((r) => r[0]), after });
    },
    (e) => parentPort.postMessage({ error: String(e && e.stack) }),
  );
}
