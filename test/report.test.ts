// The HTML report in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core;
// nothing is downloaded): the page loads without console errors and without a single network
// request, the pictures render (the screenshot is far from blank), and clicking a layer — in the
// path diagram or in the layer table — lists that layer's units.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';
import { loadModel, loadModelSync, explainBatchSync, explainSync, type Model, type LayerSpec } from '../lib/index.js';
import { renderReport } from '../lib/report/index.js';
import { fixtureDir, loadFixtureSet } from './helpers/fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
// Chromium as root in a closed network: the flags DEVELOPERS.md "Toolchain notes" lists.
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Where the screenshots go (kept after the run, to be looked at). */
const SHOTS = process.env.PATHWISE_SCREENSHOT_DIR ?? join(tmpdir(), 'pathwise-report-screenshots');

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

/** A small random RGB CNN: conv → relu → maxpool → conv → relu → flatten → dense → relu → dense. */
function rgbCnn(): LayerSpec[] {
  const r = seeded(3);
  const f = (n: number, s: number) => new Float32Array(n).map(() => r() * s);
  return [
    { type: 'conv', inChannels: 3, outChannels: 6, kernel: [3, 3], pads: [1, 1, 1, 1], weights: f(6 * 3 * 9, 0.4), bias: f(6, 0.1) },
    { type: 'relu' },
    { type: 'maxpool', kernel: [2, 2] },
    { type: 'conv', inChannels: 6, outChannels: 8, kernel: [3, 3], weights: f(8 * 6 * 9, 0.25), bias: f(8, 0.1) },
    { type: 'relu' },
    { type: 'flatten' },
    { type: 'dense', in: 8 * 3 * 4, out: 16, weights: f(16 * 96, 0.15), bias: f(16, 0.1) },
    { type: 'relu' },
    { type: 'dense', in: 16, out: 4, weights: f(64, 0.3) },
  ];
}

function distinctColours(png: Buffer): number {
  const img = PNG.sync.read(png);
  const seen = new Set<number>();
  for (let i = 0; i < img.data.length; i += 4) seen.add((img.data[i] << 16) | (img.data[i + 1] << 8) | img.data[i + 2]);
  return seen.size;
}

describe('HTML report (no browser needed)', () => {
  it('is one self-contained file: data: images, no external URL, a CSP that forbids requests', async () => {
    const model = await loadModel(join(fixtureDir('fashion_mlp'), '..', 'models', 'fashion_mlp.onnx'));
    const set = loadFixtureSet(fixtureDir('fashion_mlp'));
    const x = set.inputs.subarray(0, model.inputSize);
    const html = renderReport({ model, examples: [{ explanation: explainSync(model, x, { width: 8 }), input: x }], classNames: ['T-shirt<script>'] });
    expect(html).toContain("default-src 'none'");
    expect(html).not.toMatch(/<(link|iframe|object|embed)\b/i);
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')).not.toMatch(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i);
    const srcs = [...html.matchAll(/\bsrc="([^"]*)"/g)].map((m) => m[1]);
    expect(srcs.length).toBeGreaterThanOrEqual(3);
    for (const s of srcs) expect(s.startsWith('data:image/png;base64,')).toBe(true);
    expect(html).not.toContain('T-shirt<script>');
    expect(() => renderReport({ model, examples: [] })).toThrow(TypeError);
    model.dispose();
  });
});

