/**
 * What `pathwise explain` and `pathwise report` share: their input options, opening the model and
 * the inputs, explaining every input in chunks (with a progress bar on a terminal) and the HTML
 * report.
 */
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { metadataNormalisation, readOnnxMetadata } from '../io/onnx-metadata.js';
import { parseOnnx } from '../onnx/load.js';
import type { NetworkSpec } from '../model/layers.js';
import { loadModel, loadModelSync, type Model } from '../model/model.js';
import { explainBatch } from '../explain/explain.js';
import { estimate } from '../explain/estimate.js';
import type { Depth, Explanation, ExplainBatchOptions, Width } from '../explain/types.js';
import { isTfjsSource, tfjsSourceToSpec } from '../model/sources.js';
import { readInputs, type InputBatch } from './inputs.js';
import { imageShapeOf, type ImageShape } from '../render/image.js';
import { renderReport } from '../report/html.js';
import { UsageError, type CliIO } from './program.js';
import { numberList, parseDecompose, parseDepth, parseInteger, parseNumber, parseWidth } from './parse.js';

export interface ExplainFlags {
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
  resize?: boolean;
  classes?: string;
  perChannel?: boolean;
  clip?: number;
  report?: boolean;
  stripSoftmax?: boolean;
  json?: boolean;
  progress?: boolean;
  format?: 'json' | 'parquet';
}

/** Opens a model file: .json is a tfjs LayersModel, anything else ONNX. */
export async function openModel(path: string, options: { stripSoftmax?: boolean } = {}): Promise<Model> {
  if (isTfjsSource(path)) return loadModelSync(await tfjsSourceToSpec(path, { stripSoftmax: options.stripSoftmax === true }));
  if (options.stripSoftmax) throw new UsageError('--strip-softmax applies to tfjs models (.json) only');
  return loadModel(path);
}


/** The baseline drawn beside pathwise: input × gradient ('linear' semantics, everything kept). */
export const BASELINE_NAME = 'input × gradient';
export const BASELINE_OPTIONS: ExplainBatchOptions = { semantics: 'linear', width: 'all', depth: 'all', threshold: 0 };

/**
 * Explains every input in chunks, calling `each` for every explanation as its chunk completes
 * (so files are written as the run goes), with a progress bar on a terminal.
 */
