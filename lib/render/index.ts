/** Pictures of explanations: heatmap PNGs and figures, input images, the SVG path diagram and its edge weights. */
export {
  createImage, encodePng, decodePng, pngDataUri, imageShapeOf, resamplePlane, upscale, autoScale, renderInput,
} from './image.js';
export type { RgbaImage, ImageShape, InputImageOptions } from './image.js';
export {
  divergingColor, divergingCssGradient, attributionPlane, maxAbs, absPercentile, renderHeatmap, heatmapPng, toImageShape, DEFAULT_CLIP_PERCENTILE,
} from './heatmap.js';
export type { HeatmapOptions, Heatmap, ShapeLike } from './heatmap.js';
export { renderHeatmapFigure, softmaxAt } from './figure.js';
export type { HeatmapFigureOptions } from './figure.js';
export { pathEdges } from './path-edges.js';
export type { PathEdge, PathEdges } from './path-edges.js';
export { drawText, textWidth } from './font.js';
export { pathDiagramSvg, unitPosition, unitLabel, escapeXml } from './diagram.js';
export type { DiagramExplanation, DiagramOptions } from './diagram.js';
