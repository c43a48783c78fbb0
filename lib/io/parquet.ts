/**
 * Explanations as Parquet, one row per explained input, readable from any language (pandas,
 * polars, DuckDB, Spark, Arrow):
 *
 *   index INT64, label INT32 (only when every row has one), target INT32, predicted INT32,
 *   pathLogit DOUBLE, bias DOUBLE, attribution LIST<FLOAT>,
 *   and per path layer `layer<ordinal>_units` LIST<INT32>, `layer<ordinal>_scores` LIST<FLOAT>,
 *   `layer<ordinal>_fallback` BOOLEAN, `layer<ordinal>_k` INT32, `layer<ordinal>_borderline` INT32.
 *
 * Float32 values are stored as FLOAT and read back bit for bit, so statistics computed from a file
 * equal those computed from the explanations themselves. Written with hyparquet-writer and read
 * with hyparquet (pure JavaScript, no WebAssembly, no dependencies of their own beyond each other);
 * both are ES modules and are imported only when a Parquet file is written or read.
 */
import { readFile, rename, writeFile, rm } from 'node:fs/promises';
import type { Explanation, PathLayer } from '../explain/types.js';

/** The fields of an explanation a Parquet row keeps (everything pathStatistics reads). */
export type ExplanationRecord = Pick<Explanation, 'attribution' | 'bias' | 'target' | 'predicted' | 'pathLogit' | 'layers'>;

export interface ExplanationRow {
  /** Position of the input in its data source. */
  index: number;
  label?: number;
  explanation: ExplanationRecord;
}

type SchemaElement = { name: string; type?: string; repetition_type?: string; num_children?: number; converted_type?: string };

function listOf(name: string, type: string): SchemaElement[] {
  return [
    { name, repetition_type: 'REQUIRED', num_children: 1, converted_type: 'LIST' },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', type, repetition_type: 'REQUIRED' },
  ];
}

function required(name: string, type: string): SchemaElement {
  return { name, type, repetition_type: 'REQUIRED' };
}

/** The path layer ordinals of the rows (every row must have the same ones: same depth, same model). */
function layerOrdinals(rows: readonly ExplanationRow[]): number[] {
  const ordinals = rows.length > 0 ? rows[0].explanation.layers.map((l) => l.ordinal) : [];
  for (const r of rows) {
    const own = r.explanation.layers.map((l) => l.ordinal);
    if (own.length !== ordinals.length || own.some((o, i) => o !== ordinals[i]))
      throw new RangeError(`row ${r.index} has path layers [${own.join(', ')}], the others [${ordinals.join(', ')}]: one file holds one layer set`);
  }
  return ordinals;
}

