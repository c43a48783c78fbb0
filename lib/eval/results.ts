/**
 * The docs/results.md generator behind `npm run results` (tools/results/make-results.mjs): the three
 * Fashion-MNIST models of test/fixtures/models, every method × metric of evaluateMetrics on the
 * first `count` test images, one JSON report per model in docs/results/ and the Markdown page.
 * Internal (not exported from the package root); test/results.test.ts runs it on a few images.
 */
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelSync } from '../model/model.js';
import { parseOnnx } from '../onnx/load.js';
import { loadFashionMnist } from '../io/datasets.js';
import { kernelInfo } from '../addon/runtime.js';
import type { Depth, Semantics, Width } from '../explain/types.js';
import {
  evaluateMetrics, formatMetricsTable, higherIsBetter, rowLabel, METRIC_LABEL,
  type EvalMetric, type MetricCell, type MetricSettings, type MetricsReport, type MetricsRow,
} from './evaluate-metrics.js';

export interface ResultsModel {
  /** File name under the models directory, and the label in the tables. */
  file: string;
  label: string;
}

export interface ResultsOptions {
  /** Fashion-MNIST test images 0 … count − 1 per model. */
  count: number;
  modelsDir: string;
  /** Where the JSON reports go (one per model). */
  jsonDir: string;
  /** The Markdown page. */
  outFile: string;
  models?: ResultsModel[];
  metrics?: EvalMetric[];
  widths?: Width[];
  depths?: Depth[];
  semantics?: Semantics[];
  settings?: MetricSettings;
  dataDir?: string;
  log?: (s: string) => void;
  /** Only run these models (file names); the page is written from every model's JSON in jsonDir. */
  only?: string[];
  /** Run nothing: write the page from the JSON reports already in jsonDir. */
  fromJson?: boolean;
}

export const RESULTS_MODELS: readonly ResultsModel[] = Object.freeze([
  { file: 'fashion_mlp.onnx', label: 'Fashion MLP' },
  { file: 'fashion_cnn.onnx', label: 'Fashion CNN' },
  { file: 'fashion_resnet.onnx', label: 'Fashion ResNet' },
  // The non-ReLU gate: three LeakyReLU(0.1) layers (tools/reference/train_fashion_leaky.py).
  { file: 'fashion_cnn_leaky.onnx', label: 'Fashion CNN, LeakyReLU' },
]);

export const RESULTS_METRICS: readonly EvalMetric[] = Object.freeze([
  'insertion', 'deletion', 'pixelFlipping', 'faithfulnessCorrelation', 'regionPerturbationMorf', 'regionPerturbationLerf',
  'monotonicityCorrelation', 'maxSensitivity', 'avgSensitivity', 'localLipschitzEstimate', 'randomLogit', 'mprt',
  'inputInvariance', 'sparseness', 'complexity', 'completeness',
] as EvalMetric[]);

/**
 * Settings of the full run, where they differ from Quantus's defaults for cost (each number is
 * forwards or explanations per input and method configuration): pixel flipping 28 features per step
 * (28 forwards, not 784), region perturbation 4 × 4 patches (49 regions of the 28 × 28 image; 8 × 8 gives
 * only 16), monotonicity 56 features per step × 10 draws (140 forwards, not 784 × 100), 10 noisy
 * copies for the sensitivities and Lipschitz (20 explanations, not 400).
 */
export const RESULTS_SETTINGS: MetricSettings = Object.freeze({
  featuresInStep: 28, patchSize: 4, monotonicityFeaturesInStep: 56, monotonicitySamples: 10, sensitivitySamples: 10,
});

function se(c: MetricCell | undefined): string {
  if (!c || !Number.isFinite(c.mean)) return '–';
  const scale = Math.max(Math.abs(c.mean), c.se);
  const p = scale >= 100 ? 1 : scale >= 10 ? 2 : 3;
  return `${c.mean.toFixed(p)} ± ${c.se.toFixed(p)}`;
}

/** The best pathwise row for a metric (by mean, in the metric's better direction). */
export function bestPathwise(report: MetricsReport, metric: EvalMetric): MetricsRow | undefined {
  const sign = higherIsBetter(metric) ? 1 : -1;
  let best: MetricsRow | undefined;
  for (const r of report.rows) {
    const v = r.metrics[metric]?.mean;
    if (r.method !== 'pathwise' || v === undefined || !Number.isFinite(v)) continue;
    if (!best || sign * v > sign * best.metrics[metric]!.mean) best = r;
  }
  return best;
}

/**
 * Compares a (pathwise) with b: 'wins' / 'loses' when the means differ by more than two combined
 * standard errors in the metric's better direction, else 'ties'.
 */
