// Explanations as Parquet (lib/io/parquet.ts): every field read back bit for bit, the same rows
// give the same bytes (the commit's sha256 relies on it), and the layout other tools see.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetMetadata, parquetSchema } from 'hyparquet';
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
    // What another reader sees: plain columns and LIST<FLOAT> / LIST<INT32> per path layer.
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const top = parquetSchema(parquetMetadata(buffer)).children.map((c) => c.element.name);
    expect(top.slice(0, 7)).toEqual(['index', 'label', 'target', 'predicted', 'pathLogit', 'bias', 'attribution']);
    expect(top).toContain(`layer${results[0].explanation.layers[0].ordinal}_units`);
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
