/**
 * The factory of the reference networks declared in preset-specs.ts: `buildModel` makes a
 * tfjs model of a preset; nothing is built at import time.
 */
import * as tf from '../engine/tf.js';
import { batchNormalization } from '../engine/batch-norm.js';
import { getPreset, type LayerSpec, type Preset } from './preset-specs.js';

export { PRESETS, PRESET_NAMES, getPreset, type LayerSpec, type Preset, type PresetPreprocessing, type PresetRecipe } from './preset-specs.js';

function layerOf(spec: LayerSpec, index: number, inputShape?: number[], seed?: number): tf.Layer {
  const first = inputShape ? { inputShape } : {};
  const name = `${spec.kind}_${index}`;
  // Glorot-uniform is tfjs's default kernel initialiser for both; seeded, a build is reproducible.
  const kernelInitializer = seed === undefined ? undefined : tf.initializers.glorotUniform({ seed: seed * 1000 + index });
  switch (spec.kind) {
    case 'conv':
      return tf.layers.conv2d({
        ...first,
        name,
        filters: spec.filters,
        kernelSize: spec.kernel,
        strides: spec.stride ?? 1,
        padding: spec.padding ?? 'valid',
        activation: spec.activation ?? 'relu',
        useBias: spec.bias ?? true,
        kernelInitializer,
        kernelRegularizer: spec.l2 ? tf.regularizers.l2({ l2: spec.l2 }) : undefined,
      });
    case 'bn':
      return batchNormalization({ ...first, name });
    case 'relu':
      return tf.layers.reLU({ ...first, name });
    case 'dropout':
      return tf.layers.dropout({ ...first, name, rate: spec.rate });
    case 'maxpool':
      return tf.layers.maxPooling2d({ ...first, name, poolSize: spec.size });
    case 'flatten':
      return tf.layers.flatten({ ...first, name });
    case 'dense':
      return tf.layers.dense({
        ...first,
        name,
        units: spec.units,
        activation: spec.activation ?? 'linear',
        useBias: spec.bias ?? true,
        kernelInitializer,
        kernelRegularizer: spec.l2 ? tf.regularizers.l2({ l2: spec.l2 }) : undefined,
      });
    case 'softmax':
      return tf.layers.softmax({ ...first, name });
  }
}

/** Builds a fresh, uncompiled model for a preset. Call once per ensemble member. */
export function buildModel(preset: Preset | string, options: { seed?: number; l2?: number } = {}): tf.LayersModel {
  const base = typeof preset === 'string' ? getPreset(preset) : preset;
  // A member-level L2 weight decay applies to every conv and dense kernel (a layer's own wins).
  const p: Preset = options.l2
    ? { ...base, layers: base.layers.map((l) => (l.kind === 'conv' || l.kind === 'dense' ? { ...l, l2: l.l2 ?? options.l2 } : l)) }
    : base;
  // With a seed, every kernel is drawn from its own seeded generator, so the same member
  // starts from the same weights (auto's from-scratch probe gives the same curve twice).
  const model = tf.sequential({ name: p.name });
  p.layers.forEach((spec, i) => model.add(layerOf(spec, i, i === 0 ? p.input : undefined, options.seed)));
  return model;
}
