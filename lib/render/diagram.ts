/**
 * The path diagram (SVG): the input at the bottom, one row per ReLU layer, the explained class at
 * the top. A path layer's row shows its selected units (best scores first, up to a cap) coloured
 * by score; ReLU layers below the path depth are drawn as pass-through bands.
 */
import type { PathLayer, ReluLayerInfo } from '../explain/types.js';
import { divergingColor } from './heatmap.js';

/** What the diagram needs of an explanation (an Explanation has all of it). */
export interface DiagramExplanation {
  target: number;
  predicted?: number;
  pathLogit?: number;
  layers: ReadonlyArray<Pick<PathLayer, 'ordinal' | 'units' | 'scores' | 'fallback' | 'k'>>;
}

export interface DiagramOptions {
  /** Model.reluLayers: draws the layers that are not path layers too, and unit sizes and shapes. */
  reluLayers?: readonly ReluLayerInfo[];
  /** Model.inputShape, for the input row's label. */
  inputShape?: readonly number[];
  /** Names of the classes, for the output row. */
  classNames?: readonly string[];
  /** Most units drawn per layer (the best scores); default 24. */
  maxUnits?: number;
  /** Width of the picture in px; default 960. */
  width?: number;
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
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
  const rowH = 86, top = 30, labelW = 250, left = labelW + 20, right = width - 24;
  // Rows top → bottom: the output, ReLU layers from the last to the first, the input.
  const ordinals = Array.from({ length: count }, (_, i) => count - 1 - i);
  const height = top + 24 + (count + 1) * rowH + 36;
  const yOf = (row: number) => top + 24 + row * rowH;
  const parts: string[] = [];
  const centre = (left + right) / 2;

  interface Row { xs: number[]; y: number; band: boolean }
  const rows: Row[] = [];
  rows.push({ xs: [centre], y: yOf(0), band: false });

  const body: string[] = [];
  ordinals.forEach((ordinal, i) => {
    const y = yOf(i + 1);
    const layer = byOrdinal.get(ordinal);
    const meta = info?.[ordinal];
    const label = `ReLU ${ordinal}${meta ? ` · [${meta.shape.join('×')}]` : ''}`;
    if (!layer) {
      body.push(
        `<g class="layer-row pass" data-ordinal="${ordinal}"><title>${escapeXml(`ReLU layer ${ordinal}: not a path layer (its ReLU is kept as is)`)}</title>` +
          `<text x="12" y="${y - 4}" class="lbl">${escapeXml(label)}</text>` +
          `<text x="12" y="${y + 13}" class="sub">not a path layer${meta ? ` · ${meta.units} units` : ''}</text>` +
          `<rect x="${left}" y="${y - 12}" width="${right - left}" height="24" rx="12" class="band"/>` +
          `<text x="${centre}" y="${y + 4}" class="bandtext" text-anchor="middle">all units pass through their ReLU</text></g>`,
      );
      rows.push({ xs: [centre], y, band: true });
      return;
    }
    const order = Array.from(layer.units.keys()).sort((a, b) => layer.scores[b] - layer.scores[a] || layer.units[a] - layer.units[b]);
    const shown = order.slice(0, maxUnits);
    const step = Math.min(36, (right - left) / Math.max(1, shown.length));
    const x0 = centre - (step * (shown.length - 1)) / 2;
    const xs = shown.map((_, j) => x0 + j * step);
    const sub = `${layer.units.length}${meta ? ` of ${meta.units}` : ''} selected · k=${layer.k}${layer.fallback ? ' · fallback' : ''}`;
    // Index labels shrink to fit the spacing (a 9px monospace digit is about 5.4px wide).
    const digits = Math.max(1, ...shown.map((j) => String(layer.units[j]).length));
    const idxFont = Math.max(6, Math.min(9, (step - 3) / (digits * 0.6)));
    const units = shown.map((j, n) => {
      const unit = layer.units[j], score = layer.scores[j];
      const [r, g, b] = divergingColor(Math.max(0, Math.min(1, score)));
      const tip = `unit ${unit}${meta && meta.shape.length > 1 ? ` (${unitPosition(unit, meta.shape)})` : ''}: score ${fmt(score, 4)}`;
      return `<g class="unit" data-unit="${unit}"><title>${escapeXml(tip)}</title>` +
        `<circle cx="${xs[n].toFixed(1)}" cy="${y}" r="${Math.min(11, step / 2 - 1).toFixed(1)}" fill="rgb(${r},${g},${b})"/>` +
        (step >= 22 ? `<text x="${xs[n].toFixed(1)}" y="${y - 15}" class="score" text-anchor="middle">${fmt(score, 2)}</text>` +
          `<text x="${xs[n].toFixed(1)}" y="${y + 24}" class="idx" text-anchor="middle"${idxFont < 9 ? ` style="font-size:${idxFont.toFixed(1)}px"` : ''}>${unit}</text>` : '') +
        '</g>';
    });
    const more = layer.units.length > shown.length
      ? `<text x="${right}" y="${y + 40}" class="sub" text-anchor="end">+ ${layer.units.length - shown.length} more units</text>` : '';
    body.push(
      `<g class="layer-row path" data-ordinal="${ordinal}" tabindex="0"><title>${escapeXml(`ReLU layer ${ordinal}: ${sub}`)}</title>` +
        `<rect x="4" y="${y - rowH / 2 + 4}" width="${width - 8}" height="${rowH - 8}" rx="8" class="hit"/>` +
        `<text x="12" y="${y - 4}" class="lbl">${escapeXml(label)}</text>` +
        `<text x="12" y="${y + 13}" class="sub">${escapeXml(sub)}</text>${units.join('')}${more}</g>`,
    );
    rows.push({ xs, y, band: false });
  });
  rows.push({ xs: [centre], y: yOf(count + 1), band: true });

