/**
 * `pathwise eval`: the evaluation runner from the command line. runEvaluateCli(argv) takes the
 * arguments after the subcommand and returns the exit code; lib/cli wires it up, and
 * bench/eval/run.mjs runs it directly.
 */
import { writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadModel, type Model } from '../model/model.js';
import type { NetworkSpec } from '../model/layers.js';
import type { Depth, Semantics, Width } from '../explain/types.js';
import { evaluate, formatTable, type EvalMethod, type EvaluationReport } from '../eval/evaluate.js';
import { loadFashionMnist, loadNpyDataset, type Dataset } from '../io/datasets.js';
import { kernelInfo } from '../addon/runtime.js';

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
  --seed <s>            seed of the random attribution (default 0)
  --out <file.md>       write the table (and the run's settings) as Markdown
  --json <file.json>    write the full report as JSON
`;

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

function parseArgs(argv: string[]): Map<string, string> {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      args.set('help', '1');
      continue;
    }
    if (!a.startsWith('--')) throw new RangeError(`unexpected argument ${JSON.stringify(a)}`);
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new RangeError(`--${key} needs a value`);
    args.set(key, value);
  }
  const known = new Set(['help', 'model', 'model-name', 'data', 'data-dir', 'labels', 'offset', 'count', 'methods', 'widths', 'depths',
    'semantics', 'threshold', 'step', 'order', 'batch', 'seed', 'out', 'json']);
  for (const k of args.keys()) if (!known.has(k)) throw new RangeError(`unknown option --${k}`);
  return args;
}

function int(args: Map<string, string>, key: string): number | undefined {
  const v = args.get(key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`--${key} must be an integer, got ${JSON.stringify(v)}`);
  return n;
}

function list(args: Map<string, string>, key: string): string[] | undefined {
  const v = args.get(key);
  return v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean);
}

function widthOf(s: string): Width {
  if (s === 'all') return 'all';
  if (s.endsWith('%')) return s as `${number}%`;
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new RangeError(`bad width ${JSON.stringify(s)}`);
  return n;
}

function depthOf(s: string): Depth {
  if (s === 'all') return 'all';
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new RangeError(`bad depth ${JSON.stringify(s)}`);
  return n;
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

function datasetFrom(args: Map<string, string>, count: number, offset: number): Dataset {
  const source = args.get('data') ?? 'fashion-mnist';
  const m = /^fashion-mnist(?::(test|train))?$/.exec(source);
  // Load only what is evaluated: offset 0 … count of the slice.
  if (m) return loadFashionMnist({ split: (m[1] as 'test' | 'train') ?? 'test', dir: args.get('data-dir'), offset, count });
  return loadNpyDataset(source, { labels: args.get('labels'), offset, count, name: basename(source) });
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

/** Runs `pathwise eval` with the given arguments; resolves to the process exit code. */
export async function runEvaluateCli(argv: string[], io: Partial<Io> = {}): Promise<number> {
  const out = io.out ?? ((s: string) => process.stdout.write(s));
  const err = io.err ?? ((s: string) => process.stderr.write(s));
  let args: Map<string, string>;
  try {
    args = parseArgs(argv);
  } catch (e) {
    err(`pathwise eval: ${(e as Error).message}\n\n${EVALUATE_USAGE}`);
    return 2;
  }
  if (args.has('help')) {
    out(EVALUATE_USAGE);
    return 0;
  }
  const modelPath = args.get('model');
  if (!modelPath) {
    err(`pathwise eval: --model is required\n\n${EVALUATE_USAGE}`);
    return 2;
  }
  let model: Model | undefined;
  try {
    model = await modelFrom(modelPath);
    const count = int(args, 'count') ?? 1000, offset = int(args, 'offset') ?? 0;
    const dataset = datasetFrom(args, count, offset);
    const semantics = (list(args, 'semantics') ?? ['official']) as Semantics[];
    const widths = list(args, 'widths')?.map(widthOf);
    const depths = list(args, 'depths')?.map(depthOf);
    const order = args.get('order');
    if (order !== undefined && order !== 'stable' && order !== 'reference') throw new RangeError('--order must be stable or reference');
    const threshold = args.get('threshold');
    const modelName = args.get('model-name') ?? basename(modelPath);
    err(`pathwise eval: ${modelName} on ${dataset.name} (${dataset.count} inputs), kernels ${kernelInfo().active}\n`);
    const report = await evaluate(model, dataset, {
      methods: list(args, 'methods') as EvalMethod[] | undefined,
      grid: { ...(widths ? { width: widths } : {}), ...(depths ? { depth: depths } : {}) },
      semantics,
      ...(threshold !== undefined ? { threshold: Number(threshold) } : {}),
      ...(args.has('step') ? { step: int(args, 'step') } : {}),
      ...(order ? { order } : {}),
      ...(args.has('batch') ? { batchSize: int(args, 'batch') } : {}),
      ...(args.has('seed') ? { seed: int(args, 'seed') } : {}),
      datasetName: dataset.name,
      modelName,
      onRow: (row, done, total) => {
        const what = row.method === 'pathwise' ? `pathwise ${row.semantics} d=${row.depth} w=${row.width}` : row.method;
        err(`  [${done}/${total}] ${what}: ins ${row.insertion.mean.toFixed(3)}, del ${row.deletion.mean.toFixed(3)}, ` +
          `${row.msPerExplanation.toFixed(2)} ms/explanation, ${row.msPerInsDel.toFixed(2)} ms/ins+del\n`);
      },
    });
    const table = formatTable(report);
    out(`${table}\n`);
    const command = `pathwise eval ${argv.join(' ')}`;
    if (args.get('out')) writeFileSync(args.get('out')!, reportMarkdown([report], command));
    if (args.get('json')) writeFileSync(args.get('json')!, JSON.stringify({ command, kernel: kernelInfo().active, ...report }, null, 2));
    return 0;
  } catch (e) {
    err(`pathwise eval: ${(e as Error).message}\n`);
    return 1;
  } finally {
    model?.dispose();
  }
}
