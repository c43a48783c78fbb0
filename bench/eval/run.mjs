#!/usr/bin/env node
// Runs the evaluation CLI from the TypeScript build (npm run build:ts first):
//   node bench/eval/run.mjs --model test/fixtures/models/fashion_mlp.onnx --count 1000 ...
// Same arguments as `pathwise eval` (lib/evaluate-cli.ts).
import { runEvaluateCli } from '../../dist/cli/eval.ts';

process.exitCode = await runEvaluateCli(process.argv.slice(2));
