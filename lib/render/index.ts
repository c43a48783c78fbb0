/** Pictures of explanations: heatmap PNGs, input images and the SVG path diagram. */
export {
  createImage, encodePng, decodePng, pngDataUri, imageShapeOf, resamplePlane, upscale, autoScale, renderInput,
} from './image.js';
export type { RgbaImage, ImageShape, InputImageOptions } from './image.js';
export {
  divergingColor, divergingCssGradient, attributionPlane, maxAbs, absPercentile, renderHeatmap, heatmapPng,
} from './heatmap.js';
export type { HeatmapOptions, Heatmap } from './heatmap.js';
export { pathDiagramSvg, unitPosition, escapeXml } from './diagram.js';
export type { DiagramExplanation, DiagramOptions } from './diagram.js';
