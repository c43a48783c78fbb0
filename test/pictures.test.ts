// Pictures a person reads at a glance: the heatmap figure (colour bar, class name and probability,
// the input's outline, a robust colour limit), heatmapPng with model.inputShape, the path
// diagram's edges (the real path weights, checked against the network's weights and pool routing)
// and its legibility at width 'all', and the report with class names and the path-logit sentence —
// each looked at as a PNG or in headless Chromium (screenshots kept in PATHWISE_SCREENSHOT_DIR).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';
import {
  loadModel, explain, explainSync, loadSamples, samplePath, heatmapPng, renderHeatmap, renderReport, pathDiagramSvg, type Model,
  type Explanation, type ConvLayerSpec, type DenseLayerSpec, type NetworkSpec,
} from '../lib/index.js';
import { parseOnnx } from '../lib/onnx/load.js';
import { pathEdges } from '../lib/render/path-edges.js';
import { renderHeatmapFigure, softmaxAt } from '../lib/render/figure.js';
import { absPercentile, divergingColor } from '../lib/render/heatmap.js';
import { textWidth } from '../lib/render/font.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SHOTS = process.env.PATHWISE_SCREENSHOT_DIR ?? join(tmpdir(), 'pathwise-report-screenshots');

const samples = loadSamples();
const BOOT = samples.inputs.subarray(9 * 784, 10 * 784);
let model: Model;
let spec: NetworkSpec;
let ex: Explanation;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  model = await loadModel(samplePath('fashion_cnn.onnx'));
  spec = parseOnnx(readFileSync(samplePath('fashion_cnn.onnx')));
  ex = await explain(model, BOOT); // width and depth 'all'
});
afterAll(() => model?.dispose());

const rgbAt = (img: { width: number; data: Uint8Array }, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 3));

describe('heatmap figures', () => {
  it('heatmapPng takes model.inputShape and draws a figure: title with the probability, the map with its outline, a colour bar', () => {
    const p = softmaxAt(ex.logits, 9);
    expect(p).toBeGreaterThan(0.99);
    const { png, limit } = heatmapPng(ex.attribution, model.inputShape, { title: 'Ankle boot', probability: p, outline: BOOT });
    writeFileSync(join(SHOTS, 'heatmap-figure.png'), png);
    const img = PNG.sync.read(png);
    // The robust default limit: the 99.5th percentile of |attribution|, below the maximum here.
    expect(limit).toBe(absPercentile(ex.attribution, 99.5));
    expect(limit).toBeLessThan(Math.max(...Array.from(ex.attribution, Math.abs)));
    expect(img.width).toBeGreaterThanOrEqual(224 + 20);
    expect(img.width).toBeGreaterThanOrEqual(textWidth('Ankle boot  p = 0.999', 2));
    // Dark text pixels in the title band; the map below is not blank (many colours).
    const dark = (y0: number, y1: number) => {
      let n = 0;
      for (let y = y0; y < y1; y++) for (let x = 0; x < img.width; x++) if (rgbAt(img, x, y).every((v) => v < 80)) n++;
      return n;
    };
    expect(dark(8, 26)).toBeGreaterThan(100);
    const colours = new Set<string>();
    for (let y = 40; y < 40 + 224; y++) for (let x = 10; x < 234; x++) colours.add(rgbAt(img, x, y).join());
    expect(colours.size).toBeGreaterThan(30);
    // The colour bar: full blue at its left end, full red at its right end (the legend is present).
    const rowHas = (y: number, c: number[]) => Array.from({ length: img.width }, (_, x) => rgbAt(img, x, y).join()).includes(c.join());
    let bar = -1;
    for (let y = img.height - 1; y > 0 && bar < 0; y--) if (rowHas(y, divergingColor(1)) && rowHas(y, divergingColor(-1))) bar = y;
    expect(bar).toBeGreaterThan(224);
    // The outline: the bare map with and without it differ only by dark outline pixels.
    const plain = renderHeatmap(ex.attribution, model.inputShape, {}).image;
    const lined = renderHeatmap(ex.attribution, model.inputShape, { outline: BOOT }).image;
    let changed = 0;
    for (let q = 0; q < plain.data.length; q += 4) if (plain.data[q] !== lined.data[q]) { changed++; expect(lined.data[q]).toBe(40); }
    expect(changed).toBeGreaterThan(500);
    // Configurable limit; the old "the image shape undefined×undefined×undefined" failure is gone.
    expect(renderHeatmap(ex.attribution, model.inputShape, { clipPercentile: 100 }).limit).toBe(Math.max(...Array.from(ex.attribution, Math.abs)));
    expect(() => heatmapPng(ex.attribution, { width: 28 } as never)).toThrow(TypeError);
    expect(() => renderHeatmapFigure(ex.attribution, model.inputShape, { probability: 2 })).toThrow(RangeError);
  });
});

