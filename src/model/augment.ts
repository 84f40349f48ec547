/**
 * Per-batch augmentation in Keras ImageDataGenerator vocabulary, as tensor ops on the
 * active backend (`tf.image.transform` runs on wasm). Parameters are drawn from a
 * seeded generator, so a member's augmentation stream is reproducible.
 */
import * as tf from '../engine/tf.js';
import { createRandom, type Random } from '../data/random.js';
import { isIdentity, type AugmentationConfig } from './augmentation-config.js';

export {
  AUGMENTATION_KEYS,
  AUGMENTATION_LIMITS,
  augmentationConfigProblem,
  augmentationValueProblem,
  isIdentity,
  type AugmentationConfig,
  type AugmentationKey,
} from './augmentation-config.js';

/**
 * The 8 projective-transform parameters (output → input coordinates) of
 * tf.image.transform for one image: rotate, shear, zoom about the centre, then shift.
 */
function transformRow(config: AugmentationConfig, rnd: Random, width: number, height: number): number[] {
  const theta = ((config.rotation ?? 0) * Math.PI) / 180 * rnd.uniform(-1, 1);
  const shear = ((config.shear ?? 0) * Math.PI) / 180 * rnd.uniform(-1, 1);
  const zx = 1 + (config.zoom ?? 0) * rnd.uniform(-1, 1);
  const zy = 1 + (config.zoom ?? 0) * rnd.uniform(-1, 1);
  const tx = (config.widthShift ?? 0) * width * rnd.uniform(-1, 1);
  const ty = (config.heightShift ?? 0) * height * rnd.uniform(-1, 1);
  // Forward map of the content: M = R(θ) · Shear · diag(zx, zy); output = M (input − c) + c + t.
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  const m00 = c * zx;
  const m01 = (c * Math.tan(shear) - s) * zy;
  const m10 = s * zx;
  const m11 = (s * Math.tan(shear) + c) * zy;
  const det = m00 * m11 - m01 * m10;
  // Inverse: input = M⁻¹ (output − c − t) + c
  const a0 = m11 / det;
  const a1 = -m01 / det;
  const b0 = -m10 / det;
  const b1 = m00 / det;
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const ox = cx + tx;
  const oy = cy + ty;
  return [a0, a1, cx - a0 * ox - a1 * oy, b0, b1, cy - b0 * ox - b1 * oy, 0, 0];
}

/** Width of the outer frame whose pixels stand for an image's background. */
export const BACKGROUND_FRAME = 2;

/** Indices of the pixels of a `size`×`size` image's outer frame (BACKGROUND_FRAME wide). */
function frameIndices(size: number): number[] {
  const frame: number[] = [];
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if (y < BACKGROUND_FRAME || y >= size - BACKGROUND_FRAME || x < BACKGROUND_FRAME || x >= size - BACKGROUND_FRAME) frame.push(y * size + x);
  return frame;
}

/**
 * Shifts each of `count` images of `size`×`size` (row-major, one channel) by whole pixels
 * (dx right, dy down, each uniform in ±maxShift) in place. The rows and columns the shift
 * uncovers are filled with pixels drawn at random from the image's own outer frame
 * (BACKGROUND_FRAME pixels wide, read before shifting): on a noisy competition those are
 * noise draws like any other background pixel, on a clean one they are zeros. Bilinear
 * shifts with black fill, by contrast, smooth the noise and paint a clean border that the
 * test images never have.
 */
export function pixelShiftImages(pixels: Float32Array, count: number, size: number, maxShift: number, rnd: Random): void {
  const n = Math.floor(maxShift);
  if (n <= 0) return;
  const px = size * size;
  const frame = frameIndices(size);
  const source = new Float32Array(px);
  for (let i = 0; i < count; i++) {
    const dx = rnd.int(2 * n + 1) - n;
    const dy = rnd.int(2 * n + 1) - n;
    if (dx === 0 && dy === 0) continue;
    const base = i * px;
    source.set(pixels.subarray(base, base + px));
    for (let y = 0; y < size; y++) {
      const sy = y - dy;
      for (let x = 0; x < size; x++) {
        const sx = x - dx;
        pixels[base + y * size + x] = sy >= 0 && sy < size && sx >= 0 && sx < size ? source[sy * size + sx]! : source[frame[rnd.int(frame.length)]!]!;
      }
    }
  }
}

/**
 * Rotates (nearest neighbour, uniform in ±maxDegrees about the centre) and shifts (whole
 * pixels, uniform in ±maxShift) each of `count` images in place. Each output pixel copies the
 * input pixel nearest to where it came from, or, when that lies outside the image, a pixel
 * drawn at random from the image's outer frame (see `pixelShiftImages`): the values stay the
 * image's own, so noise is neither smoothed nor replaced by a clean border. With no rotation,
 * `pixelShiftImages` does the same shifts; it stays separate because it draws fewer random
 * numbers per image, and members trained with `pixelShift` alone keep their augmentation stream.
 */
