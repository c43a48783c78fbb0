/**
 * Attribution heatmaps: a diverging colour map symmetric around 0 (negative blue, zero white,
 * positive red; ColorBrewer RdBu), per channel or summed over channels, alone or over the input,
 * with an optional outline of the input. The colour limit is robust by default (the 99.5th
 * percentile of |attribution|), so that a few extreme pixels do not wash out the rest.
 * heatmapPng draws the map as a figure (lib/render/figure.ts): a colour bar, and the class name and
 * probability when given.
 */
import { autoScale, createImage, encodePng, imageShapeOf, upscale, type ImageShape, type RgbaImage } from './image.js';
import { renderHeatmapFigure, type HeatmapFigureOptions } from './figure.js';

/** ColorBrewer RdBu, 11 classes, ordered from −1 (dark blue) through 0 (near white) to +1 (dark red). */
const RDBU: ReadonlyArray<readonly [number, number, number]> = [
  [5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240],
  [247, 247, 247],
  [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31],
];

/** Colour of t ∈ [−1, 1] (clamped; NaN maps to 0) on the diverging map. */
export function divergingColor(t: number): [number, number, number] {
  const v = Number.isNaN(t) ? 0 : Math.max(-1, Math.min(1, t));
  const x = ((v + 1) / 2) * (RDBU.length - 1);
  const i = Math.min(RDBU.length - 2, Math.floor(x));
  const f = x - i;
  const a = RDBU[i], b = RDBU[i + 1];
  return [
    Math.round(a[0] + (b[0] - a[0]) * f),
    Math.round(a[1] + (b[1] - a[1]) * f),
    Math.round(a[2] + (b[2] - a[2]) * f),
  ];
}

/** CSS stops for a legend (linear-gradient from −1 to +1). */
export function divergingCssGradient(direction = 'to right'): string {
  return `linear-gradient(${direction}, ${RDBU.map(([r, g, b]) => `rgb(${r},${g},${b})`).join(', ')})`;
}

/**
 * One H × W map from a flat NCHW attribution: channel `channel`, or the sum over channels
 * ('sum', the default).
 */
export function attributionPlane(attribution: ArrayLike<number>, shape: ImageShape, channel: number | 'sum' = 'sum'): Float64Array {
  const { channels: c, height: h, width: w } = shape;
  if (attribution.length !== c * h * w)
    throw new RangeError(`attribution has ${attribution.length} values, the image shape ${c}×${h}×${w} needs ${c * h * w}`);
  const plane = h * w;
  const out = new Float64Array(plane);
  if (channel === 'sum') {
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < plane; p++) out[p] += attribution[ch * plane + p];
  } else {
    if (!Number.isSafeInteger(channel) || channel < 0 || channel >= c)
      throw new RangeError(`channel must be 'sum' or an integer in [0, ${c}), got ${channel}`);
    for (let p = 0; p < plane; p++) out[p] = attribution[channel * plane + p];
  }
  return out;
}

/** max |v| over finite values (0 for an all-zero map). */
export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > m && Number.isFinite(a)) m = a;
  }
  return m;
}