/** Encodes explanations as one Parquet file (bytes). `metadata` goes into the file's key-value metadata. */
export async function encodeExplanationsParquet(rows: readonly ExplanationRow[], metadata: Record<string, string> = {}): Promise<Uint8Array> {
  if (rows.length === 0) throw new RangeError('a Parquet file of explanations needs at least one row');
  const { parquetWriteBuffer } = await import('hyparquet-writer');
  const ordinals = layerOrdinals(rows);
  const withLabels = rows.every((r) => r.label !== undefined);
  const schema: SchemaElement[] = [required('index', 'INT64')];
  const columnData: { name: string; data: unknown[] }[] = [{ name: 'index', data: rows.map((r) => BigInt(r.index)) }];
  if (withLabels) {
    schema.push(required('label', 'INT32'));
    columnData.push({ name: 'label', data: rows.map((r) => r.label) });
  }
  schema.push(required('target', 'INT32'), required('predicted', 'INT32'), required('pathLogit', 'DOUBLE'), required('bias', 'DOUBLE'), ...listOf('attribution', 'FLOAT'));
  columnData.push(
    { name: 'target', data: rows.map((r) => r.explanation.target) },
    { name: 'predicted', data: rows.map((r) => r.explanation.predicted) },
    { name: 'pathLogit', data: rows.map((r) => r.explanation.pathLogit) },
    { name: 'bias', data: rows.map((r) => r.explanation.bias) },
    // hyparquet-writer takes plain arrays for LIST columns (a typed array is not "repeated").
    { name: 'attribution', data: rows.map((r) => Array.from(r.explanation.attribution)) },
  );
  ordinals.forEach((ordinal, l) => {
    const p = `layer${ordinal}_`;
    schema.push(...listOf(`${p}units`, 'INT32'), ...listOf(`${p}scores`, 'FLOAT'), required(`${p}fallback`, 'BOOLEAN'), required(`${p}k`, 'INT32'), required(`${p}borderline`, 'INT32'));
    columnData.push(
      { name: `${p}units`, data: rows.map((r) => Array.from(r.explanation.layers[l].units)) },
      { name: `${p}scores`, data: rows.map((r) => Array.from(r.explanation.layers[l].scores)) },
      { name: `${p}fallback`, data: rows.map((r) => r.explanation.layers[l].fallback) },
      { name: `${p}k`, data: rows.map((r) => r.explanation.layers[l].k) },
      { name: `${p}borderline`, data: rows.map((r) => r.explanation.layers[l].borderline) },
    );
  });
  const kvMetadata = [
    { key: 'pathwise.layers', value: JSON.stringify(ordinals) },
    ...Object.entries(metadata).map(([key, value]) => ({ key, value })),
  ];
  const buffer = parquetWriteBuffer({
    columnData: columnData as Parameters<typeof parquetWriteBuffer>[0]['columnData'],
    schema: [{ name: 'root', num_children: columnData.length }, ...schema] as Parameters<typeof parquetWriteBuffer>[0]['schema'],
    kvMetadata,
    createdBy: 'pathwise',
    // One row group per file: a shard is read whole.
    rowGroupSize: rows.length,
  });
  return new Uint8Array(buffer);
}

/**
 * Writes explanations to `path` atomically: the bytes go to a temporary file beside it, which is
 * then renamed into place, so a reader never sees half a file.
 */
export async function writeExplanationsParquet(path: string, rows: readonly ExplanationRow[], metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const bytes = await encodeExplanationsParquet(rows, metadata);
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(tmp, bytes, { flush: true });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return bytes;
}

export interface ParquetExplanations {
  rows: ExplanationRow[];
  /** The file's key-value metadata. */
  metadata: Record<string, string>;
}

/** Reads a file written by writeExplanationsParquet (a path or its bytes). */
export async function readExplanationsParquet(source: string | Uint8Array): Promise<ParquetExplanations> {
  const { parquetMetadata, parquetReadObjects } = await import('hyparquet');
  const bytes = typeof source === 'string' ? await readFile(source) : source;
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const meta = parquetMetadata(file);
  const metadata: Record<string, string> = {};
  for (const kv of meta.key_value_metadata ?? []) metadata[kv.key] = kv.value ?? '';
  const ordinals = JSON.parse(metadata['pathwise.layers'] ?? '[]') as number[];
  const objects = await parquetReadObjects({ file, metadata: meta });
  const rows = objects.map((o): ExplanationRow => {
    const layers: PathLayer[] = ordinals.map((ordinal) => ({
      ordinal,
      units: Int32Array.from(o[`layer${ordinal}_units`] as number[]),
      scores: Float32Array.from(o[`layer${ordinal}_scores`] as number[]),
      fallback: o[`layer${ordinal}_fallback`] as boolean,
      k: o[`layer${ordinal}_k`] as number,
      borderline: o[`layer${ordinal}_borderline`] as number,
    }));
    const row: ExplanationRow = {
      index: Number(o.index),
      explanation: {
        attribution: Float32Array.from(o.attribution as number[]),
        bias: o.bias as number,
        target: o.target as number,
        predicted: o.predicted as number,
        pathLogit: o.pathLogit as number,
        layers,
      },
    };
    if (o.label !== undefined) row.label = o.label as number;
    return row;
  });
  return { rows, metadata };
}
