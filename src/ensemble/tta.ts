/**
 * Test-time augmentation: whole-pixel shifts of a batch, stacked so each member runs once
 * on every variant.
 */
/** A whole-pixel translation: content moves `dx` right and `dy` down; uncovered pixels are 0. */
export interface Shift {
  dx: number;
  dy: number;
}

export const IDENTITY: readonly Shift[] = [{ dx: 0, dy: 0 }];

/**
 * 8-way TTA: the image, its four one-pixel shifts along the axes, and three of the four
 * diagonal ones (dropping (−1, +1) keeps the stack a multiple of 8).
 */
export const TTA_8: readonly Shift[] = [
  { dx: 0, dy: 0 },
  { dx: 1, dy: 0 },
  { dx: -1, dy: 0 },
  { dx: 0, dy: 1 },
  { dx: 0, dy: -1 },
  { dx: 1, dy: 1 },
  { dx: -1, dy: -1 },
  { dx: 1, dy: -1 },
];

/**
 * Writes images `start`…`start+count−1` of `src` (size×size each), shifted, into `out` at
 * element `offset`. Every output pixel is written (copied or zeroed), so `out` may be reused.
 */
export function shiftImages(src: Float32Array, start: number, count: number, size: number, shift: Shift, out: Float32Array, offset: number): void {
  const px = size * size;
  const { dx, dy } = shift;
  if (dx === 0 && dy === 0) {
    out.set(src.subarray(start * px, (start + count) * px), offset);
    return;
  }
  // columns x0…x1−1 of the output come from x−dx of the source
  const x0 = Math.max(0, dx);
  const x1 = Math.min(size, size + dx);
  for (let i = 0; i < count; i++) {
    const from = (start + i) * px;
    const to = offset + i * px;
    for (let y = 0; y < size; y++) {
      const row = to + y * size;
      const sy = y - dy;
      if (sy < 0 || sy >= size || x0 >= x1) {
        out.fill(0, row, row + size);
        continue;
      }
      const srcRow = from + sy * size;
      out.set(src.subarray(srcRow + x0 - dx, srcRow + x1 - dx), row + x0);
      if (x0 > 0) out.fill(0, row, row + x0);
      if (x1 < size) out.fill(0, row + x1, row + size);
    }
  }
}