/** The q-th percentile (0 < q ≤ 100) of |v|, for clipping a few extreme values. */
export function absPercentile(values: ArrayLike<number>, q: number): number {
  if (!(q > 0 && q <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${q}`);
  const a = Float64Array.from(values, Math.abs).filter(Number.isFinite).sort();
  if (a.length === 0) return 0;
  return a[Math.min(a.length - 1, Math.max(0, Math.ceil((q / 100) * a.length) - 1))];
}

/** The default colour limit: this percentile of |v| over the drawn map. */
export const DEFAULT_CLIP_PERCENTILE = 99.5;

/** An image shape, or a model's input shape (e.g. model.inputShape), read as imageShapeOf does. */
export type ShapeLike = ImageShape | readonly number[];

/** The image shape of a ShapeLike. */
export function toImageShape(shape: ShapeLike): ImageShape {
  if (Array.isArray(shape) || ArrayBuffer.isView(shape)) return imageShapeOf(Array.from(shape as readonly number[]));
  const s = shape as ImageShape;
  if (s && typeof s === 'object' && [s.channels, s.height, s.width].every((d) => Number.isSafeInteger(d) && d > 0)) return s;
  throw new TypeError(`shape must be { channels, height, width } or an input shape such as model.inputShape, got ${JSON.stringify(shape)}`);
}

export interface HeatmapOptions {
  /** Channel to draw, or 'sum' (default) over channels. */
  channel?: number | 'sum';
  /**
   * The value drawn at full colour, symmetric (−limit is full blue). Default: the
   * `clipPercentile`-th percentile of |v| over the drawn map (99.5 unless given).
   */
  limit?: number;
  /**
   * Use this percentile of |v| as the limit (default 99.5), so a few outliers do not wash out the
   * rest; 100 is the maximum.
   */
  clipPercentile?: number;
  /**
   * The input (flat NCHW, the map's shape): its outline — the boundary between pixels brighter and
   * darker than its mean — is drawn over the map in dark grey (not for a noisy input, whose
   * boundary would cross more than 30% of its pixels).
   */
  outline?: ArrayLike<number>;
  /**
   * A picture to draw the heatmap over (the input, see renderInput, at any integer multiple of
   * the map's size). Each pixel blends the darkened grey picture with a saturated colour of the
   * value's sign, by alpha · |t|^0.7.
   */
  overlay?: RgbaImage;
  /** Largest blend weight of the colour over the picture, default 0.8. */
  alpha?: number;
  /** Integer enlargement (nearest neighbour); default autoScale, or the overlay's scale. */
  scale?: number;
}

export interface Heatmap {
  image: RgbaImage;
  /** The limit used (|v| at full colour). */
  limit: number;
}

/** Renders a flat NCHW attribution as a diverging heatmap image. */
export function renderHeatmap(attribution: ArrayLike<number>, shapeLike: ShapeLike, options: HeatmapOptions = {}): Heatmap {
  const shape = toImageShape(shapeLike);
  const { height: h, width: w } = shape;
  const plane = attributionPlane(attribution, shape, options.channel ?? 'sum');
  let limit = options.limit ?? absPercentile(plane, options.clipPercentile ?? DEFAULT_CLIP_PERCENTILE);
  // A percentile that lands on zeros (a sparse map) would blank the picture: use the maximum.
  if (options.limit === undefined && limit === 0) limit = maxAbs(plane);
  if (!(limit > 0) || !Number.isFinite(limit)) limit = 0;
  const t = (v: number) => (limit === 0 ? 0 : v / limit);
  const overlay = options.overlay;
  let scale = options.scale;
  if (overlay) {
    const f = overlay.width / w;
    if (!Number.isInteger(f) || f < 1 || overlay.height !== h * f)
      throw new RangeError(`overlay is ${overlay.width}×${overlay.height}; expected an integer multiple of the map's ${w}×${h}`);
    if (scale !== undefined && scale !== f) throw new RangeError(`scale ${scale} differs from the overlay's ${f}`);
    scale = f;
  }
  scale ??= autoScale(h, w);
  const base = createImage(w, h);
  for (let p = 0; p < h * w; p++) {
    const [r, g, b] = divergingColor(t(plane[p]));
    base.data[p * 4] = r; base.data[p * 4 + 1] = g; base.data[p * 4 + 2] = b;
  }
  const big = upscale(base, scale);
  if (overlay) {
    const alpha = options.alpha ?? 0.8;
    if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`alpha must be in [0, 1], got ${alpha}`);
    // Per map pixel: a saturated colour of the value's sign and an opacity growing with |t|, so
    // that small values leave the picture visible instead of washing it out in near-white.
    const colours = new Float64Array(h * w * 3), alphas = new Float64Array(h * w);
    for (let p = 0; p < h * w; p++) {
      const tv = t(plane[p]);
      const v = Math.min(1, Math.abs(tv));
      colours.set(divergingColor(Math.sign(tv) * (0.55 + 0.45 * v)), p * 3);
      alphas[p] = alpha * v ** 0.7;
    }
    const W = big.width;
    for (let y = 0; y < big.height; y++) {
      for (let x = 0; x < W; x++) {
        const q = (y * W + x) * 4;
        const p = Math.floor(y / scale) * w + Math.floor(x / scale);
        const a = alphas[p];
        // The picture in grey, darkened so that the colours stand out on bright inputs.
        const grey = 0.299 * overlay.data[q] + 0.587 * overlay.data[q + 1] + 0.114 * overlay.data[q + 2];
        const bg = 24 + grey * 0.6;
        for (let k = 0; k < 3; k++) big.data[q + k] = Math.round(bg * (1 - a) + colours[p * 3 + k] * a);
      }
    }
  }
  if (options.outline) drawOutline(big, options.outline, shape, scale);
  return { image: big, limit };
}

/**
 * Draws the outline of an input over an enlarged map: where a pixel's brightness (the mean over
 * channels) is on the other side of the input's mean than its right or lower neighbour, a line
 * along their shared edge.
 */
function drawOutline(big: RgbaImage, input: ArrayLike<number>, shape: ImageShape, scale: number): void {
  const { channels: c, height: h, width: w } = shape;
  if (input.length !== c * h * w) throw new RangeError(`outline has ${input.length} values, the image shape ${c}×${h}×${w} needs ${c * h * w}`);
  const bright = new Float64Array(h * w);
  let mean = 0;
  for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) bright[p] += input[ch * h * w + p] / c;
  for (const v of bright) mean += v / (h * w);
  const on = (y: number, x: number) => bright[y * w + x] > mean;
  // A noisy input (no shape to outline) would be covered in lines: then draw none.
  let crossings = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (x + 1 < w && on(y, x) !== on(y, x + 1)) crossings++;
    if (y + 1 < h && on(y, x) !== on(y + 1, x)) crossings++;
  }
  if (crossings > 0.3 * h * w) return;
  const thick = Math.max(1, Math.round(scale / 8));
  const paint = (x0: number, y0: number, x1: number, y1: number) => {
    for (let y = Math.max(0, y0); y < Math.min(big.height, y1); y++) for (let x = Math.max(0, x0); x < Math.min(big.width, x1); x++) {
      const q = (y * big.width + x) * 4;
      big.data[q] = 40; big.data[q + 1] = 40; big.data[q + 2] = 40;
    }
  };
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (x + 1 < w && on(y, x) !== on(y, x + 1)) paint((x + 1) * scale - thick, y * scale, (x + 1) * scale + thick, (y + 1) * scale);
    if (y + 1 < h && on(y, x) !== on(y + 1, x)) paint(x * scale, (y + 1) * scale - thick, (x + 1) * scale, (y + 1) * scale + thick);
  }
}

/**
 * A heatmap as PNG bytes: by default a figure with a colour bar (and the title, class name and
 * probability when given, see HeatmapFigureOptions); `legend: false` gives the bare map.
 * `shape` may be model.inputShape.
 */
export function heatmapPng(attribution: ArrayLike<number>, shape: ShapeLike, options: HeatmapFigureOptions & { legend?: boolean } = {}): { png: Buffer; limit: number } {
  const { legend = true, ...rest } = options;
  const { image, limit } = legend ? renderHeatmapFigure(attribution, shape, rest) : renderHeatmap(attribution, shape, rest);
  return { png: encodePng(image), limit };
}
