/**
 * Model sources beyond ONNX and plain specs, for loadModel to dispatch to: a path ending in .json
 * is a tfjs LayersModel (model.json + weight shards), an object shaped like a tf.LayersModel is
 * converted through its layers and getWeights(). Everything else is left to the ONNX / spec paths.
 *
 * Wiring (in model.ts): check `isTfjsSource(source)` *before* the `{ inputShape, layers }` test,
 * since a tf.LayersModel also has a `layers` array.
 */
import type { NetworkSpec } from './layers.js';
import { loadTfjsModel, loadTfjsModelSync, tfjsLayersModelToSpec, isTfjsLayersModel } from '../tfjs/load.js';
import type { TfjsConvertOptions } from '../tfjs/convert.js';

/** True when the source is a tfjs model: a path ending in .json, or an in-memory tf.LayersModel. */
export function isTfjsSource(source: unknown): boolean {
  if (typeof source === 'string') return /\.json$/i.test(source);
  return isTfjsLayersModel(source);
}

/** The NetworkSpec of a tfjs source (see isTfjsSource). */
export async function tfjsSourceToSpec(source: unknown, options: TfjsConvertOptions = {}): Promise<NetworkSpec> {
  if (typeof source === 'string') return loadTfjsModel(source, options);
  return tfjsLayersModelToSpec(source, options);
}

/** Synchronous twin of tfjsSourceToSpec. */
export function tfjsSourceToSpecSync(source: unknown, options: TfjsConvertOptions = {}): NetworkSpec {
  if (typeof source === 'string') return loadTfjsModelSync(source, options);
  return tfjsLayersModelToSpec(source, options);
}
