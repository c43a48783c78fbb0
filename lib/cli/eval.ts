/**
 * `pathwise eval`: the evaluation runner (lib/eval/evaluate.ts) from the command line — explanation
 * methods × insertion/deletion AUCs on a dataset, as a table. runEvaluateCli(argv) runs it with the
 * arguments after `eval` alone (bench/eval/run.mjs does).
 */
import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadModel, type Model } from '../model/model.js';
import type { NetworkSpec } from '../model/layers.js';
import type { Depth, Semantics, Width } from '../explain/types.js';
import { evaluate, formatTable, type EvalMethod, type EvaluateOptions, type EvaluationReport } from '../eval/evaluate.js';
import { evaluateMetrics, formatMetricsTable, EVAL_METRICS, rowLabel, type EvalMetric, type MetricSettings, type MetricsReport } from '../eval/evaluate-metrics.js';
import { parseOnnx } from '../onnx/load.js';
import { loadFashionMnist, loadNpyDataset, type Dataset } from '../io/datasets.js';
import { kernelInfo } from '../addon/runtime.js';
import { newProgram, runProgram, UsageError, type CliContext } from './program.js';
import { depthOf, parseInteger, parseNumber, textList, widthOf } from './parse.js';

/** `pathwise eval --help`: the options, laid out by hand (commander's layout would wrap the lists). */
export const EVALUATE_USAGE = `usage: pathwise eval --model <file> [options]

  --model <file>        .onnx, or a .js/.mjs module whose default export is a layer spec
                        ({ inputShape, layers }), a Model, or a function returning either
  --model-name <name>   label in the table (default: the file name)
  --data <source>       fashion-mnist (test split; default), fashion-mnist:train, or an .npy batch
                        [N, C, H, W] of model inputs
  --data-dir <dir>      Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist)
  --labels <file.npy>   labels of an .npy batch (for the accuracy line)
  --offset <k>          first example (default 0)
  --count <n>           examples (default 1000)
  --methods <list>      pathwise,saliency,inputXGradient,integratedGradients,guidedBackprop,
                        guidedGradCam,random (default: all that apply)
  --widths <list>       pathwise widths, e.g. 1,4,16,64,10%,all (default 1,4,16,64,all)
  --depths <list>       pathwise depths, e.g. 1,2,all (default 1,2,all)
  --semantics <list>    official,linear (default official)
  --threshold <t>       pathwise score threshold (default 1/C)
  --step <k>            insertion/deletion pixels per step (default: image width)
  --order <o>           stable (default) or reference
  --batch <n>           inputs per engine call (default 100)
  --seed <s>            seed of the random attribution (default 0; with --metrics, of every draw: 42)
  --metrics <list>      score by these metrics instead of the insertion/deletion table: insertion,
                        deletion, sparseness, complexity, pixelFlipping, faithfulnessCorrelation,
                        regionPerturbationMorf, regionPerturbationLerf, monotonicityCorrelation,
                        maxSensitivity, avgSensitivity, localLipschitzEstimate, randomLogit, mprt,
                        completeness, inputInvariance (docs/quality.md)
  --metric-options <json>  settings of those metrics, e.g. '{"patchSize":4,"sensitivitySamples":20}'
  --out <file.md>       write the table (and the run's settings) as Markdown
  --json <file.json>    write the full report as JSON
`;

interface EvalFlags {
  model?: string;
  modelName?: string;
  data?: string;
  dataDir?: string;
  labels?: string;
  offset?: number;
  count?: number;
  methods?: string[];
  widths?: Width[];
  depths?: Depth[];
  semantics?: string[];
  threshold?: number;
  step?: number;
  order?: string;
  batch?: number;
  seed?: number;
  out?: string;
  json?: string;
  metrics?: string[];
  metricOptions?: string;
}

// A native dynamic import in both builds: the CommonJS build would otherwise compile import() to
// require(), which cannot load an ES module or a file: URL. Where the host gives functions made by
// `new Function` no import hook (vitest's module runner), the compiled import() is used.
const nativeImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;

async function importModule(specifier: string): Promise<Record<string, unknown>> {
  try {
    return await nativeImport(specifier);
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING') throw e;
    return (await import(specifier)) as Record<string, unknown>;
  }
}

async function modelFrom(path: string): Promise<Model> {
  if (/\.(m?js|cjs)$/.test(path)) {
    const mod = await importModule(pathToFileURL(resolve(path)).href);
    let value: unknown = mod.default ?? mod.model ?? mod.spec;
    if (typeof value === 'function') value = await (value as () => unknown)();
    if (value && typeof value === 'object' && 'inputSize' in value && 'handle' in value) return value as Model;
    return loadModel(value as NetworkSpec);
  }
  return loadModel(path);
}

