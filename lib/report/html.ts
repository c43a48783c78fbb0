/**
 * The HTML report: one self-contained file (pictures inlined as data: URIs, styles and script
 * inline, a Content-Security-Policy that forbids every network request) showing, per explained
 * input, the input, the heatmaps, the path diagram, the per-layer table and the logits. Clicking a
 * layer (in the diagram or the table) lists its selected units.
 */
import type { Explanation, ReluLayerInfo } from '../explain/types.js';
import { encodePng, imageShapeOf, pngDataUri, renderInput, autoScale, type ImageShape, type RgbaImage } from '../render/image.js';
import { divergingCssGradient, renderHeatmap } from '../render/heatmap.js';
import { escapeXml, pathDiagramSvg } from '../render/diagram.js';
import { pathEdges, type PathEdges } from '../render/path-edges.js';
import { softmaxAt } from '../render/figure.js';
import type { NetworkSpec } from '../model/layers.js';
import { gateName } from '../render/gate-name.js';

export interface ReportModelInfo {
  inputShape: readonly number[];
  numClasses: number;
  /** The gate layers (a Model's gateLayers). */
  gateLayers?: readonly ReluLayerInfo[];
  /** @deprecated Use gateLayers; read when gateLayers is absent. */
  reluLayers?: readonly ReluLayerInfo[];
}

function gateLayersOf(model: ReportModelInfo): readonly ReluLayerInfo[] {
  return model.gateLayers ?? model.reluLayers ?? [];
}

export interface ReportExample {
  /** A caption, e.g. the input file name. */
  title?: string;
  explanation: Explanation;
  /** The model input that was explained (flat NCHW). */
  input: ArrayLike<number>;
  /** Other attributions of the same input and class (e.g. input × gradient), drawn beside pathwise. */
  baselines?: { name: string; attribution: ArrayLike<number> }[];
  /** The path's edge weights for the diagram (default: computed from ReportOptions.spec when given). */
  edges?: PathEdges;
}

export interface ReportOptions {
  /** The page title; default "pathwise report". */
  title?: string;
  /** A line under the title, e.g. the model file. */
  subtitle?: string;
  model: ReportModelInfo;
  examples: ReportExample[];
  /** How to read the input as a picture (default imageShapeOf(model.inputShape)). */
  imageShape?: ImageShape;
  /** The normalisation of the inputs (per channel), to show them as they were. */
  mean?: readonly number[];
  std?: readonly number[];
  /** Class names by index, used wherever a class is shown. */
  classNames?: readonly string[];
  /**
   * The model's layer spec (e.g. parseOnnx of its file): the path diagram then draws the real path
   * weights as edges (pathEdges); without it the diagram has no edges.
   */
  spec?: NetworkSpec;
  /** The explain options used, shown in the header. */
  settings?: Record<string, unknown>;
  /** Per-channel heatmaps are drawn for inputs with at most this many channels (default 4). */
  maxChannelMaps?: number;
  /** Most units drawn per layer in the diagram (default 24). */
  maxUnits?: number;
  /** Decomposition components drawn as heatmaps, largest |contribution| first (default 6). */
  maxComponentMaps?: number;
}

const CSS = `
*{box-sizing:border-box}body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#f6f6f4}
header{padding:18px 28px;background:#24303f;color:#fff}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#cfd8e3}
main{padding:8px 28px 40px}section.example{background:#fff;border:1px solid #ddd;border-radius:10px;padding:16px 20px;margin:18px 0}
h2{margin:0 0 8px;font-size:18px}h3{margin:18px 0 8px;font-size:15px}.facts{display:flex;flex-wrap:wrap;gap:6px 18px;margin:0 0 10px;color:#333}
.facts b{font-weight:600}.figs{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}figure{margin:0}
figure img{display:block;image-rendering:pixelated;border:1px solid #ccc;max-width:300px;height:auto}figcaption{font-size:12px;color:#555;margin-top:4px;max-width:300px}
.legend{margin-top:6px;width:224px}.legend .bar{height:10px;border:1px solid #bbb}.legend .ticks{display:flex;justify-content:space-between;font-size:11px;color:#555}
.diagram{overflow-x:auto;border:1px solid #eee;border-radius:8px}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 10px;border-bottom:1px solid #e6e6e6;text-align:right}th{background:#f0f0ee;position:sticky;top:0}
td.l,th.l{text-align:left}tr.layer-link{cursor:pointer}tr.layer-link:hover,tr.layer-link.selected{background:#fff4d6}tr.target td{font-weight:600}
.cols{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}.units-panel{min-width:320px;max-height:520px;overflow:auto;border:1px solid #eee;border-radius:8px;padding:8px 12px}
.muted{color:#777}code{font-size:12px}.why{margin:0 0 12px;color:#444;max-width:860px}.warn{margin:0 0 12px;color:#a40000;font-weight:600;max-width:860px}
`;

const SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById('pathwise-data').textContent);
  function position(unit, shape) {
    if (!shape || shape.length < 2) return String(unit);
    var pos = [], rest = unit;
    for (var d = shape.length - 1; d >= 0; d--) { pos.unshift(rest % shape[d]); rest = Math.floor(rest / shape[d]); }
    return pos.join(', ');
  }
  function text(tag, value, cls) { var e = document.createElement(tag); e.textContent = value; if (cls) e.className = cls; return e; }
  function show(section, ex, ordinal) {
    section.querySelectorAll('.selected').forEach(function (e) { e.classList.remove('selected'); });
    section.querySelectorAll('[data-ordinal="' + ordinal + '"]').forEach(function (e) { e.classList.add('selected'); });
    var panel = section.querySelector('.units-panel');
    panel.textContent = '';
    var info = ex.relu[ordinal];
    var gate = info && info.gate ? info.gate : 'ReLU';
    var layer = ex.layers.filter(function (l) { return l.ordinal === ordinal; })[0];
    if (!layer) {
      panel.appendChild(text('h3', gate + ' ' + ordinal));
      panel.appendChild(text('p', 'Not a path layer: all ' + (info ? info.units : '') + ' units pass through their ' + gate + '.', 'muted'));
      return;
    }
    panel.appendChild(text('h3', gate + ' ' + ordinal + ': ' + layer.units.length + ' selected unit' + (layer.units.length === 1 ? '' : 's') +
      (info ? ' of ' + info.units : '')));
    var order = layer.units.map(function (_, i) { return i; });
    order.sort(function (a, b) { return layer.scores[b] - layer.scores[a] || layer.units[a] - layer.units[b]; });
    var limit = 2000, table = document.createElement('table');
    table.className = 'units';
    var head = document.createElement('tr');
    var conv = info && info.shape.length > 1;
    ['rank', conv ? 'unit (' + ['c', 'y', 'x'].slice(3 - info.shape.length).join(', ') + ')' : 'unit', conv ? 'flat index' : null, 'score']
      .forEach(function (h) { if (h) head.appendChild(text('th', h)); });
    table.appendChild(head);
    order.slice(0, limit).forEach(function (i, rank) {
      var tr = document.createElement('tr');
      tr.className = 'unit-row';
      tr.appendChild(text('td', String(rank + 1)));
      if (conv) tr.appendChild(text('td', '(' + position(layer.units[i], info.shape) + ')'));
      tr.appendChild(text('td', String(layer.units[i])));
      tr.appendChild(text('td', layer.scores[i].toFixed(4)));
      table.appendChild(tr);
    });
    panel.appendChild(table);
    if (order.length > limit) panel.appendChild(text('p', (order.length - limit) + ' more units not listed.', 'muted'));
  }
  document.querySelectorAll('section.example').forEach(function (section, e) {
    var ex = data.examples[e];
    function pick(ev) {
      var t = ev.target.closest('[data-ordinal]');
      if (t && section.contains(t)) show(section, ex, Number(t.getAttribute('data-ordinal')));
    }
    section.addEventListener('click', pick);
    section.addEventListener('keydown', function (ev) { if (ev.key === 'Enter' || ev.key === ' ') pick(ev); });
  });
})();
`;

const fmt = (v: number, digits = 4) => (Number.isFinite(v) ? v.toFixed(digits) : String(v));
const img = (png: Uint8Array, alt: string, cls: string) =>
  `<img src="${pngDataUri(png)}" alt="${escapeXml(alt)}" class="${cls}">`;

function figure(png: Uint8Array, caption: string, cls: string): string {
  return `<figure>${img(png, caption, cls)}<figcaption>${escapeXml(caption)}</figcaption></figure>`;
}

function legend(limit: number): string {
  return `<div class="legend"><div class="bar" style="background:${divergingCssGradient()}"></div>` +
    `<div class="ticks"><span>−${fmt(limit, 3)}</span><span>0</span><span>+${fmt(limit, 3)}</span></div></div>`;
}

function exampleSection(opts: ReportOptions, ex: ReportExample, index: number, shape: ImageShape): string {
  const e = ex.explanation;
  const { model } = opts;
  const cls = (t: number) => (opts.classNames?.[t] ? `${opts.classNames[t]} (${t})` : String(t));
  const probability = softmaxAt(e.logits, e.target);
  const named = (t: number) => (opts.classNames?.[t] ? cls(t) : `class ${t}`);
  const scale = autoScale(shape.height, shape.width);
  const picture: RgbaImage = renderInput(ex.input, shape, { mean: opts.mean, std: opts.std, scale });
  const summed = renderHeatmap(e.attribution, shape, { scale, outline: ex.input });
  const overlay = renderHeatmap(e.attribution, shape, { overlay: picture, limit: summed.limit });
  const figs = [
    figure(encodePng(picture), 'input', 'input-image'),
    `<figure>${img(encodePng(summed.image), 'attribution heatmap', 'heatmap')}<figcaption>${escapeXml(named(e.target))} (p = ${fmt(probability, 3)}): ` +
      `attribution W_P[t] ⊙ x${shape.channels > 1 ? ', summed over channels' : ''}; red for the class, blue against</figcaption>${legend(summed.limit)}</figure>`,
    figure(encodePng(overlay.image), 'attribution over the input', 'heatmap overlay'),
  ];
  if (shape.channels > 1 && shape.channels <= (opts.maxChannelMaps ?? 4)) {
    for (let c = 0; c < shape.channels; c++) {
      const h = renderHeatmap(e.attribution, shape, { channel: c, scale, limit: summed.limit });
      figs.push(figure(encodePng(h.image), `channel ${c} (same scale)`, 'heatmap channel'));
    }
  }
  for (const b of ex.baselines ?? []) {
    const h = renderHeatmap(b.attribution, shape, { scale });
    figs.push(`<figure>${img(encodePng(h.image), b.name, 'heatmap baseline')}<figcaption>${escapeXml(b.name)} (baseline)</figcaption>${legend(h.limit)}</figure>`);
  }
  if (e.regionAttribution) {
    const h = renderHeatmap(e.regionAttribution, shape, { scale, limit: summed.limit });
    figs.push(figure(encodePng(h.image), `attribution inside the region (share of the path logit ${fmt(e.regionShare ?? NaN)})`, 'heatmap region'));
  }
  const sum = e.attribution.reduce((a, b) => a + b, 0);
  const facts = [
    ['target', cls(e.target)], ['predicted', cls(e.predicted)], ['probability', fmt(probability, 3)], ['path logit', fmt(e.pathLogit)],
    ['path predicts', cls(e.pathPredicted)], ['path logit / logit', fmt(e.pathLogit / e.logits[e.target], 2)],
    ['logit', fmt(e.logits[e.target])], ['bias b_P', fmt(e.bias)], ['Σ attribution', fmt(sum)],
    ['residual', e.residual.toExponential(2)], ['recomputes', String(e.stats.recomputes)],
  ].map(([k, v]) => `<span><b>${escapeXml(k)}</b> ${escapeXml(v)}</span>`).join('');
  const logit = e.logits[e.target];
  const why = `The path logit (${fmt(e.pathLogit, 2)}) is the output for ${named(e.target)} of the path network, in which every unit off the path is ` +
    `masked to zero, so it differs from the network's logit (${fmt(logit, 2)}): the masked units carried evidence ` +
    `${e.pathLogit >= logit ? 'against' : 'for'} this class on balance; the attribution plus the bias b_P adds up to the path logit.`;

  const byOrdinal = new Map(e.layers.map((l) => [l.ordinal, l]));
  const layerRows = gateLayersOf(model).map((info) => {
    const l = byOrdinal.get(info.ordinal);
    let best = NaN;
    if (l) for (const s of l.scores) if (!(s <= best)) best = s;
    return `<tr class="layer-link" data-ordinal="${info.ordinal}" tabindex="0"><td class="l">${escapeXml(gateName(info))} ${info.ordinal}</td>` +
      `<td class="l">[${info.shape.join('×')}]</td><td>${info.units}</td><td class="l">${l ? 'yes' : 'no'}</td>` +
      `<td>${l ? l.units.length : '—'}</td><td>${l ? l.k : '—'}</td><td>${l ? fmt(best, 3) : '—'}</td>` +
      `<td class="l">${l ? (l.fallback ? 'yes' : 'no') : '—'}</td><td>${l ? l.borderline : '—'}</td></tr>`;
  }).reverse();
  const logitRows = Array.from(e.logits, (v, c) =>
    `<tr class="${c === e.target ? 'target' : ''}"><td class="l">${escapeXml(cls(c))}${c === e.target ? ' ◀ target' : ''}</td>` +
      `<td>${fmt(v)}</td><td>${fmt(e.pathLogits[c])}</td></tr>`).join('');

  let edges = ex.edges;
  if (!edges && opts.spec) {
    try {
      edges = pathEdges(opts.spec, ex.input, e, { perUnit: 12 });
    } catch (cause) {
      edges = { byLayer: new Map(), unsupported: `the edge weights could not be traced (${(cause as Error).message})` };
    }
  }
  const diagram = pathDiagramSvg(e, {
    reluLayers: gateLayersOf(model), inputShape: model.inputShape, classNames: opts.classNames, maxUnits: opts.maxUnits, edges,
  });
  return `<section class="example" id="example-${index}">
<h2>${escapeXml(ex.title ?? `input ${index}`)}</h2>
<div class="facts">${facts}</div>
<p class="why">${escapeXml(why)}</p>${e.pathPredicted !== e.target ? `
<p class="warn">${escapeXml(`Warning: the path network predicts ${named(e.pathPredicted)}, not ${named(e.target)}: this path no longer carries the decision it explains (try a wider path).`)}</p>` : ''}
<div class="figs">${figs.join('\n')}</div>
<h3>Decision path</h3>
<p class="muted">Bottom → top: the input, each gate layer, the explained class; conv units as (c, y, x). Click a layer to list its units.</p>
<div class="diagram">${diagram}</div>
<div class="cols">
<div><h3>Layers</h3><table class="layers"><tr><th class="l">layer</th><th class="l">shape</th><th>units</th><th class="l">path layer</th>` +
    `<th>selected</th><th>k</th><th>best score</th><th class="l">fallback</th><th>borderline</th></tr>${layerRows.join('')}</table>
<h3>Logits</h3><table class="logits"><tr><th class="l">class</th><th>network</th><th>path network</th></tr>${logitRows}</table></div>
<div class="units-panel"><p class="muted">Click a layer (in the diagram or the table) to see its selected units.</p></div>
</div>
${decompositionSection(opts, e, shape, scale)}${pathsSection(e)}
</section>`;
}

