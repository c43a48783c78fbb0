/** `pathwise info <model>`: a model's input shape, classes and gate (path) layers, and the input normalisation and class names its ONNX metadata declares. */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import type { CliContext, CliIO } from './program.js';
import { openModel } from './explaining.js';
import { metadataNormalisation, readOnnxMetadata } from '../io/onnx-metadata.js';
import { isTfjsSource } from '../model/sources.js';

async function runInfo(modelPath: string, flags: { json?: boolean; stripSoftmax?: boolean }, io: CliIO): Promise<void> {
  const model = await openModel(modelPath, flags);
  const meta = isTfjsSource(modelPath) ? new Map<string, string>() : readOnnxMetadata(await readFile(modelPath));
  const normalisation = metadataNormalisation(meta);
  const classNames = meta.get('pathwise.classes')?.split(',').map((c) => c.trim());
  const info = {
    source: modelPath, inputShape: model.inputShape, inputSize: model.inputSize, numClasses: model.numClasses, gateLayers: model.gateLayers,
    /** @deprecated the same list as gateLayers */ reluLayers: model.gateLayers,
    ...(normalisation ? { normalisation } : {}), ...(classNames ? { classNames } : {}),
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
}

export function addInfoCommand(program: Command, ctx: CliContext): void {
  program.command('info')
    .description("print a model's input shape, classes and gate (ReLU) layers")
    .argument('<model>', 'an .onnx file or a tfjs model.json')
    .option('--strip-softmax', "tfjs models: accept a final softmax")
    .option('--json', 'machine-readable output on stdout')
    .action(async (model: string, flags: { json?: boolean; stripSoftmax?: boolean }) => runInfo(model, flags, ctx.io));
}