export function verdict(metric: EvalMetric, a: MetricCell, b: MetricCell): 'wins' | 'loses' | 'ties' {
  const gap = (higherIsBetter(metric) ? 1 : -1) * (a.mean - b.mean);
  const noise = 2 * Math.hypot(a.se, b.se);
  return gap > noise ? 'wins' : gap < -noise ? 'loses' : 'ties';
}

function summaryTable(reports: [ResultsModel, MetricsReport][], metrics: EvalMetric[]): string[] {
  const lines = [
    '| model | metric | best pathwise | (configuration) | integrated gradients | input × gradient | pathwise vs IG / vs I×G |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const [m, rep] of reports) {
    const ig = rep.rows.find((r) => r.method === 'integratedGradients');
    const ixg = rep.rows.find((r) => r.method === 'inputXGradient');
    for (const metric of metrics) {
      const best = bestPathwise(rep, metric);
      const p = best?.metrics[metric];
      const v = (o: MetricsRow | undefined) => (p && o?.metrics[metric] && Number.isFinite(o.metrics[metric]!.mean) ? verdict(metric, p, o.metrics[metric]!) : '–');
      lines.push(`| ${m.label} | ${METRIC_LABEL[metric]} ${higherIsBetter(metric) ? '↑' : '↓'} | ${se(p)} | ${best ? `${best.semantics} d=${best.depth} w=${best.width}` : '–'} | ` +
        `${se(ig?.metrics[metric])} | ${se(ixg?.metrics[metric])} | ${v(ig)} / ${v(ixg)} |`);
    }
  }
  return lines;
}

function winsAndLosses(reports: [ResultsModel, MetricsReport][], metrics: EvalMetric[]): string[] {
  const out: string[] = [];
  for (const [m, rep] of reports) {
    const baselines = rep.rows.filter((r) => r.method !== 'pathwise' && r.method !== 'random');
    const wins: string[] = [], losses: string[] = [], ties: string[] = [];
    for (const metric of metrics) {
      const best = bestPathwise(rep, metric);
      if (!best) continue;
      const p = best.metrics[metric]!;
      const sign = higherIsBetter(metric) ? 1 : -1;
      let top: MetricsRow | undefined;
      for (const r of baselines) {
        const c = r.metrics[metric];
        if (c && Number.isFinite(c.mean) && (!top || sign * c.mean > sign * top.metrics[metric]!.mean)) top = r;
      }
      if (!top) continue;
      const text = `${METRIC_LABEL[metric]} (pathwise ${best.semantics} d=${best.depth} w=${best.width} ${se(p)} against ${rowLabel(top)} ${se(top.metrics[metric])})`;
      const v = verdict(metric, p, top.metrics[metric]!);
      (v === 'wins' ? wins : v === 'loses' ? losses : ties).push(text);
    }
    out.push(`* **${m.label}** — the best pathwise configuration per metric against the best gradient baseline ` +
      `(a difference counts when it exceeds two combined standard errors):`,
    `  * wins: ${wins.length ? wins.join('; ') : 'none'}.`,
    `  * loses: ${losses.length ? losses.join('; ') : 'none'}.`,
    `  * ties: ${ties.length ? ties.join('; ') : 'none'}.`);
  }
  return out;
}

function costTable(reports: [ResultsModel, MetricsReport][], metrics: EvalMetric[]): string[] {
  const lines = [`| model | explanation (mean over methods) | ${metrics.map((m) => METRIC_LABEL[m]).join(' | ')} |`, `| --- | --- | ${metrics.map(() => '---').join(' | ')} |`];
  const f = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
  for (const [m, rep] of reports) {
    const mean = (pick: (r: MetricsRow) => number | undefined) => {
      const vs = rep.rows.map(pick).filter((v): v is number => v !== undefined);
      return vs.reduce((t, v) => t + v, 0) / vs.length;
    };
    lines.push(`| ${m.label} | ${f(mean((r) => r.msPerExplanation))} | ${metrics.map((metric) => f(mean((r) => r.metrics[metric]?.msPerInput))).join(' | ')} |`);
  }
  return lines;
}

