// Explanations as Parquet (lib/io/parquet.ts): every field read back bit for bit, the same rows
// give the same bytes (the commit's sha256 relies on it), and the layout other tools see.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSchema } from 'parquet-wasm/node';
import { tableFromIPC } from 'apache-arrow';
import { encodeExplanationsParquet, readExplanationsParquet, writeExplanationsParquet } from '../../lib/io/parquet.js';
import { MLP, singleProcess } from './helpers.js';

describe('explanations as Parquet', () => {
  it('round-trips every field exactly, and the same rows give the same bytes', async () => {
    const { results } = await singleProcess(MLP, 40, { batchSize: 16 });
    const bytes = await encodeExplanationsParquet(results, { 'pathwise.run': 'r' });
    expect(await encodeExplanationsParquet(results, { 'pathwise.run': 'r' })).toEqual(bytes);
    const { rows, metadata } = await readExplanationsParquet(bytes);
    expect(metadata['pathwise.run']).toBe('r');
    expect(rows).toHaveLength(40);
    rows.forEach((r, i) => {
      const e = results[i].explanation;
      expect(r.index).toBe(i);
      expect(r.label).toBe(results[i].label);
      expect(r.explanation).toEqual({ attribution: e.attribution, bias: e.bias, target: e.target, predicted: e.predicted, pathLogit: e.pathLogit, layers: e.layers });
    });
    // What another reader sees: plain columns and lists of float32 / int32 per path layer.
    const fields = tableFromIPC(readSchema(bytes).intoIPCStream()).schema.fields;
    expect(fields.slice(0, 7).map((f) => `${f.name}: ${f.type}`)).toEqual([
      'index: Int64', 'label: Int32', 'target: Int32', 'predicted: Int32', 'pathLogit: Float64', 'bias: Float64', 'attribution: FixedSizeList[784]<Float32>']);
    const ordinal = results[0].explanation.layers[0].ordinal;
    expect(fields.filter((f) => f.name.startsWith(`layer${ordinal}_`)).map((f) => `${f.name}: ${f.type}`)).toEqual([
      `layer${ordinal}_units: List<Int32>`, `layer${ordinal}_scores: List<Float32>`, `layer${ordinal}_fallback: Bool`, `layer${ordinal}_k: Int32`, `layer${ordinal}_borderline: Int32`]);
  });

  it('writes atomically (no temporary file is left) and refuses mixed layer sets', async () => {
    const { results } = await singleProcess(MLP, 4);
    const dir = mkdtempSync(join(tmpdir(), 'pathwise-parquet-'));
    try {
      await writeExplanationsParquet(join(dir, 'a.parquet'), results);
      expect(readdirSync(dir)).toEqual(['a.parquet']);
      const mixed = [results[0], { ...results[1], explanation: { ...results[1].explanation, layers: results[1].explanation.layers.slice(1) } }];
      await expect(encodeExplanationsParquet(mixed)).rejects.toThrow(/one file holds one layer set/);
      await expect(encodeExplanationsParquet([])).rejects.toThrow(/at least one row/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