function unitList(units: ArrayLike<number>, max = 12): string {
  const shown = Array.from(units).slice(0, max).join(', ');
  return units.length > max ? `${shown}, … (${units.length})` : shown;
}

/** The decomposition components (when the explanation has them): a table and the largest as heatmaps. */
function decompositionSection(opts: ReportOptions, e: Explanation, shape: ImageShape, scale: number): string {
  const d = e.decomposition;
  if (!d) return '';
  const order = d.components.map((_, i) => i).sort((a, b) => Math.abs(d.components[b].contribution) - Math.abs(d.components[a].contribution));
  const total = d.components.reduce((a, c) => a + c.contribution, 0);
  const rows = order.slice(0, 200).map((i) => {
    const c = d.components[i];
    return `<tr><td class="l">${c.rest ? 'rest' : escapeXml(unitList(c.units))}</td><td>${fmt(c.contribution)}</td><td>${fmt(c.bias)}</td></tr>`;
  }).join('');
  const maps = order.slice(0, opts.maxComponentMaps ?? 6).map((i) => {
    const c = d.components[i];
    const h = renderHeatmap(c.attribution, shape, { scale });
    return figure(encodePng(h.image), `${c.rest ? 'rest' : `units ${unitList(c.units, 4)}`}: contribution ${fmt(c.contribution, 3)}`, 'heatmap component');
  }).join('\n');
  return `<h3>Decomposition at ReLU ${d.ordinal}</h3>
<p class="facts"><span><b>components</b> ${d.components.length}</span><span><b>Σ contribution</b> ${fmt(total)}</span>` +
    `<span><b>bias above</b> ${fmt(d.biasAbove)}</span><span><b>sum</b> ${fmt(total + d.biasAbove)} = path logit ${fmt(e.pathLogit)}</span></p>
<div class="figs">${maps}</div>
<table class="components"><tr><th class="l">units</th><th>contribution</th><th>bias</th></tr>${rows}</table>` +
    (d.components.length > 200 ? `<p class="muted">${d.components.length - 200} smaller components not listed.</p>` : '');
}

