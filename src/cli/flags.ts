/** Flags shared by many commands, defined once (Shopify CLI `src/cli/flags.ts` style). */
import path from 'node:path';
import { Flags } from '@oclif/core';
import { BACKEND_NAMES } from '../engine/backend-names.js';

export const jsonFlag = {
  json: Flags.boolean({ description: 'Print results as JSON (one object per event for long jobs).', default: false }),
};

export const backendFlag = {
  backend: Flags.string({
    description: 'Compute backend: auto tries gpu, node, wasm (with our training kernels), then cpu.',
    options: [...BACKEND_NAMES],
    default: 'auto',
    env: 'DIGITS_BACKEND',
  }),
};

export const seedFlag = {
  seed: Flags.integer({ description: 'Random seed (shuffles, splits, initial weights, augmentation).', default: 42, env: 'DIGITS_SEED' }),
};

export const dataFlag = {
  data: Flags.string({
    description: 'Competition folder (or dataset cache folder).',
    env: 'DIGITS_DATA',
    parse: async (input: string) => path.resolve(input),
  }),
};

export const inferFlag = {
  infer: Flags.string({
    description: 'Inference runtime: onnx (ONNX Runtime), tfjs, or auto (ONNX Runtime when it loads, else tfjs).',
    options: ['auto', 'onnx', 'tfjs'],
    default: 'auto',
    env: 'DIGITS_INFER',
  }),
  precision: Flags.string({
    description: 'Number format on ONNX Runtime: int8 (quantized, calibrated on the training rows), fp32 (exact), or auto (int8 when it can be made or exists, else fp32).',
    options: ['auto', 'fp32', 'int8'],
    default: 'auto',
    env: 'DIGITS_PRECISION',
  }),
};
