// Pictures: the diverging colour map, heatmaps (summed, per channel, over the input), PNG round
// trips, resampling, input shapes read as images, and the SVG path diagram.
import { describe, it, expect } from 'vitest';
import {
  divergingColor, renderHeatmap, heatmapPng, attributionPlane, absPercentile, encodePng, decodePng, imageShapeOf,
  resamplePlane, renderInput, upscale, createImage, pathDiagramSvg, unitPosition, escapeXml,
} from '../lib/render/index.js';
import type { PathLayer } from '../lib/explain/types.js';

const px = (img: { width: number; data: Uint8Array }, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));

describe('diverging colour map', () => {
  it('is white-ish at 0, red for positive, blue for negative, and mirrored', () => {
    const [r0, g0, b0] = divergingColor(0);
    expect(Math.min(r0, g0, b0)).toBeGreaterThan(240);
    const [r, , b] = divergingColor(1);
    expect(r).toBeGreaterThan(b + 50);
    const [rn, , bn] = divergingColor(-1);
    expect(bn).toBeGreaterThan(rn + 50);
    expect(divergingColor(5)).toEqual(divergingColor(1));
    expect(divergingColor(NaN)).toEqual(divergingColor(0));
    // Darker (less total light) further from 0 on both sides.
    const light = (c: number[]) => c[0] + c[1] + c[2];
    for (const t of [0.25, 0.5, 0.75]) {
      expect(light(divergingColor(t + 0.25))).toBeLessThan(light(divergingColor(t)));
      expect(light(divergingColor(-t - 0.25))).toBeLessThan(light(divergingColor(-t)));
    }
  });
});

describe('heatmaps', () => {
  const shape = { channels: 2, height: 2, width: 3 };
  // channel 0 then channel 1, each 2 × 3 row-major.
  const attribution = new Float32Array([2, 0, -1, 0, 0, 0, 2, 0, -1, 0, 0, -4]);

  it('sums channels or picks one', () => {
    expect(Array.from(attributionPlane(attribution, shape))).toEqual([4, 0, -2, 0, 0, -4]);
    expect(Array.from(attributionPlane(attribution, shape, 1))).toEqual([2, 0, -1, 0, 0, -4]);
    expect(() => attributionPlane(attribution, shape, 2)).toThrow(RangeError);
    expect(() => attributionPlane(new Float32Array(5), shape)).toThrow(RangeError);
  });

  it('is symmetric around 0 with the limit max |v|', () => {
    const { image, limit } = renderHeatmap(attribution, shape, { scale: 1 });
    expect(limit).toBe(4);
    expect(image.width).toBe(3);
    expect(px(image, 0, 0).slice(0, 3)).toEqual(divergingColor(1));
    expect(px(image, 2, 1).slice(0, 3)).toEqual(divergingColor(-1));
    expect(px(image, 2, 0).slice(0, 3)).toEqual(divergingColor(-0.5));
    expect(px(image, 1, 0).slice(0, 3)).toEqual(divergingColor(0));
    // +4 and −4 are mirror colours: red and blue of the same depth.
    const [r, g, b] = px(image, 0, 0), [r2, g2, b2] = px(image, 2, 1);
    expect([r, b]).not.toEqual([r2, b2]);
    expect(r > b && b2 > r2 && Math.abs(g - g2) < 60).toBe(true);
  });

  it('takes a fixed limit, a percentile clip and integer enlargement', () => {
    const { image, limit } = renderHeatmap(attribution, shape, { limit: 2, scale: 4, channel: 0 });
    expect(limit).toBe(2);
    expect([image.width, image.height]).toEqual([12, 8]);
    expect(px(image, 3, 3).slice(0, 3)).toEqual(divergingColor(1));
    expect(absPercentile([1, -2, 3, -4], 50)).toBe(2);
    expect(renderHeatmap(attribution, shape, { clipPercentile: 60 }).limit).toBe(2);
    expect(renderHeatmap(attribution, shape, { clipPercentile: 50 }).limit).toBe(4); // would be 0: the maximum instead
    expect(renderHeatmap(new Float32Array(12), shape).limit).toBe(0);
  });

  it('overlays on a picture of the input: no colour where the attribution is 0', () => {
    const input = new Float32Array(12).fill(0.5);
    const picture = renderInput(input, shape, { scale: 2 });
    const { image } = renderHeatmap(attribution, shape, { overlay: picture });
    expect(image.width).toBe(6);
    const zero = px(image, 2, 0); // map pixel (1, 0) = 0: the grey picture only
    expect(zero[0]).toBe(zero[1]);
    expect(zero[1]).toBe(zero[2]);
    const pos = px(image, 0, 0), neg = px(image, 5, 3);
    expect(pos[0]).toBeGreaterThan(pos[2] + 40);
    expect(neg[2]).toBeGreaterThan(neg[0] + 40);
    expect(() => renderHeatmap(attribution, shape, { overlay: createImage(5, 4) })).toThrow(RangeError);
  });

  it('encodes PNGs that decode to the same pixels', () => {
    const { png } = heatmapPng(attribution, shape, { scale: 3, legend: false });
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const back = decodePng(png);
    const again = renderHeatmap(attribution, shape, { scale: 3 }).image;
    expect([back.width, back.height]).toEqual([9, 6]);
    expect(Buffer.from(back.data).equals(Buffer.from(again.data))).toBe(true);
    expect(() => decodePng(new Uint8Array([1, 2, 3]), 'x.png')).toThrow(/x\.png: not a readable PNG/);
  });
});

