/** `pathwise info <model>`: a model's input shape, classes and gate (path) layers, and the input normalisation and class names its ONNX metadata declares. */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import type { CliContext, CliIO } from './program.js';
import { formatDuration, openModel } from './explaining.js';
import { estimate, type Estimate } from '../explain/estimate.js';
import type { Model } from '../model/model.js';
import { metadataNormalisation, readOnnxMetadata } from '../io/onnx-metadata.js';
import { isTfjsSource } from '../model/sources.js';

async function runInfo(modelPath: string, flags: { json?: boolean; stripSoftmax?: boolean }, io: CliIO): Promise<void> {
  const model = await openModel(modelPath, flags);
  const meta = isTfjsSource(modelPath) ? new Map<string, string>() : readOnnxMetadata(await readFile(modelPath));
  const normalisation = metadataNormalisation(meta);
  const classNames = meta.get('pathwise.classes')?.split(',').map((c) => c.trim());
  const estimates = costOf(model);
  const info = {
    source: modelPath, inputShape: model.inputShape, inputSize: model.inputSize, numClasses: model.numClasses, gateLayers: model.gateLayers,
    /** @deprecated the same list as gateLayers */ reluLayers: model.gateLayers,
    ...(normalisation ? { normalisation } : {}), ...(classNames ? { classNames } : {}),
    estimates,
  };
  model.dispose();
  if (flags.json) {
    io.stdout.write(JSON.stringify(info) + '\n');
    return;
  }
  io.stdout.write(`${modelPath}\n  input [${info.inputShape.join(', ')}] (NCHW, ${info.inputSize} values)` +
    `${normalisation ? `, normalised as (p − ${normalisation.mean.join(', ')}) / ${normalisation.std.join(', ')} of p = pixel / 255 (model metadata)` : ''}\n` +
    `  ${info.numClasses} classes${classNames ? `: ${classNames.join(', ')}` : ''}\n`);
  const allRelu = info.gateLayers.every((r) => r.kind === 'relu');
  io.stdout.write(`  ${info.gateLayers.length} ${allRelu ? 'ReLU' : 'gate'} layers:\n`);
  for (const r of info.gateLayers) io.stdout.write(`    ${r.ordinal}: [${r.shape.join(', ')}] ${r.units} units${allRelu ? '' : ` (${r.kind})`}\n`);
  io.stdout.write(`  one explanation on this machine (${(estimates[0].machineFlopsPerSecond / 1e9).toFixed(1)} GFLOP/s measured):\n`);
  for (const e of estimates)
    io.stdout.write(`    ${e.label.padEnd(22)} ${(e.flops / 1e9).toPrecision(3)} GFLOP, ${formatBytes(e.workingBytes)} working memory, ` +
      `about ${formatDuration(e.predictedSeconds)}${e.fits ? '' : ' (above the default maxMemoryBytes: it would fail)'}\n`);
}

/** The estimate for the default options (width and depth 'all') and for width 64 / depth 5. */
function costOf(model: Model): Array<Estimate & { label: string; width: number | 'all'; depth: number | 'all' }> {
  const depth5 = Math.min(5, model.gateLayers.length);
  return [
    { label: 'width all, depth all:', ...estimate(model), width: 'all', depth: 'all' },
    { label: `width 64, depth ${depth5}:`, ...estimate(model, { width: 64, depth: depth5 }), width: 64, depth: depth5 },
  ];
}

/** 812 KiB, 3.4 MiB, 1.2 GiB. */
function formatBytes(bytes: number): string {
  if (bytes < 2 ** 20) return `${(bytes / 1024).toFixed(0)} KiB`;
  if (bytes < 2 ** 30) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

export function addInfoCommand(program: Command, ctx: CliContext): void {
  program.command('info')
    .description("print a model's input shape, classes and gate (ReLU) layers, and what one explanation costs")
    .argument('<model>', 'an .onnx file or a tfjs model.json')
    .option('--strip-softmax', "tfjs models: accept a final softmax")
    .option('--json', 'machine-readable output on stdout')
    .action(async (model: string, flags: { json?: boolean; stripSoftmax?: boolean }) => runInfo(model, flags, ctx.io));
}
