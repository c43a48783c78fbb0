// Paper-shaped networks with random weights: VGG16 (3×224×224, the paper's 25088-256-64-10 head)
// and ResNet-18 (basic blocks, BatchNorm folded, residual adds) load and explain at depth 5,
// width 64, within memory, with the completeness identity intact.
import { describe, it, expect } from 'vitest';
import { loadModelSync, explainSync } from '../lib/index.js';
import { resnet18Spec, seededNormal, vgg16Spec } from './helpers/shaped-models.mjs';

describe.each([
  { name: 'VGG16', build: () => vgg16Spec(1), relus: 15, units: [100352, 100352, 100352, 256, 64] },
  { name: 'ResNet-18', build: () => resnet18Spec(2), relus: 17, units: [50176, 25088, 25088, 25088, 25088] },
])('$name-shaped network', ({ build, relus, units }) => {
  it('explains at depth 5, width 64 within 2 GB', () => {
    const model = loadModelSync(build());
    expect(model.reluLayers).toHaveLength(relus);
    expect(model.reluLayers.slice(-5).map((l) => l.units)).toEqual(units);
    const rand = seededNormal(5);
    const x = new Float32Array(model.inputSize).map(() => rand());
    const ex = explainSync(model, x, { width: 64, depth: 5 });
    expect(ex.layers.map((l) => l.ordinal)).toEqual([relus - 5, relus - 4, relus - 3, relus - 2, relus - 1]);
    for (const l of ex.layers) {
      expect(l.units.length).toBeGreaterThan(0);
      expect(l.units.length).toBeLessThanOrEqual(64);
    }
    let sum = 0, abs = 0;
    for (const a of ex.attribution) { sum += a; abs += Math.abs(a); }
    expect(Math.abs(sum + ex.bias - ex.pathLogit)).toBeLessThanOrEqual(1e-4 * (abs + Math.abs(ex.bias)));
    expect(Number.isInteger(ex.stats.recomputes)).toBe(true);
    expect(process.memoryUsage().rss).toBeLessThan(2 * 2 ** 30);
    model.dispose();
  });
});