describe('path diagram edges', () => {
  it('are the real weights: dense entries, and conv taps routed through the max-pool at the input', () => {
    const edges = pathEdges(spec, BOOT, ex, { perUnit: 1000 });
    expect(edges.unsupported).toBeUndefined();
    expect([...edges.byLayer.keys()].sort()).toEqual([0, 1, 2]);
    const convs = spec.layers.filter((l): l is ConvLayerSpec => l.type === 'conv');
    const denses = spec.layers.filter((l): l is DenseLayerSpec => l.type === 'dense');
    // Top path layer → the class: the last dense layer's row of the target.
    const last = denses[denses.length - 1];
    for (const e of edges.byLayer.get(2)!) {
      expect(e.upper).toBe(9);
      expect(e.weight).toBe(last.weights[9 * last.in + e.lower]);
    }
    // ReLU 0 [16, 26, 26] → max-pool 2 → conv2 3 × 3 → ReLU 1 [32, 11, 11]: each edge is one tap of
    // conv2 at the pooled position, and the lower unit is its pool window's winner at the input.
    const conv2 = convs[1];
    const h0 = edges.byLayer.get(0)!;
    expect(h0.length).toBeGreaterThan(100);
    for (const e of h0.slice(0, 300)) {
      const c0 = Math.floor(e.lower / 676), y0 = Math.floor(e.lower / 26) % 26, x0 = e.lower % 26;
      const c1 = Math.floor(e.upper / 121), y1 = Math.floor(e.upper / 11) % 11, x1 = e.upper % 11;
      const ky = (y0 >> 1) - y1, kx = (x0 >> 1) - x1;
      expect(ky >= 0 && ky < 3 && kx >= 0 && kx < 3).toBe(true);
      expect(e.weight).toBe(conv2.weights[((c1 * conv2.inChannels + c0) * 3 + ky) * 3 + kx]);
    }
    // Only selected units, and the strongest first per upper unit.
    const sel0 = new Set(ex.layers[0].units);
    expect(h0.every((e) => sel0.has(e.lower))).toBe(true);
    const few = pathEdges(spec, BOOT, ex, { perUnit: 2 }).byLayer.get(1)!;
    expect(few.length).toBeLessThanOrEqual(2 * ex.layers[2].units.length);
  });

  it('graph networks: every edge weight is PyTorch autograd\'s ∂z/∂h, residual shortcut, concat, shuffle, pads, ceil-mode pools and every gate kind included', async () => {
    // tools/reference/make_edge_fixture.py: a seeded graph with each layer kind a spec can hold; the
    // full Jacobian ∂z_{k+1}/∂h_k of each neighbouring gate pair (h_k a leaf) and ∂logits/∂h_top.
    const fx = JSON.parse(readFileSync(new URL('./fixtures/edges/graph.json', import.meta.url), 'utf8'));
    const f32 = (v: unknown) => (Array.isArray(v) && typeof v[0] === 'number' ? Float32Array.from(v as number[]) : v);
    const graph: NetworkSpec = {
      inputShape: fx.inputShape,
      layers: fx.layers.map((l: Record<string, unknown>) => Object.fromEntries(Object.entries(l).map(([k, v]) =>
        [k, ['weights', 'bias', 'scale', 'mean', 'variance', 'slope', 'shift'].includes(k) ? f32(v) : v]))),
    };
    // The engine runs the same network to the same logits (float32 against PyTorch's float64).
    const m = await loadModel(graph);
    try {
      const logits = m.forward(Float32Array.from(fx.input));
      for (let c = 0; c < 3; c++) expect(logits[c]).toBeCloseTo(fx.logits[c], 4);
    } finally { m.dispose(); }
    const sizes: number[] = fx.gateSizes;
    const all = (n: number) => Array.from({ length: n }, (_, i) => i);
    const layers = sizes.map((n, ordinal) => ({ ordinal, units: all(n) }));
    for (const target of [0, 1, 2]) {
      const edges = pathEdges(graph, fx.input, { target, layers }, { perUnit: 1e9 });
      expect(edges.unsupported).toBeUndefined();
      expect([...edges.byLayer.keys()]).toEqual(all(sizes.length));
      sizes.forEach((_, k) => {
        const top = k === sizes.length - 1;
        const want = (fx.jacobians[k] as [number, number, number][]).filter(([b]) => !top || b === target);
        const got = edges.byLayer.get(k)!;
        expect(got.length).toBe(want.length); // every nonzero route, and nothing else
        const byPair = new Map(got.map((e) => [`${e.upper},${e.lower}`, e]));
        for (const [b, a, weight] of want) {
          const e = byPair.get(`${b},${a}`)!;
          expect(e, `gate ${k}: edge ${a} → ${b}`).toBeDefined();
          expect(e.weight).toBeCloseTo(weight, 12);
          expect(e.contribution).toBeCloseTo(fx.h[k][a] * weight, 12);
        }
      });
    }
  });

  it('a network too large to trace in JavaScript gets no edges and says why', () => {
    const big = { inputShape: [64], layers: [
      { type: 'dense', in: 64, out: 64, weights: new Float32Array(64 * 64).fill(0.1) }, { type: 'relu' },
      { type: 'dense', in: 64, out: 2, weights: new Float32Array(128).fill(0.1) },
    ] } as NetworkSpec;
    const e = pathEdges(big, new Float32Array(64).fill(1), { target: 0, layers: [{ ordinal: 0, units: [0, 1] }] }, { maxMultiplyAdds: 1000 });
    expect(e.byLayer.size).toBe(0);
    expect(e.unsupported).toMatch(/too large/);
    const svg = pathDiagramSvg(ex, { reluLayers: model.reluLayers, edges: e });
    expect(svg).toContain('no edges: the network is too large');
    expect(svg).not.toMatch(/<line /);
  });
});