/** Runs every model and writes the JSON reports and the Markdown page; returns the reports. */
export async function makeResults(o: ResultsOptions): Promise<MetricsReport[]> {
  const log = o.log ?? (() => {});
  const models = o.models ?? [...RESULTS_MODELS];
  const metrics = o.metrics ?? [...RESULTS_METRICS];
  const settings = o.settings ?? RESULTS_SETTINGS;
  const widths = o.widths ?? [1, 16, 'all'];
  const depths = o.depths ?? [1, 'all'];
  const semantics = o.semantics ?? ['official', 'linear'];
  mkdirSync(o.jsonDir, { recursive: true });
  const jsonPath = (m: ResultsModel) => join(o.jsonDir, m.file.replace(/\.onnx$/, '.metrics.json'));
  const reports: [ResultsModel, MetricsReport][] = [];
  const run = o.fromJson ? [] : models.filter((m) => !o.only || o.only.includes(m.file) || o.only.includes(m.file.replace(/\.onnx$/, '')));
  const dataset = run.length ? loadFashionMnist({ split: 'test', count: o.count, ...(o.dataDir ? { dir: o.dataDir } : {}) }) : undefined;
  for (const m of run) {
    const path = join(o.modelsDir, m.file);
    const spec = parseOnnx(readFileSync(path));
    const model = loadModelSync(spec);
    try {
      log(`${m.label}: ${model.gateLayers.length} gate layers, ${o.count} images\n`);
      const report = await evaluateMetrics(model, dataset!, {
        metrics, spec, settings, semantics, grid: { width: widths, depth: depths },
        datasetName: 'Fashion-MNIST test', modelName: m.file,
        onRow: (row, done, total) => log(`  [${done}/${total}] ${rowLabel(row)} ${(row.msPerExplanation).toFixed(2)} ms/explanation\n`),
      });
      writeFileSync(jsonPath(m), JSON.stringify({ kernel: kernelInfo().active, ...report }, null, 1));
    } finally {
      model.dispose();
    }
  }
  for (const m of models) {
    if (!existsSync(jsonPath(m))) continue;
    const report = JSON.parse(readFileSync(jsonPath(m), 'utf8')) as MetricsReport;
    // JSON writes NaN as null.
    for (const r of report.rows) for (const c of Object.values(r.metrics)) if (c && c.mean === null) c.mean = NaN;
    reports.push([m, report]);
  }
  if (reports.length === 0) throw new Error(`no reports in ${o.jsonDir}`);
  const count = Math.min(...reports.map(([, r]) => r.count));
  writeFileSync(o.outFile, page(reports, reports[0][1].metrics, reports[0][1].settings, { ...o, count }));
  return reports.map(([, r]) => r);
}

function countText(reports: [ResultsModel, MetricsReport][]): string {
  const counts = [...new Set(reports.map(([, r]) => r.count))];
  return counts.length === 1 ? String(counts[0]) : reports.map(([m, r]) => `${r.count} (${m.label})`).join(', ');
}

/** The distinct values of a pathwise grid field over every report, in row order. */
function grid<T>(reports: [ResultsModel, MetricsReport][], pick: (r: MetricsRow) => T | undefined): T[] {
  const out: T[] = [];
  for (const [, rep] of reports) for (const r of rep.rows) { const v = pick(r); if (v !== undefined && !out.includes(v)) out.push(v); }
  return out;
}