describe.skipIf(!haveChromium)('HTML report in headless Chromium', () => {
  let browser: import('playwright-core').Browser;
  let dir: string;
  let mlp: Model, cnn: Model;

  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
    dir = mkdtempSync(join(tmpdir(), 'pathwise-report-'));
    mkdirSync(SHOTS, { recursive: true });
    mlp = await loadModel(join(fixtureDir('fashion_mlp'), '..', 'models', 'fashion_mlp.onnx'));
    cnn = loadModelSync({ inputShape: [3, 10, 12], layers: rgbCnn() });
  });
  afterAll(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    mlp?.dispose();
    cnn?.dispose();
  });

  /** Opens a report file, recording console errors, page errors and every request. */
  async function open(html: string, name: string) {
    const file = join(dir, `${name}.html`);
    writeFileSync(file, html);
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    page.on('requestfailed', (r) => errors.push(`requestfailed: ${r.url()}`));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    return { page, errors, requests, url: pathToFileURL(file).href };
  }

  it('the Fashion-MNIST MLP report: loads cleanly, renders, a click on a layer shows its units', async () => {
    const set = loadFixtureSet(fixtureDir('fashion_mlp'));
    const n = 2;
    const inputs = set.inputs.subarray(0, n * mlp.inputSize);
    const exs = explainBatchSync(mlp, inputs, { width: 16, depth: 2 });
    const html = renderReport({
      title: 'pathwise report: fashion_mlp', subtitle: 'test/fixtures/models/fashion_mlp.onnx', model: mlp,
      examples: exs.map((e, i) => ({ title: `fixture input ${i}`, explanation: e, input: inputs.subarray(i * mlp.inputSize, (i + 1) * mlp.inputSize) })),
      mean: [0.286], std: [0.353], settings: { width: 16, depth: 2 },
      classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
    });
    const { page, errors, requests, url } = await open(html, 'mlp');

    // Every picture decoded: complete with a real size.
    const images = await page.$$eval('img', (els) => els.map((e) => {
      const im = e as unknown as { complete: boolean; naturalWidth: number };
      return { ok: im.complete, w: im.naturalWidth };
    }));
    expect(images.length).toBe(2 * 3);
    for (const im of images) expect(im.ok && im.w >= 224).toBe(true);
    const shot = await page.screenshot({ path: join(SHOTS, 'report-mlp.png') });
    expect(distinctColours(shot)).toBeGreaterThan(200);
    const heat = await page.locator('#example-0 img.heatmap').first().screenshot({ path: join(SHOTS, 'report-mlp-heatmap.png') });
    expect(distinctColours(heat)).toBeGreaterThan(20);

    // Click ReLU 2 in the diagram of the second example: its 16 (or fewer) units are listed.
    const section = page.locator('#example-1');
    expect(await section.locator('.units-panel table').count()).toBe(0);
    await section.locator('svg .layer-row.path[data-ordinal="2"]').click({ position: { x: 40, y: 30 } });
    const top = exs[1].layers.find((l) => l.ordinal === 2)!;
    expect(await section.locator('.units-panel h3').textContent()).toMatch(new RegExp(`^ReLU 2: ${top.units.length} selected units? of 64$`));
    const rows = section.locator('.units-panel tr.unit-row');
    expect(await rows.count()).toBe(top.units.length);
    const listed = (await rows.locator('td:nth-child(2)').allTextContents()).map(Number).sort((a, b) => a - b);
    expect(listed).toEqual(Array.from(top.units));
    // Best score first.
    const scores = (await rows.locator('td:nth-child(3)').allTextContents()).map(Number);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(await section.locator('tr.layer-link.selected').getAttribute('data-ordinal')).toBe('2');
    // The first example's panel is untouched.
    expect(await page.locator('#example-0 .units-panel table').count()).toBe(0);

    // Click ReLU 1 in the layer table of the first example.
    const first = page.locator('#example-0');
    await first.locator('tr.layer-link[data-ordinal="1"]').click();
    const l1 = exs[0].layers.find((l) => l.ordinal === 1)!;
    expect(await first.locator('.units-panel tr.unit-row').count()).toBe(l1.units.length);
    // ReLU 0 is not a path layer at depth 2.
    await first.locator('tr.layer-link[data-ordinal="0"]').click();
    expect(await first.locator('.units-panel').textContent()).toContain('Not a path layer: all 256 units');
    await first.locator('tr.layer-link[data-ordinal="1"]').click();
    await page.screenshot({ path: join(SHOTS, 'report-mlp-clicked.png'), fullPage: true });

    expect(errors).toEqual([]);
    expect(requests.filter((r) => r !== url && !r.startsWith('data:'))).toEqual([]);
    await page.close();
  });

  it('an RGB CNN report: per-channel heatmaps and conv unit positions', async () => {
    const x = new Float32Array(cnn.inputSize).map(seeded(9));
    const ex = explainSync(cnn, x, { width: '10%', decompose: { layer: 1, by: 'channel' }, paths: { k: 4 } });
    const base = explainSync(cnn, x, { semantics: 'linear', width: 'all', depth: 'all', threshold: 0, target: ex.target });
    const html = renderReport({ model: cnn, examples: [{ explanation: ex, input: x, baselines: [{ name: 'input × gradient', attribution: base.attribution }] }] });
    const { page, errors, requests, url } = await open(html, 'cnn');
    expect(await page.locator('img.heatmap.channel').count()).toBe(3);
    expect(await page.locator('img.heatmap.baseline').count()).toBe(1);
    // The decomposition: one row per component (channels of ReLU 1), the largest ones drawn.
    const components = ex.decomposition!.components.length;
    expect(await page.locator('table.components tr').count()).toBe(1 + components);
    expect(await page.locator('img.heatmap.component').count()).toBe(Math.min(6, components));
    expect(await page.locator('table.one-way-paths tr').count()).toBe(1 + ex.paths!.items.length);
    const shot = await page.screenshot({ path: join(SHOTS, 'report-cnn.png'), fullPage: true });
    expect(distinctColours(shot)).toBeGreaterThan(200);
    const conv = ex.layers.find((l) => l.ordinal === 0)!;
    await page.locator('tr.layer-link[data-ordinal="0"]').click();
    expect(await page.locator('.units-panel tr.unit-row').count()).toBe(conv.units.length);
    // Conv units as (c, y, x), the flat index beside.
    expect(await page.locator('.units-panel th').nth(1).textContent()).toBe('unit (c, y, x)');
    expect(await page.locator('.units-panel th').nth(2).textContent()).toBe('flat index');
    const u = conv.units[0];
    const pos = `(${Math.floor(u / 120)}, ${Math.floor((u % 120) / 12)}, ${u % 12})`;
    const row = page.locator('.units-panel tr.unit-row').filter({ has: page.locator(`td:nth-child(3):text-is("${u}")`) });
    expect(await row.locator('td:nth-child(2)').textContent()).toBe(pos);
    expect(errors).toEqual([]);
    expect(requests.filter((r) => r !== url && !r.startsWith('data:'))).toEqual([]);
    await page.close();
  });
});

it.skipIf(haveChromium)(`Chromium report tests skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`, () => {});