function datasetFrom(flags: EvalFlags, count: number, offset: number): Dataset {
  const source = flags.data ?? 'fashion-mnist';
  const m = /^fashion-mnist(?::(test|train))?$/.exec(source);
  // Load only what is evaluated: offset 0 … count of the slice.
  if (m) return loadFashionMnist({ split: (m[1] as 'test' | 'train') ?? 'test', dir: flags.dataDir, offset, count });
  return loadNpyDataset(source, { labels: flags.labels, offset, count, name: basename(source) });
}

/** Markdown for a report file: the table plus what produced it. */
export function reportMarkdown(reports: EvaluationReport[], command: string): string {
  const lines = ['```sh', command, '```', ''];
  for (const r of reports) {
    lines.push(`- ${r.dataset}, ${r.model}: ${r.count} inputs from index ${r.offset}` +
      `${r.accuracy !== undefined ? `, accuracy ${(100 * r.accuracy).toFixed(1)} %` : ''}; insertion/deletion ${r.steps} steps of ${r.step} ` +
      `pixels, ${r.order} tie order; ${(r.totalMs / 1000).toFixed(1)} s wall in total.`);
  }
  lines.push('', formatTable(reports), '');
  return lines.join('\n');
}

/** The layer spec behind a model file, for the metrics that rebuild the network (mprt, inputInvariance). */
async function specFrom(path: string): Promise<NetworkSpec | undefined> {
  if (/\.onnx$/i.test(path)) return parseOnnx(readFileSync(path));
  if (/\.(m?js|cjs)$/.test(path)) {
    const mod = await importModule(pathToFileURL(resolve(path)).href);
    let value: unknown = mod.default ?? mod.model ?? mod.spec;
    if (typeof value === 'function') value = await (value as () => unknown)();
    if (value && typeof value === 'object' && Array.isArray((value as NetworkSpec).layers) && Array.isArray((value as NetworkSpec).inputShape)) return value as NetworkSpec;
  }
  return undefined;
}

/** Markdown for a metrics report file: the tables plus what produced them. */
export function metricsMarkdown(reports: MetricsReport[], command: string): string {
  const lines = ['```sh', command, '```', ''];
  for (const r of reports) {
    lines.push(`- ${r.dataset}, ${r.model}: ${r.count} inputs from index ${r.offset}` +
      `${r.accuracy !== undefined ? `, accuracy ${(100 * r.accuracy).toFixed(1)} %` : ''}; seed ${r.seed}; settings ${JSON.stringify(r.settings)}; ` +
      `${(r.totalMs / 1000).toFixed(1)} s wall in total.`, '', formatMetricsTable(r), '');
  }
  return lines.join('\n');
}