  // Edges between neighbouring rows (drawn first, under the units).
  const edges: string[] = [];
  for (let r = 0; r + 1 < rows.length; r++) {
    const a = rows[r], b = rows[r + 1];
    // Leave room for the unit labels: indices under a row's circles, scores above them.
    const ya = a.y + (a.band ? 12 : r === 0 ? 14 : 28), yb = b.y - (b.band ? 12 : 24);
    if (a.xs.length * b.xs.length > 900) {
      edges.push(`<line x1="${centre}" y1="${ya}" x2="${centre}" y2="${yb}" class="edge thick"/>`);
      continue;
    }
    for (const xa of a.xs) for (const xb of b.xs)
      edges.push(`<line x1="${xa.toFixed(1)}" y1="${ya}" x2="${xb.toFixed(1)}" y2="${yb}" class="edge"/>`);
  }

  const cls = options.classNames?.[ex.target];
  const outLabel = `class ${ex.target}${cls ? ` (${cls})` : ''}`;
  const outSub = [ex.pathLogit !== undefined ? `path logit ${fmt(ex.pathLogit)}` : '',
    ex.predicted !== undefined ? (ex.predicted === ex.target ? 'predicted' : `predicted: ${ex.predicted}`) : ''].filter(Boolean).join(' · ');
  const yOut = rows[0].y, yIn = rows[rows.length - 1].y;
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" class="path-diagram" role="img" aria-label="decision path diagram">`,
    '<style>.lbl{font:600 13px sans-serif;fill:#222}.sub{font:11px sans-serif;fill:#555}.score{font:9px sans-serif;fill:#333}' +
      '.idx{font-family:monospace;font-size:9px;fill:#333}.edge{stroke:#8a8a8a;stroke-opacity:.28;stroke-width:1}.edge.thick{stroke-width:6;stroke-opacity:.35}' +
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
    '</svg>',
  );
  return parts.join('\n');
}
