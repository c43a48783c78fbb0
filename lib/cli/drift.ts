/**
 * `pathwise drift ckpt_*.onnx --data SRC --probe N --out DIR`: how the decision paths move between
 * checkpoints of one network. Each checkpoint explains the same probe set (each item's label when
 * the data has labels, else its predicted class); consecutive checkpoints are compared per class
 * and per path layer (lib/report/drift.ts writes the tables, the plot and the JSON).
 */
import type { Command } from 'commander';
import { basename, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { Depth, Width } from '../explain/types.js';
import { explainDataset, PathStatisticsBuilder } from '../explain/dataset.js';
import { loadFashionMnist, loadNpyDataset, type Dataset } from '../io/datasets.js';
import { FASHION_MNIST_CLASSES, loadSamples } from '../io/samples.js';
import { readOnnxMetadata } from '../io/onnx-metadata.js';
import { isTfjsSource } from '../model/sources.js';
import { driftRows, writeDriftReport, type DriftSnapshot } from '../report/drift.js';
import { UsageError, type CliContext } from './program.js';
import { classNamesOf, openModel } from './explaining.js';
import { parseDepth, parseInteger, parseNumber, parseWidth } from './parse.js';

export interface DriftFlags {
  data?: string;
  dataDir?: string;
  labels?: string;
  probe?: number;
  offset?: number;
  width?: Width;
  depth?: Depth;
  threshold?: number;
  classes?: string;
  out?: string;
  json?: boolean;
}

function probeData(flags: DriftFlags, count: number | undefined, offset: number): { data: Dataset; classNames?: readonly string[] } {
  const source = flags.data ?? 'fashion-mnist';
  if (source === 'samples') {
    const s = loadSamples();
    const n = Math.min(count ?? s.count, s.count - offset);
    if (offset >= s.count) throw new UsageError(`--offset ${offset} is beyond the ${s.count} sample images`);
    return {
      data: { ...s, inputs: s.inputs.subarray(offset * 784, (offset + n) * 784), labels: s.labels.subarray(offset, offset + n), count: n },
      classNames: s.classNames,
    };
  }
  const m = /^fashion-mnist(?::(test|train))?$/.exec(source);
  if (m) {
    return {
      data: loadFashionMnist({ split: (m[1] as 'test' | 'train') ?? 'test', dir: flags.dataDir, offset, count: count ?? 1000 }),
      classNames: FASHION_MNIST_CLASSES,
    };
  }
  if (!source.toLowerCase().endsWith('.npy'))
    throw new UsageError(`--data must be fashion-mnist, fashion-mnist:train, samples or an .npy batch [N, C, H, W]; got ${JSON.stringify(source)}`);
  return { data: loadNpyDataset(source, { labels: flags.labels, offset, count, name: basename(source) }) };
}

export interface DriftRun {
  snapshots: DriftSnapshot[];
  files: string[];
  table: string;
  classTable: string;
}

/**
 * The command's work, callable from code: explains the probe set with every checkpoint (model
 * files, in the order given), compares consecutive ones and writes the report into `flags.out`.
 */
export async function runDrift(checkpoints: readonly string[], flags: DriftFlags, log: (line: string) => void = () => {}): Promise<DriftRun> {
  if (!flags.out) throw new UsageError("required option '-o, --out <dir>' not specified");
  if (checkpoints.length < 2) throw new UsageError(`drift needs at least two checkpoints, got ${checkpoints.length}`);
  const offset = flags.offset ?? 0;
  const { data, classNames: dataNames } = probeData(flags, flags.probe, offset);
  const labelled = data.labels !== undefined;
  const snapshots: DriftSnapshot[] = [];
  let classNames: readonly string[] | undefined;
  let firstShape: string | undefined;
  for (const file of checkpoints) {
    const model = await openModel(file);
    try {
      const shape = `[${model.inputShape.join(', ')}] → ${model.numClasses}`;
      firstShape ??= shape;
      if (data.inputs.length !== data.count * model.inputSize)
        throw new RangeError(`${file} takes inputs [${model.inputShape.join(', ')}] (${model.inputSize} values); the probe data ${data.name} has inputs [${data.shape.join(', ')}]`);
      if (!classNames) {
        const meta = isTfjsSource(file) ? new Map<string, string>() : readOnnxMetadata(await readFile(file));
        classNames = classNamesOf(flags.classes, meta, model.numClasses) ??
          (dataNames && dataNames.length === model.numClasses ? dataNames : undefined);
      }
      const builder = new PathStatisticsBuilder({ by: labelled ? 'label' : 'target', model });
      let correct = 0;
      const started = performance.now();
      for await (const r of explainDataset(model, data, {
        width: flags.width ?? '10%', depth: flags.depth ?? 'all', ...(flags.threshold !== undefined ? { threshold: flags.threshold } : {}),
        ...(labelled ? { target: 'label' as const } : {}), batchSize: 64,
      })) {
        builder.add(r);
        if (labelled && r.explanation.predicted === r.label) correct++;
      }
      const accuracy = labelled ? correct / data.count : undefined;
      snapshots.push({ name: basename(file), accuracy, stats: builder.finish() });
      log(`${basename(file)}: ${data.count} probe explanations in ${((performance.now() - started) / 1000).toFixed(1)} s` +
        `${accuracy !== undefined ? `, probe accuracy ${(accuracy * 100).toFixed(1)}%` : ''}`);
    } finally {
      model.dispose();
    }
  }
  // comparePaths refuses checkpoints of different architectures with a RangeError naming both.
  const rows = driftRows(snapshots, {});
  const width = flags.width ?? '10%', depth = flags.depth ?? 'all';
  const report = writeDriftReport(resolve(flags.out), snapshots, rows, {
    title: `Path drift across ${checkpoints.length} checkpoints`,
    stepLabel: 'checkpoints',
    classNames,
    preamble: `Probe: ${data.count} inputs of ${data.name}${offset ? ` from index ${offset}` : ''}, ` +
      `${labelled ? "each explained for its label's class" : 'each explained for its predicted class'}; width ${width}, depth ${depth}; ` +
      `model ${firstShape}.`,
  });
  return { snapshots, ...report };
}

export function addDriftCommand(program: Command, ctx: CliContext): void {
  program.command('drift')
    .description('compare the decision paths of model checkpoints on a probe set: Jaccard tables (Markdown, JSON) and a plot (SVG)')
    .argument('<checkpoints...>', 'two or more .onnx files (or tfjs model.json) of one architecture, in the order given')
    .requiredOption('-o, --out <dir>', 'output folder: path-drift.md, path-drift.json, path-drift.svg, stats/')
    .option('--data <source>', 'fashion-mnist (test split; default), fashion-mnist:train, samples (the shipped images), or an .npy batch [N, C, H, W] of normalised inputs')
    .option('--data-dir <dir>', 'Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist)')
    .option('--labels <file.npy>', 'labels of an .npy batch: each probe input is then explained for its label')
    .option('--probe <n>', 'probe inputs (default 1000; all the samples)', parseInteger('probe'))
    .option('--offset <k>', 'first probe input (default 0)', parseInteger('offset'))
    .option('--width <k|P%|all>', 'units kept per path layer (default 10%)', parseWidth)
    .option('--depth <d|all>', 'path layers from the output (default all)', parseDepth)
    .option('--threshold <t>', 'selection threshold (default 1/C)', parseNumber('threshold'))
    .option('--classes <names.txt|a,b,c>', 'class names (default: the model metadata pathwise.classes, or Fashion-MNIST\'s)')
    .option('--json', 'print the report files as JSON on stdout')
    .action(async (checkpoints: string[], flags: DriftFlags) => {
      const r = await runDrift(checkpoints, flags, (line) => ctx.io.stderr.write(`pathwise drift: ${line}\n`));
      if (flags.json) ctx.io.stdout.write(JSON.stringify({ files: r.files }) + '\n');
      else ctx.io.stdout.write(`${r.table}\nwrote ${r.files.length} files to ${resolve(flags.out!)}\n`);
    });
}
