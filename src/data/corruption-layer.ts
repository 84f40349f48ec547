/**
 * A corruption laid over the digit, learnt from the competition's own training images.
 *
 * Many corruptions add something that does not depend on the digit: lines drawn across it,
 * blotches, a fog, a background. When the competition's images are corrupted copies of MNIST
 * train digits (Kaggle's noisy-MNIST competitions are), each training image can be paired
 * with the digit it was made from (`matchSources`), and what the corruption added can be read
 * off the pair:
 *
 *   y = clip(gain · x + L)      L = y − gain · x, the image's layer
 *
 * The gain is the median over the pairs of the least-squares slope of y on x (a layer that
 * does not depend on the digit leaves the slope at the gain: 1 for lines drawn over it, ¼ for
 * MNIST-C's fog, which scales the digit down as it adds the fog). Another MNIST digit under one
 * of those layers is then an image the competition could have held: synthetic rows with the
 * competition's very corruption, where a parametric model (`noise-model.ts`) has none.
 *
 * The layers are taken from training rows only, never from validation rows. The model counts
 * when at least `MIN_PAIRED_SHARE` of the training images are paired, the layers hold something
 * (`MIN_LAYER`: clean digits pair with themselves and leave nothing), and the digit box of
 * digits under those layers has the competition's histogram (within `MAX_LAYER_DISTANCE`):
 * corruptions that move or replace the strokes (rotation, blur, edges) leave few pairs, and
 * ones that depend on the digit (a gain that varies, inverted stripes) fail the histogram.
 */
import type { ImageSet } from './image-set.js';
import type { MnistSet } from './mnist.js';
import { BINS, binOf, normalise, totalVariation } from './histograms.js';
import type { CorruptionLayerModel, NoiseFit } from './noise-model.js';
import { createRandom } from './random.js';

/** The share of training images that must be paired with their MNIST digit. */
export const MIN_PAIRED_SHARE = 0.5;
/** Largest total-variation distance between the digit box's histogram and that of digits under the layers. */
export const MAX_LAYER_DISTANCE = 0.05;
/** Below this mean |layer| per pixel the images are their digits as they are (a clean competition): nothing to synthesise. */
export const MIN_LAYER = 0.005;

export interface CorruptionLayerFit {
  fit: NoiseFit;
  /** the layers (pairs × size² values), when the model counts */
  layers: Float32Array | null;
}

/**
 * Fits the layer model to the training images `data`, `matches[i]` being the MNIST train row
 * image i is a copy of (or −1), as `matchSources` pairs them.
 */
export function fitCorruptionLayer(data: ImageSet, matches: Int32Array, mnist: MnistSet, neighbourCorrelation: number): CorruptionLayerFit {
  const size = data.size;
  const px = size * size;
  const scale = 1 / data.scale;
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < data.count; i++) if (matches[i]! >= 0) pairs.push([i, matches[i]!]);
  const share = data.count ? pairs.length / data.count : 0;
  const slopes: number[] = [];
  for (const [r, j] of pairs) {
    let sx = 0;
    let sy = 0;
    let sxx = 0;
    let sxy = 0;
    for (let p = 0; p < px; p++) {
      const x = mnist.images[j * px + p]! / 255;
      const y = data.images[r * px + p]! * scale;
      sx += x;
      sy += y;
      sxx += x * x;
      sxy += x * y;
    }
    const varX = sxx / px - (sx / px) ** 2;
    if (varX > 1e-9) slopes.push((sxy / px - (sx / px) * (sy / px)) / varX);
  }
  slopes.sort((a, b) => a - b);
  const slope = slopes.length ? slopes[Math.floor(slopes.length / 2)]! : 1;
  // Two gains are tried, that slope and 1: clipping bends an overlay's slope below 1 (where
  // lines cross the strokes, y stops at 1), and a gain under 1 leaves a faint copy of the paired
  // digit in its layer. The one whose layers give the digit-box histogram nearer the
  // competition's counts.
  const [a, b] = [slope, 1].map((g) => ({ gain: g, ...layersFor(data, pairs, mnist, g) }));
  const { gain, layers, distance } = a!.distance <= b!.distance ? a! : b!;
  let sum = 0;
  for (const v of layers) sum += Math.abs(v);
  const strength = layers.length ? sum / layers.length : 0;
  const fitted: CorruptionLayerModel = { kind: 'layer', gain: Number(gain.toFixed(4)), layers: pairs.length };
  const figures = `${pairs.length} of ${data.count} training images (${(100 * share).toFixed(1)}%) paired with the MNIST train digit they were made from; gain ${fitted.gain}; mean |layer| ${strength.toFixed(3)}; histogram distance ${distance.toFixed(3)} on the digit box of other digits under their layers`;
  const why =
    size !== mnist.rows
      ? `the images are ${size}×${size}, MNIST's ${mnist.rows}×${mnist.rows}`
      : share < MIN_PAIRED_SHARE
        ? `too few training images are copies of MNIST train digits (${(100 * share).toFixed(1)}% < ${100 * MIN_PAIRED_SHARE}%)`
        : strength < MIN_LAYER
          ? `the images are their MNIST digits as they are (mean |layer| ${strength.toFixed(3)} < ${MIN_LAYER})`
          : distance > MAX_LAYER_DISTANCE
            ? `the corruption depends on the digit (histogram distance ${distance.toFixed(3)} > ${MAX_LAYER_DISTANCE})`
            : null;
  return {
    fit: {
      model: why ? null : fitted,
      fitted,
      frameDistance: 0,
      boxDistance: Number(distance.toFixed(4)),
      neighbourCorrelation: Number(neighbourCorrelation.toFixed(4)),
      images: data.count,
      reason: why ? `no corruption layer: ${why} (${figures})` : `a corruption layer over the digit: y = clip(${fitted.gain}·x + L), L from ${pairs.length} training images (${figures})`,
    },
    layers: why ? null : layers,
  };
}

/**
 * The layers of `pairs` ([training row, MNIST row]) at `gain`, and the total-variation distance
 * between the training images' digit-box histogram and that of other MNIST digits (a seeded
 * draw) under those layers.
 */
function layersFor(data: ImageSet, pairs: ReadonlyArray<[number, number]>, mnist: MnistSet, gain: number): { layers: Float32Array; distance: number } {
  const size = data.size;
  const px = size * size;
  const scale = 1 / data.scale;
  const layers = new Float32Array(pairs.length * px);
  pairs.forEach(([r, j], k) => {
    for (let p = 0; p < px; p++) layers[k * px + p] = data.images[r * px + p]! * scale - gain * (mnist.images[j * px + p]! / 255);
  });
  const lo = Math.floor((size - 20) / 2);
  const seen = new Float64Array(BINS);
  const made = new Float64Array(BINS);
  const random = createRandom(7);
  pairs.forEach(([r], k) => {
    const other = random.int(mnist.count) * px;
    for (let y = lo; y < lo + 20; y++) {
      for (let x = lo; x < lo + 20; x++) {
        const p = y * size + x;
        seen[binOf(data.images[r * px + p]! * scale)]! += 1;
        made[binOf(Math.round(255 * Math.min(1, Math.max(0, gain * (mnist.images[other + p]! / 255) + layers[k * px + p]!))) / 255)]! += 1;
      }
    }
  });
  return { layers, distance: pairs.length ? totalVariation(normalise(seen), normalise(made)) : 1 };
}
