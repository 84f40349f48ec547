/**
 * The plan of a training step: the layer chain of a Sequential model read through the rules
 * of rules/ (one per tfjs layer class), with the parameters, moving statistics and dropout
 * masks the step graph takes as inputs. `planTraining` names the first layer it cannot
 * handle, and callers fall back to `model.trainOnBatch`.
 */
import type * as tf from '../../engine/tf.js';
import { TRAINING_RULES } from './rules/index.js';
import type { LayerConfig, MaskSlot, ParamSlot, PlannedLayer } from './rule.js';

export interface TrainingPlan {
  /** per-example model input [H, W, C] */
  input: [number, number, number];
  layers: PlannedLayer[];
  params: ParamSlot[];
  /** BN moving statistics (not trainable) */
  stats: ParamSlot[];
  masks: MaskSlot[];
}

export type PlanResult = { ok: true; plan: TrainingPlan } | { ok: false; reason: string };

/** Reads the layer chain of a Sequential model; says which layer is not supported, if any. */
export function planTraining(model: tf.LayersModel): PlanResult {
  const inShape = model.inputs[0]!.shape;
  if (inShape.length !== 4) return { ok: false, reason: `input of rank ${inShape.length} (expected [B,H,W,C])` };
  const input = inShape.slice(1) as [number, number, number];
  const layers: PlannedLayer[] = [];
  const params: ParamSlot[] = [];
  const stats: ParamSlot[] = [];
  const masks: MaskSlot[] = [];
  // current per-example shape: [C,H,W] (NCHW) or [F]
  let shape: number[] = [input[2], input[0], input[1]];
  const fail = (layer: tf.Layer, why: string): PlanResult => ({ ok: false, reason: `layer ${layer.name} (${layer.getClassName()}): ${why}` });
  const all = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  for (const [index, layer] of all.entries()) {
    const config = layer.getConfig() as LayerConfig;
    if (!layer.trainable && layer.weights.length > 0) return fail(layer, 'frozen (trainable = false)');
    if (config.activityRegularizer || config.biasRegularizer || config.kernelConstraint || config.biasConstraint) return fail(layer, 'regularisers or constraints other than an L2 kernel regulariser');
    const rule = TRAINING_RULES.get(layer.getClassName());
    if (!rule) return fail(layer, 'no training rule for this layer class (falls back to tfjs autodiff)');
    const variable = (field: string) => (layer as unknown as Record<string, tf.LayerVariable>)[field]!;
    const inputShape = shape;
    const planned = rule.plan({
      layer,
      config,
      shape: inputShape,
      last: index === all.length - 1,
      param: (field, dims, perm) => params.push({ variable: variable(field), shape: dims, perm: perm ?? null }) - 1,
      stat: (field, dims) => stats.push({ variable: variable(field), shape: dims, perm: null }) - 1,
      mask: (rate) => masks.push({ shape: [...inputShape], rate }) - 1,
    });
    if (!planned) continue;
    if ('fail' in planned) return fail(layer, planned.fail);
    layers.push(planned.layer);
    shape = planned.shape;
  }
  if (!layers.at(-1)?.endsInSoftmax) return { ok: false, reason: 'the model does not end in a softmax (the step computes softmax cross-entropy)' };
  if (shape.length !== 1) return { ok: false, reason: 'the output is not [B, classes]' };
  return { ok: true, plan: { input, layers, params, stats, masks } };
}
