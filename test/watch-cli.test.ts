// The CLI side of watching long calls: a warning on stderr before a run estimated above a minute,
// and a progress bar over layer steps for one input (stderr a TTY only).
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { loadModelSync } from '../lib/index.js';
import { explainAll, warnIfLong } from '../lib/cli/explaining.js';

const fashionCnn = join(import.meta.dirname, 'fixtures', 'models', 'fashion_cnn.onnx');

function capture(isTTY: boolean) {
  let text = '';
  const stream = { isTTY, columns: 100, write: (s: string) => { text += s; return true; } };
  return { io: { stdout: stream, stderr: stream }, text: () => text };
}

describe('pathwise explain: long runs', () => {
  it('warns before a run estimated above a minute, and not before a short one', () => {
    const model = loadModelSync(fashionCnn);
    const short = capture(false);
    warnIfLong(model, 10, {}, short.io);
    expect(short.text()).toBe('');
    // ~1 ms per explanation: ten million of them take hours.
    const long = capture(false);
    warnIfLong(model, 10_000_000, {}, long.io);
    expect(long.text()).toMatch(/^pathwise: warning: this run is estimated at about [\d.]+ (min|h) \([\d.]+ GFLOP at the [\d.]+ GFLOP\/s measured here\)/);
    model.dispose();
  });

  it('shows layer-step progress for one input on a terminal, nothing when stderr is not one', async () => {
    const model = loadModelSync(fashionCnn);
    const batch = { values: new Float32Array(784).fill(0.4), count: 1, labels: ['x'] };
    const tty = capture(true);
    const { explanations } = await explainAll(model, batch, {}, tty.io, true);
    expect(explanations).toHaveLength(1);
    // The bar's last frame: every layer step of the one explanation (3 path layers + the path network).
    expect(tty.text()).toMatch(/layer step 4\/4/);
    const pipe = capture(false);
    await explainAll(model, batch, {}, pipe.io, true);
    expect(pipe.text()).toBe('');
    model.dispose();
  });
});