export async function explainAll(
  model: Model, batch: InputBatch, options: ExplainBatchOptions, io: CliIO, progress: boolean,
  each: (e: Explanation, index: number, baseline?: Float32Array) => Promise<void> | void = () => {},
  baseline = false,
): Promise<{ explanations: Explanation[]; baselines: Float32Array[] }> {
  const size = model.inputSize;
  const chunk = Math.max(1, Math.min(16, Math.floor(2 ** 22 / Math.max(1, size))));
  warnIfLong(model, batch.count, options, io);
  // One input: the bar counts its layer steps (onProgress); several: inputs done.
  const single = batch.count === 1;
  const bar = progress && io.stderr.isTTY
    ? new cliProgress.SingleBar({
      stream: io.stderr as NodeJS.WritableStream,
      format: single
        ? 'explaining {bar} layer step {value}/{total} | ETA {eta_formatted}'
        : 'explaining {bar} {value}/{total} | {rate} items/s | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    }, cliProgress.Presets.shades_classic)
    : undefined;
  const start = performance.now();
  bar?.start(single ? 1 : batch.count, 0, { rate: '0.0' });
  const onProgress = single && bar ? (done: number, total: number) => {
    bar.setTotal(total);
    bar.update(done);
  } : undefined;
  const out: Explanation[] = [];
  const baselines: Float32Array[] = [];
  try {
    for (let i = 0; i < batch.count; i += chunk) {
      const n = Math.min(chunk, batch.count - i);
      const xs = batch.values.subarray(i * size, (i + n) * size);
      const part = await explainBatch(model, xs, {
        ...options, targets: options.targets ? Array.from(options.targets).slice(i, i + n) : undefined,
        ...(onProgress ? { onProgress } : {}),
      });
      // The baseline explains the same classes.
      const base = baseline ? await explainBatch(model, xs, { ...BASELINE_OPTIONS, targets: part.map((e) => e.target) }) : undefined;
      for (let j = 0; j < part.length; j++) {
        await each(part[j], out.length, base?.[j].attribution);
        out.push(part[j]);
        if (base) baselines.push(base[j].attribution);
      }
      const seconds = (performance.now() - start) / 1000;
      if (!single) bar?.update(out.length, { rate: (out.length / Math.max(seconds, 1e-9)).toFixed(1) });
    }
  } finally {
    bar?.stop();
  }
  return { explanations: out, baselines };
}

/** Seconds above which a run is announced with its estimate before it starts. */
export const LONG_RUN_SECONDS = 60;

/** A warning on stderr when explaining `count` inputs is estimated above LONG_RUN_SECONDS. */
export function warnIfLong(model: Model, count: number, options: ExplainBatchOptions, io: CliIO): void {
  let e;
  try {
    const { targets: _targets, ...rest } = options;
    e = estimate(model, { ...rest, batch: 1 });
  } catch {
    return; // the call itself reports what is wrong with the options
  }
  const seconds = e.predictedSeconds * count;
  if (seconds <= LONG_RUN_SECONDS) return;
  io.stderr.write(`pathwise: warning: this run is estimated at about ${formatDuration(seconds)} ` +
    `(${(e.flops * count / 1e9).toFixed(1)} GFLOP at the ${(e.machineFlopsPerSecond / 1e9).toFixed(1)} GFLOP/s measured here); ` +
    'a smaller --depth or --width is faster; Ctrl-C stops it\n');
}

/** 42 ms, 3.1 s, 4.2 min, 1.5 h. */
export function formatDuration(seconds: number): string {
  // Two significant digits without exponent notation (toPrecision(2) writes 100 as "1.0e+2").
  const two = (v: number) => String(Number(v.toPrecision(2)));
  if (seconds < 1) return `${two(seconds * 1000)} ms`;
  if (seconds < 120) return `${two(seconds)} s`;
  if (seconds < 7200) return `${two(seconds / 60)} min`;
  return `${two(seconds / 3600)} h`;
}

export function explainOptions(flags: ExplainFlags, count: number): ExplainBatchOptions {
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

export interface Prepared {
  model: Model;
  normalisation: AppliedNormalisation;
  classNames?: string[];
  spec?: NetworkSpec;
  batch: InputBatch;
  shape: ImageShape;
  explanations: Explanation[];
  baselines: Float32Array[];
}

/** The normalisation applied to PNG inputs (and undone to draw any input), and where it came from. */
export interface AppliedNormalisation {
  mean?: number[];
  std?: number[];
  source: '--mean/--std' | 'model metadata' | 'none';
}

/** The model's layer spec, for the path diagram's edge weights; undefined if it cannot be read again. */
async function modelSpec(path: string): Promise<NetworkSpec | undefined> {
  try {
    return isTfjsSource(path) ? await tfjsSourceToSpec(path) : parseOnnx(await readFile(path));
  } catch {
    return undefined;
  }
}

/** What an ONNX file says about itself in metadata_props (nothing for other sources). */
async function modelMetadata(path: string): Promise<Map<string, string>> {
  if (isTfjsSource(path)) return new Map();
  try {
    return readOnnxMetadata(await readFile(path));
  } catch {
    return new Map(); // unreadable or undecodable: loadModel reports it
  }
}

const numbersText = (v: readonly number[]) => (v.length === 1 ? String(v[0]) : `(${v.join(', ')})`);

function chooseNormalisation(flags: ExplainFlags, meta: Map<string, string>): AppliedNormalisation {
  if ((flags.mean === undefined) !== (flags.std === undefined))
    throw new UsageError(`--mean and --std go together (got only ${flags.mean === undefined ? '--std' : '--mean'}): inputs are (p − mean) / std, ` +
      'one value or one per channel each');
  if (flags.mean && flags.std) return { mean: flags.mean, std: flags.std, source: '--mean/--std' };
  const fromModel = metadataNormalisation(meta);
  if (fromModel) return { ...fromModel, source: 'model metadata' };
  return { source: 'none' };
}

/**
 * Class names from `--classes` (a file with one name per line, or a comma-separated list), else
 * from the model's metadata `pathwise.classes` (comma-separated); the count must match.
 */
export function classNamesOf(option: string | undefined, meta: ReadonlyMap<string, string>, numClasses: number): string[] | undefined {
  let names: string[] | undefined, origin = '--classes';
  if (option !== undefined) {
    const isFile = existsSync(option) && !option.includes(',');
    names = (isFile ? readFileSync(option, 'utf8').split(/\r?\n/) : option.split(',')).map((s) => s.trim()).filter(Boolean);
    if (isFile) origin = option;
  } else if (meta.has('pathwise.classes')) {
    names = meta.get('pathwise.classes')!.split(',').map((s) => s.trim()).filter(Boolean);
    origin = "the model's metadata pathwise.classes";
  }
  if (names && names.length !== numClasses)
    throw new UsageError(`${origin} names ${names.length} class${names.length === 1 ? '' : 'es'}; the model has ${numClasses}`);
  return names;
}

export async function openInputs(modelPath: string, flags: ExplainFlags, io?: CliIO) {
  const meta = await modelMetadata(modelPath);
  const normalisation = chooseNormalisation(flags, meta);
  const model = await openModel(modelPath, { stripSoftmax: flags.stripSoftmax });
  try {
    const classNames = classNamesOf(flags.classes, meta, model.numClasses);
    const shape = imageShapeOf(model.inputShape, flags.imageShape);
    const warn = (m: string) => io?.stderr.write(`pathwise: warning: ${m}\n`);
    const batch = await readInputs(flags.input, model, shape, { mean: normalisation.mean, std: normalisation.std, resize: flags.resize, warn });
    // Said once the inputs are read: what was applied.
    if (flags.input.some((f) => extname(f).toLowerCase() === '.png')) {
      if (normalisation.source === 'none')
        warn('PNG inputs read as p = pixel / 255 in [0, 1], not normalised: neither --mean/--std nor the model\'s metadata ' +
          '(pathwise.mean / pathwise.std) give a normalisation; if the model was trained on normalised inputs, pass --mean and --std');
      else
        io?.stderr.write(`pathwise: PNG inputs normalised as (p − ${numbersText(normalisation.mean!)}) / ${numbersText(normalisation.std!)}, ` +
          `p = pixel / 255 (from ${normalisation.source === 'model metadata' ? "the model's metadata pathwise.mean / pathwise.std" : '--mean/--std'})\n`);
    }
    return { model, shape, batch, normalisation, classNames, spec: await modelSpec(modelPath) };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** The report shows at most this many inputs (the first ones). */
export const REPORT_LIMIT = 100;

export function reportHtml(modelPath: string, flags: ExplainFlags, p: Prepared): string {
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
    mean: p.normalisation.mean,
    std: p.normalisation.std,
    classNames: p.classNames,
    spec: p.spec,
    settings: {
      width: flags.width ?? 'all', depth: flags.depth ?? 'all', target: flags.target, semantics: flags.semantics ?? 'official',
      threshold: flags.threshold,
    },
  });
}


export function addInputOptions(cmd: Command): Command {
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
    .option('--mean <values>', 'per-channel mean of the input normalisation of p = pixel / 255, e.g. 0.485,0.456,0.406; with --std (default: the model\'s metadata pathwise.mean, else none)', numberList('mean'))
    .option('--std <values>', 'per-channel standard deviation of the input normalisation; with --mean', numberList('std'))
    .option('--image-shape <C,H,W>', 'how to read a flat model input as an image', numberList('image-shape'))
    .option('--resize', 'resample PNG inputs of another size to the model\'s H × W (default: refuse them)')
    .option('--classes <names.txt|a,b,c>', 'class names: a file with one per line, or a comma-separated list (default: the model\'s metadata pathwise.classes, else numbers)')
    .option('--strip-softmax', "tfjs models: explain the logits under a final softmax")
    .option('--json', 'machine-readable output on stdout')
    .option('--no-progress', 'no progress bar (it only shows on a terminal anyway)');
}