function page(reports: [ResultsModel, MetricsReport][], metrics: EvalMetric[], settings: MetricSettings, o: ResultsOptions): string {
  const lines = [
    '# Results: pathwise against the gradient baselines on Fashion-MNIST',
    '',
    '<!-- Generated by tools/results/make-results.mjs (lib/eval/results.ts); edit those, not this file. -->',
    '',
    `Every method × every metric of [docs/quality.md](quality.md) (Quantus definitions) and RISE insertion/deletion`,
    `(docs/method.md §10) on the first ${countText(reports)} Fashion-MNIST test images, for the ${reports.length} Fashion models of`,
    '`test/fixtures/models` (one with LeakyReLU gates). The explained class is the predicted one. The insertion/deletion study over the full',
    'width × depth grid on 1000 images (and the tie-order and speed measurements) is in',
    '[results-insertion-deletion.md](results-insertion-deletion.md).',
    '',
    'Variants of the selection, the objective and integration along α·x, on these models, are compared with',
    'integrated gradients in [research.md](research.md): none beats it on insertion and deletion on every model.',
    '',
    '## Reproduce',
    '',
    '```sh',
    'npm ci && npm run build:ts      # the addon and dist/',
    ...(new Set(reports.map(([, r]) => r.count)).size === 1
      ? [`node tools/results/make-results.mjs --count ${reports[0][1].count}    # or: npm run results -- --count ${reports[0][1].count}`]
      : [...reports.map(([m, r]) => `node tools/results/make-results.mjs --count ${r.count} --only ${m.file.replace(/\.onnx$/, '')}`),
        'node tools/results/make-results.mjs --from-json    # this page from docs/results/*.metrics.json']),
    '```',
    '',
    '## Setup',
    '',
    '* Data: the first Fashion-MNIST test images (Debian `dataset-fashion-mnist`), normalised (p/255 − 0.2860)/0.3530.',
    ...reports.map(([m, r]) => `* ${m.label} (\`${m.file}\`): test images 0–${r.count - 1}, accuracy ${r.accuracy !== undefined ? (100 * r.accuracy).toFixed(1) + ' %' : '–'} on them; ` +
      `${(r.totalMs / 60000).toFixed(1)} min wall for all its rows.`),
    `* Methods: pathwise over widths ${grid(reports, (r) => r.width).join(', ')} × depths ${grid(reports, (r) => r.depth).join(', ')} in the ` +
      `semantics ${grid(reports, (r) => r.semantics).join(' and ')} (threshold 1/C); saliency, input × gradient, integrated gradients ` +
      '(zero baseline, 50 Gauss–Legendre points), guided backprop, guided Grad-CAM (models with a MaxPool), and a random attribution ' +
      '(uniform, seeded by the input and class, independent of the network).',
    `* Metric settings (Quantus defaults otherwise, seed 42, the same draws for every method): \`${JSON.stringify(settings)}\`. ` +
      'The reductions against Quantus\'s defaults are for cost; each is stated in lib/eval/results.ts (RESULTS_SETTINGS).',
    '* Mean ± standard error over the images (NaN values, e.g. a correlation with a constant side, left out: the count is shown).',
    '  ↑ higher is better, ↓ lower is better; bold marks the best row of each column.',
    '* Timings: wall time of one process on a 2-core machine that other jobs loaded heavily during these runs (run at',
    '  nice 10), so absolute times are inflated and noisy; compare the metrics with each other within one model.',
    '* Image counts and the grid (3 widths × 2 depths instead of the 7 × 3 of results-insertion-deletion.md) were chosen',
    '  by cost on that machine: each row re-explains every image 26–29 times (20 noisy copies, one per MPRT step, random',
    '  logit, input invariance); 200 images per model kept each model\'s run under half an hour here.',
    '',
    '## Summary: best pathwise configuration against integrated gradients and input × gradient',
    '',
    '"wins" / "loses": the means differ by more than two combined standard errors in the metric\'s better direction; else "ties".',
    '"Best pathwise" is the best of all pathwise rows for that metric, chosen after seeing the values, so it is an',
    'optimistic figure for pathwise (a different configuration may win each metric); the full tables below give every row.',
    '',
    ...summaryTable(reports, metrics),
    '',
    '## Where pathwise wins and where it loses',
    '',
    ...winsAndLosses(reports, metrics),
    '',
    '## Reading the tables',
    '',
    '* The comparisons above are unpaired (two combined standard errors) although every method sees the same images and',
    '  the same random draws, so they are conservative: a "tie" may still be a consistent difference.',
    '* Input invariance is decided by the form of the attribution: pathwise\'s A = W_P[t] ⊙ x (docs/method.md §5),',
    '  input × gradient and integrated gradients (zero baseline) all multiply by x, so shifting x changes them by',
    '  W ⊙ shift and they score 0 unless W is (nearly) zero at every pixel — which is how a near-empty narrow path',
    '  can pass; saliency, guided backprop and guided Grad-CAM read only gates and weights, which the shifted network',
    '  keeps, and score 1 up to float32 rounding (a gate at zero can flip). The random map is seeded by the input, so',
    '  a shifted input gets another map (0).',
    '* Sparseness, complexity, the robustness metrics and MPRT reward maps that are nearly empty or that ignore the',
    '  input: read a winning row\'s faithfulness columns (insertion/deletion, faithfulness correlation, region',
    '  perturbation) before calling it a better explanation. On the CNN and the ResNet, narrow deep paths (width 1,',
    '  depth all: one unit per layer) give such near-empty maps (high sparseness, poor insertion and deletion in the full tables).',
    '* The random attribution never depends on the network, so its MPRT Spearman is 1 by construction (it "fails" the',
    '  sanity check, as it should); it does depend on the class, so its random-logit SSIM is low.',
    '* Completeness here is Quantus\'s: Σa against f(x) − f(baseline) with the input\'s minimum as the baseline. pathwise\'s',
    '  own identity Σa + b_P = path logit holds exactly (docs/quality.md) and is not what this column measures.',
    '* With the 1/C score threshold the semantics \'official\' and \'linear\' give the same explanation wherever no MaxPool',
    '  re-routes (results-insertion-deletion.md), so their rows often coincide; ties between them go to \'official\'.',
    '',
    '## Cost of each metric',
    '',
    'Wall time per input in ms, averaged over the method rows (the robustness, randomisation and input-invariance',
    'metrics include their re-explanations, so they scale with the method\'s cost; insertion and deletion run as one',
    'call, charged to both).',
    '',
    ...costTable(reports, metrics),
    '',
  ];
  for (const [m, r] of reports) lines.push(`## ${m.label} (\`${m.file}\`), ${r.count} images`, '', formatMetricsTable(r), '');
  return lines.join('\n');
}