function metricSettings(text: string | undefined): MetricSettings {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--metric-options must be a JSON object: ${(e as Error).message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new UsageError('--metric-options must be a JSON object, e.g. {"patchSize":4}');
  return value as MetricSettings;
}

async function runMetrics(flags: EvalFlags, ctx: CliContext, model: Model, dataset: Dataset, modelName: string, settings: MetricSettings): Promise<void> {
  const err = (s: string) => ctx.io.stderr.write(s);
  const needsSpec = flags.metrics!.some((m) => m === 'mprt' || m === 'inputInvariance');
  const spec = needsSpec ? await specFrom(flags.model!) : undefined;
  if (needsSpec && !spec) throw new UsageError('mprt and inputInvariance need the layer spec: give an .onnx file or a module exporting { inputShape, layers }');
  const report = await evaluateMetrics(model, dataset, {
    metrics: flags.metrics as EvalMetric[],
    ...runOptions(flags, dataset.name, modelName),
    settings,
    ...(spec ? { spec } : {}),
    onRow: (row, done, total) => {
      const parts = Object.entries(row.metrics).map(([m, c]) => `${m} ${c!.mean.toFixed(3)}`);
      err(`  [${done}/${total}] ${rowLabel(row)}: ${parts.join(', ')}\n`);
    },
  });
  ctx.io.stdout.write(`${formatMetricsTable(report)}\n`);
  const command = `pathwise ${ctx.argv.join(' ')}`;
  if (flags.out) writeFileSync(flags.out, metricsMarkdown([report], command));
  if (flags.json) writeFileSync(flags.json, JSON.stringify({ command, kernel: kernelInfo().active, ...report }, null, 2));
}

/** The options `evaluate` and `evaluateMetrics` share, from the command's flags. */
function runOptions(flags: EvalFlags, datasetName: string, modelName: string): Omit<EvaluateOptions, 'onRow'> {
  return {
    methods: flags.methods as EvalMethod[] | undefined,
    grid: { ...(flags.widths ? { width: flags.widths } : {}), ...(flags.depths ? { depth: flags.depths } : {}) },
    semantics: (flags.semantics ?? ['official']) as Semantics[],
    ...(flags.threshold !== undefined ? { threshold: flags.threshold } : {}),
    ...(flags.step !== undefined ? { step: flags.step } : {}),
    ...(flags.order ? { order: flags.order as 'stable' | 'reference' } : {}),
    ...(flags.batch !== undefined ? { batchSize: flags.batch } : {}),
    ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
    datasetName,
    modelName,
  };
}

async function runEval(flags: EvalFlags, ctx: CliContext): Promise<void> {
  const err = (s: string) => ctx.io.stderr.write(s);
  if (!flags.model) throw new UsageError('--model is required (pathwise eval --help lists the options)');
  if (flags.order !== undefined && flags.order !== 'stable' && flags.order !== 'reference')
    throw new UsageError(`--order must be stable or reference, got ${JSON.stringify(flags.order)}`);
  // Metric names and settings are checked before anything is loaded.
  for (const m of flags.metrics ?? [])
    if (!EVAL_METRICS.includes(m as EvalMetric)) throw new UsageError(`unknown metric ${JSON.stringify(m)} (known: ${EVAL_METRICS.join(', ')})`);
  const settings = metricSettings(flags.metricOptions);
  if (flags.metricOptions !== undefined && !flags.metrics) throw new UsageError('--metric-options needs --metrics');
  let model: Model | undefined;
  try {
    model = await modelFrom(flags.model);
    const count = flags.count ?? 1000, offset = flags.offset ?? 0;
    const dataset = datasetFrom(flags, count, offset);
    const modelName = flags.modelName ?? basename(flags.model);
    err(`pathwise eval: ${modelName} on ${dataset.name} (${dataset.count} inputs), kernels ${kernelInfo().active}\n`);
    if (flags.metrics) {
      await runMetrics(flags, ctx, model, dataset, modelName, settings);
      return;
    }
    const report = await evaluate(model, dataset, {
      ...runOptions(flags, dataset.name, modelName),
      onRow: (row, done, total) => {
        const what = row.method === 'pathwise' ? `pathwise ${row.semantics} d=${row.depth} w=${row.width}` : row.method;
        err(`  [${done}/${total}] ${what}: ins ${row.insertion.mean.toFixed(3)}, del ${row.deletion.mean.toFixed(3)}, ` +
          `${row.msPerExplanation.toFixed(2)} ms/explanation, ${row.msPerInsDel.toFixed(2)} ms/ins+del\n`);
      },
    });
    ctx.io.stdout.write(`${formatTable(report)}\n`);
    const command = `pathwise ${ctx.argv.join(' ')}`;
    if (flags.out) writeFileSync(flags.out, reportMarkdown([report], command));
    if (flags.json) writeFileSync(flags.json, JSON.stringify({ command, kernel: kernelInfo().active, ...report }, null, 2));
  } finally {
    model?.dispose();
  }
}

const list = (what: string) => (text: string): string[] => {
  const items = textList(text);
  if (items.length === 0) throw new UsageError(`--${what} needs at least one item, got ${JSON.stringify(text)}`);
  return items;
};

export function addEvalCommand(program: Command, ctx: CliContext): void {
  program.command('eval')
    .description('evaluate explanation methods on a dataset: insertion/deletion AUCs, |S_l|, time (pathwise eval --help for its options)')
    .option('--model <file>')
    .option('--model-name <name>')
    .option('--data <source>')
    .option('--data-dir <dir>')
    .option('--labels <file.npy>')
    .option('--offset <k>', '', parseInteger('offset'))
    .option('--count <n>', '', parseInteger('count'))
    .option('--methods <list>', '', list('methods'))
    .option('--widths <list>', '', (text: string) => list('widths')(text).map((w) => widthOf(w, 'widths')))
    .option('--depths <list>', '', (text: string) => list('depths')(text).map((d) => depthOf(d, 'depths')))
    .option('--semantics <list>', '', list('semantics'))
    .option('--threshold <t>', '', parseNumber('threshold'))
    .option('--step <k>', '', parseInteger('step'))
    .option('--order <o>')
    .option('--batch <n>', '', parseInteger('batch'))
    .option('--seed <s>', '', parseInteger('seed'))
    .option('--out <file.md>')
    .option('--json <file.json>')
    .option('--metrics <list>', '', list('metrics'))
    .option('--metric-options <json>')
    .configureHelp({ formatHelp: () => EVALUATE_USAGE })
    .action(async (flags: EvalFlags) => runEval(flags, ctx));
}

/** Runs `pathwise eval` with the arguments after `eval`; resolves to the process exit code. */
export async function runEvaluateCli(argv: string[], io: { out?: (s: string) => void; err?: (s: string) => void } = {}): Promise<number> {
  const out = io.out ?? ((s: string) => process.stdout.write(s));
  const err = io.err ?? ((s: string) => process.stderr.write(s));
  const ctx: CliContext = { io: { stdout: { write: out }, stderr: { write: err } }, argv: ['eval', ...argv], exitCode: 0 };
  const program = newProgram(ctx.io);
  addEvalCommand(program, ctx);
  return runProgram(program, ctx);
}
