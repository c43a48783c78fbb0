/**
 * TensorFlow.js LayersModels → pathwise NetworkSpec. Inputs of converted image models are NCHW:
 * a tfjs input [H, W, C] becomes [C, H, W]. @tensorflow/tfjs is an optional peer and is never
 * imported here.
 */
export {
  loadTfjsModel, loadTfjsModelSync, tfjsArtifactsToSpec, tfjsLayersModelToSpec, isTfjsLayersModel, decodeWeights,
} from './load.js';
export type { TfjsArtifacts, TfjsWeightSpec } from './load.js';
export { convertTfjsGraph } from './convert.js';
export type { TfjsConvertOptions, TfjsGraph, TfjsLayer, TfjsWeight } from './convert.js';
