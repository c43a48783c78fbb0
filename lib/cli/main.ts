/**
 * The `pathwise` command line: explain, report, info, eval, bench. `main(argv, io)` runs one command and
 * resolves to the process exit code; bin/pathwise.js calls it with process.argv.
 *
 * Errors are one line on stderr ("pathwise: …") and a non-zero exit code: 2 for a usage error, 1
 * for anything else. Progress (items/s, ETA) goes to stderr, only when stderr is a terminal.
 */
import { runEvaluateCli } from './eval.js';
import { Command, CommanderError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, extname } from 'node:path';
import { packageRoot as findPackageRoot } from '../addon/binding.cjs';
import { loadModel, loadModelSync, type Model } from '../model/model.js';
import { explainBatch } from '../explain/explain.js';
import { PathwiseError } from '../errors.js';
import type { Depth, Explanation, ExplainBatchOptions, Width } from '../explain/types.js';
import { isTfjsSource, tfjsSourceToSpec } from '../model/sources.js';
import { readInputs, type InputBatch } from './inputs.js';
import { encodePng, imageShapeOf, renderInput, autoScale, type ImageShape } from '../render/image.js';
import { renderHeatmap } from '../render/heatmap.js';
import { pathDiagramSvg } from '../render/diagram.js';
import { renderReport } from '../report/html.js';

/** Where the CLI writes; process.stdout / process.stderr by default. */
export interface CliStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export interface CliIO {
  stdout: CliStream;
  stderr: CliStream;
}

// No import.meta here: lib/ also compiles to CommonJS (dist/cjs).
const packageRoot = findPackageRoot();

function version(): string {
  try {
    return JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version as string;
  } catch {
    return 'unknown';
  }
}

/** A usage error: reported like commander's own (exit code 2). */
class UsageError extends Error {}

function numberList(what: string) {
  return (text: string): number[] => {
    const values = text.split(/[,\s]+/).filter(Boolean).map(Number);
    if (values.length === 0 || values.some((v) => !Number.isFinite(v)))
      throw new UsageError(`--${what} must be a comma-separated list of numbers, got ${JSON.stringify(text)}`);
    return values;
  };
}

function parseWidth(text: string): Width {
  const t = text.trim();
  if (t === 'all') return 'all';
  if (t.endsWith('%')) return t as `${number}%`;
  const n = Number(t);
  if (!Number.isInteger(n)) throw new UsageError(`--width must be an integer, a percentage such as 10% or all; got ${JSON.stringify(text)}`);
  return n;
}

function parseDepth(text: string): Depth {
  if (text.trim() === 'all') return 'all';
  const n = Number(text);
  if (!Number.isInteger(n)) throw new UsageError(`--depth must be an integer or all; got ${JSON.stringify(text)}`);
  return n;
}

