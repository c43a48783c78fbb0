/**
 * `pathwise explain <model> -i <inputs…> -o <dir>`: explains inputs and writes explanation.json,
 * heatmap PNGs, the path diagram (SVG) and optionally report.html, as each chunk completes.
 */
import { Option, type Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Explanation } from '../explain/types.js';
import { encodePng, renderInput, autoScale } from '../render/image.js';
import { renderHeatmap } from '../render/heatmap.js';
import { renderHeatmapFigure, softmaxAt } from '../render/figure.js';
import { pathDiagramSvg } from '../render/diagram.js';
import { pathEdges } from '../render/path-edges.js';
import { UsageError, version, type CliContext, type CliIO } from './program.js';
import { encodeExplanationsParquet } from '../io/parquet.js';
import { addInputOptions, BASELINE_NAME, explainAll, explainOptions, openInputs, reportHtml, type ExplainFlags } from './explaining.js';

/** float32 values as the shortest decimals that read back to the same float32. */
function f32List(values: ArrayLike<number>): number[] {
  return Array.from(values, (v) => (Number.isFinite(v) ? Number(Math.fround(v).toPrecision(9)) : v));
}

function explanationJson(e: Explanation) {
  return {
    target: e.target,
    predicted: e.predicted,
    pathLogit: e.pathLogit,
    pathPredicted: e.pathPredicted,
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


function summaryLine(label: string, e: Explanation, classNames?: readonly string[]): string {
  const sizes = e.layers.map((l) => l.units.length).reverse().join(', ');
  const cls = (c: number) => (classNames ? `${c} (${classNames[c]})` : String(c));
  return `${label}: class ${cls(e.target)}${e.target === e.predicted ? ' (predicted)' : ` (predicted ${cls(e.predicted)})`}, ` +
    `path logit ${e.pathLogit.toFixed(4)} (${(e.pathLogit / e.logits[e.target]).toFixed(2)} × the logit), ` +
    `${e.layers.length} path layer${e.layers.length === 1 ? '' : 's'} (${sizes} units, top → bottom)` +
    (e.pathPredicted === e.target ? '' : `; warning: the path network predicts ${cls(e.pathPredicted)}, not the explained class: a wider path keeps the decision`);
}

async function runExplain(modelPath: string, flags: ExplainFlags, io: CliIO): Promise<void> {
  if (!flags.out) throw new UsageError("required option '-o, --out <dir>' not specified");
  const { model, shape, batch, normalisation, classNames, spec } = await openInputs(modelPath, flags, io);
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
      const picture = renderInput(x, shape, { mean: normalisation.mean, std: normalisation.std, scale });
      // Figures: the class (name) and its probability above, a colour bar below; the map with the input's outline.
      const title = classNames ? classNames[e.target] : `class ${e.target}`;
      const figure = { title, probability: softmaxAt(e.logits, e.target) };
      const heat = renderHeatmapFigure(e.attribution, shape, { scale, clipPercentile: flags.clip, outline: x, ...figure });
      const files: Record<string, string | string[]> = {
        input: await write(`${prefix}input.png`, encodePng(picture)),
        heatmap: await write(`${prefix}heatmap.png`, encodePng(heat.image)),
        overlay: await write(`${prefix}heatmap-overlay.png`, encodePng(renderHeatmapFigure(e.attribution, shape, { overlay: picture, limit: heat.limit, ...figure }).image)),
        diagram: await write(`${prefix}path.svg`, pathDiagramSvg(e, {
          reluLayers: model.gateLayers, inputShape: model.inputShape, classNames, edges: spec ? pathEdges(spec, x, e, { perUnit: 12 }) : undefined,
        })),
      };
      if (flags.perChannel && shape.channels > 1) {
        const list: string[] = [];
        for (let c = 0; c < shape.channels; c++)
          list.push(await write(`${prefix}heatmap-c${c}.png`, encodePng(renderHeatmap(e.attribution, shape, { channel: c, scale, limit: heat.limit }).image)));
        files.channels = list;
      }
      if (base) files.baseline = await write(`${prefix}baseline-input-x-gradient.png`, encodePng(renderHeatmapFigure(base, shape, { scale, clipPercentile: flags.clip, title: `${title}: ${BASELINE_NAME}` }).image));
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
    if (flags.report) await write('report.html', reportHtml(modelPath, flags, { model, batch, shape, explanations, baselines, normalisation, classNames, spec }));
    const doc = {
      pathwise: version(),
      model: { source: modelPath, inputShape: model.inputShape, numClasses: model.numClasses, reluLayers: model.gateLayers },
      settings: {
        width: flags.width ?? 'all', depth: flags.depth ?? 'all', target: flags.target ?? 'predicted', semantics: flags.semantics ?? 'official',
        threshold: flags.threshold, decompose: flags.decompose, decomposeLayer: flags.decomposeLayer, paths: flags.paths, baseline: flags.baseline ? BASELINE_NAME : undefined,
        mean: normalisation.mean, std: normalisation.std, normalisation: normalisation.source, imageShape: [shape.channels, shape.height, shape.width],
        classNames,
      },
      explanations: items,
    };
    if (flags.format === 'parquet') {
      // The same columns as a distributed run's shard files (lib/io/parquet.ts), one row per input.
      const rows = explanations.map((explanation, index) => ({ index, explanation }));
      await write('explanations.parquet', await encodeExplanationsParquet(rows, {
        'pathwise.model': modelPath, 'pathwise.classes': String(model.numClasses), 'pathwise.settings': JSON.stringify(doc.settings),
      }));
    } else {
      await write('explanation.json', JSON.stringify(doc, null, 1) + '\n');
    }
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
      shown.forEach((e, i) => io.stdout.write(summaryLine(batch.labels[i], e, classNames) + '\n'));
      if (explanations.length > shown.length) io.stdout.write(`… and ${explanations.length - shown.length} more\n`);
      io.stdout.write(`wrote ${written.length} files to ${outDir}\n`);
    }
  } finally {
    model.dispose();
  }
}

export function addExplainCommand(program: Command, ctx: CliContext): void {
  addInputOptions(program.command('explain')
    .description('explain inputs; writes explanation.json, heatmap PNGs, the path diagram (SVG) and optionally report.html')
    .argument('<model>', 'an .onnx file or a tfjs model.json'))
    .requiredOption('-o, --out <dir>', 'output folder')
    .option('--per-channel', 'also write one heatmap per input channel')
    .addOption(new Option('--clip <percentile>', 'colour limit at this percentile of |attribution| (default 99.5; 100 is the maximum)').argParser(Number))
    .option('--report', 'also write report.html')
    .addOption(new Option('--format <format>', 'explanations as explanation.json or explanations.parquet (the columns of a distributed run\'s shards)').choices(['json', 'parquet']).default('json'))
    .action(async (model: string, flags: ExplainFlags) => runExplain(model, flags, ctx.io));
}