export function pixelTransformImages(pixels: Float32Array, count: number, size: number, maxShift: number, maxDegrees: number, rnd: Random): void {
  const n = Math.max(0, Math.floor(maxShift));
  const px = size * size;
  const frame = frameIndices(size);
  const source = new Float32Array(px);
  const c = (size - 1) / 2;
  for (let i = 0; i < count; i++) {
    const theta = ((maxDegrees * Math.PI) / 180) * rnd.uniform(-1, 1);
    const dx = n > 0 ? rnd.int(2 * n + 1) - n : 0;
    const dy = n > 0 ? rnd.int(2 * n + 1) - n : 0;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    const base = i * px;
    source.set(pixels.subarray(base, base + px));
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        // output → input: undo the shift, then rotate by −θ about the centre
        const ux = x - dx - c;
        const uy = y - dy - c;
        const sx = Math.round(cos * ux + sin * uy + c);
        const sy = Math.round(-sin * ux + cos * uy + c);
        pixels[base + y * size + x] = sy >= 0 && sy < size && sx >= 0 && sx < size ? source[sy * size + sx]! : source[frame[rnd.int(frame.length)]!]!;
      }
    }
  }
}

/** Default smoothing of the elastic field (Simard et al. 2003 used 4 on 28×28 digits). */
export const ELASTIC_SIGMA = 4;

/** A normalised 1-D Gaussian kernel of `sigma` (radius 3σ); [1] for sigma 0. */
function gaussianKernel(sigma: number): Float32Array {
  if (!(sigma > 0)) return Float32Array.of(1);
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += kernel[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < kernel.length; i++) kernel[i]! /= sum;
  return kernel;
}

/** Separable smoothing of a size×size field in place (borders clamped). */
function smoothField(field: Float32Array, size: number, kernel: Float32Array, scratch: Float32Array): void {
  const r = (kernel.length - 1) / 2;
  const clamp = (v: number) => (v < 0 ? 0 : v >= size ? size - 1 : v);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (let k = -r; k <= r; k++) acc += kernel[k + r]! * field[y * size + clamp(x + k)]!;
      scratch[y * size + x] = acc;
    }
  }
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (let k = -r; k <= r; k++) acc += kernel[k + r]! * scratch[clamp(y + k) * size + x]!;
      field[y * size + x] = acc;
    }
  }
}

/**
 * Elastic distortion of each of `count` images of `size`×`size` in place (see
 * `AugmentationConfig.elastic`): a displacement field per axis, uniform draws in [−1, 1]
 * smoothed by a Gaussian of `sigma` pixels, scaled to a root-mean-square displacement of `rms`
 * pixels over both axes; each output pixel samples the input where its displacement points,
 * bilinearly or (`nearest`) from the nearest pixel. Points outside the image read pixels drawn
 * at random from the image's outer frame, as `pixelShiftImages` fills its borders.
 */
export function elasticImages(pixels: Float32Array, count: number, size: number, rms: number, sigma: number, nearest: boolean, rnd: Random): void {
  if (!(rms > 0)) return;
  const px = size * size;
  const frame = frameIndices(size);
  const kernel = gaussianKernel(sigma);
  const source = new Float32Array(px);
  const fx = new Float32Array(px);
  const fy = new Float32Array(px);
  const scratch = new Float32Array(px);
  for (let i = 0; i < count; i++) {
    for (let k = 0; k < px; k++) {
      fx[k] = rnd.uniform(-1, 1);
      fy[k] = rnd.uniform(-1, 1);
    }
    smoothField(fx, size, kernel, scratch);
    smoothField(fy, size, kernel, scratch);
    let sq = 0;
    for (let k = 0; k < px; k++) sq += fx[k]! * fx[k]! + fy[k]! * fy[k]!;
    const scale = sq > 0 ? rms / Math.sqrt(sq / px) : 0;
    const base = i * px;
    source.set(pixels.subarray(base, base + px));
    const background = () => source[frame[rnd.int(frame.length)]!]!;
    const at = (x: number, y: number) => (x >= 0 && x < size && y >= 0 && y < size ? source[y * size + x]! : background());
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const sx = x + fx[y * size + x]! * scale;
        const sy = y + fy[y * size + x]! * scale;
        if (nearest) {
          pixels[base + y * size + x] = at(Math.round(sx), Math.round(sy));
          continue;
        }
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const ax = sx - x0;
        const ay = sy - y0;
        pixels[base + y * size + x] = (1 - ay) * ((1 - ax) * at(x0, y0) + ax * at(x0 + 1, y0)) + ay * ((1 - ax) * at(x0, y0 + 1) + ax * at(x0 + 1, y0 + 1));
      }
    }
  }
}

export interface Augmenter {
  /** Augments a batch [B,H,W,C] of images in [0,1]; returns a new tensor. */
  apply(images: tf.Tensor4D): tf.Tensor4D;
}

