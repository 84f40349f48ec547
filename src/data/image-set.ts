/** Images as stored by the data layer: row-major, one image after another. */
export interface ImageSet {
  images: Uint8Array | Float32Array;
  labels: Uint8Array;
  count: number;
  /** side length (images are size×size×1) */
  size: number;
  /** 255 when pixels are integers 0–255, 1 when floats in [0,1] */
  scale: 255 | 1;
}