describe('images', () => {
  it('reads input shapes as images', () => {
    expect(imageShapeOf([3, 32, 30])).toEqual({ channels: 3, height: 32, width: 30 });
    expect(imageShapeOf([28, 28])).toEqual({ channels: 1, height: 28, width: 28 });
    expect(imageShapeOf([784])).toEqual({ channels: 1, height: 28, width: 28 });
    expect(imageShapeOf([3 * 16 * 16])).toEqual({ channels: 3, height: 16, width: 16 });
    expect(imageShapeOf([16])).toEqual({ channels: 1, height: 1, width: 16 });
    expect(imageShapeOf([12])).toEqual({ channels: 1, height: 1, width: 12 });
    expect(imageShapeOf([12], [1, 3, 4])).toEqual({ channels: 1, height: 3, width: 4 });
    expect(() => imageShapeOf([12], [1, 3, 5])).toThrow(RangeError);
  });

  it('resamples by area when shrinking and bilinearly when growing', () => {
    const src = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    expect(Array.from(resamplePlane(src, 4, 4, 2, 2))).toEqual([3.5, 5.5, 11.5, 13.5]);
    expect(Array.from(resamplePlane(new Float64Array(4).fill(7), 2, 2, 5, 3))).toEqual(new Array(15).fill(7));
    const up = resamplePlane(Float64Array.from([0, 1]), 1, 2, 1, 4);
    expect(Array.from(up)).toEqual([0, 0.25, 0.75, 1]);
  });

  it('renders inputs in grey or RGB, undoing the normalisation', () => {
    const grey = renderInput([-1, 1], { channels: 1, height: 1, width: 2 }, { mean: [0.5], std: [0.5], scale: 1 });
    expect(px(grey, 0, 0)).toEqual([0, 0, 0, 255]);
    expect(px(grey, 1, 0)).toEqual([255, 255, 255, 255]);
    const rgb = renderInput([1, 0, 0], { channels: 3, height: 1, width: 1 }, { mean: [0], std: [1], scale: 1 });
    expect(px(rgb, 0, 0)).toEqual([255, 0, 0, 255]);
    // Without mean/std: stretched to the input's own range.
    const stretched = renderInput([10, 20, 30], { channels: 1, height: 1, width: 3 }, { scale: 1 });
    expect(px(stretched, 1, 0)[0]).toBe(128);
    expect(upscale(stretched, 2).width).toBe(6);
    expect(encodePng(stretched).length).toBeGreaterThan(8);
  });
});

