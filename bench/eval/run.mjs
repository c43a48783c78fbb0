#!/usr/bin/env node
// Runs the evaluation CLI from the TypeScript build (npm run build:ts first):
//   node bench/eval/run.mjs --model test/fixtures/models/fashion_mlp.onnx --count 1000 ...
// Same arguments as `pathwise eval` (lib/cli/eval.ts).
import { runEvaluateCli } from '../../dist/cli/eval.js';

process.exitCode = await runEvaluateCli(process.argv.slice(2));
