/**
 * A 5 × 7 pixel font for the labels drawn into PNG pictures (colour bars, titles): digits, capital
 * letters (lower case is drawn in capitals) and the punctuation numbers and class names need. Each
 * glyph is 7 rows of 5 bits, the high bit on the left; drawn at an integer scale with one column of
 * spacing.
 */
import type { RgbaImage } from './image.js';

const GLYPHS: ReadonlyMap<string, readonly number[]> = new Map<string, readonly number[]>([
  ['0', [14, 17, 19, 21, 25, 17, 14]],
  ['1', [4, 12, 4, 4, 4, 4, 14]],
  ['2', [14, 17, 1, 2, 4, 8, 31]],
  ['3', [30, 1, 1, 14, 1, 1, 30]],
  ['4', [2, 6, 10, 18, 31, 2, 2]],
  ['5', [31, 16, 30, 1, 1, 17, 14]],
  ['6', [6, 8, 16, 30, 17, 17, 14]],
  ['7', [31, 1, 2, 4, 8, 8, 8]],
  ['8', [14, 17, 17, 14, 17, 17, 14]],
  ['9', [14, 17, 17, 15, 1, 2, 12]],
  ['A', [14, 17, 17, 31, 17, 17, 17]],
  ['B', [30, 17, 17, 30, 17, 17, 30]],
  ['C', [14, 17, 16, 16, 16, 17, 14]],
  ['D', [28, 18, 17, 17, 17, 18, 28]],
  ['E', [31, 16, 16, 30, 16, 16, 31]],
  ['F', [31, 16, 16, 30, 16, 16, 16]],
  ['G', [14, 17, 16, 23, 17, 17, 15]],
  ['H', [17, 17, 17, 31, 17, 17, 17]],
  ['I', [14, 4, 4, 4, 4, 4, 14]],
  ['J', [7, 2, 2, 2, 2, 18, 12]],
  ['K', [17, 18, 20, 24, 20, 18, 17]],
  ['L', [16, 16, 16, 16, 16, 16, 31]],
  ['M', [17, 27, 21, 21, 17, 17, 17]],
  ['N', [17, 17, 25, 21, 19, 17, 17]],
  ['O', [14, 17, 17, 17, 17, 17, 14]],
  ['P', [30, 17, 17, 30, 16, 16, 16]],
  ['Q', [14, 17, 17, 17, 21, 18, 13]],
  ['R', [30, 17, 17, 30, 20, 18, 17]],
  ['S', [15, 16, 16, 14, 1, 1, 30]],
  ['T', [31, 4, 4, 4, 4, 4, 4]],
  ['U', [17, 17, 17, 17, 17, 17, 14]],
  ['V', [17, 17, 17, 17, 17, 10, 4]],
  ['W', [17, 17, 17, 21, 21, 21, 10]],
  ['X', [17, 17, 10, 4, 10, 17, 17]],
  ['Y', [17, 17, 10, 4, 4, 4, 4]],
  ['Z', [31, 1, 2, 4, 8, 16, 31]],
  [' ', [0, 0, 0, 0, 0, 0, 0]],
  ['.', [0, 0, 0, 0, 0, 12, 12]],
  [',', [0, 0, 0, 0, 12, 4, 8]],
  ['-', [0, 0, 0, 31, 0, 0, 0]],
  ['+', [0, 4, 4, 31, 4, 4, 0]],
  ['%', [24, 25, 2, 4, 8, 19, 3]],
  [':', [0, 12, 12, 0, 12, 12, 0]],
  ['(', [2, 4, 8, 8, 8, 4, 2]],
  [')', [8, 4, 2, 2, 2, 4, 8]],
  ['/', [0, 1, 2, 4, 8, 16, 0]],
  ['=', [0, 0, 31, 0, 31, 0, 0]],
  ['_', [0, 0, 0, 0, 0, 0, 31]],
  ['·', [0, 0, 0, 12, 12, 0, 0]],
  ['|', [4, 4, 4, 4, 4, 4, 4]],
  ['?', [14, 17, 1, 2, 4, 0, 4]],
]);

/** Glyph width and height in font pixels, and the advance per character (with spacing). */
export const GLYPH_WIDTH = 5, GLYPH_HEIGHT = 7, GLYPH_ADVANCE = 6;

function glyphOf(ch: string): readonly number[] {
  const c = ch === '−' || ch === '–' ? '-' : ch === '×' ? 'X' : ch.toUpperCase();
  return GLYPHS.get(c) ?? GLYPHS.get(c.normalize('NFD')[0]) ?? GLYPHS.get('?')!;
}

/** Width in image pixels of `text` drawn at `scale`. */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : ([...text].length * GLYPH_ADVANCE - 1) * scale;
}

/** Draws `text` with its top-left corner at (x, y), clipped to the image. */
export function drawText(image: RgbaImage, text: string, x: number, y: number, colour: readonly [number, number, number], scale = 1): void {
  let left = x;
  for (const ch of text) {
    const rows = glyphOf(ch);
    for (let r = 0; r < GLYPH_HEIGHT; r++) for (let c = 0; c < GLYPH_WIDTH; c++) {
      if (!((rows[r] >> (GLYPH_WIDTH - 1 - c)) & 1)) continue;
      for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) {
        const px = left + c * scale + dx, py = y + r * scale + dy;
        if (px < 0 || py < 0 || px >= image.width || py >= image.height) continue;
        const q = (py * image.width + px) * 4;
        image.data[q] = colour[0]; image.data[q + 1] = colour[1]; image.data[q + 2] = colour[2]; image.data[q + 3] = 255;
      }
    }
    left += GLYPH_ADVANCE * scale;
  }
}
