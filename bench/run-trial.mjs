// Runs one trial (by id) in this fresh process and prints its result as one JSON line.
//   node bench/run-trial.mjs <trial-id>
import { drivers } from './drivers.mjs';
import { models, trials } from './trials.mjs';

const id = process.argv[2];
const trial = trials.find((t) => t.id === id);
if (!trial) {
  console.error(`unknown trial ${id}`);
  process.exit(2);
}
let result;
try {
  result = await drivers[trial.driver](trial, trial.model ? models[trial.model] : undefined);
} catch (e) {
  result = { error: String(e?.stack ?? e) };
}
process.stdout.write(`${JSON.stringify({ id, ...result })}\n`);