/**
 * `tf.image.transform` of a batch, one 8-number row per image. tfjs's cpu kernel (4.22) maps
 * every image after the first to zeros (constant fill everywhere): its `return` sits inside
 * the loop over the batch (tfjs-backend-cpu/src/kernels/Transform.ts; the dist file's line 76
 * in 4.22; no tfjs issue reports it that we found: tfjs issue 6657 is another bug of the same
 * kernel), so on cpu each image is transformed alone: until session 39 `--backend cpu` trained on black images whenever the
 * augmentation was geometric (a fine-tuned member's training loss read 5.78 where wasm's read
 * 0.18). Call inside a tidy.
 */
export function transformImages(images: tf.Tensor4D, rows: Float32Array): tf.Tensor4D {
  const b = images.shape[0];
  if (tf.getBackend() !== 'cpu' || b === 1) return tf.image.transform(images, tf.tensor2d(rows, [b, 8]), 'bilinear', 'constant', 0);
  const one = tf.split(images, b, 0) as tf.Tensor4D[];
  return tf.concat(one.map((image, i) => tf.image.transform(image, tf.tensor2d(rows.subarray(i * 8, i * 8 + 8), [1, 8]), 'bilinear', 'constant', 0)), 0);
}

export function createAugmenter(config: AugmentationConfig, seed: number): Augmenter {
  const rnd = createRandom(seed);
  const geometric = Boolean(config.rotation || config.widthShift || config.heightShift || config.zoom || config.shear);
  return {
    apply(images) {
      if (isIdentity(config)) return tf.clone(images);
      const [b, h, w, ch] = images.shape;
      return tf.tidy(() => {
        let out: tf.Tensor4D = images;
        const wholePixels = Boolean(config.pixelShift || config.pixelRotation);
        if ((wholePixels || config.elastic) && ch === 1) {
          const pixels = Float32Array.from(images.dataSync());
          if (config.elastic) elasticImages(pixels, b, w, config.elastic, config.elasticSigma ?? ELASTIC_SIGMA, wholePixels, rnd);
          if (config.pixelRotation) pixelTransformImages(pixels, b, w, config.pixelShift ?? 0, config.pixelRotation, rnd);
          else if (config.pixelShift) pixelShiftImages(pixels, b, w, config.pixelShift, rnd);
          out = tf.tensor4d(pixels, [b, h, w, ch]);
        }
        if (geometric) {
          const rows = new Float32Array(b * 8);
          for (let i = 0; i < b; i++) rows.set(transformRow(config, rnd, w, h), i * 8);
          out = transformImages(out, rows);
        }
        if (config.contrast) {
          const factors = tf.tensor4d(Float32Array.from({ length: b }, () => 1 + config.contrast! * rnd.uniform(-1, 1)), [b, 1, 1, 1]);
          const mean = tf.mean(out, [1, 2, 3], true);
          out = tf.add(tf.mul(tf.sub(out, mean), factors), mean);
        }
        if (config.brightness) {
          out = tf.add(out, tf.tensor4d(Float32Array.from({ length: b }, () => config.brightness! * rnd.uniform(-1, 1)), [b, 1, 1, 1]));
        }
        if (config.noise) {
          const noise = new Float32Array(b * h * w * ch);
          for (let i = 0; i < noise.length; i++) noise[i] = rnd.normal() * config.noise;
          out = tf.add(out, tf.tensor4d(noise, [b, h, w, ch]));
        }
        if (config.backgroundNoise) {
          const floor = new Float32Array(b * h * w * ch);
          const per = h * w * ch;
          for (let i = 0; i < b; i++) {
            const low = Math.min(config.backgroundNoiseMin ?? 0, config.backgroundNoise);
            const level = low + (config.backgroundNoise - low) * rnd.next();
            for (let k = 0; k < per; k++) floor[i * per + k] = level * rnd.next();
          }
          out = tf.maximum(out, tf.tensor4d(floor, [b, h, w, ch]));
        }
        if (config.erasing) {
          const mask = new Float32Array(b * h * w * ch).fill(1);
          for (let i = 0; i < b; i++) {
            if (rnd.next() >= config.erasing) continue;
            const eh = 1 + rnd.int(Math.max(1, Math.floor(h / 2)));
            const ew = 1 + rnd.int(Math.max(1, Math.floor(w / 2)));
            const y0 = rnd.int(h - eh + 1);
            const x0 = rnd.int(w - ew + 1);
            for (let y = y0; y < y0 + eh; y++) for (let x = x0; x < x0 + ew; x++) for (let k = 0; k < ch; k++) mask[((i * h + y) * w + x) * ch + k] = 0;
          }
          out = tf.mul(out, tf.tensor4d(mask, [b, h, w, ch]));
        }
        return tf.clipByValue(out, 0, 1) as tf.Tensor4D;
      });
    },
  };
}
