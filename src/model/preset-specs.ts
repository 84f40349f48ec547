/**
 * The reference networks of ../shared/reference-models.md, declared as data (built by
 * `buildModel` in presets.ts). A preset names its layers, its input preprocessing and the
 * training recipe its source reported. No tfjs here: commands that only name or check a preset
 * (flag options, ensemble files) start without loading it.
 */

export type LayerSpec =
  | { kind: 'conv'; filters: number; kernel: number; stride?: number; padding?: 'valid' | 'same'; activation?: 'relu' | 'linear'; bias?: boolean; l2?: number }
  | { kind: 'bn' }
  | { kind: 'relu' }
  | { kind: 'dropout'; rate: number }
  | { kind: 'maxpool'; size: number }
  | { kind: 'flatten' }
  | { kind: 'dense'; units: number; activation?: 'relu' | 'softmax' | 'linear'; bias?: boolean; l2?: number }
  | { kind: 'softmax' };

export interface PresetPreprocessing {
  scale: '0-1' | '-1-1' | 'standardize';
  padTo?: number;
}

export interface PresetRecipe {
  optimizer: 'adam' | 'rmsprop' | 'sgd';
  learningRate: number;
  batchSize: number;
  epochs: number;
  /** per-epoch exponential learning-rate decay factor, if the source used one */
  lrDecay?: number;
  augmentation?: { rotation?: number; shift?: number; zoom?: number };
}

export interface Preset {
  name: string;
  description: string;
  source: string;
  input: [number, number, number];
  preprocessing: PresetPreprocessing;
  layers: LayerSpec[];
  recipe: PresetRecipe;
}

const conv = (filters: number, kernel: number, extra: Partial<Extract<LayerSpec, { kind: 'conv' }>> = {}): LayerSpec => ({
  kind: 'conv',
  filters,
  kernel,
  activation: 'relu',
  ...extra,
});
const bn: LayerSpec = { kind: 'bn' };
const dropout = (rate: number): LayerSpec => ({ kind: 'dropout', rate });

function seed002Trunk(rate: number): LayerSpec[] {
  return [
    conv(32, 3), bn, conv(32, 3), bn, conv(32, 5, { stride: 2, padding: 'same' }), bn, dropout(rate),
    conv(64, 3), bn, conv(64, 3), bn, conv(64, 5, { stride: 2, padding: 'same' }), bn, dropout(rate),
    conv(128, 4), bn, { kind: 'flatten' }, dropout(rate),
  ];
}

export const PRESETS: Record<string, Preset> = {
  mlp: {
    name: 'mlp',
    description: 'dense baseline: 256-128-10 with dropout 0.2',
    source: 'seeds 001, 003, 004',
    input: [28, 28, 1],
    preprocessing: { scale: '0-1' },
    layers: [{ kind: 'flatten' }, { kind: 'dense', units: 256, activation: 'relu' }, dropout(0.2), { kind: 'dense', units: 128, activation: 'relu' }, dropout(0.2), { kind: 'dense', units: 10, activation: 'softmax' }],
    recipe: { optimizer: 'adam', learningRate: 1e-3, batchSize: 64, epochs: 20 },
  },
  seed002: {
    name: 'seed002',
    description: 'the benchmark network: 7 conv + BN, dropout 0.35, dense 128',
    source: 'seed 002 (noisy-MNIST InClass, public 98.346%)',
    input: [28, 28, 1],
    preprocessing: { scale: '0-1' },
    layers: [...seed002Trunk(0.35), { kind: 'dense', units: 128, activation: 'relu' }, bn, dropout(0.35), { kind: 'dense', units: 10, activation: 'softmax' }],
    recipe: { optimizer: 'rmsprop', learningRate: 1e-3, batchSize: 64, epochs: 100, augmentation: { rotation: 10, shift: 0.1 } },
  },
  deotte: {
    name: 'deotte',
    description: 'one member of the 15-CNN Kaggle ensemble (99.757%): seed002 trunk, dropout 0.4, no dense 128',
    source: 'C. Deotte, "25 Million Images! [0.99757] MNIST"',
    input: [28, 28, 1],
    preprocessing: { scale: '0-1' },
    layers: [...seed002Trunk(0.4), { kind: 'dense', units: 10, activation: 'softmax' }],
    recipe: { optimizer: 'adam', learningRate: 1e-3, lrDecay: 0.95, batchSize: 64, epochs: 30, augmentation: { rotation: 10, zoom: 0.1, shift: 0.1 } },
  },
  'an-m5': {
    name: 'an-m5',
    description: 'five 5×5 valid convs (32–160) with BN, dense 10 + BN',
    source: 'An et al. 2020',
    input: [28, 28, 1],
    preprocessing: { scale: '-1-1' },
    layers: [
      ...[32, 64, 96, 128, 160].flatMap((f): LayerSpec[] => [conv(f, 5, { activation: 'linear', bias: false }), bn, { kind: 'relu' }]),
      { kind: 'flatten' },
      { kind: 'dense', units: 10, activation: 'linear', bias: false },
      bn,
      { kind: 'softmax' },
    ],
    recipe: { optimizer: 'adam', learningRate: 1e-3, lrDecay: 0.98, batchSize: 120, epochs: 150, augmentation: { rotation: 20, shift: 0.2 } },
  },
  seed000: {
    name: 'seed000',
    description: 'CSCE 636 final model: 32×32 standardised input, conv pairs + max-pool, dense 256-128-64',
    source: 'seed 000',
    input: [32, 32, 1],
    preprocessing: { scale: 'standardize', padTo: 32 },
    layers: [
      conv(32, 5, { l2: 5e-4 }), conv(32, 5, { activation: 'linear', bias: false }), bn, { kind: 'relu' }, { kind: 'maxpool', size: 2 }, dropout(0.5),
      conv(64, 3, { l2: 5e-4 }), conv(64, 3, { activation: 'linear', bias: false }), bn, { kind: 'relu' }, { kind: 'maxpool', size: 2 }, dropout(0.5),
      { kind: 'flatten' },
      ...[256, 128, 64].flatMap((u): LayerSpec[] => [{ kind: 'dense', units: u, activation: 'linear', bias: false }, bn, { kind: 'relu' }]),
      dropout(0.5),
      { kind: 'dense', units: 10, activation: 'softmax' },
    ],
    recipe: { optimizer: 'adam', learningRate: 1e-3, batchSize: 64, epochs: 30 },
  },
};

export const PRESET_NAMES = Object.keys(PRESETS);

export function getPreset(name: string): Preset {
  const preset = PRESETS[name];
  if (!preset) throw new Error(`unknown preset "${name}" (known: ${PRESET_NAMES.join(', ')})`);
  return preset;
}