describe.skipIf(!existsSync(CHROMIUM))('pictures in headless Chromium', () => {
  let browser: import('playwright-core').Browser;
  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  });
  afterAll(async () => { await browser?.close(); });

  async function page(file: string, content: string) {
    writeFileSync(file, content);
    const p = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(e.message));
    await p.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    return { p, errors };
  }

  it('the path diagram at width "all": edges only along the path, no label on a unit, a score or another label', async () => {
    const edges = pathEdges(spec, BOOT, ex, { perUnit: 12 });
    const svg = pathDiagramSvg(ex, { reluLayers: model.reluLayers, inputShape: model.inputShape, classNames: samples.classNames, edges });
    // No all-to-all mesh: at most 3 edges into each drawn unit (24 per row) and 3 into the class.
    const lines = svg.match(/<line /g) ?? [];
    expect(lines.length).toBeGreaterThan(20);
    expect(lines.length).toBeLessThanOrEqual(3 * 24 * 2 + 3);
    expect(svg).toContain('class 9 (Ankle boot)');
    const { p, errors } = await page(join(SHOTS, 'path-diagram.svg'), svg);
    await p.screenshot({ path: join(SHOTS, 'path-diagram.png') });
    type Box = { x0: number; y0: number; x1: number; y1: number };
    // (A string, evaluated in the page: the test's own TypeScript has no DOM types.)
    const boxes = await p.evaluate(`(() => {
      const box = (e) => { const r = e.getBoundingClientRect(); return { x0: r.left, y0: r.top, x1: r.right, y1: r.bottom }; };
      return {
        labels: [...document.querySelectorAll('text.idx')].map(box),
        marks: [...document.querySelectorAll('circle, text.score, text.lbl, text.sub')].map(box),
      };
    })()`) as { labels: Box[]; marks: Box[] };
    const overlap = (a: Box, b: Box) => a.x0 < b.x1 - 0.5 && b.x0 < a.x1 - 0.5 && a.y0 < b.y1 - 0.5 && b.y0 < a.y1 - 0.5;
    expect(boxes.labels.length).toBe(24 * 3);
    const hits = boxes.labels.flatMap((l, i) => boxes.marks.filter((m) => overlap(l, m)).map(() => i));
    expect(hits).toEqual([]);
    // Slanted labels: neighbours are at least a line height apart along the row.
    for (let i = 1; i < boxes.labels.length; i++)
      if (Math.abs(boxes.labels[i].y0 - boxes.labels[i - 1].y0) < 1) expect(boxes.labels[i].x1 - boxes.labels[i - 1].x1).toBeGreaterThan(9);
    expect(errors).toEqual([]);
    await p.close();
  });

  it('the report names the classes everywhere, gives the probability, explains path logit vs logit and draws the path weights', async () => {
    const html = renderReport({
      model, spec, classNames: samples.classNames,
      examples: [{ title: '9-ankle-boot.png', explanation: ex, input: BOOT }], mean: [0.286], std: [0.353],
    });
    expect(html).toContain('<b>target</b> Ankle boot (9)');
    expect(html).toContain('<b>probability</b> 0.999');
    const { p, errors } = await page(join(SHOTS, 'report-sample.html'), html);
    const shot = await p.screenshot({ path: join(SHOTS, 'report-sample.png'), fullPage: true });
    const img = PNG.sync.read(shot);
    const colours = new Set<number>();
    for (let i = 0; i < img.data.length; i += 4) colours.add((img.data[i] << 16) | (img.data[i + 1] << 8) | img.data[i + 2]);
    expect(colours.size).toBeGreaterThan(200);
    const why = await p.locator('p.why').textContent();
    expect(why).toMatch(/^The path logit \(\d+\.\d\d\) is the output for Ankle boot \(9\) of the path network, in which every unit off the path is masked to zero/);
    expect(await p.locator('table.logits td.l').allTextContents()).toEqual(
      samples.classNames.map((n, c) => `${n} (${c})${c === 9 ? ' ◀ target' : ''}`));
    expect(await p.locator('.diagram line.edge').count()).toBeGreaterThan(20);
    expect(await p.locator('.diagram figcaption, figcaption').first().textContent()).toBe('input');
    expect(await p.locator('figure figcaption').nth(1).textContent()).toMatch(/^Ankle boot \(9\) \(p = 0\.999\): attribution/);
    expect(errors).toEqual([]);
    await p.close();
  });
});