/** The top one-way paths (when the explanation has them). */
function pathsSection(e: Explanation): string {
  const p = e.paths;
  if (!p) return '';
  const rows = p.items.map((q, i) => `<tr><td>${i + 1}</td><td class="l">${escapeXml(Array.from(q.units).join(' → '))}</td><td>${fmt(q.contribution)}</td></tr>`).join('');
  return `<h3>Top one-way paths</h3>
<p class="facts"><span><b>coverage</b> ${fmt(p.coverage, 3)}</span><span><b>bias above</b> ${fmt(p.biasAbove)}</span><span><b>exact</b> ${p.exact ? 'yes' : 'no (beam search)'}</span></p>
<table class="one-way-paths"><tr><th>#</th><th class="l">units, bottom → top</th><th>contribution</th></tr>${rows}</table>`;
}

/** Renders the report as one HTML document string. */
export function renderReport(opts: ReportOptions): string {
  if (!opts || typeof opts !== 'object' || !opts.model || !Array.isArray(opts.examples) || opts.examples.length === 0)
    throw new TypeError('renderReport needs { model, examples: [at least one] }');
  const shape = opts.imageShape ?? imageShapeOf(opts.model.inputShape);
  const sections = opts.examples.map((ex, i) => exampleSection(opts, ex, i, shape));
  const data = {
    examples: opts.examples.map((ex) => ({
      relu: gateLayersOf(opts.model).map((r) => ({ units: r.units, shape: r.shape, gate: gateName(r) })),
      layers: ex.explanation.layers.map((l) => ({ ordinal: l.ordinal, units: Array.from(l.units), scores: Array.from(l.scores, (s) => Number(s.toPrecision(6))) })),
    })),
  };
  const json = JSON.stringify(data).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  const title = opts.title ?? 'pathwise report';
  const settings = opts.settings
    ? Object.entries(opts.settings).filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' · ')
    : '';
  const model = opts.model;
  const sub = [opts.subtitle, `input [${model.inputShape.join('×')}] · ${model.numClasses} classes · ${gateLayersOf(model).length} gate layers`, settings]
    .filter(Boolean).join(' — ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${escapeXml(title)}</h1><p>${escapeXml(sub)}</p></header>
<main>
${sections.join('\n')}
</main>
<script type="application/json" id="pathwise-data">${json}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
