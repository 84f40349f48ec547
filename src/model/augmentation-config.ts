/**
 * The augmentation a member asks for, as data: the keys in Keras ImageDataGenerator
 * vocabulary (and ours), their limits and the checks of a configuration. No tfjs here, so
 * commands and ensemble files check augmentation without loading it; augment.ts applies it.
 */
export interface AugmentationConfig {
  /** degrees, uniform in ±rotation (Keras rotation_range) */
  rotation?: number;
  /** fraction of the width, uniform in ±widthShift (width_shift_range) */
  widthShift?: number;
  /** fraction of the height (height_shift_range) */
  heightShift?: number;
  /** zoom factor uniform in [1−zoom, 1+zoom], per axis (zoom_range) */
  zoom?: number;
  /** shear angle in degrees, uniform in ±shear (shear_range) */
  shear?: number;
  /** brightness offset uniform in ±brightness (pixels in [0,1]) */
  brightness?: number;
  /** contrast factor uniform in [1−contrast, 1+contrast] about the image mean */
  contrast?: number;
  /** standard deviation of added Gaussian noise */
  noise?: number;
  /** probability of erasing one random rectangle (random erasing) */
  erasing?: number;
  /**
   * background noise as in noisy-MNIST competitions: each pixel becomes max(pixel, U(0, ℓ)),
   * with the level ℓ drawn per image uniformly in [backgroundNoiseMin, backgroundNoise]
   */
  backgroundNoise?: number;
  /** lower end of the per-image background-noise level (default 0; equal to backgroundNoise for a fixed level) */
  backgroundNoiseMin?: number;
  /**
   * whole-pixel shifts, uniform in ±pixelShift pixels per axis, the uncovered border filled
   * with pixels drawn from the image's own outer frame (its background): no interpolation and
   * no black fill, so a noisy image keeps its noise statistics (see `pixelShiftImages`)
   */
  pixelShift?: number;
  /**
   * degrees, uniform in ±pixelRotation: a nearest-neighbour rotation about the centre, applied
   * with `pixelShift` in one pass; every output pixel is one input pixel (no interpolation) and
   * pixels rotated in from outside come from the image's own outer frame, as pixelShift's do
   */
  pixelRotation?: number;
  /**
   * elastic distortion (Simard et al. 2003): every pixel moves along a random displacement
   * field, per-pixel uniform draws smoothed by a Gaussian of `elasticSigma` pixels and scaled
   * so that its root-mean-square displacement is `elastic` pixels. Sampled bilinearly, or
   * nearest-neighbour when the configuration moves whole pixels (`pixelShift` or
   * `pixelRotation`, the noisy-background recipe), so noise keeps its values; points that
   * land outside the image take pixels of the image's own outer frame
   */
  elastic?: number;
  /** smoothing of the elastic field, pixels (default 4) */
  elasticSigma?: number;
}

export const AUGMENTATION_KEYS = ['rotation', 'widthShift', 'heightShift', 'zoom', 'shear', 'brightness', 'contrast', 'noise', 'erasing', 'backgroundNoise', 'backgroundNoiseMin', 'pixelShift', 'pixelRotation', 'elastic', 'elasticSigma'] as const;

export type AugmentationKey = (typeof AUGMENTATION_KEYS)[number];

/**
 * What each augmentation key accepts (from 0): past these the transform degenerates or the
 * number means nothing. A zoom of 1 can scale a digit to nothing, a shear of 90° to a line, a
 * contrast above 1 inverts it; erasing is a probability; levels and offsets are of pixels in
 * [0, 1]; pixelShift counts whole pixels. `below`: the limit itself is excluded.
 */
export const AUGMENTATION_LIMITS: Record<AugmentationKey, { max: number; below?: boolean; integer?: boolean; /** 0 excluded */ positive?: boolean; unit: string }> = {
  rotation: { max: 180, unit: 'degrees' },
  widthShift: { max: 1, unit: 'a fraction of the width' },
  heightShift: { max: 1, unit: 'a fraction of the height' },
  zoom: { max: 1, below: true, unit: 'the scale is 1 ± zoom' },
  shear: { max: 90, below: true, unit: 'degrees' },
  brightness: { max: 1, unit: 'an offset of pixels in [0, 1]' },
  contrast: { max: 1, unit: 'the factor is 1 ± contrast' },
  noise: { max: 1, unit: 'σ of pixels in [0, 1]' },
  erasing: { max: 1, unit: 'a probability' },
  backgroundNoise: { max: 1, unit: 'a level of pixels in [0, 1]' },
  backgroundNoiseMin: { max: 1, unit: 'a level of pixels in [0, 1], at most backgroundNoise' },
  pixelShift: { max: 14, integer: true, unit: 'whole pixels' },
  pixelRotation: { max: 180, unit: 'degrees' },
  elastic: { max: 4, unit: 'root-mean-square displacement, pixels' },
  // (a field smoothed by 0 pixels is white noise: every pixel moved on its own, the digit scrambled; 0 was taken until session 49)
  elasticSigma: { max: 14, positive: true, unit: 'smoothing of the elastic field, pixels' },
};

/** What is wrong with `value` for augmentation `key` ("must be …"), or undefined when it is fine. */
export function augmentationValueProblem(key: AugmentationKey, value: number): string | undefined {
  const limit = AUGMENTATION_LIMITS[key];
  const range = `${limit.integer ? 'a whole number' : 'a number'} ${limit.positive ? 'above 0 and up' : 'from 0'} to ${limit.below ? `below ${limit.max}` : limit.max} (${limit.unit})`;
  const fine = Number.isFinite(value) && (limit.positive ? value > 0 : value >= 0) && (limit.below ? value < limit.max : value <= limit.max) && (!limit.integer || Number.isInteger(value));
  return fine ? undefined : `must be ${range}, got ${value}`;
}

/**
 * The first problem of a whole configuration (each value, then backgroundNoiseMin ≤
 * backgroundNoise), or undefined; `name` says how the message names another key (a flag).
 */
export function augmentationConfigProblem(config: AugmentationConfig, name: (key: AugmentationKey) => string = (key) => key): { key: AugmentationKey; message: string } | undefined {
  for (const key of AUGMENTATION_KEYS) {
    const value = config[key];
    const message = value === undefined ? undefined : augmentationValueProblem(key, value);
    if (message) return { key, message };
  }
  if (config.backgroundNoiseMin !== undefined && config.backgroundNoiseMin > (config.backgroundNoise ?? 0)) {
    return { key: 'backgroundNoiseMin', message: `must be at most ${name('backgroundNoise')} (${config.backgroundNoise ?? 0}), got ${config.backgroundNoiseMin}` };
  }
  return undefined;
}

export function isIdentity(config: AugmentationConfig): boolean {
  // backgroundNoiseMin only shapes backgroundNoise, elasticSigma only elastic: alone they change nothing
  return AUGMENTATION_KEYS.every((k) => k === 'backgroundNoiseMin' || k === 'elasticSigma' || !config[k]);
}
