import type { GaussianNoiseModel, NoiseModel } from '../../src/data/noise-model.js';

/** The model as a Gaussian one; fails the test when there is none or it is another kind. */
export function gaussianOf(model: NoiseModel | null | undefined): GaussianNoiseModel {
  if (model?.kind !== 'gaussian') throw new Error(`expected a Gaussian noise model, got ${JSON.stringify(model)}`);
  return model;
}
