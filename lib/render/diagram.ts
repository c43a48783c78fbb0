/**
 * The path diagram (SVG): the input at the bottom, one row per ReLU layer, the explained class at
 * the top. A path layer's row shows its selected units (best scores first, up to a cap) coloured
 * by score, labelled by index (dense) or (c, y, x) position (conv); ReLU layers below the path
 * depth are drawn as pass-through bands. Edges are the path's real weights (lib/render/path-edges.ts):
 * the strongest few into each drawn unit, coloured by the sign of what they carry and as thick as
 * its size; without them no edges are drawn (never an all-to-all mesh).
 */
import type { PathLayer, ReluLayerInfo } from '../explain/types.js';
import { divergingColor } from './heatmap.js';
import type { PathEdges } from './path-edges.js';
import { gateName } from './gate-name.js';

/** What the diagram needs of an explanation (an Explanation has all of it). */
export interface DiagramExplanation {
  target: number;
  predicted?: number;
  pathLogit?: number;
  layers: ReadonlyArray<Pick<PathLayer, 'ordinal' | 'units' | 'scores' | 'fallback' | 'k'>>;
}

export interface DiagramOptions {
  /** Model.gateLayers: draws the layers that are not path layers too, and unit sizes and shapes. */
  reluLayers?: readonly ReluLayerInfo[];
  /** Model.inputShape, for the input row's label. */
  inputShape?: readonly number[];
  /** Names of the classes, for the output row. */
  classNames?: readonly string[];
  /** Most units drawn per layer (the best scores); default 24. */
  maxUnits?: number;
  /** Width of the picture in px; default 960. */
  width?: number;
  /** The path's edge weights (pathEdges(spec, input, explanation)); without them no edges are drawn. */
  edges?: PathEdges;
  /** Edges drawn into each unit, the strongest by |contribution| among the drawn units (default 3). */
  edgesPerUnit?: number;
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** A unit's label: its flat index in a dense layer, "(c, y, x)" in a [C, H, W] layer. */
export function unitLabel(unit: number, shape: readonly number[] | undefined): string {
  return shape && shape.length > 1 ? `(${unitPosition(unit, shape)})` : String(unit);
}

/** A flat NCHW unit index as "c, h, w" for a [C, H, W] layer, or the index itself. */
export function unitPosition(unit: number, shape: readonly number[] | undefined): string {
  if (!shape || shape.length < 2) return String(unit);
  const dims = [...shape];
  const pos: number[] = [];
  let rest = unit;
  for (let d = dims.length - 1; d >= 0; d--) {
    pos.unshift(rest % dims[d]);
    rest = Math.floor(rest / dims[d]);
  }
  return pos.join(', ');
}

const fmt = (v: number, digits = 3) => (Number.isFinite(v) ? v.toFixed(digits) : String(v));

/** Renders the path diagram as a standalone SVG document string. */
export function pathDiagramSvg(ex: DiagramExplanation, options: DiagramOptions = {}): string {
  const maxUnits = options.maxUnits ?? 24;
  if (!Number.isSafeInteger(maxUnits) || maxUnits < 1) throw new RangeError(`maxUnits must be a positive integer, got ${maxUnits}`);
  const width = options.width ?? 960;
  const byOrdinal = new Map(ex.layers.map((l) => [l.ordinal, l]));
  const info = options.reluLayers;
  const count = info ? info.length : Math.max(0, ...ex.layers.map((l) => l.ordinal + 1));
  const top = 30, labelW = 250, left = labelW + 20, right = width - 24;
  // Rows top → bottom: the output, ReLU layers from the last to the first, the input.
  const ordinals = Array.from({ length: count }, (_, i) => count - 1 - i);
  // The units a path row draws (best scores first), their spacing and labels; rows are as tall as
  // their slanted labels need.
  const plan = new Map(ex.layers.map((layer) => {
    const order = Array.from(layer.units.keys()).sort((a, b) => layer.scores[a] === layer.scores[b] ? layer.units[a] - layer.units[b] : layer.scores[b] - layer.scores[a]);
    const shown = order.slice(0, maxUnits);
    const step = Math.min(36, (right - left) / Math.max(1, shown.length));
    const labels = shown.map((j) => unitLabel(layer.units[j], info?.[layer.ordinal]?.shape));
    const longest = Math.max(1, ...labels.map((t) => t.length));
    const flat = longest * 5.4 + 4 <= step, slanted = !flat && step >= 9;
    // A slanted label at −50° drops about sin 50° of its length.
    const labelDepth = flat ? 30 : slanted ? Math.ceil(longest * 5.4 * 0.77) + 20 : 16;
    return [layer.ordinal, { shown, step, labels, flat, slanted, labelDepth }];
  }));
  const rowH = Math.max(86, 48 + Math.max(0, ...[...plan.values()].map((p) => p.labelDepth)));
  const height = top + 24 + (count + 1) * rowH + 36;
  const yOf = (row: number) => top + 24 + row * rowH;
  const parts: string[] = [];
  const centre = (left + right) / 2;

  interface Row { xs: number[]; y: number; band: boolean; ordinal?: number; units?: number[] }
  const rows: Row[] = [];
  rows.push({ xs: [centre], y: yOf(0), band: false, units: [ex.target] });

  const body: string[] = [];
  ordinals.forEach((ordinal, i) => {
    const y = yOf(i + 1);
    const layer = byOrdinal.get(ordinal);
    const meta = info?.[ordinal];
    const gate = gateName(meta);
    const label = `${gate} ${ordinal}${meta ? ` · [${meta.shape.join('×')}]` : ''}`;
    if (!layer) {
      body.push(
        `<g class="layer-row pass" data-ordinal="${ordinal}"><title>${escapeXml(`${gate} layer ${ordinal}: not a path layer (its ${gate} is kept as is)`)}</title>` +
          `<text x="12" y="${y - 4}" class="lbl">${escapeXml(label)}</text>` +
          `<text x="12" y="${y + 13}" class="sub">not a path layer${meta ? ` · ${meta.units} units` : ''}</text>` +
          `<rect x="${left}" y="${y - 12}" width="${right - left}" height="24" rx="12" class="band"/>` +
          `<text x="${centre}" y="${y + 4}" class="bandtext" text-anchor="middle">all units pass through their ${escapeXml(gate)}</text></g>`,
      );
      rows.push({ xs: [centre], y, band: true });
      return;
    }
    const { shown, step, labels, flat, slanted } = plan.get(ordinal)!;
    const x0 = centre - (step * (shown.length - 1)) / 2;
    const xs = shown.map((_, j) => x0 + j * step);
    const sub = `${layer.units.length}${meta ? ` of ${meta.units}` : ''} selected · k=${layer.k}${layer.fallback ? ' · fallback' : ''}`;
    const drawnText = layer.units.length > shown.length ? `the best ${shown.length} by score drawn` : '';
    const radius = Math.max(2, Math.min(11, step / 2 - 1));
    const units = shown.map((j, n) => {
      const unit = layer.units[j], score = layer.scores[j];
      const [r, g, b] = divergingColor(Math.max(0, Math.min(1, score)));
      const tip = `unit ${unit}${meta && meta.shape.length > 1 ? ` (c, y, x = ${unitPosition(unit, meta.shape)})` : ''}: score ${fmt(score, 4)}`;
      const x = xs[n].toFixed(1);
      const label = flat ? `<text x="${x}" y="${y + 24}" class="idx" text-anchor="middle">${escapeXml(labels[n])}</text>`
        : slanted ? `<text x="${x}" y="${y + radius + 10}" class="idx" text-anchor="end" transform="rotate(-50 ${x} ${y + radius + 10})">${escapeXml(labels[n])}</text>` : '';
      return `<g class="unit" data-unit="${unit}"><title>${escapeXml(tip)}</title>` +
        `<circle cx="${x}" cy="${y}" r="${radius.toFixed(1)}" fill="rgb(${r},${g},${b})"/>` +
        (step >= 22 ? `<text x="${x}" y="${y - 15}" class="score" text-anchor="middle">${fmt(score, 2)}</text>` : '') + label +
        '</g>';
    });
    const more = drawnText ? `<text x="12" y="${y + 28}" class="sub">${escapeXml(drawnText)}</text>` : '';
    body.push(
      `<g class="layer-row path" data-ordinal="${ordinal}" tabindex="0"><title>${escapeXml(`${gate} layer ${ordinal}: ${sub}`)}</title>` +
        `<rect x="4" y="${y - rowH / 2 + 4}" width="${width - 8}" height="${rowH - 8}" rx="8" class="hit"/>` +
        `<text x="12" y="${y - 4}" class="lbl">${escapeXml(label)}</text>` +
        `<text x="12" y="${y + 13}" class="sub">${escapeXml(sub)}</text>${units.join('')}${more}</g>`,
    );
    rows.push({ xs, y, band: false, ordinal, units: shown.map((j) => layer.units[j]) });
  });
  rows.push({ xs: [centre], y: yOf(count + 1), band: true });

  // Edges between neighbouring path rows (drawn first, under the units): the real path weights,
  // the strongest few into each drawn unit, coloured by the sign of what they carry, as thick as its
  // size relative to the strongest edge of the gap.
  const edges: string[] = [];
  const perUnit = options.edgesPerUnit ?? 3;
  for (let r = 0; r + 1 < rows.length; r++) {
    const a = rows[r], b = rows[r + 1]; // a above b
    if (b.ordinal === undefined || !a.units || !b.units || !options.edges) continue;
    const gap = options.edges.byLayer.get(b.ordinal);
    if (!gap) continue;
    const xa = new Map(a.units.map((u, i) => [u, a.xs[i]])), xb = new Map(b.units.map((u, i) => [u, b.xs[i]]));
    const drawn = new Map<number, typeof gap>();
    for (const e of gap) {
      if (!xa.has(e.upper) || !xb.has(e.lower)) continue;
      const list = drawn.get(e.upper) ?? [];
      if (list.length < perUnit) list.push(e);
      drawn.set(e.upper, list);
    }
    const all = [...drawn.values()].flat();
    const strongest = Math.max(1e-30, ...all.map((e) => Math.abs(e.contribution)));
    const ya = a.y + (r === 0 ? 14 : plan.get(a.ordinal!)?.labelDepth ?? 12), yb = b.y - 26;
    for (const e of all.sort((p, q) => Math.abs(p.contribution) - Math.abs(q.contribution))) {
      const t = Math.abs(e.contribution) / strongest;
      const [cr, cg, cb] = divergingColor(Math.sign(e.contribution) * (0.55 + 0.45 * t));
      edges.push(`<line x1="${xa.get(e.upper)!.toFixed(1)}" y1="${ya}" x2="${xb.get(e.lower)!.toFixed(1)}" y2="${yb}" class="edge" ` +
        `stroke="rgb(${cr},${cg},${cb})" stroke-width="${(0.6 + 3.4 * t).toFixed(2)}" stroke-opacity="${(0.35 + 0.6 * t).toFixed(2)}">` +
        `<title>${escapeXml(`unit ${e.lower} → ${r === 0 ? `class ${e.upper}` : `unit ${e.upper}`}: weight ${fmt(e.weight, 4)}, carries ${fmt(e.contribution, 4)}`)}</title></line>`);
    }
  }
  const edgeNote = options.edges?.unsupported ? `no edges: ${options.edges.unsupported}`
    : options.edges ? `edges: the strongest ${perUnit} real path weights into each drawn unit (red carries evidence for, blue against)` : '';

  const cls = options.classNames?.[ex.target];
  const outLabel = `class ${ex.target}${cls ? ` (${cls})` : ''}`;
  const outSub = [ex.pathLogit !== undefined ? `path logit ${fmt(ex.pathLogit)}` : '',
    ex.predicted !== undefined ? (ex.predicted === ex.target ? 'predicted' : `predicted: ${ex.predicted}`) : ''].filter(Boolean).join(' · ');
  const yOut = rows[0].y, yIn = rows[rows.length - 1].y;
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" class="path-diagram" role="img" aria-label="decision path diagram">`,
    '<style>.lbl{font:600 13px sans-serif;fill:#222}.sub{font:11px sans-serif;fill:#555}.score{font:9px sans-serif;fill:#333}' +
      '.idx{font-family:monospace;font-size:9px;fill:#333}.edge{stroke-linecap:round}.note{font:11px sans-serif;fill:#666}' +
      '.band{fill:#eee;stroke:#ccc}.bandtext{font:11px sans-serif;fill:#777}.hit{fill:transparent}.layer-row.path{cursor:pointer}' +
      '.layer-row{outline:none}.layer-row.path:hover .hit,.layer-row.selected .hit{fill:#fff4d6}.layer-row:focus-visible .hit{stroke:#c90}circle{stroke:#333;stroke-width:1}.out{fill:#fde0c5;stroke:#a33}</style>',
    ...edges,
    `<g class="output-row"><text x="12" y="${yOut - 4}" class="lbl">output</text><text x="12" y="${yOut + 13}" class="sub">${escapeXml(outSub)}</text>` +
      `<rect x="${centre - 70}" y="${yOut - 14}" width="140" height="28" rx="6" class="out"/>` +
      `<text x="${centre}" y="${yOut + 5}" text-anchor="middle" class="lbl">${escapeXml(outLabel)}</text></g>`,
    ...body,
    `<g class="input-row"><text x="12" y="${yIn - 4}" class="lbl">input</text>` +
      `<text x="12" y="${yIn + 13}" class="sub">${options.inputShape ? escapeXml(`[${options.inputShape.join('×')}]`) : ''}</text>` +
      `<rect x="${left}" y="${yIn - 12}" width="${right - left}" height="24" rx="4" class="band"/>` +
      `<text x="${centre}" y="${yIn + 4}" class="bandtext" text-anchor="middle">input x · attribution = W_P[t] ⊙ x</text></g>`,
    edgeNote ? `<text x="12" y="${height - 10}" class="note">${escapeXml(edgeNote)}</text>` : '',
    '</svg>',
  );
  return parts.join('\n');
}