describe('path diagram', () => {
  const layer = (ordinal: number, units: number[], scores: number[], k = units.length): PathLayer => ({
    ordinal, units: Int32Array.from(units), scores: Float32Array.from(scores), fallback: false, k, borderline: 0,
  });
  const reluLayers = [
    { ordinal: 0, units: 2 * 3 * 3, shape: [2, 3, 3] },
    { ordinal: 1, units: 40, shape: [40] },
    { ordinal: 2, units: 8, shape: [8] },
  ];

  it('draws one row per ReLU layer, path units best-first, pass-through layers as bands', () => {
    const ex = { target: 1, predicted: 1, pathLogit: 2.5, layers: [layer(1, [3, 7, 30], [0.2, 0.6, 0.3]), layer(2, [5], [0.9])] };
    const svg = pathDiagramSvg(ex, { reluLayers, inputShape: [1, 5, 5], classNames: ['cat', 'dog <b>'] });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/class="layer-row path"/g)).toHaveLength(2);
    expect(svg.match(/class="layer-row pass"/g)).toHaveLength(1);
    expect(svg).toContain('data-ordinal="0"');
    const units = [...svg.matchAll(/data-unit="(\d+)"/g)].map((m) => Number(m[1]));
    // Top row first in the document (ReLU 2), then ReLU 1 sorted by score.
    expect(units).toEqual([5, 7, 30, 3]);
    expect(svg).toContain('dog &lt;b&gt;');
    expect(svg).not.toContain('<b>');
    expect(svg).toContain('3 of 40 selected');
    // Rows go bottom → top: the input row is below ReLU 0, which is below ReLU 1.
    const y = (re: RegExp) => Number(re.exec(svg)![1]);
    const yIn = y(/class="input-row"><text x="12" y="([\d.]+)"/);
    const y0 = y(/data-ordinal="0">.*?<text x="12" y="([\d.]+)"/s);
    const y1 = y(/data-ordinal="1" tabindex="0">.*?<text x="12" y="([\d.]+)"/s);
    expect(yIn).toBeGreaterThan(y0);
    expect(y0).toBeGreaterThan(y1);
  });

  it('caps the units drawn per layer and names conv positions', () => {
    const units = Array.from({ length: 18 }, (_, i) => i);
    const svg = pathDiagramSvg({ target: 0, layers: [layer(0, units, units.map((u) => u / 100))] }, { reluLayers: reluLayers.slice(0, 1), maxUnits: 5 });
    expect(svg.match(/data-unit=/g)).toHaveLength(5);
    expect(svg).toContain('18 of 18 selected');
    expect(svg).toContain('the best 5 by score drawn');
    expect(svg).toContain('unit 17 (c, y, x = 1, 2, 2)');
    expect(svg).toContain('>(1, 2, 2)</text>'); // conv units are labelled (c, y, x)
    expect(unitPosition(17, [2, 3, 3])).toBe('1, 2, 2');
    expect(unitPosition(17, [40])).toBe('17');
    expect(escapeXml(`a<"'&>`)).toBe('a&lt;&quot;&#39;&amp;&gt;');
  });

  it('names each row by its gate kind (Model.gateLayers), ReLU when the info has none', () => {
    const gateLayers = [
      { ...reluLayers[0], kind: 'leakyrelu' as const },
      { ...reluLayers[1], kind: 'clip' as const },
      reluLayers[2],
    ];
    const svg = pathDiagramSvg({ target: 0, layers: [layer(1, [3], [0.5])] }, { reluLayers: gateLayers });
    expect(svg).toContain('>LeakyReLU 0 · [2×3×3]</text>');
    expect(svg).toContain('all units pass through their LeakyReLU');
    expect(svg).toContain('<title>Clip layer 1: 1 of 40 selected');
    expect(svg).toContain('>ReLU 2 · [8]</text>');
    expect(svg).not.toMatch(/>ReLU (layer )?[01]/);
  });
});
