/**
 * A heatmap as a figure a person reads at a glance: the title (the class name) and the predicted
 * probability above the map, a colour bar with its limits below it, and what the colours mean.
 * Text is drawn with the pixel font of lib/render/font.ts, so the figure is one PNG.
 */
import { createImage, type RgbaImage } from './image.js';
import { divergingColor, renderHeatmap, toImageShape, type Heatmap, type HeatmapOptions, type ShapeLike } from './heatmap.js';
import { drawText, GLYPH_HEIGHT, textWidth } from './font.js';

export interface HeatmapFigureOptions extends HeatmapOptions {
  /** The first line above the map, e.g. the explained class's name. */
  title?: string;
  /** The predicted probability of that class (softmax of the logits), shown beside the title. */
  probability?: number;
  /** The line under the colour bar; default 'red: for the class · blue: against'. */
  caption?: string;
}

/** softmax(logits)[t], computed stably: the model's probability of class t. */
export function softmaxAt(logits: ArrayLike<number>, t: number): number {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > m) m = logits[i];
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i] - m);
  return Math.exp(logits[t] - m) / z;
}

const INK: [number, number, number] = [34, 34, 34];
const GREY: [number, number, number] = [100, 100, 100];

/** A compact label for a limit: 3 significant digits, no exponent for ordinary magnitudes. */
function limitText(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1000 || a < 0.001 ? v.toExponential(1) : Number(v.toPrecision(3)).toString();
}

function fill(image: RgbaImage, x0: number, y0: number, x1: number, y1: number, c: readonly [number, number, number]): void {
  for (let y = Math.max(0, y0); y < Math.min(image.height, y1); y++) for (let x = Math.max(0, x0); x < Math.min(image.width, x1); x++) {
    const q = (y * image.width + x) * 4;
    image.data[q] = c[0]; image.data[q + 1] = c[1]; image.data[q + 2] = c[2]; image.data[q + 3] = 255;
  }
}

/** Renders the heatmap (renderHeatmap with the same options) inside a figure with a colour bar and labels. */
export function renderHeatmapFigure(attribution: ArrayLike<number>, shape: ShapeLike, options: HeatmapFigureOptions = {}): Heatmap {
  const { title, probability, caption = 'red: for the class · blue: against', ...heatOptions } = options;
  if (probability !== undefined && !(probability >= 0 && probability <= 1))
    throw new RangeError(`probability must be in [0, 1], got ${probability}`);
  const map = renderHeatmap(attribution, toImageShape(shape), heatOptions);
  const t = 2; // text scale: 10 × 14 px glyphs
  const lineH = GLYPH_HEIGHT * t + 6, pad = 10, barH = 14;
  const head = [title, probability !== undefined ? `p = ${probability.toFixed(3)}` : undefined].filter((s): s is string => !!s);
  const headText = head.join('  ');
  const ticks = [`-${limitText(map.limit)}`, '0', `+${limitText(map.limit)}`];
  const captionScale = textWidth(caption, t) <= Math.max(map.image.width, 224) ? t : 1;
  const width = Math.max(map.image.width, textWidth(headText, t), textWidth(caption, captionScale), textWidth(ticks.join('   '), t)) + 2 * pad;
  const headH = headText ? lineH + 4 : 0;
  const height = pad + headH + map.image.height + 8 + barH + 4 + lineH + GLYPH_HEIGHT * captionScale + 6 + pad;
  const fig = createImage(width, height, [255, 255, 255, 255]);
  if (headText) drawText(fig, headText, pad, pad, INK, t);
  // The map, centred.
  const mx = Math.floor((width - map.image.width) / 2), my = pad + headH;
  for (let y = 0; y < map.image.height; y++)
    fig.data.set(map.image.data.subarray(y * map.image.width * 4, (y + 1) * map.image.width * 4), ((my + y) * width + mx) * 4);
  // The colour bar under the map, −limit … +limit, with a frame.
  const by = my + map.image.height + 8, bw = map.image.width;
  for (let x = 0; x < bw; x++) fill(fig, mx + x, by, mx + x + 1, by + barH, divergingColor((2 * x) / Math.max(1, bw - 1) - 1));
  fill(fig, mx - 1, by - 1, mx + bw + 1, by, GREY); fill(fig, mx - 1, by + barH, mx + bw + 1, by + barH + 1, GREY);
  fill(fig, mx - 1, by, mx, by + barH, GREY); fill(fig, mx + bw, by, mx + bw + 1, by + barH, GREY);
  const ty = by + barH + 4;
  drawText(fig, ticks[0], mx, ty, INK, t);
  drawText(fig, ticks[1], mx + Math.round((bw - textWidth(ticks[1], t)) / 2), ty, INK, t);
  drawText(fig, ticks[2], mx + bw - textWidth(ticks[2], t), ty, INK, t);
  drawText(fig, caption, pad, ty + lineH, GREY, captionScale);
  return { image: fig, limit: map.limit };
}