function parseNumber(what: string) {
  return (text: string): number => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${what} must be a number, got ${JSON.stringify(text)}`);
    return n;
  };
}

function parseDecompose(text: string): NonNullable<ExplainBatchOptions['decompose']> {
  const t = text.trim();
  if (t === 'unit' || t === 'channel') return { by: t };
  const m = /^top:(\d+)$/.exec(t);
  if (m) return { by: { top: Number(m[1]) } };
  throw new UsageError(`--decompose must be unit, channel or top:N, got ${JSON.stringify(text)}`);
}

function parseInteger(what: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n)) throw new UsageError(`--${what} must be an integer, got ${JSON.stringify(text)}`);
    return n;
  };
}

interface ExplainFlags {
  input: string[];
  out?: string;
  width?: Width;
  depth?: Depth;
  target?: number;
  semantics?: string;
  threshold?: number;
  decompose?: ExplainBatchOptions['decompose'];
  decomposeLayer?: number;
  paths?: number;
  baseline?: boolean;
  mean?: number[];
  std?: number[];
  imageShape?: number[];
  perChannel?: boolean;
  clip?: number;
  report?: boolean;
  stripSoftmax?: boolean;
  json?: boolean;
  progress?: boolean;
}

/** Opens a model file: .json is a tfjs LayersModel, anything else ONNX. */
export async function openModel(path: string, options: { stripSoftmax?: boolean } = {}): Promise<Model> {
  if (isTfjsSource(path)) return loadModelSync(await tfjsSourceToSpec(path, { stripSoftmax: options.stripSoftmax === true }));
  if (options.stripSoftmax) throw new UsageError('--strip-softmax applies to tfjs models (.json) only');
  return loadModel(path);
}

/** float32 values as the shortest decimals that read back to the same float32. */
function f32List(values: ArrayLike<number>): number[] {
  return Array.from(values, (v) => (Number.isFinite(v) ? Number(Math.fround(v).toPrecision(9)) : v));
}

function explanationJson(e: Explanation) {
  return {
    target: e.target,
    predicted: e.predicted,
    pathLogit: e.pathLogit,
    bias: e.bias,
    residual: e.residual,
    logits: f32List(e.logits),
    pathLogits: f32List(e.pathLogits),
    layers: e.layers.map((l) => ({
      ordinal: l.ordinal, units: Array.from(l.units), scores: f32List(l.scores), fallback: l.fallback, k: l.k, borderline: l.borderline,
    })),
    stats: e.stats,
    attribution: f32List(e.attribution),
    weights: f32List(e.weights),
    ...(e.regionAttribution ? { regionShare: e.regionShare, regionAttribution: f32List(e.regionAttribution) } : {}),
    ...(e.decomposition ? {
      decomposition: {
        ordinal: e.decomposition.ordinal,
        biasAbove: e.decomposition.biasAbove,
        components: e.decomposition.components.map((c) => ({ units: Array.from(c.units), contribution: c.contribution, bias: c.bias, rest: c.rest })),
      },
    } : {}),
    ...(e.paths ? {
      paths: {
        coverage: e.paths.coverage, biasAbove: e.paths.biasAbove, exact: e.paths.exact,
        items: e.paths.items.map((q) => ({ units: Array.from(q.units), contribution: q.contribution, bias: q.bias })),
      },
    } : {}),
  };
}

/** The baseline drawn beside pathwise: input × gradient ('linear' semantics, everything kept). */
const BASELINE_NAME = 'input × gradient';
const BASELINE_OPTIONS: ExplainBatchOptions = { semantics: 'linear', width: 'all', depth: 'all', threshold: 0 };

/**
 * Explains every input in chunks, calling `each` for every explanation as its chunk completes
 * (so files are written as the run goes), with a progress bar on a terminal.
 */
async function explainAll(
  model: Model, batch: InputBatch, options: ExplainBatchOptions, io: CliIO, progress: boolean,
  each: (e: Explanation, index: number, baseline?: Float32Array) => Promise<void> | void = () => {},
  baseline = false,
): Promise<{ explanations: Explanation[]; baselines: Float32Array[] }> {
  const size = model.inputSize;
  const chunk = Math.max(1, Math.min(16, Math.floor(2 ** 22 / Math.max(1, size))));
  const bar = progress && io.stderr.isTTY
    ? new cliProgress.SingleBar({
      stream: io.stderr as NodeJS.WritableStream,
      format: 'explaining {bar} {value}/{total} | {rate} items/s | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    }, cliProgress.Presets.shades_classic)
    : undefined;
  const start = performance.now();
  bar?.start(batch.count, 0, { rate: '0.0' });
  const out: Explanation[] = [];
  const baselines: Float32Array[] = [];
  try {
    for (let i = 0; i < batch.count; i += chunk) {
      const n = Math.min(chunk, batch.count - i);
      const xs = batch.values.subarray(i * size, (i + n) * size);
      const part = await explainBatch(model, xs, {
        ...options, targets: options.targets ? Array.from(options.targets).slice(i, i + n) : undefined,
      });
      // The baseline explains the same classes.
      const base = baseline ? await explainBatch(model, xs, { ...BASELINE_OPTIONS, targets: part.map((e) => e.target) }) : undefined;
      for (let j = 0; j < part.length; j++) {
        await each(part[j], out.length, base?.[j].attribution);
        out.push(part[j]);
        if (base) baselines.push(base[j].attribution);
      }
      const seconds = (performance.now() - start) / 1000;
      bar?.update(out.length, { rate: (out.length / Math.max(seconds, 1e-9)).toFixed(1) });
    }
  } finally {
    bar?.stop();
  }
  return { explanations: out, baselines };
}

function explainOptions(flags: ExplainFlags, count: number): ExplainBatchOptions {
  const options: ExplainBatchOptions = {};
  if (flags.width !== undefined) options.width = flags.width;
  if (flags.depth !== undefined) options.depth = flags.depth;
  if (flags.semantics !== undefined) options.semantics = flags.semantics as ExplainBatchOptions['semantics'];
  if (flags.threshold !== undefined) options.threshold = flags.threshold;
  if (flags.paths !== undefined) options.paths = { k: flags.paths };
  if (flags.decompose !== undefined) options.decompose = { ...flags.decompose, ...(flags.decomposeLayer !== undefined ? { layer: flags.decomposeLayer } : {}) };
  else if (flags.decomposeLayer !== undefined) throw new UsageError('--decompose-layer needs --decompose');
  if (flags.target !== undefined) options.targets = new Array<number>(count).fill(flags.target);
  return options;
}

interface Prepared {
  model: Model;
  batch: InputBatch;
  shape: ImageShape;
  explanations: Explanation[];
  baselines: Float32Array[];
}

async function openInputs(modelPath: string, flags: ExplainFlags) {
  const model = await openModel(modelPath, { stripSoftmax: flags.stripSoftmax });
  try {
    const shape = imageShapeOf(model.inputShape, flags.imageShape);
    const batch = await readInputs(flags.input, model, shape, { mean: flags.mean, std: flags.std });
    return { model, shape, batch };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** The report shows at most this many inputs (the first ones). */
const REPORT_LIMIT = 100;

function reportHtml(modelPath: string, flags: ExplainFlags, p: Prepared): string {
  const total = p.explanations.length;
  return renderReport({
    title: 'pathwise report',
    subtitle: total > REPORT_LIMIT ? `${modelPath} (the first ${REPORT_LIMIT} of ${total} inputs)` : modelPath,
    model: p.model,
    examples: p.explanations.slice(0, REPORT_LIMIT).map((e, i) => ({
      title: p.batch.labels[i], explanation: e, input: p.batch.values.subarray(i * p.model.inputSize, (i + 1) * p.model.inputSize),
      baselines: p.baselines[i] ? [{ name: BASELINE_NAME, attribution: p.baselines[i] }] : undefined,
    })),
    imageShape: p.shape,
    mean: flags.mean,
    std: flags.std,
    settings: {
      width: flags.width ?? 'all', depth: flags.depth ?? 'all', target: flags.target, semantics: flags.semantics ?? 'official',
      threshold: flags.threshold,
    },
  });
}

function summaryLine(label: string, e: Explanation): string {
  const sizes = e.layers.map((l) => l.units.length).reverse().join(', ');
  return `${label}: class ${e.target}${e.target === e.predicted ? ' (predicted)' : ` (predicted ${e.predicted})`}, ` +
    `path logit ${e.pathLogit.toFixed(4)}, ${e.layers.length} path layer${e.layers.length === 1 ? '' : 's'} (${sizes} units, top → bottom)`;
}

async function runExplain(modelPath: string, flags: ExplainFlags, io: CliIO): Promise<void> {
  if (!flags.out) throw new UsageError("required option '-o, --out <dir>' not specified");
  const { model, shape, batch } = await openInputs(modelPath, flags);
  try {
    const outDir = resolve(flags.out);
    await mkdir(outDir, { recursive: true });
    const written: string[] = [];
    const write = async (name: string, data: string | Uint8Array) => {
      const path = join(outDir, name);
      await writeFile(path, data);
      written.push(path);
      return name;
    };
    const digits = String(batch.count - 1).length;
    const scale = autoScale(shape.height, shape.width);
    const items: object[] = [];
    // Pictures are written as each chunk of explanations completes (the progress bar covers both).
    const { explanations, baselines } = await explainAll(model, batch, explainOptions(flags, batch.count), io, flags.progress !== false, async (e, i, base) => {
      const prefix = batch.count > 1 ? `${String(i).padStart(digits, '0')}-` : '';
      const x = batch.values.subarray(i * model.inputSize, (i + 1) * model.inputSize);
      const picture = renderInput(x, shape, { mean: flags.mean, std: flags.std, scale });
      const heat = renderHeatmap(e.attribution, shape, { scale, clipPercentile: flags.clip });
      const files: Record<string, string | string[]> = {
        input: await write(`${prefix}input.png`, encodePng(picture)),
        heatmap: await write(`${prefix}heatmap.png`, encodePng(heat.image)),
        overlay: await write(`${prefix}heatmap-overlay.png`, encodePng(renderHeatmap(e.attribution, shape, { overlay: picture, limit: heat.limit }).image)),
        diagram: await write(`${prefix}path.svg`, pathDiagramSvg(e, { reluLayers: model.reluLayers, inputShape: model.inputShape })),
      };
      if (flags.perChannel && shape.channels > 1) {
        const list: string[] = [];
        for (let c = 0; c < shape.channels; c++)
          list.push(await write(`${prefix}heatmap-c${c}.png`, encodePng(renderHeatmap(e.attribution, shape, { channel: c, scale, limit: heat.limit }).image)));
        files.channels = list;
      }
      if (base) files.baseline = await write(`${prefix}baseline-input-x-gradient.png`, encodePng(renderHeatmap(base, shape, { scale, clipPercentile: flags.clip }).image));
      if (e.decomposition) {
        // The largest components by |contribution|, each as a heatmap.
        const d = e.decomposition;
        const order = d.components.map((_, k) => k).sort((a, b) => Math.abs(d.components[b].contribution) - Math.abs(d.components[a].contribution));
        const list: string[] = [];
        for (const [rank, k] of order.slice(0, 6).entries())
          list.push(await write(`${prefix}component-${rank}.png`, encodePng(renderHeatmap(d.components[k].attribution, shape, { scale }).image)));
        files.components = list;
      }
      items.push({ input: batch.labels[i], files, heatmapLimit: heat.limit, ...explanationJson(e) });
    }, flags.baseline);
    if (flags.report) await write('report.html', reportHtml(modelPath, flags, { model, batch, shape, explanations, baselines }));
    const doc = {
      pathwise: version(),
      model: { source: modelPath, inputShape: model.inputShape, numClasses: model.numClasses, reluLayers: model.reluLayers },
      settings: {
        width: flags.width ?? 'all', depth: flags.depth ?? 'all', target: flags.target ?? 'predicted', semantics: flags.semantics ?? 'official',
        threshold: flags.threshold, decompose: flags.decompose, decomposeLayer: flags.decomposeLayer, paths: flags.paths, baseline: flags.baseline ? BASELINE_NAME : undefined,
        mean: flags.mean, std: flags.std, imageShape: [shape.channels, shape.height, shape.width],
      },
      explanations: items,
    };
    await write('explanation.json', JSON.stringify(doc, null, 1) + '\n');
    if (flags.json) {
      io.stdout.write(JSON.stringify({
        out: outDir,
        files: written,
        explanations: explanations.map((e, i) => ({
          input: batch.labels[i], target: e.target, predicted: e.predicted, pathLogit: e.pathLogit, bias: e.bias, residual: e.residual,
          layers: e.layers.map((l) => ({ ordinal: l.ordinal, selected: l.units.length, k: l.k, fallback: l.fallback })),
        })),
      }) + '\n');
    } else {
      const shown = explanations.slice(0, 20);
      shown.forEach((e, i) => io.stdout.write(summaryLine(batch.labels[i], e) + '\n'));
      if (explanations.length > shown.length) io.stdout.write(`… and ${explanations.length - shown.length} more\n`);
      io.stdout.write(`wrote ${written.length} files to ${outDir}\n`);
    }
  } finally {
    model.dispose();
  }
}

async function runReport(modelPath: string, flags: ExplainFlags, io: CliIO): Promise<void> {
  if (!flags.out) throw new UsageError("required option '-o, --out <file.html>' not specified");
  const { model, shape, batch } = await openInputs(modelPath, flags);
  let html: string, count: number;
  try {
    const { explanations, baselines } = await explainAll(model, batch, explainOptions(flags, batch.count), io, flags.progress !== false, undefined, flags.baseline);
    html = reportHtml(modelPath, flags, { model, batch, shape, explanations, baselines });
    count = Math.min(REPORT_LIMIT, explanations.length);
  } finally {
    model.dispose();
  }
  let path = resolve(flags.out);
  if (extname(path).toLowerCase() !== '.html') path = join(path, 'report.html');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, html);
  if (flags.json) io.stdout.write(JSON.stringify({ report: path, bytes: Buffer.byteLength(html), examples: count }) + '\n');
  else io.stdout.write(`wrote ${path}\n`);
}

async function runInfo(modelPath: string, flags: { json?: boolean; stripSoftmax?: boolean }, io: CliIO): Promise<void> {
  const model = await openModel(modelPath, flags);
  const info = { source: modelPath, inputShape: model.inputShape, inputSize: model.inputSize, numClasses: model.numClasses, reluLayers: model.reluLayers };
  model.dispose();
  if (flags.json) {
    io.stdout.write(JSON.stringify(info) + '\n');
    return;
  }
  io.stdout.write(`${modelPath}\n  input [${info.inputShape.join(', ')}] (NCHW, ${info.inputSize} values)\n  ${info.numClasses} classes\n`);
  io.stdout.write(`  ${info.reluLayers.length} ReLU layers:\n`);
  for (const r of info.reluLayers) io.stdout.write(`    ${r.ordinal}: [${r.shape.join(', ')}] ${r.units} units\n`);
}

function runBench(args: string[], io: CliIO): Promise<number> {
  const script = join(packageRoot, 'bench', 'index.mjs');
  if (!existsSync(script))
    throw new Error('the benchmark suite (bench/index.mjs) is not available in this installation yet');
  io.stderr.write(`pathwise: running ${script}\n`);
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: 'inherit', cwd: packageRoot });
    child.on('error', fail);
    child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
}

function addInputOptions(cmd: Command): Command {
  return cmd
    .requiredOption('-i, --input <files...>', 'input files: .npy or .json (normalised, NCHW; one input or a batch) or .png images')
    .option('--width <k|P%|all>', 'units kept per path layer (default all)', parseWidth)
    .option('--depth <d|all>', 'number of path layers, counted from the output (default all)', parseDepth)
    .option('--target <class>', 'class to explain (default: the predicted class)', parseInteger('target'))
    .option('--semantics <name>', "official (default: the authors' reference) or linear (the path model with the activation pattern frozen at x)")
    .option('--threshold <t>', 'selection threshold on the class-softmax score (default 1/C)', parseNumber('threshold'))
    .option('--decompose <by>', "split the explanation into one path layer's contributions: unit, channel or top:N", parseDecompose)
    .option('--decompose-layer <ordinal>', 'the path layer to decompose (default the top one)', parseInteger('decompose-layer'))
    .option('--paths <k>', 'also find the top k one-way paths (one unit per path layer)', parseInteger('paths'))
    .option('--baseline', 'also compute input × gradient for comparison')
    .option('--mean <values>', 'per-channel mean of the input normalisation, e.g. 0.485,0.456,0.406 (PNG inputs are normalised with it)', numberList('mean'))
    .option('--std <values>', 'per-channel standard deviation of the input normalisation', numberList('std'))
    .option('--image-shape <C,H,W>', 'how to read a flat model input as an image', numberList('image-shape'))
    .option('--strip-softmax', "tfjs models: explain the logits under a final softmax")
    .option('--json', 'machine-readable output on stdout')
    .option('--no-progress', 'no progress bar (it only shows on a terminal anyway)');
}

function buildProgram(io: CliIO, exit: { code: number }): Command {
  const program = new Command('pathwise')
    .description('Explain ReLU networks by their decision paths (ONNX or tfjs models).')
    .version(version(), '-v, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`pathwise: ${s.replace(/^error:\s*/, '').replace(/\s*\n\s*/g, ' ').trim()}\n`),
    })
    .showSuggestionAfterError(true);

  addInputOptions(program.command('explain')
    .description('explain inputs; writes explanation.json, heatmap PNGs, the path diagram (SVG) and optionally report.html')
    .argument('<model>', 'an .onnx file or a tfjs model.json'))
    .requiredOption('-o, --out <dir>', 'output folder')
    .option('--per-channel', 'also write one heatmap per input channel')
    .addOption(new Option('--clip <percentile>', 'colour limit at this percentile of |attribution| (default: the maximum)').argParser(Number))
    .option('--report', 'also write report.html')
    .action(async (model: string, flags: ExplainFlags) => runExplain(model, flags, io));

  addInputOptions(program.command('report')
    .description('explain inputs and write one self-contained HTML report')
    .argument('<model>', 'an .onnx file or a tfjs model.json'))
    .requiredOption('-o, --out <file.html>', 'report file (or a folder for report.html)')
    .action(async (model: string, flags: ExplainFlags) => runReport(model, flags, io));

  program.command('info')
    .description("print a model's input shape, classes and ReLU layers")
    .argument('<model>', 'an .onnx file or a tfjs model.json')
    .option('--strip-softmax', "tfjs models: accept a final softmax")
    .option('--json', 'machine-readable output on stdout')
    .action(async (model: string, flags: { json?: boolean; stripSoftmax?: boolean }) => runInfo(model, flags, io));

  program.command('eval')
    .description('evaluate explanation methods on a dataset: insertion/deletion AUCs, |S_l|, time (run it without arguments for its options)')
    .argument('[args...]', 'options of the evaluation runner (lib/evaluate-cli.ts)')
    .allowUnknownOption(true)
    .helpOption(false)
    .action(async (args: string[]) => {
      exit.code = await runEvaluateCli(args, { out: (t) => io.stdout.write(t), err: (t) => io.stderr.write(t) });
    });

  program.command('bench')
    .description('run the benchmark suite (from a source checkout)')
    .argument('[args...]', 'passed to the benchmark')
    .allowUnknownOption(true)
    .action(async (args: string[]) => { exit.code = await runBench(args, io); });

  return program;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** Runs the CLI with `argv` (without node and the script) and resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const exit = { code: 0 };
  const program = buildProgram(io, exit);
  if (argv.length === 0) {
    io.stderr.write(program.helpInformation());
    return 2;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exit.code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has printed its message already (one line, see configureOutput).
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    if (e instanceof UsageError) {
      io.stderr.write(`pathwise: ${oneLine(e.message)}\n`);
      return 2;
    }
    const err = e as Error;
    const code = e instanceof PathwiseError ? ` [${e.code}]` : '';
    io.stderr.write(`pathwise: ${oneLine(err?.message ?? String(e))}${code}\n`);
    if (process.env.PATHWISE_DEBUG) io.stderr.write(`${err?.stack ?? ''}\n`);
    return 1;
  }
}
